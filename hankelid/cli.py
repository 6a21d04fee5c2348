"""Command-line interface: `hankelid spectrum|reduce|identify|demo`.

Examples
--------
```console
$ hankelid spectrum plant.npz --plot spectrum.png
$ hankelid spectrum plant.npz --empirical --inputs gaussian --length 512 --trajectories 200 --seed 0
$ hankelid reduce plant.npz --tol 1e-4 --match-dc -o reduced.npz
$ hankelid identify markov.npz --tol 1e-6 --dt 0.01 -o identified.npz
$ hankelid demo --out demo-output
```

Systems are `.npz` files with arrays `A, B, C` and optionally `D` and `dt` (`NaN`
or absent: continuous time), as written by [`hankelid.StateSpace.save`][hankelid.systems.StateSpace.save].
Markov parameters for `identify` are stored under the key `markov` with shape `(L, p, m)`.

Bad input (a missing file, a malformed array, an impossible order) is reported in one line
on standard error with exit status 2 -- no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import demo
from .cli_identify import compare_models, identify_from_data
from .empirical import empirical_hsv
from .gramians import hsv
from .identification import era
from .plot import hankel_spectrum
from .systems import load
from .truncation import balanced_truncation, distinct_bounds

__all__ = ["main"]


class _UserError(Exception):
    """An error caused by the input; reported without a traceback."""


def _load_system(path: str):
    _check_npz(path)
    try:
        return load(path)
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _UserError(f"{path}: not a valid system file ({exc})") from None


def _check_npz(path: str) -> None:
    if not os.path.exists(path):
        raise _UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise _UserError(f"{path}: is a directory, expected an .npz file")
    if not zipfile.is_zipfile(path):
        raise _UserError(f"{path}: not an .npz archive (write one with numpy.savez or StateSpace.save)")


def _check_output(output: str, source: str, force: bool) -> None:
    """Refuse a directory as output, and the input file itself unless `--force`."""
    if os.path.isdir(output):
        raise _UserError(
            f"-o {output}: is a directory; give a file name such as {os.path.join(output, 'out.npz')}"
        )
    if not force and os.path.exists(output) and os.path.samefile(output, source):
        raise _UserError(
            f"-o {output} is the input file; refusing to overwrite it (pass --force to replace it)"
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _order(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _describe(sys: Any) -> str:
    domain = f"discrete, dt={sys.dt:g}" if sys.is_discrete else "continuous"
    return f"n={sys.n}, m={sys.m}, p={sys.p}, {domain}"


# ----------------------------------------------------------------------------- commands
def _cmd_spectrum(args: argparse.Namespace) -> int:
    sys = _load_system(args.file)
    if args.empirical:
        sig = np.asarray(
            empirical_hsv(
                sys,
                inputs=args.inputs,
                length=args.length,
                n_trajectories=args.trajectories,
                seed=args.seed,
            ),
            dtype=float,
        )
        source = f"empirical Gramians ({args.inputs} inputs, length {args.length}"
        source += f", {args.trajectories} trajectories)" if args.trajectories else ")"
    else:
        sig = hsv(sys)
        source = "exact Gramians"
    finite = np.isfinite(sig)
    nu = int(np.sum(~finite))
    bounds = np.full(sig.size + 1, np.inf)
    bounds[nu:] = distinct_bounds(sig[finite])
    print(f"system: {_describe(sys)}")
    print(f"Hankel singular values from {source}")
    if nu:
        print(f"{nu} unstable mode(s) (sigma = inf) are always kept")
    s1 = sig[finite][0] if np.any(finite) else np.nan
    print(f"{'k':>4}  {'sigma_k':>12}  {'sigma_k/sigma_1':>15}  {'bound at order k':>17}")
    for k in range(1, sig.size + 1):
        rel = sig[k - 1] / s1 if np.isfinite(sig[k - 1]) else np.inf
        print(f"{k:>4}  {sig[k - 1]:>12.5e}  {rel:>15.3e}  {bounds[k]:>17.5e}")
    print("bound at order k: 2 * sum of the distinct sigma_i, i > k, on ||G - G_k||_inf")
    if args.plot:
        _save_spectrum_plot(sig, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _save_spectrum_plot(sig: np.ndarray, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise _UserError("--plot needs matplotlib: pip install 'hankelid[plot]'") from None
    ax = hankel_spectrum(sig)
    try:
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    except (OSError, ValueError) as exc:
        raise _UserError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(ax.figure)


def _cmd_reduce(args: argparse.Namespace) -> int:
    sys = _load_system(args.file)
    if args.order is not None and args.order > sys.n:
        raise _UserError(f"--order {args.order} exceeds the system order n={sys.n}")
    _check_output(args.output, args.file, args.force)
    red = balanced_truncation(sys, args.order, tol=args.tol, method=args.method, match_dc=args.match_dc)
    try:
        red.system.save(args.output)
    except OSError as exc:
        raise _UserError(f"cannot write {args.output}: {exc}") from None
    how = "singular perturbation (DC gain kept)" if args.match_dc else "balanced truncation"
    print(f"system: {_describe(sys)}")
    print(
        f"{how}, method {args.method}: kept {red.order} of {sys.n} states"
        + (f" ({red.n_unstable} unstable kept whole)" if red.n_unstable else "")
    )
    kept = red.hsv[: red.order]
    dropped = red.hsv[red.order :]
    print("kept HSVs:      " + ", ".join(f"{s:.4e}" for s in kept))
    if dropped.size:
        print(
            "discarded HSVs: "
            + ", ".join(f"{s:.4e}" for s in dropped[:8])
            + (f", ... ({dropped.size} in all)" if dropped.size > 8 else "")
        )
    print(f"error bound: ||G - G_r||_inf <= {red.error_bound:.5e}")
    print(f"wrote {args.output}")
    return 0


def _cmd_identify(args: argparse.Namespace) -> int:
    if _is_markov_file(args.file):
        for flag, value in (("--inputs", args.inputs), ("--outputs", args.outputs)):
            if value:
                raise _UserError(
                    f"{flag} applies to input/output data, but {args.file} holds Markov parameters"
                )
        return _identify_markov(args)
    _check_output(args.output, args.file, args.force)
    return identify_from_data(args)


def _is_markov_file(path: str) -> bool:
    """An `.npz` archive with an array `markov` (ERA input); anything else is read as I/O data."""
    if not os.path.exists(path):
        raise _UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise _UserError(f"{path}: is a directory, expected a .csv or .npz file")
    if not zipfile.is_zipfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "markov" in data.files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _UserError(f"{path}: not a valid .npz file ({exc})") from None


def _cmd_compare(args: argparse.Namespace) -> int:
    return compare_models(args)


def _identify_markov(args: argparse.Namespace) -> int:
    path = args.file
    _check_npz(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "markov" not in data.files:
                raise _UserError(
                    f"{path}: no array 'markov' (expected Markov parameters of shape (L, p, m); "
                    f"found {sorted(data.files)})"
                )
            markov = np.array(data["markov"])
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _UserError(f"{path}: not a valid .npz file ({exc})") from None
    if markov.ndim == 1:
        markov = markov.reshape(-1, 1, 1)
    if markov.ndim != 3:
        raise _UserError(f"{path}: 'markov' must have shape (L, p, m), got {markov.shape}")
    _check_output(args.output, path, args.force)
    sys = era(markov, args.order, tol=args.tol, dt=1.0 if args.dt is None else args.dt)
    try:
        sys.save(args.output)
    except OSError as exc:
        raise _UserError(f"cannot write {args.output}: {exc}") from None
    print(f"ERA on {markov.shape[0]} Markov parameters ({markov.shape[1]} outputs, {markov.shape[2]} inputs)")
    print(f"identified: {_describe(sys)}, stable: {sys.is_stable()}")
    print(f"wrote {args.output}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # Looked up at call time (tests substitute a fake demo).
    summary = demo.run_demo(args.out)
    return 0 if summary["all_bounds_hold"] else 1


# ----------------------------------------------------------------------------- parser
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hankelid",
        description="Hankel singular values, balanced truncation and ERA identification.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sp = sub.add_parser("spectrum", help="print the Hankel singular values and the bound for each order")
    sp.add_argument("file", metavar="FILE.npz", help="system file (A, B, C[, D, dt])")
    sp.add_argument("--plot", metavar="OUT.png", help="also draw the spectrum with the bound curve")
    sp.add_argument("--empirical", action="store_true", help="estimate the Gramians from simulations")
    sp.add_argument(
        "--inputs",
        choices=["impulse", "gaussian"],
        default="impulse",
        help="empirical inputs (default: impulse)",
    )
    sp.add_argument("--length", type=_positive_int, default=1024, help="simulation length (default 1024)")
    sp.add_argument(
        "--trajectories", type=_positive_int, default=None, help="number of Gaussian trajectories"
    )
    sp.add_argument("--seed", type=int, default=None, help="random seed for Gaussian inputs")
    sp.set_defaults(func=_cmd_spectrum)

    rp = sub.add_parser("reduce", help="balanced truncation to an order or a tolerance")
    rp.add_argument("file", metavar="FILE.npz")
    g = rp.add_mutually_exclusive_group(required=True)
    g.add_argument("--order", type=_positive_int, help="number of states to keep")
    g.add_argument("--tol", type=_positive_float, help="keep the smallest order whose bound is <= tol")
    rp.add_argument("--method", choices=["sr", "bfsr"], default="sr", help="square root or balancing-free")
    rp.add_argument("--match-dc", action="store_true", help="singular perturbation: keep the DC gain")
    rp.add_argument(
        "-o", "--output", required=True, metavar="OUT.npz", help="where to write the reduced system (exactly)"
    )
    rp.add_argument("--force", action="store_true", help="allow -o to overwrite the input file")
    rp.set_defaults(func=_cmd_reduce)

    ip = sub.add_parser(
        "identify",
        help="a state-space model from input/output data (CSV/NPZ) or from Markov parameters (ERA)",
    )
    ip.add_argument(
        "file",
        metavar="DATA.csv|DATA.npz|MARKOV.npz",
        help="CSV with a header row, npz with u/y arrays, or npz with 'markov' (L, p, m) for ERA",
    )
    g = ip.add_mutually_exclusive_group()
    g.add_argument("--order", type=_order, help="model order or 'auto' (default: auto)")
    g.add_argument("--tol", type=_positive_float, help="ERA on Markov parameters: order from a bound")
    ip.add_argument(
        "--dt", type=_positive_float, default=None, help="sampling time (default: from the file, else 1)"
    )
    ip.add_argument("--inputs", nargs="+", metavar="COLUMN", help="input columns of a CSV file")
    ip.add_argument("--outputs", nargs="+", metavar="COLUMN", help="output columns of a CSV file")
    ip.add_argument("--time-column", metavar="COLUMN", help="CSV time column (sets dt)")
    ip.add_argument(
        "--method",
        choices=["n4sid", "moesp", "cva", "okid", "era"],
        default="n4sid",
        help="identification method for data (default n4sid; era: regularized impulse estimate + ERA)",
    )
    ip.add_argument("--horizon", type=_positive_int, help="subspace horizon (block rows)")
    ip.add_argument("--stable", action="store_true", help="enforce a stable model")
    ip.add_argument(
        "--detrend", choices=["none", "constant", "linear"], default="constant", help="default: constant"
    )
    vg = ip.add_mutually_exclusive_group()
    vg.add_argument(
        "--validation",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="hold out the last FRACTION of every record for validation (default 0.3)",
    )
    vg.add_argument("--validation-file", metavar="FILE", help="validation data (same columns)")
    ip.add_argument("--plots", metavar="DIR", help="write order-selection/compare/residual plots here")
    ip.add_argument("-o", "--output", required=True, metavar="MODEL.npz", help="where to write it (exactly)")
    ip.add_argument("--force", action="store_true", help="allow -o to overwrite the input file")
    ip.set_defaults(func=_cmd_identify)

    cp = sub.add_parser("compare", help="fit (%%) of identified models on input/output data")
    cp.add_argument("file", metavar="DATA.csv|DATA.npz")
    cp.add_argument("models", nargs="+", metavar="MODEL.npz")
    cp.add_argument("--inputs", nargs="+", metavar="COLUMN")
    cp.add_argument("--outputs", nargs="+", metavar="COLUMN")
    cp.add_argument("--time-column", metavar="COLUMN")
    cp.add_argument("--dt", type=_positive_float, default=None)
    cp.add_argument(
        "--detrend",
        choices=["none", "constant", "linear"],
        default="constant",
        help="must match what identify used (default: constant)",
    )
    cp.add_argument("--x0", choices=["estimate", "zero"], default="estimate", help="initial state")
    cp.add_argument("--horizon", type=_positive_int, help="k-step-ahead prediction instead of simulation")
    cp.add_argument("--plot", metavar="OUT.png", help="draw measured vs model outputs")
    cp.set_defaults(func=_cmd_compare)

    dp = sub.add_parser("demo", help="the core demo: spectra, reduction tables, plots")
    dp.add_argument("--out", default="hankelid-demo", metavar="DIR", help="output directory")
    dp.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hankelid` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)  # argparse itself exits with status 2 on bad usage
    try:
        return int(args.func(args))
    except _UserError as exc:
        print(f"hankelid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # validation errors from the library name the problem
        print(f"hankelid {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
