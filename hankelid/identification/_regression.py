"""Least-squares machinery shared by the data-driven identification methods (subspace, OKID).

- `triangular_factor`: the R factor of a tall matrix given as a stream of row chunks, accumulated
  with `qr([R; chunk])`, so that memory stays bounded by one chunk however long the record is.
- `state_filter`: the state recurrence `X[t+1] = A X[t] + G[t]` run through `scipy.signal.lfilter`
  in the complex Schur basis of `A` (one first-order filter per state, coupled upwards), so long
  records cost no Python loop per sample.
- `output_error_fit`: `B`, `D` and the initial states by linear least squares given `A` and `C`,
  with the fit of the resulting simulation per output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.linalg as sla
import scipy.signal as ss
from scipy.linalg import lapack

__all__ = ["TriangularAccumulator", "output_error_fit", "state_filter", "triangular_factor"]

# Rows per chunk of a streamed regression: large enough for BLAS-3 efficiency, small enough
# that a chunk of a few hundred columns stays within tens of megabytes.
CHUNK_ROWS = 2048
# A free response below this fraction of |C| is rounding noise: its regressors are dropped.
_NEGLIGIBLE = 1e-20
# The modal filter is used when the eigenvector matrix is at most this ill-conditioned (its
# rounding, eps * cond, stays far below the accuracy asked of identification).
_MODAL_MAX_COND = 1e6


class TriangularAccumulator:
    """The R factor of a tall matrix fed in row chunks: `R.T @ R = M.T @ M`.

    Each chunk is folded in by LAPACK's triangular-pentagonal QR (`dtpqrt`), which updates `R`
    with a block of rows without touching the zeros below it; memory is one chunk.
    """

    def __init__(self, width: int) -> None:
        self.R = np.zeros((width, width), order="F")

    def add(self, chunk: np.ndarray) -> None:
        if chunk.shape[0] == 0:
            return
        block = np.asfortranarray(chunk, dtype=float)
        nb = max(1, min(32, self.R.shape[0], block.shape[0]))
        R, _, _, info = lapack.dtpqrt(0, nb, self.R, block, overwrite_a=True, overwrite_b=True)
        if info != 0:  # pragma: no cover - only for malformed arguments
            raise np.linalg.LinAlgError(f"dtpqrt failed with info={info}")
        self.R = R


def triangular_factor(chunks: Iterable[np.ndarray], width: int) -> np.ndarray:
    """Upper-triangular `R` (`width x width`) with `R.T @ R = M.T @ M`, `M` = the stacked chunks."""
    acc = TriangularAccumulator(width)
    for chunk in chunks:
        acc.add(chunk)
    return np.triu(acc.R)


class _SchurFilter:
    """`X[t+1] = A X[t] + G[t]` for `X` of shape `(n, r)`, chunk after chunk.

    In the complex Schur basis `A = Z T Z^H` the recurrence is triangular: the last state is a
    first-order filter of its own drive, and each state above is a first-order filter of its
    drive plus the coupling `T[i, j>i] x_j`.  Each is one `lfilter` call; the filter states
    carried between chunks make the result independent of the chunking.
    """

    def __init__(self, A: np.ndarray, X0: np.ndarray) -> None:
        self.T, self.Z = sla.schur(A.astype(complex), output="complex")
        self.poles = np.diag(self.T).copy()
        self.Zh_re, self.Zh_im = self.Z.conj().T.real.copy(), self.Z.conj().T.imag.copy()
        self.state = self.Z.conj().T @ X0.astype(complex)  # transformed state at the chunk start

    def run(self, G: np.ndarray) -> np.ndarray:
        """States for the chunk's `T` steps, shape `(n, r, T)` (complex); advances past the chunk.

        `G` has shape `(n, r, T)`: time is the last, contiguous axis, along which `lfilter` runs.
        """
        n, r, T = G.shape
        flat = G.reshape(n, r * T)
        if np.iscomplexobj(flat):
            Gt = (self.Z.conj().T @ flat).reshape(n, r, T)
        else:  # two real products instead of a complex copy of G
            Gt = (self.Zh_re @ flat + 1j * (self.Zh_im @ flat)).reshape(n, r, T)
        Xt = np.empty_like(Gt)
        final = np.empty_like(self.state)
        for i in range(n - 1, -1, -1):
            drive = Gt[i]
            if i < n - 1:
                drive = drive + (self.T[i, i + 1 :] @ Xt[i + 1 :].reshape(n - i - 1, r * T)).reshape(r, T)
            lam = self.poles[i]
            y, zf = ss.lfilter([0.0, 1.0], [1.0, -lam], drive, axis=-1, zi=self.state[i][:, None])
            Xt[i] = y
            final[i] = zf[:, 0]
        self.state = final
        return (self.Z @ Xt.reshape(n, r * T)).reshape(n, r, T)

    def magnitude(self) -> float:
        """Largest entry of the carried state (in the unitary Schur basis)."""
        return float(np.abs(self.state).max()) if self.state.size else 0.0


class _ModalFilter:
    """`X[t+1] = A X[t] + G[t]` for real `G`, in the eigenbasis of a diagonalizable `A`.

    With `A = V diag(lambda) V^{-1}` every modal state is an independent first-order filter. A
    real drive makes the modal states of a conjugate pair conjugate, so only one of each pair is
    filtered (complex) and real poles are filtered in real arithmetic: about half the work of
    the Schur filter. Used only when `V` is well conditioned (`_make_filter`).
    """

    def __init__(self, lam: np.ndarray, V: np.ndarray, X0: np.ndarray) -> None:
        W = np.linalg.inv(V)
        real = lam.imag == 0
        upper = lam.imag > 0  # one pole of every conjugate pair
        self.lam_r, self.lam_c = lam[real].real, lam[upper]
        self.Vr, self.Vc = V[:, real].real.copy(), V[:, upper]
        self.Wr = W[real].real.copy()
        self.Wc_re, self.Wc_im = W[upper].real.copy(), W[upper].imag.copy()
        self.sr = self.Wr @ X0
        self.sc = (self.Wc_re + 1j * self.Wc_im) @ X0

    def run(self, G: np.ndarray) -> np.ndarray:
        """States for the chunk's `T` steps, shape `(n, r, T)` (real); advances past the chunk."""
        n, r, T = G.shape
        flat = G.reshape(n, r * T)
        out = np.zeros((n, r * T))
        if self.lam_r.size:
            Gr = (self.Wr @ flat).reshape(-1, r, T)
            Xr = np.empty_like(Gr)
            for i, lam in enumerate(self.lam_r):
                Xr[i], zf = ss.lfilter([0.0, 1.0], [1.0, -lam], Gr[i], axis=-1, zi=self.sr[i][:, None])
                self.sr[i] = zf[:, 0]
            out += self.Vr @ Xr.reshape(-1, r * T)
        if self.lam_c.size:
            Gc = (self.Wc_re @ flat + 1j * (self.Wc_im @ flat)).reshape(-1, r, T)
            Xc = np.empty_like(Gc)
            for i, lam in enumerate(self.lam_c):
                Xc[i], zf = ss.lfilter([0.0, 1.0], [1.0, -lam], Gc[i], axis=-1, zi=self.sc[i][:, None])
                self.sc[i] = zf[:, 0]
            Xc = Xc.reshape(-1, r * T)
            out += 2.0 * (self.Vc.real @ Xc.real - self.Vc.imag @ Xc.imag)
        return out.reshape(n, r, T)

    def magnitude(self) -> float:
        """A bound on the largest entry of the carried state in the original basis."""
        norm = np.linalg.norm
        mags = [norm(self.Vr, 2) * np.abs(self.sr).max() if self.sr.size else 0.0]
        mags.append(2 * norm(self.Vc, 2) * np.abs(self.sc).max() if self.sc.size else 0.0)
        return float(max(mags))


