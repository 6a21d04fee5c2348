"""Plots for Hankel spectra, error bounds and frequency responses (matplotlib, optional).

Every function draws into ``ax`` (a new figure when omitted) and returns the Axes.
matplotlib is imported lazily, and only its object-oriented API is used, so the functions
work with any backend, including ``Agg`` on headless machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .gramians import hsv
from .norms import hinf_norm
from .systems import StateSpace, as_state_space
from .truncation import balanced_truncation, distinct_bounds

__all__ = ["draw_error_bounds", "error_bounds", "frequency_response", "hankel_spectrum"]


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
        Also draw ``2 * sum`` of the discarded distinct HSVs against the order.
    **kwargs
        Passed to :func:`hankelid.hsv` when a system is given (e.g. ``offset``).

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
    return _finish(ax, "index k (order r for the bound)", "Hankel singular value", "Hankel spectrum")


def error_bounds(
    sys: Any,
    orders: Sequence[int] | None = None,
    ax: Any = None,
    *,
    match_dc: bool = False,
    method: str = "sr",
) -> Any:
    """A-priori bound vs measured H-infinity error vs ``sigma_{r+1}``, per order.

    Parameters
    ----------
    sys : StateSpace
        A stable system.
    orders : sequence of int, optional
        Orders to reduce to (default: ``1 .. min(n - 1, 12)``).
    ax : matplotlib Axes, optional
    match_dc, method
        Passed to :func:`hankelid.balanced_truncation`.

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
        orders = list(range(1, min(sys.n - 1, 12) + 1)) or [1]
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
        A-priori bound, measured H-infinity error and ``sigma_{r+1}`` per order.
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
    return _finish(ax, "reduced order r", "error", "Balanced truncation: bound vs actual error")


def frequency_response(
    systems: Any, w: Any = None, ax: Any = None, labels: Sequence[str] | None = None
) -> Any:
    """Largest singular value of ``G(jw)`` (``G(e^{jw dt})``) of one or several systems.

    Parameters
    ----------
    systems : StateSpace or sequence of StateSpace
    w : array_like, optional
        Frequencies in rad/s (default: a log grid spanning the poles; up to Nyquist in
        discrete time).
    ax : matplotlib Axes, optional
    labels : sequence of str, optional

    Returns
    -------
    matplotlib Axes

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
    """
    if isinstance(systems, StateSpace) or hasattr(systems, "A"):
        systems = [systems]
    systems = [as_state_space(s) for s in systems]
    if not systems:
        raise ValueError("no systems to plot")
    if labels is not None and len(labels) != len(systems):
        raise ValueError(f"got {len(labels)} labels for {len(systems)} systems")
    if w is None:
        w = _default_grid(systems)
    w = np.asarray(w, dtype=float)
    ax = _axes(ax)
    for i, s in enumerate(systems):
        mag = np.linalg.norm(s.frequency_response(w), 2, axis=(1, 2))
        label = labels[i] if labels is not None else f"n={s.n}"
        ax.loglog(w, np.maximum(mag, np.finfo(float).tiny), label=label)
    return _finish(ax, "frequency [rad/s]", r"$\sigma_{\max}(G)$", "Frequency response")


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
