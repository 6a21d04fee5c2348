r"""System identification from impulse-response data: the Eigensystem Realization Algorithm.

ERA (Ho & Kalman 1966; Kung 1978; Juang & Pappa 1985) factors the block Hankel matrix of the
Markov parameters, `H0 = U S V^T`, keeps the `r` dominant singular triplets and reads off

```text
A = S_r^{-1/2} U_r^T H1 V_r S_r^{-1/2}       (H1: the Hankel matrix shifted by one sample)
B = first m columns of S_r^{1/2} V_r^T
C = first p rows of U_r S_r^{1/2}
D = h_0
```

The observability and controllability matrices of this realization are `U_r S_r^{1/2}` and
`S_r^{1/2} V_r^T`: its finite-horizon Gramians are both `S_r`, so the model is balanced for
the finite Hankel matrix, and its states are ordered by Hankel singular value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._krylov import krylov_blocks
from .._stability import is_stable
from .._validation import check_count, check_dt, check_positive
from ..systems import StateSpace
from .hankel import HankelOperator, as_markov, hankel_blocks, split_blocks

__all__ = ["ERAInfo", "era"]

# Dense SVD when rows*p * cols*m * min(rows*p, cols*m) stays below this (measured crossover).
_DENSE_WORK = 2e7
_OVERSAMPLE = 10
_K_START = 48  # first randomized sketch size when the order is to be found
_K_MAX = 200
_POWER_ITERATIONS = 2
# A gap found among partially computed singular values is accepted when it is decisive: a
# ratio s_r / s_(r+1) of at least _GAP_MIN whose logarithm dominates every other gap's.
_GAP_MIN = 2.0
_GAP_DOMINANCE = 3.0
# "auto" falls back to a dense SVD when the order is still open only below this much work.
_DENSE_FALLBACK_WORK = 1e9
# Stability enforcement puts mirrored poles at most this close to the unit circle.
_STABLE_MARGIN = 1e-6


@dataclass(frozen=True)
class ERAInfo:
    """Diagnostics of [`era`][hankelid.identification.era.era].

    Attributes
    ----------
    hsv : ndarray
        Singular values of the block Hankel matrix that were computed (descending): all of
        them for a dense SVD, the leading ones for a randomized SVD.  They approximate the
        Hankel singular values of the identified system.
    order : int
        Order of the returned model.
    rank : int or None
        Numerical rank of the Hankel matrix, when the computed values reveal it.
    rows, cols : int
        Block rows and block columns of the Hankel matrix.
    svd : str
        `"dense"` or `"randomized"`.
    n_experiments : int
        Number of averaged experiments.
    moved_poles : int
        Unstable poles mirrored into the unit disc by `stable=True` (0 otherwise).
    """

    hsv: np.ndarray
    order: int
    rank: int | None
    rows: int
    cols: int
    svd: str
    n_experiments: int
    moved_poles: int


def _average_experiments(markov: Any) -> tuple[np.ndarray, int]:
    """One `(L, p, m)` array from one experiment or a list/stack of equally shaped ones."""
    if isinstance(markov, (list, tuple)):
        shapes = {np.shape(x) for x in markov}
        if len(markov) == 0:
            raise ValueError("markov is an empty list of experiments")
        if len(shapes) != 1:
            raise ValueError(f"all experiments must have the same shape (L, p, m): got {sorted(shapes)}")
        markov = np.stack([np.asarray(x) for x in markov])
    arr = np.asarray(markov)
    if arr.ndim == 4:
        runs = [as_markov(x, f"markov[{i}]") for i, x in enumerate(arr)]
        return np.mean(runs, axis=0), len(runs)
    return as_markov(arr), 1


def _randomized_svd(
    op: HankelOperator, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading `k` singular triplets of a Hankel operator (Halko, Martinsson & Tropp 2011)."""

    def basis(Y: np.ndarray) -> np.ndarray:
        return sla.qr(Y, mode="economic", check_finite=False)[0]

    Q = basis(op.matmul(rng.standard_normal((op.shape[1], k))))
    for _ in range(_POWER_ITERATIONS):
        Q = basis(op.matmul(basis(op.rmatmul(Q))))
    W, s, Zt = sla.svd(op.rmatmul(Q), full_matrices=False, check_finite=False)  # H^T Q = W S Zt
    return Q @ Zt.T, s, W  # H ~ Q Q^T H = (Q Zt^T) S W^T


