r"""Balanced truncation and singular perturbation approximation with error bounds.

For a stable system with Hankel singular values \(\sigma_1 \ge \dots \ge \sigma_n\),
balanced truncation to order `r` satisfies

$$
\sigma_{r+1} \le \|G - G_r\|_\infty \le 2 \sum_{i > r} \sigma_i
$$

where the sum counts each *distinct* value once; the same bound holds for the singular
perturbation approximation (`match_dc=True`), which matches the DC gain instead of the
high-frequency behaviour.

Both methods start from square-root factors `Wc = Lc Lc^T`, `Wo = Lo Lo^T` --
exact ones from [`hankelid.gramian_factors`][hankelid.gramians.gramian_factors], or empirical ones estimated
from simulations -- and share one projection step
([`balance_from_factors`][hankelid.truncation.balance_from_factors]).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from . import empirical
from ._factors import thin_factor
from ._lyapunov import exact_factors, factors_from_schur
from ._schur import poles_from_schur, schur_data
from ._stability import DEFAULT_MARGIN, absolute_margin, check_margin, is_stable
from ._validation import check_order, check_positive
from .decomposition import StableUnstableSplit, stable_unstable_split
from .gramians import hsv_from_factors
from .systems import StateSpace, as_state_space

__all__ = [
    "Reduction",
    "balance_from_factors",
    "balanced_truncation",
    "compress_channels",
    "distinct_bounds",
]

_EPS = np.finfo(float).eps

#: Two HSVs closer than this (relative) count as one value in the error bound.
HSV_GROUP_RTOL = 1e-9


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Reduction:
    r"""The result of [`balanced_truncation`][hankelid.truncation.balanced_truncation].

    Attributes
    ----------
    system : StateSpace
        The reduced model, with the original `dt`; truncation keeps `D`, singular
        perturbation adjusts it so that the DC gain is kept.
    order : int
        Its number of states (unstable modes included).
    hsv : ndarray
        Hankel singular values of the original system (`inf` for unstable modes).
    error_bound : float
        A-priori bound `2 * sum` of the discarded distinct HSVs on `||G - G_r||_inf`.
        It holds for the exact HSVs; the computed ones carry an absolute error of about
        \( \epsilon\,\kappa\,\sigma_1 \) (see [`hsv`][hankelid.hsv]), so the bound and
        \( \sigma_{r+1} \le \|G - G_r\|_\infty \) hold up to that; checked over
        > 10,000 systems with repeated poles, Jordan blocks and uncontrollable/unobservable
        modes in `tests/core/test_gramian_families.py`.
    bounds : ndarray, shape (n + 1,)
        `bounds[k]` is the bound for order `k` (`inf` below the number of unstable
        modes, `0` at `k = n`).
    T, Ti : ndarray
        Projection: `T` is `n x r`, `Ti` is `r x n`, `Ti @ T = I`.  For
        truncation the reduced matrices are `(Ti A T, Ti B, C T, D)`; for the singular
        perturbation approximation `T`/`Ti` span the kept (balanced) directions and
        the reduced matrices include the residualized correction.
    method : str
        `"sr"` (square root, balanced reduced model) or `"bfsr"` (balancing-free).
    match_dc : bool
        `True` for singular perturbation (DC gain preserved).
    gramians : str
        `"exact"` or `"empirical"`.
    hsv_exact : ndarray or None
        With empirical Gramians: the exact HSVs where they exist.
    hsv_error : float or None
        With empirical Gramians: `max |sigma_emp - sigma_exact| / sigma_1` over the
        stable part.

    Examples
    --------
    >>> import hankelid as hk
    >>> red = hk.balanced_truncation(hk.random_stable(10, dt=1.0, seed=0), order=4)
    >>> isinstance(red, hk.Reduction)
    True
    >>> red.system.n, red.T.shape, red.Ti.shape
    (4, (10, 4), (4, 10))
    >>> bool(red.error_bound == red.bounds[4]) and bool(red.hsv[4] <= red.error_bound)
    True
    """

    system: StateSpace
    order: int
    hsv: np.ndarray
    error_bound: float
    bounds: np.ndarray
    T: np.ndarray
    Ti: np.ndarray
    method: str = "sr"
    match_dc: bool = False
    gramians: str = "exact"
    hsv_exact: np.ndarray | None = None
    hsv_error: float | None = None
    n_unstable: int = 0
    """Number of unstable modes kept whole (they come first in `hsv`)."""

    def __post_init__(self) -> None:
        for name in ("hsv", "bounds", "T", "Ti", "hsv_exact"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def error_bounds(self) -> np.ndarray:
        """The a-priori error bound for every order `0..n` (a copy of `bounds`).

        Examples
        --------
        >>> import hankelid as hk
        >>> red = hk.balanced_truncation(hk.random_stable(6, seed=0), order=2)
        >>> b = red.error_bounds()
        >>> len(b), float(b[-1]), bool(b[2] == red.error_bound)
        (7, 0.0, True)
        """
        return np.array(self.bounds, copy=True)

    def __repr__(self) -> str:
        return (
            f"Reduction(order={self.order}, n={len(self.hsv)}, error_bound={self.error_bound:.3g}, "
            f"method={self.method!r}, match_dc={self.match_dc}, gramians={self.gramians!r})"
        )


# ----------------------------------------------------------------------------- bounds
def _groups(sig: np.ndarray, rtol: float) -> np.ndarray:
    """Group index of each (descending) HSV; equal within `rtol` -> same group."""
    g = np.zeros(len(sig), dtype=int)
    for i in range(1, len(sig)):
        same = abs(sig[i - 1] - sig[i]) <= rtol * max(sig[i - 1], 0.0)
        g[i] = g[i - 1] if same else g[i - 1] + 1
    return g


def distinct_bounds(sig: Any, *, rtol: float = HSV_GROUP_RTOL) -> np.ndarray:
    """`bounds[r] = 2 * sum` of the distinct values among `sig[r:]` (`r = 0..n`).

    Values equal within `rtol` (relative) form one group, counted once with its largest
    member; a group only partly discarded still counts once.

    Examples
    --------
    >>> from hankelid.truncation import distinct_bounds
    >>> distinct_bounds([3.0, 1.0, 1.0, 0.5])
    array([9., 3., 3., 1., 0.])
    """
    sig = np.asarray(sig, dtype=float)
    n = len(sig)
    out = np.zeros(n + 1)
    if n == 0:
        return out
    g = _groups(sig, rtol)
    # value of each group = its first (largest) member
    first = np.r_[True, g[1:] != g[:-1]]
    rep = sig[first]
    # for order r the discarded groups are those containing an index >= r
    suffix = np.zeros(len(rep) + 1)
    suffix[:-1] = np.cumsum(rep[::-1])[::-1]
    for r in range(n):
        out[r] = 2.0 * suffix[g[r]]
    return out


# ----------------------------------------------------------------------------- projection
def _orth(X: np.ndarray) -> np.ndarray:
    Q, _ = np.linalg.qr(X)
    return Q


def _spa(Ab, Bb, Cb, D, r, discrete):
    """Singular perturbation of a (balanced) realization, keeping the first `r` states."""
    A11, A12, A21, A22 = Ab[:r, :r], Ab[:r, r:], Ab[r:, :r], Ab[r:, r:]
    B1, B2 = Bb[:r], Bb[r:]
    C1, C2 = Cb[:, :r], Cb[:, r:]
    k = A22.shape[0]
    if k == 0:
        return A11, B1, C1, D
    M = (np.eye(k) - A22) if discrete else -A22  # x2 = M^{-1} (A21 x1 + B2 u)
    try:
        lu = sla.lu_factor(M, check_finite=False)
    except (ValueError, np.linalg.LinAlgError):  # pragma: no cover
        raise ValueError("singular perturbation failed: the residualized block is singular") from None
    X = sla.lu_solve(lu, np.hstack([A21, B2]), check_finite=False)
    XA, XB = X[:, :r], X[:, r:]
    return A11 + A12 @ XA, B1 + A12 @ XB, C1 + C2 @ XA, D + C2 @ XB


def balance_from_factors(
    sys: StateSpace,
    Lc: np.ndarray,
    Lo: np.ndarray,
    order: int,
    *,
    method: str = "sr",
    match_dc: bool = False,
    n_min: int | None = None,
    Z: np.ndarray | None = None,
) -> tuple[StateSpace, np.ndarray, np.ndarray, np.ndarray]:
    """Reduce `sys` to `order` states from Gramian square-root factors.

    The step shared by exact and empirical balanced truncation: with
    `Lo^T Lc = U diag(sigma) V^T`,

    * `method="sr"`: `T = Lc V_r sigma_r^{-1/2}`, `Ti = sigma_r^{-1/2} U_r^T Lo^T`
      (the reduced model is balanced);
    * `method="bfsr"`: `T = orth(Lc V_r)`, `Ti = (Y^T T)^{-1} Y^T` with
      `Y = orth(Lo U_r)` (better conditioned, same transfer function);
    * `match_dc=True`: singular perturbation of the order-`n_min` balanced realization
      (`n_min` = number of HSVs treated as nonzero), preserving the DC gain.

    Parameters
    ----------
    sys : StateSpace
        Stable system.
    Lc, Lo : ndarray
        Factors with `Wc = Z Lc Lc^T Z^T` and `Wo = Z Lo Lo^T Z^T` (`Z` defaults to
        the identity; passing the Schur vectors avoids forming `Z Lc`).
    order : int
        `1 <= order <= n_min`.

    Returns
    -------
    (reduced, T, Ti, hsv)
    """
    A, B, C, D = sys.matrices
    discrete = sys.is_discrete
    U, sig, Vt = sla.svd(Lo.T @ Lc, full_matrices=False, check_finite=False, lapack_driver="gesdd")
    V = Vt.T
    n_min = len(sig) if n_min is None else int(n_min)
    r = int(order)
    if not 1 <= r <= n_min:
        raise ValueError(f"order must be between 1 and {n_min}, got {r}")

    def lift(X: np.ndarray) -> np.ndarray:
        return X if Z is None else Z @ X

    keep = n_min if match_dc else r
    if method == "sr":
        s = 1.0 / np.sqrt(sig[:keep])
        T = lift(Lc @ (V[:, :keep] * s))
        Ti = (lift(Lo @ (U[:, :keep] * s))).T
    elif method == "bfsr":
        parts_T, parts_Ti = [], []
        cuts = [(0, r), (r, keep)] if keep > r else [(0, r)]
        for a, b in cuts:
            X = lift(_orth(Lc @ V[:, a:b]))
            Y = lift(_orth(Lo @ U[:, a:b]))
            parts_T.append(X)
            parts_Ti.append(np.linalg.solve(Y.T @ X, Y.T))
        T = np.hstack(parts_T)
        Ti = np.vstack(parts_Ti)
    else:  # pragma: no cover - validated by the caller
        raise ValueError(f"unknown method {method!r}")
    Ab, Bb, Cb = Ti @ A @ T, Ti @ B, C @ T
    if match_dc:
        Ar, Br, Cr, Dr = _spa(Ab, Bb, Cb, D, r, discrete)
    else:
        Ar, Br, Cr, Dr = Ab, Bb, Cb, D
    red = StateSpace(Ar, Br, Cr, Dr, sys.dt)
    return red, T[:, :r], Ti[:r], sig


# ----------------------------------------------------------------------------- main entry
def _default_min_order(sig: np.ndarray, n: int) -> int:
    """Number of HSVs above the numerical-zero level `n * eps * sigma_1` (at least 1)."""
    if len(sig) == 0 or sig[0] == 0:
        return 1 if len(sig) else 0
    return max(1, int(np.count_nonzero(sig > n * _EPS * sig[0])))


def compress_channels(sys: StateSpace) -> StateSpace:
    r"""The system with at most `n` inputs and outputs and the same Gramians and Gaussian statistics.

    With `B = L_b Q_b^T` and `C = Q_c L_c^T` (thin QR of `B^T` and `C`, `L_b` and
    `L_c` of size `n x n`), `B B^T = L_b L_b^T` and `C^T C = L_c L_c^T`, so
    `(A, L_b, L_c^T)` has the Gramians of `(A, B, C)`.  Its state driven by isotropic
    Gaussian inputs, `L_b v` with `v ~ N(0, I_n)`, has the same law as `B u` with
    `u ~ N(0, I_m)`: empirical Gramians of the compressed system are the estimator run on
    all `m` channels, at a cost independent of `m` (and of `p`).  Its balancing
    transformation balances the original system.  Systems with `m, p <= n` are returned
    unchanged (`D` dropped).

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> from hankelid.truncation import compress_channels
    >>> sys = hk.random_stable(4, 30, 20, dt=1.0, seed=0)          # wide: 30 inputs, 20 outputs
    >>> small = compress_channels(sys)
    >>> small.shape, bool(np.allclose(hk.gramian(small, "c"), hk.gramian(sys, "c")))
    ((4, 4), True)
    """
    A, B, C, _ = sys.matrices
    return StateSpace(A, thin_factor(B), thin_factor(C.T).T, dt=sys.dt)


def _reattach_unstable(
    red_s: StateSpace, Ts: np.ndarray, Tis: np.ndarray, split: StableUnstableSplit | None, ns: int
) -> tuple[StateSpace, np.ndarray, np.ndarray]:
    """Add the kept unstable part back to the reduced stable part, composing the projections."""
    if split is None:
        return red_s, Ts, Tis
    assert split.unstable is not None
    T = np.hstack([split.T[:, :ns] @ Ts, split.T[:, ns:]])
    Ti = np.vstack([Tis @ split.Ti[:ns], split.Ti[ns:]])
    return red_s + split.unstable, T, Ti


def balanced_truncation(
    sys: Any,
    order: int | None = None,
    *,
    tol: float | None = None,
    method: str = "sr",
    match_dc: bool = False,
    gramians: str = "exact",
    offset: float = DEFAULT_MARGIN,
    **estimator_options: Any,
) -> Reduction:
    r"""Balanced truncation (or singular perturbation) with an a-priori error bound.

    Parameters
    ----------
    sys : StateSpace
        Continuous or discrete time.  An unstable system is split additively
        ([`hankelid.decomposition.stable_unstable_split`][hankelid.decomposition.stable_unstable_split]): the
        unstable part is kept whole and the stable part reduced; `order` counts all states.
    order : int, optional
        Number of states to keep, `n_unstable <= order <= n` (and `order >= 1`).
    tol : float, optional
        Used when `order` is None: the smallest order whose bound
        `2 * sum(distinct discarded HSVs)` is `<= tol`.  When both are None, every HSV
        above `n * eps * sigma_1` is kept (a numerically minimal realization).
    method : {"sr", "bfsr"}
        Square-root method (balanced reduced model) or balancing-free square-root method
        (same transfer function, better-conditioned projection).
    match_dc : bool
        Singular perturbation approximation: the DC gain (`G(0)` continuous, `G(1)`
        discrete) is preserved; the same error bound holds.
    gramians : {"exact", "empirical"}
        `"empirical"` estimates the Gramian factors from simulations with
        `hankelid.empirical.empirical_gramian_factors(sys, **estimator_options)`, run on
        the channel-compressed system of [`compress_channels`][hankelid.truncation.compress_channels]
        so that wide systems (`m` or `p` above `n`) cost no more than square ones
        (recorded inputs `inputs=(U, V)` drive the system itself); the result then also
        carries `hsv_exact` and `hsv_error`.
    offset : float, default 1e-8
        Stability margin used to classify poles (see [`hankelid.hsv`][hankelid.gramians.hsv]).
    **estimator_options
        Passed to the empirical estimator (only with `gramians="empirical"`).

    Returns
    -------
    Reduction

    Notes
    -----
    In continuous time the truncated model of the square-root method is itself balanced,
    with Gramians `diag(sigma_1..sigma_r)`; in discrete time truncation yields a stable
    but not balanced model (`A11 Sigma1 A11^T + B1 B1^T != Sigma1`), whereas singular
    perturbation (`match_dc=True`) stays balanced in both domains.  Orders above the
    numerically minimal order (HSVs below `n * eps * sigma_1`) are lowered to it with a
    warning.  With empirical Gramians the bound is computed from the estimated HSVs and is
    only as good as the estimate (see `hsv_error`).

    Raises
    ------
    ValueError
        Bad `order`/`tol`/`method`/`gramians`, both `order` and `tol` given,
        `order` below the number of unstable modes, or estimator options with exact
        Gramians.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sys = hk.random_stable(10, 2, 2, dt=0.1, seed=0)
    >>> red = hk.balanced_truncation(sys, order=4)
    >>> red.system.n, red.system.dt
    (4, 0.1)
    >>> bool(red.hsv[4] <= hk.hinf_norm(sys - red.system) <= red.error_bound)
    True
    >>> spa = hk.balanced_truncation(sys, order=4, match_dc=True)
    >>> bool(np.allclose(spa.system.dcgain(), sys.dcgain()))
    True
    >>> hk.balanced_truncation(sys, tol=1e-3).error_bound <= 1e-3
    True
    """
    sys = as_state_space(sys)
    n = sys.n
    if not isinstance(method, str) or method.lower() not in ("sr", "bfsr"):
        raise ValueError(f"method must be 'sr' or 'bfsr', got {method!r}")
    method = method.lower()
    if not isinstance(match_dc, (bool, np.bool_)):
        raise ValueError(f"match_dc must be True or False, got {match_dc!r}")
    if not isinstance(gramians, str) or gramians.lower() not in ("exact", "empirical"):
        raise ValueError(f"gramians must be 'exact' or 'empirical', got {gramians!r}")
    gramians = gramians.lower()
    if estimator_options and gramians != "empirical":
        raise ValueError(
            f"unexpected keyword arguments {sorted(estimator_options)}: estimator options are "
            "only accepted with gramians='empirical'"
        )
    if order is not None and tol is not None:
        raise ValueError("give either order or tol, not both")
    if order is not None:
        order = check_order(order, n)
    if tol is not None:
        tol = check_positive(tol, name="tol")
    offset = check_margin(offset)

    # ---- stable / unstable split (one Schur form when the system is stable)
    sd = schur_data(sys.A)
    offset = absolute_margin(poles_from_schur(sd), sys.is_discrete, offset)
    split = None
    stable: StateSpace | None = sys
    nu = 0
    if not is_stable(poles_from_schur(sd), sys.is_discrete, offset):
        split = stable_unstable_split(sys, offset=offset)
        nu = split.n_unstable
        stable = split.stable
        sd = None
    if order is not None and order < nu:
        raise ValueError(
            f"order {order} is below the number of unstable modes ({nu}); the unstable part "
            "is kept whole, so order must be at least that"
        )
    if stable is None:  # everything unstable: nothing to reduce
        if order is not None and order != n:
            raise ValueError(f"all {n} poles are unstable; the only possible order is {n}")
        eye = np.eye(n)
        bounds = np.full(n + 1, np.inf)
        bounds[n] = 0.0
        return Reduction(
            system=sys,
            order=n,
            hsv=np.full(n, np.inf),
            error_bound=0.0,
            bounds=bounds,
            T=eye,
            Ti=eye,
            method=method,
            match_dc=bool(match_dc),
            gramians=gramians,
            n_unstable=nu,
        )

    ns = stable.n
    # ---- factors of the stable part
    hsv_exact = None
    hsv_error = None
    Zs = None
    if gramians == "exact":
        if sd is None:
            f = exact_factors(stable, "balanced_truncation")
            Lc, Lo, Zs = f.Uc, f.Uo, f.Z
        else:
            Lc, Lo = factors_from_schur(stable, sd)
            Zs = sd.Z
        sig = hsv_from_factors(Lc, Lo)
    else:
        # Generated inputs run on the channel-compressed twin (the same law, at a cost independent
        # of the width); recorded input arrays drive the system's own channels.
        generated = isinstance(estimator_options.get("inputs", "impulse"), str)
        target = compress_channels(stable) if generated else stable
        Lc, Lo = empirical.empirical_gramian_factors(target, **estimator_options)
        sig = hsv_from_factors(Lc, Lo)[:ns]
        if len(sig) < ns:
            sig = np.concatenate([sig, np.zeros(ns - len(sig))])
        f = exact_factors(stable, "balanced_truncation")
        hsv_exact = hsv_from_factors(f.Uc, f.Uo)
        hsv_error = float(np.max(np.abs(sig - hsv_exact)) / hsv_exact[0]) if hsv_exact[0] > 0 else 0.0

    bounds_s = distinct_bounds(sig)
    n_min = _default_min_order(sig, ns)
    # ---- order of the stable part
    if order is not None:
        rs = order - nu
    elif tol is not None:
        ok = np.nonzero(bounds_s <= tol)[0]
        rs = int(ok[0]) if len(ok) else ns
    else:
        rs = n_min
    if split is None:
        rs = max(rs, 1)  # a system needs at least one state
    if rs > n_min:
        if order is not None and sig[0] > 0:
            warnings.warn(
                f"order {order} exceeds the numerically minimal order {n_min + nu}: the "
                f"remaining Hankel singular values are below {ns * _EPS:.1e} * sigma_1 "
                f"(uncontrollable or unobservable states); using order {n_min + nu}",
                UserWarning,
                stacklevel=2,
            )
        rs = n_min

    # ---- reduce the stable part and reassemble with the unstable one
    bounds = np.full(n + 1, np.inf)
    bounds[nu:] = bounds_s
    if rs == 0:
        # (only with an unstable part) the stable part collapses to a constant
        assert split is not None and split.unstable is not None
        Dk = stable.dcgain().real if match_dc else stable.D
        system = split.unstable.with_D(Dk)
        T, Ti = split.T[:, ns:], split.Ti[ns:]
    elif sig[0] == 0.0:
        # no dynamics at all (G = D): keep one inert state so the result is a system
        warnings.warn(
            "all Hankel singular values are zero (the transfer function is the constant D); "
            "returning a one-state model with B = 0 and C = 0",
            UserWarning,
            stacklevel=2,
        )
        a = 0.0 if sys.is_discrete else -1.0
        red_s = StateSpace([[a]], np.zeros((1, stable.m)), np.zeros((stable.p, 1)), stable.D, sys.dt)
        Ts = np.zeros((ns, 1))
        Ts[0, 0] = 1.0
        Tis = Ts.T.copy()
        system, T, Ti = _reattach_unstable(red_s, Ts, Tis, split, ns)
    else:
        red_s, Ts, Tis, _ = balance_from_factors(
            stable, Lc, Lo, rs, method=method, match_dc=bool(match_dc), n_min=n_min, Z=Zs
        )
        system, T, Ti = _reattach_unstable(red_s, Ts, Tis, split, ns)
    hsv_all = sig
    if split is not None:
        hsv_all = np.concatenate([np.full(nu, np.inf), sig])
        if hsv_exact is not None:
            hsv_exact = np.concatenate([np.full(nu, np.inf), hsv_exact])
    return Reduction(
        system=system,
        order=system.n,
        hsv=hsv_all,
        error_bound=float(bounds[nu + rs]),
        bounds=bounds,
        T=T,
        Ti=Ti,
        method=method,
        match_dc=bool(match_dc),
        gramians=gramians,
        hsv_exact=hsv_exact,
        hsv_error=hsv_error,
        n_unstable=nu,
    )