def _make_filter(A: np.ndarray, X0: np.ndarray) -> _ModalFilter | _SchurFilter:
    """The modal filter when `A` has a well-conditioned eigenbasis (real `X0`), else the Schur one."""
    lam, V = np.linalg.eig(A)
    pairs = np.sort(lam[lam.imag > 0]) if np.any(lam.imag != 0) else lam[:0]
    partners = np.sort(np.conj(lam[lam.imag < 0]))
    if (
        pairs.size == partners.size
        and np.allclose(pairs, partners, rtol=1e-12, atol=0)
        and np.all(np.isfinite(V))
        and np.linalg.cond(V) <= _MODAL_MAX_COND
    ):
        return _ModalFilter(lam, V, np.asarray(X0, dtype=float))
    return _SchurFilter(A, X0)


def state_filter(A: np.ndarray, G: np.ndarray, X0: np.ndarray | None = None) -> np.ndarray:
    """States `X[t]`, `t = 0..T-1`, of `X[t+1] = A X[t] + G[t]`, `X[0] = X0` (real result).

    `G` has shape `(n, r, T)`; `X0` shape `(n, r)` (zeros by default); the result `(n, r, T)`.
    """
    n, r = A.shape[0], G.shape[1]
    X0 = np.zeros((n, r)) if X0 is None else X0
    return _make_filter(A, X0).run(G).real


