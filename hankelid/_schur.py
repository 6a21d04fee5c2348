"""One real Schur form `A = Z T Z^T` and what the solvers read from it.

Shared by the Gramian solvers (`_lyapunov`), the public Gramian API (`gramians`), the
norms (`norms`) and balanced truncation: the quasi-triangular `T` with its 1x1 / 2x2
diagonal blocks, the complex triangular form `Tc = Q^H T Q` obtained by a 2x2 rotation
per complex pair, the basis change `Q` applied without forming it ([`QBasis`][hankelid._schur.QBasis]), and
the poles read off the diagonal.  A diagonal `A` needs no Schur form (`Z = None`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ._stability import require_stable

__all__ = [
    "QBasis",
    "SchurData",
    "complexify",
    "poles_from_schur",
    "quasi_blocks",
    "reversed_transpose",
    "schur_data",
    "stable_schur",
]


@dataclass
class SchurData:
    """One real Schur form `A = Z T Z^T` and the unitary that makes it triangular.

    `Tc = Q^H T Q` is complex upper triangular; `Q` is block diagonal with a 2x2
    unitary block `G[j]` at each complex-pair block `(j, j+1)` of `T` and ones
    elsewhere.
    """

    Z: np.ndarray | None  # None: Z = I (A was diagonal, or a derived form)
    T: np.ndarray  # real quasi-upper-triangular, F-ordered
    Tc: np.ndarray  # complex upper triangular, F-ordered
    blocks: list[tuple[int, int]]
    G: dict[int, np.ndarray]
    diagonal: bool

    @property
    def n(self) -> int:
        return self.T.shape[0]


def quasi_blocks(T: np.ndarray) -> list[tuple[int, int]]:
    """`(start, size)` of each diagonal block of a real quasi-triangular `T` (size 1 or 2)."""
    n = T.shape[0]
    sub = np.zeros(n, dtype=bool)
    if n > 1:
        sub[:-1] = np.diag(T, -1) != 0.0
    out: list[tuple[int, int]] = []
    j = 0
    while j < n:
        if sub[j]:
            out.append((j, 2))
            j += 2
        else:
            out.append((j, 1))
            j += 1
    return out


def complexify(T: np.ndarray, blocks: list[tuple[int, int]]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Complex Schur form `Tc = Q^H T Q` from a real one (vectorized `rsf2csf`)."""
    Tc = np.array(T, dtype=complex, order="F")
    pairs = [j for j, s in blocks if s == 2]
    G: dict[int, np.ndarray] = {}
    if not pairs:
        return Tc, G
    j0 = np.array(pairs)
    j1 = j0 + 1
    a, b, c, d = T[j0, j0], T[j0, j1], T[j1, j0], T[j1, j1]
    half = 0.5 * (a - d)
    lam = 0.5 * (a + d) + np.sqrt((half * half + b * c).astype(complex))
    mu = lam - d
    r = np.hypot(np.abs(mu), np.abs(c))
    cs = mu / r
    sn = c / r
    # As scipy.linalg.rsf2csf: T[rows] = g @ T[rows], T[:, cols] = T[:, cols] @ g^H,
    # g = [[conj(cs), sn], [-sn, cs]], for all (disjoint) pairs at once.
    g00, g01, g10, g11 = np.conj(cs), sn + 0j, -sn + 0j, cs
    R0, R1 = Tc[j0, :].copy(), Tc[j1, :].copy()
    Tc[j0, :] = g00[:, None] * R0 + g01[:, None] * R1
    Tc[j1, :] = g10[:, None] * R0 + g11[:, None] * R1
    C0, C1 = Tc[:, j0].copy(), Tc[:, j1].copy()
    Tc[:, j0] = C0 * np.conj(g00)[None, :] + C1 * np.conj(g01)[None, :]
    Tc[:, j1] = C0 * np.conj(g10)[None, :] + C1 * np.conj(g11)[None, :]
    Tc = np.asfortranarray(np.triu(Tc))
    for k, j in enumerate(pairs):
        gk = np.array([[g00[k], g01[k]], [g10[k], g11[k]]])
        G[j] = gk.conj().T  # T_c = g T g^H, so the block of Q is g^H
    return Tc, G


