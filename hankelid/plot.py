"""Plots for Hankel spectra, error bounds and frequency responses (matplotlib, optional).

Every function draws into `ax` (a new figure when omitted) and returns the Axes.
matplotlib is imported lazily, and only its object-oriented API is used, so the functions
work with any backend, including `Agg` on headless machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .gramians import hsv
from .identification import validation
from .norms import hinf_norm
from .systems import StateSpace, as_state_space
from .truncation import balanced_truncation, distinct_bounds

__all__ = [
    "compare",
    "draw_error_bounds",
    "error_bounds",
    "frequency_response",
    "hankel_spectrum",
    "order_selection",
    "residuals",
]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        # pyplot picks a non-interactive backend (Agg) by itself on headless machines.
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("hankelid.plot needs matplotlib: pip install 'hankelid[plot]'") from exc
    _, ax = plt.subplots(figsize=(6.0, 4.0))
    return ax


def _integer_ticks(ax: Any) -> None:
    """Orders and indices are integers: no fractional ticks on the x axis."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _precision_floor(ax: Any, top: float, values: np.ndarray) -> None:
    """Shade what lies below float64 resolution relative to `top` and stop the axis there.

    Values under `top * eps` carry no information about the system (they are rounding of
    quantities of size `top`); without a floor a log axis spends most of its height on them.
    """
    floor = top * np.finfo(float).eps
    values = values[np.isfinite(values)]
    if not (np.isfinite(floor) and floor > 0 and values.size and values.min() < floor):
        return
    bottom = floor / 10
    ax.set_ylim(bottom=bottom)
    ax.axhspan(bottom, floor, color="0.85", alpha=0.6, zorder=0, label="below float64 precision")


def _finish(ax: Any, xlabel: str, ylabel: str, title: str) -> Any:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def hankel_spectrum(sys_or_hsv: Any, ax: Any = None, bounds: bool = True, **kwargs: Any) -> Any:
    """Hankel singular values on a log scale, with the truncation bound per order.

    Parameters
    ----------
    sys_or_hsv : StateSpace or array_like
        A system (its HSVs are computed) or the HSVs themselves.
    ax : matplotlib Axes, optional
    bounds : bool
        Also draw `2 * sum` of the discarded distinct HSVs against the order.
    **kwargs
        Passed to [`hankelid.hsv`][hankelid.gramians.hsv] when a system is given (e.g. `offset`).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import hankelid as hk
    >>> ax = hk.plot.hankel_spectrum(hk.random_stable(8, seed=0))
    >>> ax.get_yscale()
    'log'
    """
    if isinstance(sys_or_hsv, StateSpace) or hasattr(sys_or_hsv, "A"):
        sig = hsv(as_state_space(sys_or_hsv), **kwargs)
    else:
        sig = np.asarray(sys_or_hsv, dtype=float).ravel()
        if sig.size == 0:
            raise ValueError("no Hankel singular values to plot")
    ax = _axes(ax)
    finite = np.isfinite(sig)
    k = np.arange(1, sig.size + 1)
    tiny = np.finfo(float).tiny
    ax.semilogy(k[finite], np.maximum(sig[finite], tiny), "o-", label=r"$\sigma_k$")
    if np.any(~finite):
        top = np.max(sig[finite]) if np.any(finite) else 1.0
        ax.semilogy(k[~finite], np.full(np.sum(~finite), top), "^", color="C3", label="unstable mode")
    if bounds and np.any(finite):
        nu = int(np.sum(~finite))
        b = distinct_bounds(sig[finite])
        orders = np.arange(nu, sig.size + 1)
        ok = b > 0
        ax.semilogy(orders[ok], b[ok], "s--", ms=3, label=r"bound $2\sum_{i>r}\sigma_i$ at order r")
    if np.any(finite):
        _precision_floor(ax, float(np.max(sig[finite])), sig[finite])
    _integer_ticks(ax)
    return _finish(ax, "index k (order r for the bound)", "Hankel singular value", "Hankel spectrum")


