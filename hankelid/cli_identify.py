"""The data-driven half of the command line: `hankelid identify DATA` and `hankelid compare`.

`hankelid identify DATA.csv --inputs u1 u2 --outputs y1 --method n4sid --order auto -o model.npz`
reads the records, holds out the end of every record (`--validation FRACTION`, default 0.3)
or a second file (`--validation-file`), identifies a model on the rest, prints the singular
values the order was read from and the fit on both parts, writes the model and, with
`--plots DIR`, the order-selection, compare and residual plots. `hankelid compare DATA
MODEL.npz ...` prints the fit of saved models on data. Bad input raises `ValueError` with a
message naming the problem; the `hankelid` entry point reports it on one line, exit status 2.

Models are written as `.npz` archives with `A, B, C, D, dt` (as
[`StateSpace.save`][hankelid.StateSpace.save], so [`load`][hankelid.load] reads them) plus the
innovation gain `K`, the noise covariance `noise_cov`, the `method` and, for data that
were detrended, nothing else: detrend the data the same way before using the model
(`hankelid compare` does, with the same `--detrend` default).
"""

from __future__ import annotations

import argparse
import os
import zipfile
from typing import Any

import numpy as np

from . import plot
from .identification import Identification, IOData, compare, era, impulse_estimate, n4sid, okid, residuals
from .systems import StateSpace, load

__all__ = ["compare_models", "identify_from_data", "read_data"]

_DEFAULT_VALIDATION = 0.3
_TABLE_ROWS = 20  # singular values printed (more when the order needs them)


