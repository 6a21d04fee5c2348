"""The linear recurrence `x[k] = A x[k-1] + g[k]` over a whole record, without a Python loop per sample.

Shared by simulation, prediction and initial-state estimation. The state matrix is brought to
real Schur form `A = Q T Qᵀ` (backward stable, any `A`, defective ones included). The
quasi-triangular `T` is solved block by block from the bottom up: each diagonal block sees
the already computed lower blocks as known forcing, so it is a 1- or 2-dimensional recurrence
run by `scipy.signal.lfilter` over all samples at once. A 1×1 block is the first-order filter
`x[k] = t x[k-1] + g[k]`, which `lfilter` evaluates with exactly the arithmetic of the
sequential loop. A 2×2 block (a complex pair) is first scaled to a normal (rotation-scaling)
matrix, whose eigenvector basis is unitary, and run as one complex first-order filter -- again
the loop's arithmetic, in a perfectly conditioned basis, so lightly damped modes lose nothing.

Every result is checked: the defect `X[k] - T X[k-1] - G[k]` must be at rounding level
relative to `|T| |X[k-1]| + |G[k]|` (the backward error of the sequential loop). If it is not
(an unusual non-standardized block), the exact sequential loop is used instead.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.signal import lfilter

from ..systems import StateSpace

__all__ = ["DEFECT_TOL", "Recurrence", "run_discrete"]

# Largest accepted componentwise defect of the filtered solution (the sequential loop's is a few eps).
DEFECT_TOL = 1e-10


class Recurrence:
    """Solver for `X[0] = G[0]`, `X[k] = A X[k-1] + G[k]`, `G` of shape `(N, r, n)` (`r` right-hand sides)."""

    def __init__(self, A: np.ndarray) -> None:
        self.A = np.asarray(A, dtype=np.float64)
        self.n = self.A.shape[0]
        T, Q = sla.schur(self.A, output="real")
        self.T, self.Q = T, Q
        blocks: list[tuple[int, int]] = []
        i = 0
        while i < self.n:
            if i + 1 < self.n and T[i + 1, i] != 0.0:
                blocks.append((i, i + 2))
                i += 2
            else:
                blocks.append((i, i + 1))
                i += 1
        self.blocks = blocks
        self.last_algorithm = ""

    # ------------------------------------------------------------------ public entry
    def solve(self, G: np.ndarray, algorithm: str = "auto") -> np.ndarray:
        """States `X`, shape `(N, r, n)`, in the original coordinates."""
        if algorithm not in ("auto", "schur", "loop"):
            raise ValueError(f"algorithm must be 'auto', 'schur' or 'loop', got {algorithm!r}")
        if algorithm == "loop":
            self.last_algorithm = "loop"
            return self._loop(G)
        N, r, n = G.shape
        Gs = (G.reshape(N * r, n) @ self.Q).reshape(N, r, n)  # x_schur = Qᵀ x, states along rows
        Xs = self._schur_solve(Gs)
        if algorithm == "auto" and self._defect(Xs, Gs) > DEFECT_TOL:
            self.last_algorithm = "loop"
            return self._loop(G)
        self.last_algorithm = "schur"
        return (Xs.reshape(N * r, n) @ self.Q.T).reshape(N, r, n)

    # ------------------------------------------------------------------ strategies
    def _schur_solve(self, Gs: np.ndarray) -> np.ndarray:
        T = self.T
        N, r, n = Gs.shape
        # 2-D views (N r, n): sample k, right-hand side j is row k r + j, so one sample's delay
        # is r rows and every product below is one BLAS call
        G2 = Gs.reshape(N * r, n)
        X2 = np.zeros((N * r, n))
        for lo, hi in reversed(self.blocks):
            F = G2[:, lo:hi].copy()
            if hi < n and N > 1:
                # the lower blocks are known: their coupling is forcing, delayed by one sample
                F[r:] += X2[:-r, hi:] @ T[lo:hi, hi:].T
            F3 = F.reshape(N, r, hi - lo)
            if hi - lo == 1:
                X2[:, lo] = lfilter([1.0], [1.0, -T[lo, lo]], F3[:, :, 0], axis=0).reshape(-1)
            else:
                X2[:, lo:hi] = _pair(T[lo:hi, lo:hi], F3).reshape(-1, 2)
        return X2.reshape(N, r, n)

    def _loop(self, G: np.ndarray) -> np.ndarray:
        X = np.empty_like(G, dtype=np.float64)
        A = self.A
        x = G[0].astype(np.float64)
        X[0] = x
        for k in range(1, G.shape[0]):
            x = x @ A.T + G[k]
            X[k] = x
        return X

    def _defect(self, Xs: np.ndarray, Gs: np.ndarray) -> float:
        N, r, n = Xs.shape
        if N < 2:
            return 0.0
        X2, G2 = Xs.reshape(N * r, n), Gs.reshape(N * r, n)
        prev = X2[:-r]
        R = X2[r:] - prev @ self.T.T - G2[r:]
        scale = np.abs(prev) @ np.abs(self.T).T + np.abs(G2[r:])
        bad = np.abs(R) > DEFECT_TOL * scale
        if not bad.any():
            return 0.0
        return float(np.max(np.abs(R)[bad] / np.maximum(scale[bad], np.finfo(float).tiny)))


def _pair(M: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Solve a 2×2 block `x[k] = M x[k-1] + f[k]` (complex-conjugate eigenvalues) as one complex filter."""
    a, b = M[0]
    c, d = M[1]
    if a == d and b * c < 0:
        # LAPACK's standardized block [[a, b], [c, a]]: with x = diag(1, s) xhat, s = sqrt|c/b|,
        # it becomes [[a, w], [-w, a]] (w = sign(b) sqrt|bc|), a normal matrix with unitary
        # eigenvectors (1, ±i)/sqrt2 -- no conditioning loss.
        s = np.sqrt(abs(c / b))
        w = np.sign(b) * np.sqrt(abs(b * c))
        lam = complex(a, w)
        vr = np.array([1.0, 1.0j * s]) / np.sqrt(2.0)  # right eigenvector of M
        vl = np.array([1.0, -1.0j / s]) / np.sqrt(2.0)  # row of the inverse basis (vl @ vr = 1)
    else:
        evals, V = np.linalg.eig(M)
        k = int(np.argmax(evals.imag))
        lam = complex(evals[k])
        Vi = np.linalg.inv(V)
        vr, vl = V[:, k], Vi[k]
    z = lfilter([1.0], [1.0, -lam], F @ vl, axis=0)
    # x = vr z + conj(vr z): the two conjugate modes together give a real state
    return 2.0 * np.real(z[:, :, None] * vr)


def run_discrete(
    sys: StateSpace, u: np.ndarray, x0: np.ndarray, *, algorithm: str = "auto", states: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Outputs (and optionally states) of a discrete system for validated `u` `(N, m)` and `x0` `(n,)`."""
    A, B, C, D = sys.matrices
    N = u.shape[0]
    G = np.empty((N, 1, sys.n))
    G[0, 0] = x0
    if N > 1:
        G[1:, 0] = u[:-1] @ B.T
    X = Recurrence(A).solve(G, algorithm)[:, 0]
    y = X @ C.T + u @ D.T
    return y, (X if states else None)
