r"""Subspace identification from input/output records: N4SID, PO-MOESP and CVA.

All three methods share one computation (Van Overschee & De Moor 1994, 1996). The block Hankel
matrices of past and future inputs and outputs (horizon \(i\): \(2i\) block rows, one column per
window of \(2i\) samples, the columns of all experiments side by side)

$$ W = \begin{bmatrix} U_{0|2i-1} \\ Y_{0|2i-1} \end{bmatrix} = L Q^T $$

are compressed once by an LQ factorization, computed as the R factor of \(W^T\) accumulated
chunk by chunk (cost linear in the number of samples, memory independent of it). Every
projection below is then a small computation on the \(2i(m+p)\)-square factor \(L\):

- the oblique projection \(\mathcal O_i = Y_f /_{U_f} W_p\) of the future outputs onto the
  past data \(W_p = [U_p; Y_p]\) along the future inputs, whose column space is that of the
  extended observability matrix \(\Gamma_i\);
- the weighted SVD \(W_1 \mathcal O_i W_2 = U S V^T\) with, after the unifying theorem of
  Van Overschee & De Moor (1995), \(W_1 = W_2 = I\) for N4SID, \(W_1 = I\),
  \(W_2 = \Pi_{U_f}^\perp\) for PO-MOESP (Verhaegen 1994) and
  \(W_1 = (Y_f \Pi_{U_f}^\perp Y_f^T)^{-1/2}\), \(W_2 = \Pi_{U_f}^\perp\) for CVA (Larimore
  1990), whose singular values are canonical correlations;
- \(\Gamma_i = W_1^{-1} U_n S_n^{1/2}\); \(C\) is its first block row and \(A\) solves the shift
  equation \(\underline{\Gamma_i} A = \overline{\Gamma_i}\) in least squares;
- \(B\), \(D\) and the initial state of every experiment minimize the simulation error
  \(\sum_t \lVert y_t - \hat y_t \rVert^2\), which is linear in them once \(A, C\) are fixed
  (for an unstable \(A\), whose simulation is dominated by its growing modes, they come from
  the state equations below instead, with zero initial states; `.info["input_matrices"]`);
- the state sequences \(X_i = \Gamma_i^+ \mathcal O_i\), \(X_{i+1} = \Gamma_{i-1}^+
  \mathcal O_{i-1}\) give the process and measurement noise covariances from the residuals of
  the state equations, and the discrete Riccati equation gives the Kalman (innovation) gain
  \(K\) and the innovation covariance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.lib.stride_tricks import sliding_window_view

from .._validation import check_auto_order, check_count
from ..systems import StateSpace
from ._regression import CHUNK_ROWS, TriangularAccumulator, output_error_fit, simulation_fit
from .data import IOData
from .result import Identification

__all__ = ["n4sid"]

_METHODS = ("n4sid", "moesp", "cva")
_CRITERIA = ("bic", "aic")
_DEFAULT_HORIZON = 10
# Weighted singular values below this fraction of the largest are rounding errors: the data
# are explained exactly by a model of lower order (noise-free data).
_EXACT_RTOL = 1e-9
# Singular values within this factor of the noise floor are not counted as system modes.
_FLOOR_FACTOR = 2.0
# The structured Gram route of the LQ factor: only for long records (Hankel columns per row of
# W) and when no row of W is closer than this (relative energy) to the span of those before it.
_GRAM_MIN_COLUMNS = 20
_GRAM_MIN_FRACTION = 1e-6
# Stabilized poles end up at least this far inside the unit circle.
_STABLE_MARGIN = 1e-6


# ----------------------------------------------------------------------------- validation
def _check_args(
    data: Any, order: Any, method: str, horizon: Any, criterion: str, lq: str
) -> tuple[int | None, int | None]:
    if not isinstance(data, IOData):
        raise TypeError(f"data must be a hankelid.IOData, got {type(data).__name__}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if lq not in ("auto", "qr", "gram"):
        raise ValueError(f"lq must be 'auto', 'qr' or 'gram', got {lq!r}")
    order = check_auto_order(order)
    if horizon is not None:
        horizon = check_count(horizon, "horizon")
        if horizon < 2:
            raise ValueError(f"horizon must be at least 2 (block rows of past and future), got {horizon}")
    return order, horizon


def _horizon(data: IOData, order: int | None, horizon: int | None, method: str) -> int:
    """The horizon: given, or the default, shortened (not below what the order needs) for short data."""
    m, p = data.m, data.p
    need = 2 if order is None else math.ceil(order / p) + 1  # (i - 1) p >= n
    if horizon is not None:
        i = horizon
    else:
        i = max(_DEFAULT_HORIZON, need)
        # Shorten for short records: at least as many Hankel columns as rows.
        while i > need and sum(max(0, N - 2 * i + 1) for N in data.n_samples) < 2 * i * (m + p):
            i -= 1
    if order is not None and order > (i - 1) * p:
        raise ValueError(
            f"order {order} exceeds what horizon {i} allows: at most (horizon - 1) * p = {(i - 1) * p} "
            f"with p = {p} outputs; increase horizon to at least {need}"
        )
    data.check_length(2 * i, f"{method} with horizon {i}")
    columns = sum(N - 2 * i + 1 for N in data.n_samples)
    if columns < 2 * i * (m + p):
        raise ValueError(
            f"too few samples for {method} with horizon {i}: the block Hankel matrix has {columns} "
            f"columns but needs at least 2 * horizon * (m + p) = {2 * i * (m + p)}; "
            f"record more data or pass a smaller horizon"
        )
    return i


# ----------------------------------------------------------------------------- the LQ factor
def _hankel_chunks(u: np.ndarray, y: np.ndarray, i: int):
    """Rows of `W^T` (one per window of `2i` samples) in chunks: `[u_t..u_{t+2i-1}, y_t..y_{t+2i-1}]`."""
    wu = sliding_window_view(u, 2 * i, axis=0)  # (J, m, 2i), a view: nothing is copied here
    wy = sliding_window_view(y, 2 * i, axis=0)
    J = wu.shape[0]
    for a in range(0, J, CHUNK_ROWS // 2):
        b = min(J, a + CHUNK_ROWS // 2)
        yield np.hstack(
            [wu[a:b].transpose(0, 2, 1).reshape(b - a, -1), wy[a:b].transpose(0, 2, 1).reshape(b - a, -1)]
        )


def _qr_factor(us: list[np.ndarray], ys: list[np.ndarray], i: int) -> np.ndarray:
    """`R` of `W^T` by Householder QR, folded in chunk by chunk (backward stable for any data)."""
    m, p = us[0].shape[1], ys[0].shape[1]
    acc = TriangularAccumulator(2 * i * (m + p))
    for u, y in zip(us, ys):
        for chunk in _hankel_chunks(u, y, i):
            acc.add(chunk)
    return np.triu(acc.R)


def _gram(us: list[np.ndarray], ys: list[np.ndarray], i: int) -> np.ndarray:
    """`W W^T` from lag correlations of `z = [u, y]`, in `O(N (m + p)^2 i)` operations.

    Block `(a, b)` (time offsets `a <= b` of the rows) is `sum_{t<J} z_{t+a} z_{t+b}^T`: the full
    lag-`(b - a)` correlation minus at most `2i` terms at either end of the record.
    """
    m, p = us[0].shape[1], ys[0].shape[1]
    c, h = m + p, 2 * i
    Gz = np.zeros((h, c, h, c))  # rows ordered by time offset, then channel of z
    for u, y in zip(us, ys):
        z = np.hstack([u, y])
        N = z.shape[0]
        J = N - h + 1
        for k in range(h):
            full = z[: N - k].T @ z[k:]
            # the terms s < a (head) and s >= a + J (tail) of the lag-k sum, for every a at once
            lead = np.einsum("si,sj->sij", z[: h - k - 1], z[k : h - 1])
            head = np.concatenate([np.zeros((1, c, c)), np.cumsum(lead, axis=0)])
            trail = np.einsum("si,sj->sij", z[J : N - k], z[J + k :])
            tail = np.concatenate([np.cumsum(trail[::-1], axis=0)[::-1], np.zeros((1, c, c))])
            S = full - head - tail  # (h - k, c, c): block (a, a + k)
            a = np.arange(h - k)
            Gz[a, :, a + k, :] += S
            if k:
                Gz[a + k, :, a, :] += S.transpose(0, 2, 1)
    Gz = Gz.reshape(h * c, h * c)
    # W's row order: all input rows (offset-major), then all output rows
    order = np.concatenate(
        [
            (np.arange(h)[:, None] * c + np.arange(m)).ravel(),
            (np.arange(h)[:, None] * c + m + np.arange(p)).ravel(),
        ]
    )
    return Gz[np.ix_(order, order)]


def _lq_factor(
    us: list[np.ndarray], ys: list[np.ndarray], i: int, how: str = "auto"
) -> tuple[np.ndarray, int, str]:
    """Lower-triangular `L` with `L L^T = W W^T / J`, the column count `J` and the route taken.

    Long, noisy records take the structured route: the Gram matrix from lag correlations
    (cost `O(N (m+p)^2 i)` instead of the QR's `O(N (m+p)^2 i^2)`) and its Cholesky factor,
    which equals the QR's `R` up to rounding of order `eps cond(W W^T)`. It is used only when
    every row of `W` keeps at least `_GRAM_MIN_FRACTION` of its energy outside the span of the
    rows before it (so the rounding stays far below the statistical error); exact or nearly
    collinear data (noise-free records, for which `W W^T` is singular) take the QR.
    `how="gram"` skips the length and conditioning tests (the QR is then used only if the
    Cholesky factorization breaks down); `how="qr"` always takes the QR.
    """
    m, p = us[0].shape[1], ys[0].shape[1]
    d = 2 * i * (m + p)
    J = sum(u.shape[0] - 2 * i + 1 for u in us)
    if how == "gram" or (how == "auto" and J >= _GRAM_MIN_COLUMNS * d):
        G = _gram(us, ys, i)
        try:
            R = sla.cholesky(G, lower=False, check_finite=False)
            fraction = np.diag(R) ** 2 / np.maximum(np.diag(G), np.finfo(float).tiny)
            if how == "gram" or fraction.min() >= _GRAM_MIN_FRACTION:
                return R.T / np.sqrt(J), J, "gram-cholesky"
        except np.linalg.LinAlgError:
            pass
    return _qr_factor(us, ys, i).T / np.sqrt(J), J, "qr"


class _Blocks:
    """Row indices of the block rows of `W = [U_{0|2i-1}; Y_{0|2i-1}]`."""

    def __init__(self, i: int, m: int, p: int) -> None:
        self.i, self.m, self.p = i, m, p

    def u(self, a: int, b: int) -> np.ndarray:
        return np.arange(a * self.m, b * self.m)

    def y(self, a: int, b: int) -> np.ndarray:
        return 2 * self.i * self.m + np.arange(a * self.p, b * self.p)


def _oblique(L: np.ndarray, rows: _Blocks, split: int) -> np.ndarray:
    """Coordinates of `Y_{split|2i-1} /_{U_{split|2i-1}} [U_{0|split-1}; Y_{0|split-1}]` (rows x d)."""
    i = rows.i
    k = 2 * i * rows.m + split * rows.p  # regressors: all inputs, then the past outputs
    future = L[rows.y(split, 2 * i), :k]
    # Theta [U; Y_p] = projection of the future outputs on the regressors' row space.
    theta = sla.lstsq(L[:k, :k].T, future.T, check_finite=False)[0].T
    past = np.concatenate([rows.u(0, split), rows.y(0, split)])
    cols = np.concatenate([np.arange(split * rows.m), np.arange(2 * i * rows.m, k)])
    return theta[:, cols] @ L[past, :]


def _orth_complement(L: np.ndarray, rows: _Blocks) -> np.ndarray:
    """Orthonormal basis (d x i m) of the row space of the future inputs, for `Pi_{U_f}^perp`."""
    Uf = L[rows.u(rows.i, 2 * rows.i), :]
    Qu, Ru = sla.qr(Uf.T, mode="economic", check_finite=False)
    diag = np.abs(np.diag(Ru))
    scale = np.abs(L[: 2 * rows.i * rows.m, : 2 * rows.i * rows.m]).max()
    if diag.size and diag.min() <= 1e-10 * max(scale, np.finfo(float).tiny):
        raise ValueError(
            f"the input is not persistently exciting of order {2 * rows.i}: the block Hankel matrix "
            "of the inputs is rank deficient (constant or too narrow-band input?); use a richer "
            "input or a smaller horizon"
        )
    return Qu


def _perp(M: np.ndarray, Qu: np.ndarray) -> np.ndarray:
    return M - (M @ Qu) @ Qu.T


def _psd_sqrt(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root of a PSD matrix and its pseudo-inverse."""
    w, V = np.linalg.eigh((M + M.T) / 2)
    keep = w > w.max() * 1e-12 if w.max() > 0 else np.zeros_like(w, dtype=bool)
    root = np.where(keep, np.sqrt(np.where(keep, w, 0.0)), 0.0)
    inv = np.where(keep, 1.0 / np.where(keep, root, 1.0), 0.0)
    return (V * root) @ V.T, (V * inv) @ V.T


# ----------------------------------------------------------------------------- order selection
def _select_order(
    s: np.ndarray, cc: np.ndarray, nmax: int, J: int, m: int, p: int, criterion: str
) -> tuple[int, float, np.ndarray | None, str]:
    """Order from the weighted singular values `s` and the canonical correlations `cc`.

    Noise-free data: the number of values above `_EXACT_RTOL * s[0]`. Otherwise the noise floor
    is the median of the trailing half of `s` (where noise dominates); among the orders whose
    value clears it, the singular-value criterion of Bauer (2001)
    `SVC(n) = cc_{n+1}^2 + d(n) c(J) / J` is minimized, `d(n) = n (m + 2 p)` (the free parameters
    of an innovation model), `c(J) = log J` (BIC) or `2` (AIC).
    """
    cutoff = s[0] * _EXACT_RTOL
    if s[-1] < cutoff:
        rank = int(np.sum(s > cutoff))
        return max(1, min(rank, nmax)), float(cutoff), None, "exact-rank"
    floor = float(np.median(s[s.size // 2 :]))
    above = int(np.sum(s > _FLOOR_FACTOR * floor))
    top = max(1, min(nmax, above))
    penalty = np.log(J) if criterion == "bic" else 2.0
    n = np.arange(1, top + 1)
    cc_next = np.append(cc, 0.0)[n]
    values = cc_next**2 + n * (m + 2 * p) * penalty / J
    return int(n[np.argmin(values)]), floor, values, f"svc-{criterion}"


# ----------------------------------------------------------------------------- model pieces
def _shift_solve(Gamma: np.ndarray, p: int, weight: float = 0.0) -> np.ndarray:
    """`A` from `Gamma[:-p] A = Gamma[p:]`, optionally regularized towards stability.

    With `weight > 0` the equations `weight * Gamma[-p:] A = 0` are appended (Maciejowski 1995:
    at weight 1 the estimate is guaranteed stable).
    """
    up, down = Gamma[:-p], Gamma[p:]
    if weight > 0:
        up = np.vstack([up, weight * Gamma[-p:]])
        down = np.vstack([down, np.zeros((p, Gamma.shape[1]))])
    return sla.lstsq(up, down, check_finite=False)[0]


def _radius(A: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(A)))) if A.size else 0.0


def _stabilize(Gamma: np.ndarray, p: int) -> tuple[np.ndarray, float]:
    """The least regularization weight in `[0, 1]` (bisection) that makes `A` stable."""
    target = 1.0 - _STABLE_MARGIN
    lo, hi = 0.0, 1.0
    A_hi = _shift_solve(Gamma, p, hi)
    if _radius(A_hi) >= target:  # Maciejowski's bound is <= 1: pull the last bit in by scaling
        return A_hi * (target / _radius(A_hi)), 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        A_mid = _shift_solve(Gamma, p, mid)
        if _radius(A_mid) < target:
            hi, A_hi = mid, A_mid
        else:
            lo = mid
        if hi - lo < 1e-6:
            break
    return A_hi, hi


def _states(
    L: np.ndarray, rows: _Blocks, Gamma: np.ndarray, O_i: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`X_i`, `X_{i+1}`, `U_{i|i}`, `Y_{i|i}` in the coordinates of the LQ factor."""
    i, p = rows.i, rows.p
    X_i = np.linalg.pinv(Gamma) @ O_i
    X_next = np.linalg.pinv(Gamma[:-p]) @ _oblique(L, rows, i + 1)
    return X_i, X_next, L[rows.u(i, i + 1), :], L[rows.y(i, i + 1), :]


def _kalman(
    states: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Innovation gain and covariance from the residuals of the estimated state sequences."""
    X_i, X_next, U_ii, Y_ii = states
    n, p = A.shape[0], C.shape[0]
    rho = np.vstack([X_next - A @ X_i - B @ U_ii, Y_ii - C @ X_i - D @ U_ii])
    cov = rho @ rho.T
    Q, S, R = cov[:n, :n], cov[:n, n:], cov[n:, n:]
    # A tiny ridge keeps the Riccati equation solvable for (nearly) noise-free data.
    scale = max(float(np.trace(Y_ii @ Y_ii.T)) / p, np.finfo(float).tiny)
    R_reg = R + 1e-12 * scale * np.eye(p)
    try:
        P = sla.solve_discrete_are(A.T, C.T, Q, R_reg, s=S)
        Re = C @ P @ C.T + R
        K = sla.solve(C @ P @ C.T + R_reg, (A @ P @ C.T + S).T, assume_a="pos").T
        return K, (Re + Re.T) / 2, "riccati"
    except (np.linalg.LinAlgError, ValueError) as exc:
        return np.zeros((n, p)), (R + R.T) / 2, f"riccati failed ({exc}); K = 0"


def _input_matrices_from_states(
    states: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    A: np.ndarray,
    C: np.ndarray,
    feedthrough: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """`B`, `D` from the state equations `X_{i+1} = A X_i + B U_{i|i}`, `Y_{i|i} = C X_i + D U_{i|i}`.

    Used for unstable `A`, whose simulation-error regression is dominated by growing modes.
    """
    X_i, X_next, U_ii, Y_ii = states
    if feedthrough:
        BD = sla.lstsq(U_ii.T, np.vstack([X_next - A @ X_i, Y_ii - C @ X_i]).T, check_finite=False)[0].T
        return BD[: A.shape[0]], BD[A.shape[0] :]
    B = sla.lstsq(U_ii.T, (X_next - A @ X_i).T, check_finite=False)[0].T
    return B, np.zeros((C.shape[0], U_ii.shape[0]))


# ----------------------------------------------------------------------------- public
def n4sid(
    data: IOData,
    order: int | str | None = None,
    *,
    method: str = "n4sid",
    horizon: int | None = None,
    stable: bool = False,
    feedthrough: bool = True,
    criterion: str = "bic",
    lq: str = "auto",
) -> Identification:
    r"""Identify a discrete-time state-space model from input/output data by subspace methods.

    N4SID (Van Overschee & De Moor 1994), PO-MOESP (Verhaegen 1994) and CVA (Larimore 1990)
    differ only in the weighting of one SVD; see the module description for the algorithm. MIMO
    data and several experiments (their block Hankel columns side by side) are supported; the
    block Hankel matrices are compressed by an LQ factorization accumulated chunk by chunk, so
    time is linear and memory constant in the number of samples.

    Parameters
    ----------
    data : IOData
        Estimation data (one or several experiments). Detrend it first if the signals have
        offsets ([`IOData.detrend`][hankelid.identification.data.IOData.detrend]).
    order : int, "auto" or None
        Model order. `None`/`"auto"`: read from the weighted singular values: their numerical
        rank for noise-free data; otherwise the minimizer of Bauer's singular-value criterion
        \(\mathrm{SVC}(n) = \rho_{n+1}^2 + n(m+2p)\,c(J)/J\) (\(\rho\): canonical correlations,
        \(J\): Hankel columns, \(c\) from `criterion`) among the orders whose singular value
        clears twice the noise floor (the median of the trailing half). `.info` records which.
    method : {"n4sid", "moesp", "cva"}
        The SVD weighting.
    horizon : int, optional
        Block rows \(i\) of the past and of the future (default 10, raised to what `order` needs,
        lowered for short records). The order can be at most \((i - 1) p\).
    stable : bool
        Guarantee a stable \(A\). Only when the plain estimate is unstable, the shift equation is
        regularized with the Maciejowski (1995) term \(w\,\Gamma_{\text{last}} A = 0\), the
        smallest weight \(w \in (0, 1]\) that stabilizes found by bisection (\(w = 1\) is
        Maciejowski's guaranteed-stable estimate), so a stable model is never changed and an
        unstable one moves as little as needed; \(B, D\) are then refit to the data.
    feedthrough : bool
        Estimate \(D\) (otherwise \(D = 0\)).
    criterion : {"bic", "aic"}
        Penalty of the order criterion: \(c(J) = \log J\) or \(2\).
    lq : {"auto", "qr", "gram"}
        How the LQ factor is computed. `"qr"`: Householder QR of the block Hankel data, folded
        in chunk by chunk (backward stable for any data, cost \(O(N (m+p)^2 i^2)\)). `"gram"`:
        the Cholesky factor of \(W W^T\), whose blocks are lag correlations of the signals
        (cost \(O(N (m+p)^2 i)\); rounding of order \(\epsilon\,\mathrm{cond}(W W^T)\)).
        `"auto"` (default) takes the Gram route for long records whose rows of \(W\) are all
        well away from collinear (noisy data) and the QR otherwise (noise-free data, for which
        \(W W^T\) is singular).

    Returns
    -------
    Identification
        `.system` (discrete, sampling time `data.dt`), `.K` and `.noise_cov` (innovation gain and
        covariance from the Riccati equation), `.x0` (initial state per experiment: `(n,)` for
        one, `(E, n)` for several), `.singular_values` (the weighted ones, for
        `hk.plot.order_selection`), `.fit` (percent per output on the estimation data, simulated
        from the estimated initial state), `.info` (horizon, order rule and noise floor,
        criterion values, canonical correlations, stabilization, Riccati status, Hankel columns).

    Raises
    ------
    TypeError
        If `data` is not an [`IOData`][hankelid.IOData].
    ValueError
        If `order` is not a positive integer or exceeds what the horizon allows, `horizon < 2`,
        there are too few samples for the horizon, the input is not persistently exciting, or
        `method`/`criterion` is unknown.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> true = hk.random_stable(4, 2, 2, dt=1.0, seed=0)
    >>> u = np.random.default_rng(0).standard_normal((800, 2))
    >>> data = hk.IOData(u, hk.simulate(true, u))
    >>> ident = hk.n4sid(data)                      # order read from the data
    >>> ident.order, bool(ident.fit.min() > 99.99)
    (4, True)
    >>> h = hk.markov_parameters(ident.system, 20) - hk.markov_parameters(true, 20)
    >>> bool(np.abs(h).max() < 1e-8)
    True
    """
    order, horizon = _check_args(data, order, method, horizon, criterion, lq)
    for name, flag in (("stable", stable), ("feedthrough", feedthrough)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    m, p = data.m, data.p
    i = _horizon(data, order, horizon, method)
    us, ys = data.u, data.y
    L, J, route = _lq_factor(us, ys, i, lq)
    rows = _Blocks(i, m, p)

    O_i = _oblique(L, rows, i)
    Qu = _orth_complement(L, rows)
    O_perp = _perp(O_i, Qu)
    Yf_perp = _perp(L[rows.y(i, 2 * i), :], Qu)
    root, inv_root = _psd_sqrt(Yf_perp @ Yf_perp.T)
    cc = np.clip(sla.svd(inv_root @ O_perp, compute_uv=False, check_finite=False), 0.0, 1.0)
    if method == "n4sid":
        weighted, unweight = O_i, None
    elif method == "moesp":
        weighted, unweight = O_perp, None
    else:
        weighted, unweight = inv_root @ O_perp, root
    U, s, _ = sla.svd(weighted, full_matrices=False, check_finite=False)
    if s[0] == 0:
        raise ValueError("the outputs carry no information about the inputs or the past: all-zero projection")

    nmax = (i - 1) * p
    if order is None:
        order, floor, values, rule = _select_order(s, cc, nmax, J, m, p, criterion)
    else:
        floor, values, rule = float(np.median(s[s.size // 2 :])), None, "given"
    Gamma = U[:, :order] * np.sqrt(s[:order])
    if unweight is not None:
        Gamma = unweight @ Gamma
    C = Gamma[:p].copy()
    A = _shift_solve(Gamma, p)
    weight = 0.0
    if stable and _radius(A) >= 1.0 - _STABLE_MARGIN:
        A, weight = _stabilize(Gamma, p)
    states = _states(L, rows, Gamma, O_i)
    if _radius(A) < 1.0:
        B, D, x0, fit = output_error_fit(A, C, us, ys, feedthrough=feedthrough)
        how = "simulation error"
    else:  # growing modes would swamp the simulation-error regression
        B, D = _input_matrices_from_states(states, A, C, feedthrough)
        x0 = np.zeros((data.n_experiments, order))
        fit = simulation_fit(A, B, C, D, x0, us, ys)
        how = "state equations (unstable A; x0 = 0)"
    K, noise_cov, kalman = _kalman(states, A, B, C, D)
    info = {
        "horizon": i,
        "weighting": method,
        "order_rule": rule,
        "noise_floor": floor,
        "criterion_values": values,
        "canonical_correlations": cc,
        "stabilization_weight": weight,
        "input_matrices": how,
        "kalman": kalman,
        "hankel_columns": J,
        "lq": route,
        "n_experiments": data.n_experiments,
    }
    return Identification(
        system=StateSpace(A, B, C, D, data.dt),
        order=order,
        singular_values=s,
        method=method,
        K=K,
        noise_cov=noise_cov,
        x0=x0[0] if data.n_experiments == 1 else x0,
        fit=fit,
        info=info,
    )
