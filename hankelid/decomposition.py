"""Additive stable/unstable decomposition `G = G_s + G_u`.

An ordered real Schur form puts the stable poles first, `A = Z [[T11, T12], [0, T22]] Z^T`;
the Sylvester equation `T11 X - X T22 + T12 = 0` then block-diagonalizes it, so that
`G = G_s + G_u` with `G_s` carrying the stable poles (and `D`) and `G_u` the
unstable ones.  Balanced truncation and Hankel singular values of unstable systems work
on `G_s` and keep `G_u` whole, as MATLAB's `balred`/`hsvd` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from ._stability import DEFAULT_MARGIN, check_margin, stable_poles
from .systems import StateSpace, as_state_space

__all__ = ["StableUnstableSplit", "stable_unstable_split"]


@dataclass(frozen=True)
class StableUnstableSplit:
    """Result of [`stable_unstable_split`][hankelid.decomposition.stable_unstable_split].

    Attributes
    ----------
    stable : StateSpace or None
        The stable part (with the feed-through `D`), `None` if every pole is unstable.
    unstable : StateSpace or None
        The unstable part (`D = 0`), `None` if the system is stable.
    T, Ti : ndarray, shape (n, n)
        State transformation `x = T [x_s; x_u]`, `Ti = T^{-1}`.
    n_stable, n_unstable : int
        Number of states of each part.
    """

    stable: StateSpace | None
    unstable: StateSpace | None
    T: np.ndarray
    Ti: np.ndarray
    n_stable: int
    n_unstable: int


def _stable_selector(discrete: bool, offset: float):
    # The Schur sort callback of SciPy receives real and imaginary parts separately.
    return lambda re, im: stable_poles(re + 1j * im, discrete, offset)


def stable_unstable_split(sys: Any, *, offset: float = DEFAULT_MARGIN) -> StableUnstableSplit:
    """Split `sys` additively into a stable and an unstable part.

    Parameters
    ----------
    sys : StateSpace
    offset : float, default 1e-8
        Poles with `Re(s) >= -offset` (continuous) or `|z| >= 1 - offset`
        (discrete) count as unstable.

    Returns
    -------
    StableUnstableSplit

    Raises
    ------
    ValueError
        If the two pole sets are too close to be separated (the decoupling Sylvester
        equation is singular).

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> from hankelid.decomposition import stable_unstable_split
    >>> sys = hk.StateSpace([[1.0, 2.0], [0.0, -1.0]], [[1.0], [1.0]], [[1.0, 1.0]])
    >>> parts = stable_unstable_split(sys)
    >>> parts.n_stable, parts.n_unstable
    (1, 1)
    >>> w = [0.3, 2.0]
    >>> bool(np.allclose((parts.stable + parts.unstable).frequency_response(w),
    ...                  sys.frequency_response(w)))
    True
    """
    sys = as_state_space(sys)
    offset = check_margin(offset)
    A, B, C, D = sys.matrices
    n = sys.n
    T, Z, ns = sla.schur(A, output="real", sort=_stable_selector(sys.is_discrete, offset))
    ns = int(ns)
    nu = n - ns
    if nu == 0:
        eye = np.eye(n)
        return StableUnstableSplit(sys, None, eye, eye, n, 0)
    if ns == 0:
        eye = np.eye(n)
        return StableUnstableSplit(None, sys, eye, eye, 0, n)
    T11, T12, T22 = T[:ns, :ns], T[:ns, ns:], T[ns:, ns:]
    # T11 X - X T22 = -T12
    X = sla.solve_sylvester(T11, -T22, -T12)
    if not np.all(np.isfinite(X)):
        raise ValueError(
            "cannot separate the stable and unstable poles: they are too close "
            "(the decoupling Sylvester equation is singular)"
        )
    V = np.eye(n)
    V[:ns, ns:] = X
    Vi = np.eye(n)
    Vi[:ns, ns:] = -X
    Tr = Z @ V
    Ti = Vi @ Z.T
    Bt = Ti @ B
    Ct = C @ Tr
    stable = StateSpace(T11, Bt[:ns], Ct[:, :ns], D, sys.dt)
    unstable = StateSpace(T22, Bt[ns:], Ct[:, ns:], None, sys.dt)
    return StableUnstableSplit(stable, unstable, Tr, Ti, ns, nu)