def schur_data(A: np.ndarray) -> SchurData:
    """The Schur data of `A` (no decomposition when `A` is diagonal)."""
    n = A.shape[0]
    if np.count_nonzero(A - np.diag(np.diag(A))) == 0:
        T = np.asfortranarray(np.diag(np.diag(A)))
        return SchurData(None, T, T.astype(complex), [(j, 1) for j in range(n)], {}, True)
    T, Z = sla.schur(A, output="real", check_finite=False)
    T = np.asfortranarray(T)
    blocks = quasi_blocks(T)
    Tc, G = complexify(T, blocks)
    return SchurData(Z, T, Tc, blocks, G, False)


def reversed_transpose(sd: SchurData) -> SchurData:
    """Schur data of `P T^T P` (P the reversal), which carries the observability equation."""
    n = sd.n
    T = np.asfortranarray(sd.T.T[::-1, ::-1])
    Tc = np.asfortranarray(sd.Tc.T[::-1, ::-1])
    blocks = [(n - j - s, s) for j, s in reversed(sd.blocks)]
    P2 = np.array([[0.0, 1.0], [1.0, 0.0]])
    G = {n - j - 2: P2 @ g.conj() @ P2 for j, g in sd.G.items()}
    return SchurData(None, T, Tc, blocks, G, sd.diagonal)


class QBasis:
    """Apply `Q^H` / `Q` (2x2 rotations at the complex-pair rows) to leading rows.

    `(Q^H x)_i = dh_i x_i + oh_i x_{partner(i)}`: two multiplications and one gather,
    valid for any leading block that does not split a pair.
    """

    def __init__(self, sd: SchurData) -> None:
        n = sd.n
        self.trivial = not sd.G
        self.partner = np.arange(n)
        d = np.ones(n, dtype=complex)
        o = np.zeros(n, dtype=complex)
        dh = np.ones(n, dtype=complex)
        oh = np.zeros(n, dtype=complex)
        for j, g in sd.G.items():
            self.partner[j], self.partner[j + 1] = j + 1, j
            gh = g.conj().T
            d[j], o[j], o[j + 1], d[j + 1] = g[0, 0], g[0, 1], g[1, 0], g[1, 1]
            dh[j], oh[j], oh[j + 1], dh[j + 1] = gh[0, 0], gh[0, 1], gh[1, 0], gh[1, 1]
        self.d, self.o, self.dh, self.oh = d, o, dh, oh

    def qh(self, k: int, X: np.ndarray) -> np.ndarray:
        """`Q1^H X` for the leading `k` rows (complex)."""
        return self._apply(self.dh, self.oh, k, X)

    def q(self, k: int, Y: np.ndarray) -> np.ndarray:
        """`Q1 Y` (complex)."""
        return self._apply(self.d, self.o, k, Y)

    def _apply(self, d: np.ndarray, o: np.ndarray, k: int, X: np.ndarray) -> np.ndarray:
        if self.trivial:
            return X
        if X.ndim == 1:
            return d[:k] * X + o[:k] * X[self.partner[:k]]
        return d[:k, None] * X + o[:k, None] * X[self.partner[:k]]


def poles_from_schur(sd: SchurData) -> np.ndarray:
    """The eigenvalues of `A` (complex), read off the diagonal of its Schur form."""
    return np.diag(sd.Tc).copy() if sd.G else np.diag(sd.T).astype(complex)


def stable_schur(A: np.ndarray, *, discrete: bool, what: str) -> tuple[SchurData, np.ndarray]:
    """Schur data and poles of `A`, or the stability error for `what` if a pole is unstable."""
    sd = schur_data(A)
    poles = poles_from_schur(sd)
    require_stable(what, poles, discrete=discrete, n=A.shape[0])
    return sd, poles