def _experiment_rows(
    A: np.ndarray, C: np.ndarray, u: np.ndarray, y: np.ndarray, feedthrough: bool
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Per chunk: regressors `(T, p, n + n m [+ p m])` and outputs `(T, p)` of one experiment.

    Output `k` at time `t` is `C A^t x0 + sum_{s<t} C A^(t-1-s) B u_s + D u_t`.  The first two
    terms are read off the transposed filter `W[t+1] = A^T W[t] + C^T u_j[t]` (`W` is `n x p`),
    which is `n p` wide instead of the `n^2` of the state-sensitivity recurrence.
    """
    n, p, m = A.shape[0], C.shape[0], u.shape[1]
    free = _make_filter(A.T, C.T)  # C A^t, the regressors of x0: a free response that dies out
    forced = _make_filter(A.T, np.zeros((n, p * m)))  # one block of p columns per input
    scale = float(np.abs(C).max()) if C.size else 0.0
    for start in range(0, u.shape[0], CHUNK_ROWS):
        uc = u[start : start + CHUNK_ROWS]
        T = uc.shape[0]
        if free is not None:
            obs = free.run(np.zeros((n, p, T))).real.transpose(2, 1, 0)  # (T, p, n)
            if free.magnitude() <= _NEGLIGIBLE * scale:
                free = None  # decayed below rounding: the remaining x0 regressors are zero
        else:
            obs = np.zeros((T, p, n))
        G = np.empty((n, p * m, T))
        for j in range(m):
            G[:, p * j : p * (j + 1), :] = C.T[:, :, None] * uc[None, None, :, j]
        W = forced.run(G).real  # (n, p m, T); regressor of B[i, j] for output k: W[i, p j + k, t]
        Wb = W.reshape(n, m, p, T).transpose(3, 2, 0, 1).reshape(T, p, n * m)
        parts = [obs, Wb]
        if feedthrough:
            Dreg = np.zeros((T, p, p * m))
            for k in range(p):
                Dreg[:, k, k * m : (k + 1) * m] = uc
            parts.append(Dreg)
        yield np.concatenate(parts, axis=2), y[start : start + T]


def output_error_fit(
    A: np.ndarray,
    C: np.ndarray,
    us: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    *,
    feedthrough: bool = True,
    estimate_x0: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`B`, `D` and initial states minimizing the simulation error `sum ||y - y_sim||^2` given `A, C`.

    The simulation error is linear in `(x0_e, B, D)`; the regression is streamed through
    `triangular_factor`, one `R` factor per output so that the residual norm of every output
    comes out of the same pass (`||[Phi_k, y_k] [theta; -1]|| = ||R_k [theta; -1]||`).

    Returns
    -------
    B : (n, m); D : (p, m); x0 : (E, n); fit : (p,) percent, `100 (1 - ||y - y_sim|| / ||y - mean||)`
    """
    n, p, m, E = A.shape[0], C.shape[0], us[0].shape[1], len(us)
    nx = n * E if estimate_x0 else 0
    nb = n * m + (p * m if feedthrough else 0)
    q = nx + nb
    acc = [TriangularAccumulator(q + 1) for _ in range(p)]
    sums = np.zeros(p)
    sumsq = np.zeros(p)
    count = 0
    for e, (u, y) in enumerate(zip(us, ys)):
        sums += y.sum(axis=0)
        sumsq += (y**2).sum(axis=0)
        count += y.shape[0]
        for Phi, yc in _experiment_rows(A, C, u, y, feedthrough):
            T = Phi.shape[0]
            full = np.zeros((T, p, q + 1))
            if estimate_x0:
                full[:, :, e * n : (e + 1) * n] = Phi[:, :, :n]
            full[:, :, nx:q] = Phi[:, :, n:]
            full[:, :, q] = yc
            for k in range(p):
                acc[k].add(full[:, k, :])
    Rk = [np.triu(a.R) for a in acc]
    stacked = np.vstack([r[:, :q] for r in Rk])
    rhs = np.concatenate([r[:, q] for r in Rk])
    theta = sla.lstsq(stacked, rhs, check_finite=False)[0]
    resid = np.array([np.linalg.norm(r @ np.append(theta, -1.0)) for r in Rk])
    spread = np.sqrt(np.maximum(sumsq - sums**2 / count, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = np.where(spread > 0, 100.0 * (1.0 - resid / spread), -np.inf)
    x0 = theta[:nx].reshape(E, n) if estimate_x0 else np.zeros((E, n))
    B = theta[nx : nx + n * m].reshape(n, m)  # column order (i, j) -> i * m + j
    D = theta[nx + n * m :].reshape(p, m) if feedthrough else np.zeros((p, m))
    return B, D, x0, fit


def simulation_fit(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
    x0: np.ndarray,
    us: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
) -> np.ndarray:
    """Fit in percent per output of the simulation from the initial states `x0` (`(E, n)`)."""
    p = C.shape[0]
    err2, spread2 = np.zeros(p), np.zeros(p)
    with np.errstate(all="ignore"):  # an unstable model's simulation may overflow: fit -inf
        for e, (u, y) in enumerate(zip(us, ys)):
            X = state_filter(A, (B @ u.T)[:, None, :], x0[e][:, None])[:, 0, :]
            yhat = (C @ X).T + u @ D.T
            err2 += np.sum((y - yhat) ** 2, axis=0)
            spread2 += np.sum((y - y.mean(axis=0)) ** 2, axis=0)
        fit = 100.0 * (1.0 - np.sqrt(err2) / np.sqrt(spread2))
    return np.where(np.isfinite(fit), fit, -np.inf)