def error_bounds(
    sys: Any,
    orders: Sequence[int] | None = None,
    ax: Any = None,
    *,
    match_dc: bool = False,
    method: str = "sr",
) -> Any:
    """A-priori bound vs measured H-infinity error vs `sigma_{r+1}`, per order.

    Parameters
    ----------
    sys : StateSpace
        A stable system.
    orders : sequence of int, optional
        Orders to reduce to (default: every order `1 .. n - 1`).
    ax : matplotlib Axes, optional
    match_dc : bool
        Passed to [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation]: singular
        perturbation instead of truncation.
    method : "sr" | "bfsr"
        Passed to [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation].

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import hankelid as hk
    >>> ax = hk.plot.error_bounds(hk.random_stable(6, seed=1), orders=[1, 2, 3])
    >>> len(ax.get_lines())
    3
    """
    sys = as_state_space(sys)
    if orders is None:
        orders = list(range(1, sys.n)) or [1]
    orders = [int(r) for r in orders]
    bound, actual, lower = [], [], []
    for r in orders:
        red = balanced_truncation(sys, r, match_dc=match_dc, method=method)
        bound.append(red.error_bound)
        actual.append(hinf_norm(sys - red.system) if red.order < sys.n else 0.0)
        lower.append(red.hsv[red.order] if red.order < sys.n else 0.0)
    return draw_error_bounds(orders, bound, actual, lower, ax)


def draw_error_bounds(
    orders: Sequence[int],
    bound: Sequence[float],
    actual: Sequence[float],
    lower: Sequence[float],
    ax: Any = None,
) -> Any:
    """Draw the bound / actual error / lower bound curves of [`error_bounds`][hankelid.plot.error_bounds].

    For errors that were already computed (e.g. by a demo that tabulates them).

    Parameters
    ----------
    orders : sequence of int
    bound, actual, lower : sequence of float
        A-priori bound, measured H-infinity error and `sigma_{r+1}` per order.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import hankelid as hk
    >>> ax = hk.plot.draw_error_bounds([1, 2], [0.5, 0.1], [0.3, 0.05], [0.2, 0.04])
    >>> len(ax.get_lines())
    3
    """
    ax = _axes(ax)
    tiny = np.finfo(float).tiny
    ax.semilogy(orders, np.maximum(bound, tiny), "s--", label=r"bound $2\sum_{i>r}\sigma_i$")
    ax.semilogy(orders, np.maximum(actual, tiny), "o-", label=r"$\|G - G_r\|_\infty$")
    ax.semilogy(orders, np.maximum(lower, tiny), "v:", label=r"$\sigma_{r+1}$")
    _integer_ticks(ax)
    return _finish(ax, "reduced order r", "error", "Balanced truncation: bound vs actual error")


