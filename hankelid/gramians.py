r"""Exact Gramians, their square-root factors and Hankel singular values: the public API.

Continuous time (`dt=None`) solves the Lyapunov equations

$$ A W_c + W_c A^T + B B^T = 0, \qquad A^T W_o + W_o A + C^T C = 0, $$

discrete time (`dt > 0`) the Stein equations

$$ A W_c A^T - W_c + B B^T = 0, \qquad A^T W_o A - W_o + C^T C = 0. $$

The square-root factors \(W = L L^T\) are computed *directly* (a blocked Hammarling method
in `hankelid._lyapunov_blocked`, residual-checked in `hankelid._lyapunov`) on a single real
Schur form \(A = Z T Z^T\) (`hankelid._schur`) shared by both Gramians; the Gramian itself
is never formed and then factored, which would lose the small Hankel singular values.  For
a diagonal \(A\) the Gramians have the closed forms \((BB^T)_{ij} / (1 - a_i a_j)\)
(discrete) and \(-(BB^T)_{ij} / (a_i + a_j)\) (continuous).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from ._lyapunov import exact_factors, factors_from_schur
from ._schur import poles_from_schur, schur_data, stable_schur
from ._stability import DEFAULT_MARGIN, absolute_margin, check_margin, is_stable
from .decomposition import stable_unstable_split
from .systems import as_state_space

__all__ = ["gramian", "gramian_factors", "hsv", "hsv_from_factors"]


def gramian_factors(sys: Any) -> tuple[np.ndarray, np.ndarray]:
    """Square-root factors `(Lc, Lo)` of both Gramians from one Schur decomposition.

    `Wc = Lc Lc^T` and `Wo = Lo Lo^T`; both are `n x n`.  Computed directly by
    Hammarling's method (never by factoring a formed Gramian).

    Raises
    ------
    UnstableSystemError
        If the system is not stable.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> from hankelid.gramians import gramian_factors
    >>> sys = hk.random_stable(5, 2, 2, dt=1.0, seed=3)
    >>> Lc, Lo = gramian_factors(sys)
    >>> bool(np.allclose(Lc @ Lc.T, hk.gramian(sys, "c")))
    True
    """
    sys = as_state_space(sys)
    f = exact_factors(sys, "gramian_factors")
    return f.Lc, f.Lo


def _closed_form_diagonal(a: np.ndarray, F: np.ndarray, discrete: bool) -> np.ndarray:
    FF = F @ F.T
    if discrete:
        return FF / (1.0 - np.outer(a, a))
    return -FF / np.add.outer(a, a)


def gramian(sys: Any, kind: str, *, factor: bool = False) -> np.ndarray:
    r"""Exact controllability (`"c"`) or observability (`"o"`) Gramian.

    Parameters
    ----------
    sys : StateSpace
        A stable system (continuous or discrete time; python-control and scipy systems are
        accepted too).
    kind : "c" | "o"
        `"c"`: `Wc` with `A Wc + Wc A^T + B B^T = 0` (continuous) or
        `A Wc A^T - Wc + B B^T = 0` (discrete).  `"o"`: the dual with `A^T` and `C`.
    factor : bool
        Return a square-root factor `L` (`n x n`, `W = L L^T`, not necessarily
        triangular) computed directly, never by factoring a formed `W`, instead of `W`.

    Returns
    -------
    ndarray, shape (n, n)
        `W` (symmetric positive semidefinite) or its factor `L`.

    Raises
    ------
    ValueError
        If `kind` is not `"c"` or `"o"`.
    UnstableSystemError
        If the system is not stable (the Gramian does not exist).

    Notes
    -----
    What is guaranteed: the factor comes from Hammarling's method run blockwise on the
    complex Schur form with 1x1 steps only, which stays exact for rank-deficient Gramians
    (repeated poles with few inputs, Jordan blocks, uncontrollable modes, zero rows of
    `B`).  Its residual is then checked in factored form (no Gramian formed): when
    \( \|T X + X T^T + B B^T\|_F \) (or the Stein residual) exceeds `1e-11` relative to
    the size of its terms, the factor is recomputed by the squared Smith iteration
    (continuous time after a Cayley map), and if that does not meet the tolerance either a
    `RuntimeWarning` names the residual.  A small residual bounds the backward error; the
    forward error is that times the condition number of the equation.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[-1.0, 0.0], [0.0, -2.0]], [[1.0], [1.0]], [[1.0, 1.0]])
    >>> hk.gramian(sys, "c")                      # -(BB^T)_ij / (a_i + a_j)
    array([[0.5       , 0.33333333],
           [0.33333333, 0.25      ]])
    >>> L = hk.gramian(sys, "c", factor=True)
    >>> bool(np.allclose(L @ L.T, hk.gramian(sys, "c")))
    True
    >>> sysd = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=1.0)
    >>> hk.gramian(sysd, "o")                     # 1 / (1 - 0.25)
    array([[1.33333333]])
    """
    sys = as_state_space(sys)
    if not isinstance(kind, str) or kind.lower() not in ("c", "o"):
        raise ValueError(f"kind must be 'c' (controllability) or 'o' (observability), got {kind!r}")
    kind = kind.lower()
    if not isinstance(factor, (bool, np.bool_)):
        raise ValueError(f"factor must be True or False, got {factor!r}")
    sd, _ = stable_schur(sys.A, discrete=sys.is_discrete, what="gramian")
    if sd.diagonal and not factor:
        a = np.diag(sys.A)
        F = sys.B if kind == "c" else sys.C.T
        W = _closed_form_diagonal(a, F, sys.is_discrete)
        return 0.5 * (W + W.T)
    Uc, Uo = factors_from_schur(sys, sd, kinds=kind)
    U = Uc if kind == "c" else Uo
    assert U is not None
    L = U if sd.Z is None else sd.Z @ U
    if factor:
        return L
    W = L @ L.T
    return 0.5 * (W + W.T)


def hsv_from_factors(Lc: np.ndarray, Lo: np.ndarray) -> np.ndarray:
    """Hankel singular values as the singular values of `Lo^T Lc` (descending).

    Examples
    --------
    >>> import numpy as np
    >>> from hankelid.gramians import hsv_from_factors
    >>> hsv_from_factors(np.eye(2), np.diag([3.0, 1.0]))
    array([3., 1.])
    """
    s = sla.svd(Lo.T @ Lc, compute_uv=False, check_finite=False, lapack_driver="gesdd")
    return np.sort(np.abs(s))[::-1]


def hsv(sys: Any, *, offset: float = DEFAULT_MARGIN) -> np.ndarray:
    r"""Hankel singular values, real, nonnegative and in descending order.

    Computed as the singular values of `Lo^T Lc` where `Lc`, `Lo` are square-root
    factors of the Gramians from a blocked Hammarling method (one shared Schur form; see
    [`gramian`][hankelid.gramian] for what is checked).  The error is absolute, about
    \( \epsilon\,\kappa\,\sigma_1 \) with \( \kappa \) the condition number of the
    Lyapunov/Stein equations, so the small values are meaningful: measured within
    \( 10^{-8}\sigma_1 \) of the singular values of the block Hankel matrix on systems with
    repeated poles, Jordan blocks, uncontrollable or unobservable modes (HSVs then exactly
    0 up to that error) and python-control's `rss`/`drss` (`tests/core/test_gramian_families.py`).

    Parameters
    ----------
    sys : StateSpace
        Continuous or discrete time.
    offset : float, default 1e-8
        Relative stability margin: poles with `Re(s) >= -offset * rho` (continuous,
        `rho` the spectral radius of `A`, so the margin scales with the system) or
        `|z| >= 1 - offset` (discrete) are treated as unstable.

    Returns
    -------
    ndarray, shape (n,)
        For an unstable system, one `inf` per unstable mode followed by the HSVs of the
        stable part (additive decomposition), as MATLAB's `hsvd` does.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])
    >>> hk.hsv(sys)                                   # Wc = Wo = 1/2
    array([0.5])
    >>> sysc = hk.random_stable(6, seed=1)
    >>> bool(np.allclose(hk.hsv(hk.c2d(sysc, 0.1, "tustin")), hk.hsv(sysc)))
    True
    >>> hk.hsv(hk.StateSpace([[1.0, 0.0], [0.0, -1.0]], [[1.0], [1.0]], [[1.0, 1.0]]))
    array([inf, 0.5])
    """
    sys = as_state_space(sys)
    offset = check_margin(offset)
    sd = schur_data(sys.A)
    poles = poles_from_schur(sd)
    offset = absolute_margin(poles, sys.is_discrete, offset)
    if is_stable(poles, sys.is_discrete, offset):
        Uc, Uo = factors_from_schur(sys, sd)
        assert Uc is not None and Uo is not None
        return hsv_from_factors(Uc, Uo)
    split = stable_unstable_split(sys, offset=offset)
    inf = np.full(split.n_unstable, np.inf)
    if split.stable is None:
        return inf
    return np.concatenate([inf, hsv(split.stable, offset=0.0)])