def _tail_bound(s: np.ndarray, r: int, frob2: float, total: int) -> float:
    """Upper bound on `sum_{i>r} s_i` when only `s` (the leading values) is known."""
    rest2 = max(0.0, frob2 - float(np.sum(s**2)))
    return float(np.sum(s[r:])) + np.sqrt(rest2 * (total - s.size))


def _select_order(
    s: np.ndarray,
    complete: bool,
    cutoff: float,
    tol: float | None,
    frob2: float,
    total: int,
    final: bool = False,
) -> int | None:
    """Automatic order from singular values `s`; `None` if more values are needed.

    `s` holds all singular values (`complete`) or the leading ones; with `final` no more
    will be computed, so the best gap among them is taken.
    """
    rank = int(np.sum(s > cutoff))
    revealed = complete or rank < s.size
    if tol is not None:
        if revealed:
            tails = 2.0 * (np.sum(s[:rank]) - np.cumsum(s[:rank]))  # tails[r-1]: bound at order r
            return 1 + int(np.argmax(tails <= tol))  # tails[rank-1] = 0, so some order qualifies
        for r in range(1, s.size):
            if 2.0 * _tail_bound(s, r, frob2, total) <= tol:
                return r
        if final:
            raise ValueError(
                f"tol={tol:g} needs more than the {s.size} leading Hankel singular values computed "
                "(noisy data?): pass order, a larger tol, or svd='dense'"
            )
        return None
    if revealed:
        # Noise-free data: the numerical rank is the order of an exact realization.
        if rank < s.size:
            return rank
        # Noisy data: the largest gap among the leading half.  The trailing singular values of a
        # noise-dominated Hankel matrix thin out towards the edge of its spectrum, where random
        # gaps can exceed the signal/noise gap; orders that large are not identifiable anyway.
        head = s[: max(2, s.size // 2 + 1)]
        return 1 + int(np.argmax(head[:-1] / head[1:])) if s.size > 1 else 1
    ratios = s[:-1] / s[1:]
    best = int(np.argmax(ratios))
    if final:
        return best + 1
    second = np.max(np.delete(ratios, best)) if ratios.size > 1 else 1.0
    decisive = ratios[best] >= _GAP_MIN and np.log(ratios[best]) >= _GAP_DOMINANCE * np.log(second)
    if decisive and best + 1 <= 0.75 * s.size:
        return best + 1
    return None


def _hankel_svd(
    markov: np.ndarray, rows: int, cols: int, order: int | None, tol: float | None, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int | None, str]:
    """SVD of the Hankel matrix, as far as needed to pick and realize the order."""
    _, p, m = markov.shape
    D1, D2 = rows * p, cols * m
    eps_scale = max(D1, D2) * np.finfo(float).eps
    work = D1 * D2 * min(D1, D2)
    if method == "auto":
        method = "dense" if work <= _DENSE_WORK else "randomized"
        final = work > _DENSE_FALLBACK_WORK
    else:
        final = True
    if method == "randomized":
        found = _randomized_hankel_svd(markov, rows, cols, order, tol, eps_scale, final)
        if found is not None:
            return (*found, "randomized")
    U, s, Vt = sla.svd(hankel_blocks(markov, rows, cols), full_matrices=False, check_finite=False)
    if s[0] == 0:
        raise ValueError("all Markov parameters after D are zero: there is nothing to identify")
    cutoff = s[0] * eps_scale
    r = order if order is not None else _select_order(s, True, cutoff, tol, 0.0, s.size)
    return U, s, Vt.T, r, int(np.sum(s > cutoff)), "dense"


def _randomized_hankel_svd(
    markov: np.ndarray,
    rows: int,
    cols: int,
    order: int | None,
    tol: float | None,
    eps_scale: float,
    final: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int | None] | None:
    """Leading singular triplets, enlarged until the order is settled; `None`: use a dense SVD.

    At most `min(_K_MAX, dmin/4)` triplets are computed (beyond that a dense SVD is the better
    tool).  If the order is still open then, it is decided from the computed values when
    `final`, else `None` is returned.
    """
    _, p, m = markov.shape
    dmin = min(rows * p, cols * m)
    op = HankelOperator(markov, rows, cols)
    counts = np.minimum.reduce(
        [  # how often each h_t appears in H, for ||H||_F^2
            np.arange(1, rows + cols),
            np.full(rows + cols - 1, rows),
            np.full(rows + cols - 1, cols),
            np.arange(rows + cols - 1, 0, -1),
        ]
    )
    frob2 = float(np.sum(counts * np.sum(markov[1 : rows + cols] ** 2, axis=(1, 2))))
    if frob2 == 0:
        raise ValueError("all Markov parameters after D are zero: there is nothing to identify")
    rng = np.random.default_rng(0)  # a fixed sketch keeps identification reproducible
    k = min(dmin, order + _OVERSAMPLE if order is not None else _K_START)
    limit = max(k, min(_K_MAX, dmin // 4))
    while k <= limit:
        U, s, V = _randomized_svd(op, k, rng)
        cutoff = s[0] * eps_scale
        complete = k >= dmin
        trusted = s.size if complete else s.size - _OVERSAMPLE
        rank = int(np.sum(s > cutoff)) if (complete or s[trusted - 1] <= cutoff) else None
        if order is not None:
            return U, s, V, order, rank
        last = 2 * k > limit
        r = _select_order(s[:trusted], complete, cutoff, tol, frob2, dmin, final=final and last)
        if r is not None:
            return U, s, V, r, rank
        k = 2 * k
    return None


def _stabilize(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, markov: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mirror unstable poles into the unit disc; stable poles and their subspace stay put.

    In an ordered real Schur form `A = Z [[T11, T12], [0, T22]] Z^T` with the stable poles in
    `T11`, `T22` is replaced by `T22^{-1}` (eigenvalues `1/lambda`, i.e. the unstable
    poles mirrored at the unit circle); `T11` and `Z` are untouched.  `C` is then refit by
    least squares to the Markov parameters.
    """
    if is_stable(np.linalg.eigvals(A), discrete=True):
        return A, C, 0
    T, Z, sdim = sla.schur(A, output="real", sort=lambda re, im: re * re + im * im < 1.0)
    T22 = np.linalg.inv(T[sdim:, sdim:])
    rho = np.max(np.abs(np.linalg.eigvals(T22)))
    if rho > 1 - _STABLE_MARGIN:  # a pole on the unit circle stays there when mirrored
        T22 *= (1 - _STABLE_MARGIN) / rho
    T[sdim:, sdim:] = T22
    A_new = Z @ T @ Z.T
    N, p, m = markov.shape[0] - 1, C.shape[0], B.shape[1]
    # h_k^T = (A^(k-1) B)^T C^T for k = 1..N: a linear least-squares problem for C.
    G = krylov_blocks(A_new, B, N).reshape(N * m, -1)
    targets = markov[1:].transpose(0, 2, 1).reshape(N * m, p)
    C_new = sla.lstsq(G, targets, check_finite=False)[0].T
    return A_new, C_new, A.shape[0] - sdim


def era(
    markov: Any,
    order: int | None = None,
    *,
    tol: float | None = None,
    dt: float = 1.0,
    rows: int | None = None,
    cols: int | None = None,
    stable: bool = False,
    svd: str = "auto",
    return_info: bool = False,
) -> StateSpace | tuple[StateSpace, ERAInfo]:
    r"""Identify a discrete-time state-space model from Markov parameters (ERA / Ho--Kalman).

    Parameters
    ----------
    markov : array_like, shape (L, p, m), or a list / stack (E, L, p, m) of experiments
        Impulse-response samples with `markov[0] = D` and `markov[k] = C A^(k-1) B`
        (e.g. [`hankelid.markov_parameters`][hankelid.systems.markov_parameters]).  Several experiments of
        equal shape are averaged before identification.
    order : int, optional
        Model order.  By default it is chosen automatically: with `tol`, the smallest order
        whose balanced-truncation bound `2 sum_{i>r} s_i` (`s`: Hankel singular values) is
        at most `tol`; otherwise the numerical rank of the Hankel matrix when the data are
        exact (its singular values drop to rounding level), else the largest gap
        `s_r / s_{r+1}` among the leading half of the singular values.  For noisy data
        without a clear gap, pass `order` or `tol`.
    tol : float, optional
        Error tolerance for the automatic order (exclusive with `order`).
    dt : float
        Sampling time of the returned model.
    rows, cols : int, optional
        Block rows/columns of the Hankel matrix; `rows + cols <= L - 1` (one sample is
        needed for the shift).  Default: the samples are split evenly.
    stable : bool
        Enforce stability: unstable poles are mirrored into the unit disc (`1/lambda`) and
        `C` is refit; poles that are already stable never move, and data whose model is
        stable are returned exactly as with `stable=False`.  The result is then no longer
        balanced.
    svd : {"auto", "dense", "randomized"}
        `"dense"`: full SVD of the Hankel matrix.  `"randomized"`: leading singular
        triplets by a randomized range finder with power iterations, with matrix-free
        FFT-based Hankel products (cost `O(k p m L log L)`), enlarged until the order is
        determined.  `"auto"` picks dense for small Hankel matrices.
    return_info : bool
        Also return an [`ERAInfo`][hankelid.identification.era.ERAInfo] with the Hankel singular values used.

    Returns
    -------
    StateSpace or (StateSpace, ERAInfo)
        Discrete-time model with sampling time `dt` and `D = markov[0]`, balanced for the
        finite Hankel matrix (states ordered by Hankel singular value) unless stabilized.

    Raises
    ------
    ValueError
        If `markov` is not a finite real array of shape (L, p, m) (or a stack of them), the
        experiments differ in shape, there are too few samples for `rows`/`cols` or for
        the order, `order` exceeds the Hankel dimensions or its numerical rank, `order`
        and `tol` are both given, the data are all zero, or `dt` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> true = hk.random_stable(4, 2, 3, dt=1.0, seed=0)
    >>> h = hk.markov_parameters(true, 100)
    >>> model = hk.era(h)                          # order found from the data
    >>> model.n, bool(np.allclose(hk.markov_parameters(model, 100), h, rtol=0, atol=1e-10))
    (4, True)
    >>> model, info = hk.era(h, order=2, return_info=True)
    >>> model.n, info.rank
    (2, 4)
    """
    avg, n_exp = _average_experiments(markov)
    dt = check_dt(dt)
    if dt is None:
        raise ValueError("era identifies a discrete-time model: dt must be a positive sampling time")
    if order is not None and tol is not None:
        raise ValueError("give either order or tol, not both")
    if order is not None:
        order = check_count(order, "order")
    if tol is not None:
        tol = check_positive(tol, name="tol")
    for name, flag in (("stable", stable), ("return_info", return_info)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if svd not in ("auto", "dense", "randomized"):
        raise ValueError(f"svd must be 'auto', 'dense' or 'randomized', got {svd!r}")
    _, p, m = avg.shape
    rows, cols = split_blocks(avg.shape[0] - 1, rows, cols, extra=1)
    if order is not None and order > min(rows * p, cols * m):
        raise ValueError(
            f"order {order} exceeds the Hankel matrix dimensions {(rows * p, cols * m)} "
            f"(rows={rows}, cols={cols}): too few Markov parameters for that order"
        )
    U, s, V, r, rank, method = _hankel_svd(avg, rows, cols, order, tol, svd)
    if rank is not None and r > rank:
        raise ValueError(
            f"order {r} exceeds the numerical rank {rank} of the Hankel matrix: the data are "
            f"explained exactly by a model of order {rank}"
        )
    root = np.sqrt(s[:r])
    Ur, Vr = U[:, :r], V[:, :r]
    if method == "dense":
        H1V = hankel_blocks(avg, rows, cols, shift=1) @ Vr
    else:
        H1V = HankelOperator(avg, rows, cols, shift=1).matmul(Vr)
    A = (Ur.T @ H1V) / root[:, None] / root[None, :]
    B = root[:, None] * Vr[:m].T
    C = Ur[:p] * root[None, :]
    moved = 0
    if stable:
        A, C, moved = _stabilize(A, B, C, avg)
    model = StateSpace(A, B, C, avg[0], dt)
    if not return_info:
        return model
    return model, ERAInfo(
        hsv=s.copy(),
        order=r,
        rank=rank,
        rows=rows,
        cols=cols,
        svd=method,
        n_experiments=n_exp,
        moved_poles=moved,
    )