def read_data(
    path: str,
    inputs: list[str] | None,
    outputs: list[str] | None,
    *,
    time_column: str | None = None,
    dt: float | None = None,
    detrend: str = "constant",
) -> IOData:
    """Input/output records from a CSV file (named columns) or an `.npz` (`u`/`y` arrays).

    Raises
    ------
    ValueError
        If the file is missing or unreadable, columns are missing or not named, or the records
        are invalid (NaN, mismatched lengths, ...).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "rec.csv")
    >>> t = np.arange(5) * 0.1
    >>> np.savetxt(path, np.c_[t, t, 2 * t], delimiter=",", header="time,u,y", comments="")
    >>> read_data(path, ["u"], ["y"], time_column="time", detrend="none")
    IOData(m=1, p=1, dt=0.1, n_experiments=1, n_samples=5)
    """
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, expected a .csv or .npz file")
    if zipfile.is_zipfile(path):
        if inputs or outputs or time_column:
            raise ValueError(
                f"{path}: --inputs/--outputs/--time-column select CSV columns; an .npz holds 'u' and 'y'"
            )
        try:
            with np.load(path, allow_pickle=False) as f:
                keys = sorted(f.files)
            if not ({"u", "y"} <= set(keys) or {"u_0", "y_0"} <= set(keys)):
                raise ValueError(
                    f"{path}: no array 'markov' (Markov parameters for ERA) and no 'u'/'y' records "
                    f"(input/output data); found {keys}"
                )
            data = IOData.from_npz(path, dt=dt)
        except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not a valid data archive ({exc})") from None
    else:
        if not inputs or not outputs:
            raise ValueError(f"{path}: name the CSV columns with --inputs ... and --outputs ...")
        try:
            data = IOData.from_csv(path, inputs, outputs, dt=dt, time_column=time_column)
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text CSV file") from None
        except (OSError, IndexError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read it as CSV ({exc})") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    if detrend != "none":
        data = data.detrend(detrend)
    return data


def _identify(args: argparse.Namespace, est: IOData) -> Identification:
    if args.method in ("n4sid", "moesp", "cva"):
        return n4sid(est, args.order, method=args.method, horizon=args.horizon, stable=args.stable)
    if args.horizon is not None:
        raise ValueError(f"--horizon applies to the subspace methods, not --method {args.method}")
    if args.method == "okid":
        if args.stable:
            raise ValueError("--stable applies to n4sid/moesp/cva and era, not okid")
        return okid(est, args.order)
    length = int(min(100, max(20, min(est.n_samples) // 5)))
    markov = impulse_estimate(est, length)
    sys, info = era(markov, args.order, dt=est.dt, stable=args.stable, return_info=True)
    return Identification(
        system=sys, order=sys.n, singular_values=info.hsv, method="era", info={"length": length}
    )


def _order_table(ident: Identification) -> list[str]:
    s = np.asarray(ident.singular_values, dtype=float)
    floor = (ident.info or {}).get("noise_floor")
    rows = min(s.size, max(_TABLE_ROWS, ident.order + 5))
    lines = [f"{'k':>4}  {'singular value':>14}  {'s_k/s_1':>10}"]
    for k in range(1, rows + 1):
        mark = "  <- order" if k == ident.order else ""
        lines.append(f"{k:>4}  {s[k - 1]:>14.5e}  {s[k - 1] / s[0]:>10.3e}{mark}")
    if s.size > rows:
        lines.append(f"  ... ({s.size} in all)")
    rule = (ident.info or {}).get("order_rule")
    if rule:
        lines.append(f"order rule: {rule}" + (f", noise floor {floor:.3e}" if floor is not None else ""))
    return lines


def _fit_line(label: str, fit: np.ndarray, names: tuple[str, ...]) -> str:
    return f"{label}: " + ", ".join(f"{nm} {f:.2f}%" for nm, f in zip(names, np.ravel(fit)))


def _save_model(ident: Identification, path: str) -> None:
    sys = ident.system
    arrays: dict[str, Any] = {
        "A": sys.A,
        "B": sys.B,
        "C": sys.C,
        "D": sys.D,
        "dt": np.nan if sys.dt is None else sys.dt,
        "method": np.array(ident.method),
    }
    if ident.K is not None:
        arrays["K"] = ident.K
    if ident.noise_cov is not None:
        arrays["noise_cov"] = ident.noise_cov
    try:
        with open(path, "wb") as f:  # a file object: np.savez must not append ".npz" to the name
            np.savez(f, **arrays)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc}") from None


def _load_model(path: str) -> Identification | StateSpace:
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not an .npz model file (write one with hankelid identify)")
    try:
        sys = load(path)
        with np.load(path, allow_pickle=False) as f:
            K = np.array(f["K"]) if "K" in f.files else None
            method = str(f["method"]) if "method" in f.files else os.path.basename(path)
    except (OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a valid model file ({exc})") from None
    if K is None:
        return sys
    return Identification(system=sys, order=sys.n, singular_values=np.zeros(0), method=method, K=K)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'hankelid[plot]'") from None
    return plt


def _save(fig: Any, path: str) -> None:
    plt = _pyplot()
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def _compare_figure(res: Any, labels: list[str], path: str) -> None:
    """Measured outputs and model outputs of the first experiment, one panel per output."""
    plt = _pyplot()
    data = res.data
    y = data.y[0]
    t = np.arange(y.shape[0]) * data.dt
    fig, axes = plt.subplots(y.shape[1], 1, figsize=(7.0, 2.2 * y.shape[1] + 0.6), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(t, y[:, j], color="0.3", lw=1.0, label="measured")
        for i, label in enumerate(labels):
            ax.plot(t, res.predictions[i][0][:, j], lw=1.0, label=f"{label} ({res.fit[i, j]:.1f}%)")
        ax.set_ylabel(data.output_names[j])
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("time")
    axes[0, 0].set_title("Validation data: measured vs model")
    _save(fig, path)


def _plots(ident: Identification, val: IOData, res: Any, directory: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create {directory}: {exc}") from None
    plt = _pyplot()
    ax = plot.order_selection(ident)
    _save(ax.figure, os.path.join(directory, "order_selection.png"))
    _compare_figure(res, [f"{ident.method} n={ident.order}"], os.path.join(directory, "compare.png"))
    draw = getattr(plot, "residuals", None)
    if draw is None:
        print("residual plot skipped: this hankelid has no hk.plot.residuals")
        return
    out = draw(residuals(ident, val))
    fig = out.figure if hasattr(out, "figure") else np.ravel(out)[0].figure
    _save(fig, os.path.join(directory, "residuals.png"))
    del plt


def identify_from_data(args: argparse.Namespace) -> int:
    """`hankelid identify DATA ...`: identify, validate, print, write; returns the exit status."""
    data = read_data(
        args.file, args.inputs, args.outputs, time_column=args.time_column, dt=args.dt, detrend=args.detrend
    )
    if args.validation_file:
        est = data
        val = read_data(
            args.validation_file,
            args.inputs,
            args.outputs,
            time_column=args.time_column,
            dt=args.dt if args.dt is not None else data.dt,
            detrend=args.detrend,
        )
        if (val.m, val.p) != (est.m, est.p):
            raise ValueError(
                f"{args.validation_file}: {val.m} inputs / {val.p} outputs, but the estimation data have "
                f"{est.m} / {est.p}"
            )
        held = f"validation: {sum(val.n_samples)} samples from {args.validation_file}"
    else:
        fraction = _DEFAULT_VALIDATION if args.validation is None else args.validation
        est, val = data.split(1.0 - fraction)
        held = f"validation: the last {fraction:.0%} of each record ({sum(val.n_samples)} samples)"
    if args.tol is not None:
        raise ValueError("--tol applies to ERA on Markov parameters; for data use --order")
    print(
        f"data: {args.file}: {data.m} input(s) {list(data.input_names)}, {data.p} output(s) "
        f"{list(data.output_names)}, dt={data.dt:g}, detrend: {args.detrend}"
    )
    print(f"estimation: {sum(est.n_samples)} samples; {held}")
    ident = _identify(args, est)
    print(f"method {ident.method}: order {ident.order}" + (" (auto)" if args.order is None else ""))
    for line in _order_table(ident):
        print(line)
    fit_est = compare(est, ident).fit[0]
    res = compare(val, ident)
    print(_fit_line("fit on estimation data", fit_est, data.output_names))
    print(_fit_line("fit on validation data", res.fit[0], data.output_names))
    print(f"model: stable: {ident.system.is_stable()}")
    _save_model(ident, args.output)
    print(f"wrote {args.output}")
    if args.plots:
        _plots(ident, val, res, args.plots)
    return 0


def compare_models(args: argparse.Namespace) -> int:
    """`hankelid compare DATA MODEL.npz ...`: print the fit of each model; returns the exit status."""
    data = read_data(
        args.file, args.inputs, args.outputs, time_column=args.time_column, dt=args.dt, detrend=args.detrend
    )
    models = [_load_model(path) for path in args.models]
    for path, model in zip(args.models, models):
        sys = getattr(model, "system", model)
        if (sys.m, sys.p) != (data.m, data.p):
            raise ValueError(
                f"{path}: model has {sys.m} input(s) and {sys.p} output(s), the data {data.m} and {data.p}"
            )
    res = compare(data, *models, x0=args.x0, horizon=args.horizon)
    what = "simulation" if args.horizon is None else f"{args.horizon}-step prediction"
    print(f"data: {args.file}: {sum(data.n_samples)} samples, {what}, x0: {args.x0}")
    width = max(len(os.path.basename(p)) for p in args.models)
    print(f"{'model':<{width}}  " + "  ".join(f"{nm:>10}" for nm in data.output_names))
    for path, fit in zip(args.models, res.fit):
        print(f"{os.path.basename(path):<{width}}  " + "  ".join(f"{f:>9.2f}%" for f in fit))
    if args.plot:
        _compare_figure(res, [os.path.basename(p) for p in args.models], args.plot)
    return 0
