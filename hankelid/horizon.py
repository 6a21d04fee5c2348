r"""Finite-horizon Gramians of discrete systems, in closed form.

The horizon-`L` controllability and observability Gramians of `x_{k+1} = A x_k + B u_k`,
`y_k = C x_k`,

$$
W_c^{(L)} = \sum_{k<L} A^k B B^\top A^{k\top}, \qquad
W_o^{(L)} = \sum_{k<L} A^{k\top} C^\top C A^k,
$$

are exactly what the Gaussian-input empirical estimator
([`empirical_gramian`][hankelid.empirical_gramian] with `inputs="gaussian"`) estimates: its
final states have second moment \( W_c^{(L)} \), so the estimate is \( W_c^{(L)} \) plus sampling
noise of relative size about \( 1/\sqrt{N} \) for \( N \) trajectories.  Computing the mean
directly removes that noise and the cost of simulating (`O(N n^2 L)`):

* diagonal \( A = \operatorname{diag}(a) \) (the S4D-style systems of the adapters):
  \( (W_c^{(L)})_{ij} = (B B^\top)_{ij}\,\frac{1 - (a_i a_j)^L}{1 - a_i a_j} \), and the
  same with \( C^\top C \) for \( W_o^{(L)} \) (the geometric series, summed);
* any stable \( A \): \( W_c^{(L)} = W_c - A^L W_c A^{L\top} \) from the infinite-horizon
  Gramian \( W_c \) (subtract the tail of the series), likewise for \( W_o \).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_count
from .gramians import gramian
from .systems import as_state_space

__all__ = ["horizon_gramian", "horizon_gramian_factors"]


def _geometric_weights(a: np.ndarray, length: int) -> np.ndarray:
    """`sum_{k<L} (a_i a_j)^k` for every pair, accurate also where `a_i a_j` is close to 1."""
    q = np.outer(a, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        # -expm1(L log q) / -expm1(log q) keeps full relative precision for q near 1, where
        # (1 - q^L) / (1 - q) would cancel; q == 0 (a zero pole) sums to 1.
        logq = np.log(np.abs(q))
        w = np.expm1(length * logq) / np.expm1(logq)
        neg = q < 0  # (q^L - 1)/(q - 1) with a negative ratio: the plain formula (no cancellation)
        w[neg] = (1.0 - q[neg] ** length) / (1.0 - q[neg])
    w[q == 0] = 1.0
    return w


def horizon_gramian(sys: Any, kind: str, length: int) -> np.ndarray:
    r"""The horizon-`length` Gramian of a stable discrete system (the Gaussian estimator's mean).

    Parameters
    ----------
    sys : StateSpace
        Discrete-time system (`dt` set).  A diagonal `A` uses the closed form; any other
        `A` must be stable (the tail is subtracted from the exact Gramian).
    kind : "c" | "o"
        Controllability or observability.
    length : int
        Horizon `L` (number of terms of the series).

    Returns
    -------
    ndarray, shape (n, n)

    Raises
    ------
    ValueError
        If `sys` is continuous-time, `kind` is unknown, or `length` is not a positive integer.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.StateSpace(np.diag([0.9, -0.5, 0.99]), np.ones((3, 2)), np.ones((1, 3)), dt=1.0)
    >>> W = horizon_gramian(sys, "c", 50)
    >>> A, B = sys.A, sys.B
    >>> ref = sum(np.linalg.matrix_power(A, k) @ B @ B.T @ np.linalg.matrix_power(A, k).T for k in range(50))
    >>> bool(np.allclose(W, ref, rtol=1e-12))
    True
    """
    sys = as_state_space(sys)
    if not sys.is_discrete:
        raise ValueError("horizon Gramians are defined for discrete-time systems; discretize first")
    if kind not in ("c", "o"):
        raise ValueError(f"kind must be 'c' or 'o', got {kind!r}")
    length = check_count(length, "length")
    A, B, C, _ = sys.matrices
    F = B if kind == "c" else C.T
    if np.count_nonzero(A - np.diag(np.diagonal(A))) == 0:
        return (F @ F.T) * _geometric_weights(np.diagonal(A), length)
    W = gramian(sys, kind)
    P = np.linalg.matrix_power(A if kind == "c" else A.T, length)
    return W - P @ W @ P.T


def _psd_factor(W: np.ndarray) -> np.ndarray:
    """`L` with `L L^T = W` for a symmetric positive semidefinite `W` (rounding negatives dropped)."""
    lam, V = np.linalg.eigh(0.5 * (W + W.T))
    return V * np.sqrt(np.clip(lam, 0.0, None))


def horizon_gramian_factors(sys: Any, length: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Square-root factors `(Lc, Lo)` of both horizon-`length` Gramians (`W = L L^T`).

    The drop-in replacement of the Gaussian empirical factors
    (`hankelid.empirical.empirical_gramian_factors(sys, inputs="gaussian", length=L)`): the
    same quantity without the sampling noise, in `O(n^2 (m + p) + n^3)` operations.

    Parameters
    ----------
    sys : StateSpace
        Discrete-time system (see [`horizon_gramian`][hankelid.horizon.horizon_gramian]).
    length : int
        Horizon `L`.

    Returns
    -------
    (Lc, Lo) : tuple of ndarray, each (n, n)

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.StateSpace(np.diag([0.9, 0.5]), [[1.0], [1.0]], [[1.0, -1.0]], dt=1.0)
    >>> Lc, Lo = horizon_gramian_factors(sys, 20)
    >>> bool(np.allclose(Lc @ Lc.T, horizon_gramian(sys, "c", 20)))
    True
    """
    sys = as_state_space(sys)
    return _psd_factor(horizon_gramian(sys, "c", length)), _psd_factor(horizon_gramian(sys, "o", length))