def frequency_response(
    systems: Any,
    w: Any = None,
    ax: Any = None,
    labels: Sequence[str] | None = None,
    *,
    data: Any = None,
    entry: tuple[int, int] | None = None,
    bode: bool = False,
) -> Any:
    """Largest singular value of `G(jw)` (`G(e^{jw dt})`) of one or several systems.

    Measured data ([`FRData`][hankelid.FRData]) are overlaid as markers, so a fitted model can
    be checked against the samples it came from; with `bode=True` magnitude (dB) and phase
    (degrees) of one entry are drawn on two axes.

    Parameters
    ----------
    systems : StateSpace or sequence of StateSpace, or None
        Models to draw as lines (`None` or `[]` when only `data` is drawn).
    w : array_like, optional
        Frequencies in rad/s (default: a log grid spanning the poles, or the data's band;
        up to Nyquist in discrete time).
    ax : matplotlib Axes, optional
        One Axes, or two (magnitude, phase) with `bode=True`.
    labels : sequence of str, optional
        One per system.
    data : FRData or sequence of FRData, optional
        Samples drawn as markers at their own frequencies.
    entry : (int, int), optional
        Draw the entry `G[i, j]` (output `i`, input `j`) instead of the largest
        singular value.
    bode : bool
        Magnitude in dB and phase in degrees on two axes (needs `entry` for MIMO systems);
        returns both Axes.

    Returns
    -------
    matplotlib Axes, or an array of two Axes with `bode=True`

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import hankelid as hk
    >>> sys = hk.random_stable(6, seed=2)
    >>> red = hk.balanced_truncation(sys, 2).system
    >>> ax = hk.plot.frequency_response([sys, red], labels=["full", "r=2"])
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['full', 'r=2']
    >>> import numpy as np
    >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 30))
    >>> mag, phase = hk.plot.frequency_response(red, data=frd, bode=True)
    >>> mag.get_ylabel(), phase.get_ylabel()
    ('magnitude [dB]', 'phase [deg]')
    """
    if systems is None:
        systems = []
    elif isinstance(systems, StateSpace) or hasattr(systems, "A"):
        systems = [systems]
    systems = [as_state_space(s) for s in systems]
    if data is None:
        datasets = []
    elif hasattr(data, "omega") and hasattr(data, "response"):
        datasets = [data]
    else:
        datasets = list(data)
    if not systems and not datasets:
        raise ValueError("no systems to plot")
    if labels is not None and len(labels) != len(systems):
        raise ValueError(f"got {len(labels)} labels for {len(systems)} systems")
    shapes = {(s.p, s.m) for s in systems} | {(d.p, d.m) for d in datasets}
    if entry is not None:
        i, j = entry
        bad = [sh for sh in shapes if not (0 <= i < sh[0] and 0 <= j < sh[1])]
        if bad:
            raise ValueError(f"entry {entry} is out of range for a system of shape (p, m) = {bad[0]}")
    elif bode and shapes != {(1, 1)}:
        raise ValueError("the phase of a MIMO response needs entry=(output, input)")
    if w is None:
        w = _data_grid(datasets) if datasets else _default_grid(systems)
    w = np.asarray(w, dtype=float)

    def magnitude_phase(G: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if entry is None and not bode:
            return np.linalg.norm(G, 2, axis=(1, 2)), None
        g = G[:, 0, 0] if entry is None else G[:, entry[0], entry[1]]
        return np.abs(g), np.rad2deg(np.unwrap(np.angle(g)))

    tiny = np.finfo(float).tiny
    if bode:
        if ax is None:
            import matplotlib.pyplot as plt

            _, axes = plt.subplots(2, 1, sharex=True, figsize=(6.0, 5.5))
        else:
            axes = np.asarray(ax).ravel()
            if axes.size != 2:
                raise ValueError("bode=True needs two Axes (magnitude, phase)")
        for i, s in enumerate(systems):
            mag, ph = magnitude_phase(s.frequency_response(w))
            label = labels[i] if labels is not None else f"n={s.n}"
            axes[0].semilogx(w, 20 * np.log10(np.maximum(mag, tiny)), label=label)
            axes[1].semilogx(w, ph, label=label)
        for k, d in enumerate(datasets):
            mag, ph = magnitude_phase(d.response)
            keep = d.omega > 0
            label = "data" if len(datasets) == 1 else f"data {k + 1}"
            axes[0].semilogx(
                d.omega[keep], 20 * np.log10(np.maximum(mag[keep], tiny)), ".", ms=3, label=label
            )
            axes[1].semilogx(d.omega[keep], ph[keep], ".", ms=3, label=label)
        _finish(axes[0], "", "magnitude [dB]", "Frequency response")
        axes[1].set_xlabel("frequency [rad/s]")
        axes[1].set_ylabel("phase [deg]")
        axes[1].grid(True, which="both", alpha=0.3)
        return axes
    ax = _axes(ax)
    mags = []
    for i, s in enumerate(systems):
        mag, _ = magnitude_phase(s.frequency_response(w))
        label = labels[i] if labels is not None else f"n={s.n}"
        ax.loglog(w, np.maximum(mag, tiny), label=label)
        mags.append(mag)
    for k, d in enumerate(datasets):
        mag, _ = magnitude_phase(d.response)
        keep = d.omega > 0
        label = "data" if len(datasets) == 1 else f"data {k + 1}"
        ax.loglog(d.omega[keep], np.maximum(mag[keep], tiny), ".", ms=3, label=label)
        mags.append(mag[keep])
    mags = np.concatenate(mags)
    _precision_floor(ax, float(np.max(mags, initial=0.0)), mags)
    ylabel = r"$\sigma_{\max}(G)$" if entry is None else f"$|G_{{{entry[0] + 1}{entry[1] + 1}}}|$"
    return _finish(ax, "frequency [rad/s]", ylabel, "Frequency response")


def _data_grid(datasets: list[Any]) -> np.ndarray:
    lo = min(float(d.omega[d.omega > 0].min()) if np.any(d.omega > 0) else 1e-3 for d in datasets)
    hi = max(float(d.omega.max()) for d in datasets)
    return np.geomspace(lo, max(hi, lo * 1.001), 600)


def _default_grid(systems: list[StateSpace]) -> np.ndarray:
    dts = [s.dt for s in systems if s.is_discrete]
    if dts:
        nyq = np.pi / min(dts)
        return np.geomspace(nyq * 1e-4, nyq, 400)
    mags = np.concatenate([np.abs(s.poles()) for s in systems])
    mags = mags[mags > 0]
    lo = mags.min() / 100 if mags.size else 1e-2
    hi = mags.max() * 100 if mags.size else 1e2
    return np.geomspace(lo, hi, 400)


def order_selection(
    ident_or_singular_values: Any,
    ax: Any = None,
    *,
    order: int | None = None,
    noise_floor: float | None = None,
    max_index: int | None = None,
) -> Any:
    """Singular values behind an identified model's order, on a log scale, with the order marked.

    Parameters
    ----------
    ident_or_singular_values : Identification or array_like
        An identification result (`hk.n4sid`, `hk.okid`, ...: its `.singular_values`, `.order`
        and, where recorded, `.info["noise_floor"]` are drawn) or the singular values themselves.
    ax : matplotlib Axes, optional
    order : int, optional
        The order to mark (default: the result's order).
    noise_floor : float, optional
        A horizontal noise-floor line (default: the result's `info["noise_floor"]`, if any).
    max_index : int, optional
        Draw only the first `max_index` values.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        If there are no singular values, or `order` is outside `1..len(values)`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, hankelid as hk
    >>> true = hk.random_stable(4, 1, 1, dt=1.0, seed=0)
    >>> u = np.random.default_rng(0).standard_normal(500)
    >>> y = hk.simulate(true, u)[:, 0] + 0.05 * np.random.default_rng(1).standard_normal(500)
    >>> ident = hk.n4sid(hk.IOData(u, y))
    >>> ax = hk.plot.order_selection(ident)
    >>> ax.get_yscale(), ax.get_title() == f"Order selection (n4sid): order {ident.order}"
    ('log', True)
    """
    values = getattr(ident_or_singular_values, "singular_values", ident_or_singular_values)
    sig = np.asarray(values, dtype=float).ravel()
    if sig.size == 0:
        raise ValueError("no singular values to plot")
    info = getattr(ident_or_singular_values, "info", {}) or {}
    if order is None:
        order = getattr(ident_or_singular_values, "order", None)
    if noise_floor is None:
        noise_floor = info.get("noise_floor")
    if order is not None and not 1 <= int(order) <= sig.size:
        raise ValueError(
            f"order must be between 1 and {sig.size} (the number of singular values), got {order}"
        )
    if max_index is not None:
        sig = sig[: max(int(max_index), order or 1)]
    ax = _axes(ax)
    k = np.arange(1, sig.size + 1)
    tiny = np.finfo(float).tiny
    ax.semilogy(k, np.maximum(sig, tiny), "o-", ms=4, label="singular values")
    if order is not None:
        order = int(order)
        ax.semilogy([order], [max(sig[order - 1], tiny)], "o", ms=10, mfc="none", mew=2, color="C3")
        ax.axvline(order + 0.5, color="C3", ls="--", label=f"chosen order {order}")
    if noise_floor is not None and noise_floor > 0:
        ax.axhline(noise_floor, color="0.4", ls=":", label=f"noise floor {noise_floor:.2g}")
    method = getattr(ident_or_singular_values, "method", "")
    title = "Order selection" + (f" ({method})" if method else "")
    title += f": order {order}" if order is not None else ""
    return _finish(ax, "index k", "singular value", title)


def _channel_label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def compare(
    data_or_result: Any,
    *models: Any,
    ax: Any = None,
    output: int = 0,
    experiment: int = 0,
    x0: Any = "estimate",
    horizon: int | None = None,
    time_unit: str = "s",
) -> Any:
    """Measured output against model outputs, with the fit in percent in the legend.

    Parameters
    ----------
    data_or_result : IOData or CompareResult
        Data (then `models` are compared with [`hankelid.compare`][hankelid.compare]) or the
        result of `hk.compare` itself.
    *models
        Models to compare, when `data_or_result` is data.
    ax : matplotlib Axes, optional
    output : int
        Which output channel to draw.
    experiment : int
        Which experiment to draw.
    x0 : "estimate" | "zero" | array_like
        Initial state, passed to `hk.compare` when it is called here.
    horizon : int or None
        Prediction horizon, passed to `hk.compare` (None: simulation).
    time_unit : str
        Unit of the data's sampling time, for the axis label.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(3, dt=0.1, seed=0)
    >>> u = np.random.default_rng(0).standard_normal(200)
    >>> data = hk.IOData(u, hk.simulate(sys, u), dt=0.1, output_names=["v"], output_units=["V"])
    >>> ax = hk.plot.compare(data, sys)
    >>> ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()]
    ('v [V]', ['measured', 'model 1: 100.0 %'])
    """
    if isinstance(data_or_result, validation.CompareResult):
        if models:
            raise ValueError("pass either a CompareResult or data and models, not both")
        res = data_or_result
    else:
        res = validation.compare(data_or_result, *models, x0=x0, horizon=horizon)
    data = res.data
    if not 0 <= output < data.p:
        raise ValueError(f"output must be between 0 and {data.p - 1}, got {output}")
    if not 0 <= experiment < data.n_experiments:
        raise ValueError(f"experiment must be between 0 and {data.n_experiments - 1}, got {experiment}")
    ax = _axes(ax)
    t = data.time(experiment)
    ax.plot(t, data.y[experiment][:, output], color="0.2", lw=1.2, label="measured")
    for i, name in enumerate(res.names):
        fit = res.fit_per_experiment[i, experiment, output]
        ax.plot(t, res.predictions[i][experiment][:, output], lw=1.0, label=f"{name}: {fit:.1f} %")
    kind = "simulation" if res.horizon is None else f"{res.horizon}-step prediction"
    ylabel = _channel_label(data.output_names[output], data.output_units[output])
    return _finish(ax, f"time [{time_unit}]", ylabel, f"Model {kind} vs measured output")


def residuals(
    analysis_or_model: Any,
    data: Any = None,
    *,
    axes: Sequence[Any] | None = None,
    output: int = 0,
    input: int = 0,
    lags: int = 25,
) -> Any:
    """Residual auto-correlation and cross-correlation with an input, with 99 % bounds.

    Parameters
    ----------
    analysis_or_model : ResidualAnalysis or a model
        The result of [`hankelid.residuals`][hankelid.residuals], or a model (then `data` is
        required and the analysis is run here with `lags`).
    data : IOData, optional
    axes : pair of matplotlib Axes, optional
        Where to draw the auto-correlation and the cross-correlation (a new figure with two
        panels when omitted).
    output, input : int
        The output (error channel) and input to draw.
    lags : int

    Returns
    -------
    tuple of two matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(3, dt=1.0, seed=0)
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(500)
    >>> data = hk.IOData(u, hk.simulate(sys, u) + 0.1 * rng.standard_normal((500, 1)))
    >>> ax_auto, ax_cross = hk.plot.residuals(sys, data, lags=20)
    >>> ax_auto.get_xlabel(), ax_cross.get_xlabel()
    ('lag τ [samples]', 'lag τ [samples]')
    """
    if isinstance(analysis_or_model, validation.ResidualAnalysis):
        res = analysis_or_model
    else:
        if data is None:
            raise ValueError("pass a ResidualAnalysis, or a model together with its data")
        res = validation.residuals(analysis_or_model, data, lags=lags)
    p, m = res.cross.shape[:2]
    if not 0 <= output < p:
        raise ValueError(f"output must be between 0 and {p - 1}, got {output}")
    if not 0 <= input < m:
        raise ValueError(f"input must be between 0 and {m - 1}, got {input}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(2, 1, figsize=(6.0, 6.0))
    if len(axes) != 2:
        raise ValueError(f"axes must hold two Axes (auto- and cross-correlation), got {len(axes)}")
    ax_a, ax_c = axes
    out_name = res.output_names[output] if res.output_names else f"y{output + 1}"
    in_name = res.input_names[input] if res.input_names else f"u{input + 1}"
    pct = f"{100 * res.confidence:.0f} %"
    ax_a.stem(res.lags, res.auto[output], basefmt=" ", label=r"$\hat r_\varepsilon(\tau)$")
    ax_a.fill_between(
        res.lags, -res.auto_bound, res.auto_bound, color="C0", alpha=0.15, label=f"{pct} bound (white)"
    )
    verdict = "white" if res.white[output] else "not white"
    _finish(
        ax_a,
        "lag τ [samples]",
        "normalized auto-correlation",
        f"Residuals of {out_name}: {verdict} (p = {res.whiteness_pvalue[output]:.2g})",
    )
    bound = res.cross_bound[output, input]
    ax_c.stem(res.cross_lags, res.cross[output, input], basefmt=" ", label=r"$\hat r_{\varepsilon u}(\tau)$")
    ax_c.fill_between(res.cross_lags, -bound, bound, color="C1", alpha=0.15, label=f"{pct} bound")
    verdict = "independent" if res.independent[output, input] else "correlated"
    _finish(
        ax_c,
        "lag τ [samples]",
        "normalized cross-correlation",
        f"Residuals of {out_name} vs past {in_name}: {verdict} "
        f"(p = {res.independence_pvalue[output, input]:.2g})",
    )
    return ax_a, ax_c
