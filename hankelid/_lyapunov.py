r"""Square-root factors of the Lyapunov and Stein equations on a real Schur form.

Continuous time solves ``T X + X T^T + B B^T = 0``, discrete time ``T X T^T - X + B B^T = 0``
for the quasi-triangular ``T`` of ``A = Z T Z^T``, with ``X = U U^T`` computed *directly*:

* [`hammarling`][hankelid._lyapunov.hammarling] -- Hammarling's method, block column by block
  column (1x1 blocks for real poles, 2x2 blocks for complex pairs, all bookkeeping in real
  arithmetic); the shifted quasi-triangular solves are triangular solves with the complex
  Schur form (one BLAS ``?trsv`` call each, [`TriangularSolver`][hankelid._blas.TriangularSolver]),
  so a factor costs \(O(n^3)\) flops with \(O(n)\) Python-level steps;
* [`squared_smith`][hankelid._lyapunov.squared_smith] -- the squared Smith iteration with a
  QR compression per step, used in discrete time when a complex pair has a tiny modulus
  (where Hammarling's 2x2 step loses accuracy);
* [`factors_from_schur`][hankelid._lyapunov.factors_from_schur] chooses between them and
  returns both factors of a system in Schur coordinates.

The Gramian is never formed and then factored, which would lose the small Hankel singular
values (an absolute error of about ``sqrt(eps)`` of the largest one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._blas import TriangularSolver
from ._factors import thin_factor
from ._schur import QBasis, SchurData, reversed_transpose, stable_schur
from .systems import StateSpace

__all__ = [
    "TINY_PAIR",
    "ExactFactors",
    "exact_factors",
    "factors_from_schur",
    "hammarling",
    "has_tiny_pair",
    "squared_smith",
]


def _apply_complement(Z: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``Z @ V_perp``: ``V`` has s orthonormal columns; ``V_perp`` completes them.

    Householder reflectors, so the cost is O(rows * cols) per reflector.  Works for real
    and complex data.
    """
    cplx = np.iscomplexobj(Z) or np.iscomplexobj(V)
    dtype = complex if cplx else float
    Z = np.array(Z, dtype=dtype)
    V = np.array(V, dtype=dtype)
    s = V.shape[1]
    for i in range(s):
        x = V[i:, i]
        alpha = np.linalg.norm(x)
        if alpha == 0.0:
            continue
        x0 = x[0]
        phase = x0 / abs(x0) if x0 != 0 else 1.0
        h = x.copy()
        h[0] += phase * alpha
        hh = float(np.vdot(h, h).real)
        if hh == 0.0:
            continue
        # H = I - 2 h h^H / hh (Hermitian, unitary); from the right to Z, the left to V.
        Z[:, i:] -= (2.0 / hh) * np.outer(Z[:, i:] @ h, h.conj())
        V[i:, i:] -= (2.0 / hh) * np.outer(h, h.conj() @ V[i:, i:])
    return Z[:, s:]


def _step_1x1(tau: float, b: np.ndarray, discrete: bool) -> tuple[float, np.ndarray]:
    nb = float(np.linalg.norm(b))
    den = (1.0 - tau * tau) if discrete else (-2.0 * tau)
    if nb == 0.0:
        return 0.0, np.zeros_like(b)
    root = np.sqrt(den)
    return nb / root, b * (root / nb)


def _mini_2x2(Tc22: np.ndarray, bc: np.ndarray, discrete: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complex Hammarling on a 2x2 triangular block: ``U`` (upper), ``M = U^{-1} B``, ``S``.

    Continuous: ``T X + X T^H + B B^H = 0``; discrete: ``T X T^H - X + B B^H = 0``,
    ``X = U U^H``.  ``S = U^{-1} T U`` is obtained without inverting ``U``, from
    ``S + S^H = -M M^H`` (continuous) or ``S S^H + M M^H = I`` (discrete).
    """
    l1, t, l2 = Tc22[0, 0], Tc22[0, 1], Tc22[1, 1]
    m = bc.shape[1]

    def den(lam: complex) -> float:
        return (1.0 - abs(lam) ** 2) if discrete else (-2.0 * lam.real)

    b2 = bc[1]
    n2 = float(np.linalg.norm(b2))
    if n2 > 0:
        u2 = n2 / np.sqrt(den(l2))
        M2 = b2 * (np.sqrt(den(l2)) / n2)
    else:
        u2, M2 = 0.0, np.zeros(m, dtype=complex)
    if not discrete:
        u = -(t * u2 + bc[0] @ M2.conj()) / (l1 + np.conj(l2))
        b1 = bc[0] - u * M2
    else:
        u = (np.conj(l2) * t * u2 + bc[0] @ M2.conj()) / (1.0 - np.conj(l2) * l1)
        w = l1 * u + t * u2
        v = np.concatenate([[np.conj(l2)], M2.conj()])[:, None]
        b1 = _apply_complement(np.concatenate([[w], bc[0]])[None, :], v)[0]
    n1 = float(np.linalg.norm(b1))
    if n1 > 0:
        u1 = n1 / np.sqrt(den(l1))
        # M = U^{-1} B row by row.  (In discrete time ``b1`` is only determined up to a
        # unitary change of basis of the input space, so M1 must come from B itself.)
        M1 = (bc[0] - u * M2) / u1 if discrete else b1 * (np.sqrt(den(l1)) / n1)
    else:
        u1, M1 = 0.0, np.zeros(m, dtype=complex)
    U = np.array([[u1, u], [0.0, u2]], dtype=complex)
    M = np.vstack([M1, M2])
    MM = M @ M.conj().T
    if not discrete:
        s01 = -MM[0, 1]
    else:
        # Two exact expressions for S[0,1]: from S S^H + M M^H = I (divides by l2) and from
        # S = U^{-1} T U (divides by u1).  Each is ill-conditioned when its divisor is small,
        # so use the one whose rounding error estimate is smaller (measured: 1e-14 instead of
        # 1e-12 relative Gramian error for a pair with |l2| = 1e-2).
        err_identity = float(np.linalg.norm(M) ** 2) / max(abs(l2), np.finfo(float).tiny)
        err_direct = (abs(l1 * u) + abs(t * u2) + abs(u * l2)) / max(abs(u1), np.finfo(float).tiny)
        if err_identity <= err_direct:
            s01 = -MM[0, 1] / np.conj(l2)
        else:
            s01 = (l1 * u + t * u2 - u * l2) / u1
    S = np.array([[l1, s01], [0.0, l2]], dtype=complex)
    return U, M, S


def _realify_2x2(G: np.ndarray, Uc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unitary ``W`` with ``G Uc W`` real upper triangular; returns ``(U22, W)``."""
    F = G @ Uc
    r1 = F[1]
    nr1 = np.linalg.norm(r1)
    if nr1 > 0:
        w2 = r1.conj() / nr1
        w1 = np.array([r1[1], -r1[0]]) / nr1
    else:
        w1 = np.array([1.0, 0.0], dtype=complex)
        w2 = np.array([0.0, 1.0], dtype=complex)
    d0 = F[0] @ w1
    if d0 != 0:
        w1 = w1 * (np.conj(d0) / abs(d0))
    W = np.column_stack([w1, w2])
    return (F @ W).real, W


def hammarling(sd: SchurData, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Square-root factor ``U`` (real, upper triangular) with ``X = U U^T`` solving

    ``T X + X T^T + B B^T = 0`` (continuous) or ``T X T^T - X + B B^T = 0`` (discrete)
    for the real quasi-triangular ``T`` of ``sd``.  All bookkeeping is real, as in
    Hammarling's algorithm; only the shifted solves use the complex form ``Tc``.
    """
    n = sd.n
    # Without complex pairs the real Schur form is triangular: solve with it directly.
    solver = TriangularSolver(sd.Tc if sd.G else sd.T, diagonal=sd.diagonal)
    qb = QBasis(sd)
    T = sd.T
    B = np.array(B, dtype=float, order="C")
    U = np.zeros((n, n), order="F")

    def solve(j: int, sigma: complex, r: np.ndarray) -> np.ndarray:  # real r, real shift
        y = solver.solve(j, sigma, qb.qh(j, r))
        return qb.q(j, y).real

    def solve_scaled(j: int, lam: float, r: np.ndarray) -> np.ndarray:
        y = solver.solve_scaled(j, lam, qb.qh(j, r))
        return qb.q(j, y).real

    for j, s in reversed(sd.blocks):
        e = j + s
        if s == 1:
            tau = float(T[j, j])
            ups, Mrow = _step_1x1(tau, B[j], discrete)
            U[j, j] = ups
            if j == 0:
                break
            T12 = T[:j, j]
            if not discrete:
                u = solve(j, tau, -(T12 * ups + B[:j] @ Mrow))
                B[:j] -= np.outer(u, Mrow)
            else:
                u = solve_scaled(j, tau, T12 * (ups * tau) + B[:j] @ Mrow)
                w = T[:j, :j] @ u + T12 * ups
                V = np.concatenate([[tau], Mrow])[:, None]
                B[:j] = _apply_complement(np.column_stack([w, B[:j]]), V)
            U[:j, j] = u
            continue
        # ---- 2x2 block (complex-conjugate pair), G^H T22 G = Tc22 upper triangular
        G = sd.G[j]
        Uc, Mc, Sc = _mini_2x2(sd.Tc[j:e, j:e], G.conj().T @ B[j:e], discrete)
        U22, W = _realify_2x2(G, Uc)
        M = (W.conj().T @ Mc).real  # = U22^{-1} B2
        S = (W.conj().T @ Sc @ W).real  # = U22^{-1} T22 U22
        U[j:e, j:e] = U22
        if j == 0:
            break
        T12U = T[:j, j:e] @ U22
        # With S^T = W^T Sc^T conj(W): the unknown Y = Q1^H U12 W^T solves a triangular
        # Sylvester equation with Sc^T (lower triangular): two shifted solves.
        if not discrete:
            R = -(T12U + B[:j] @ M.T)
            Rh = qb.qh(j, R) @ W.T
            y2 = solver.solve(j, Sc[1, 1], Rh[:, 1])
            y1 = solver.solve(j, Sc[0, 0], Rh[:, 0] - Sc[0, 1] * y2)
            U12 = qb.q(j, np.column_stack([y1, y2]) @ W.conj()).real
            B[:j] -= U12 @ M
        else:
            R = T12U @ S.T + B[:j] @ M.T
            Rh = qb.qh(j, R) @ W.T
            y2 = solver.solve_scaled(j, Sc[1, 1], Rh[:, 1])
            y1 = solver.solve_scaled(j, Sc[0, 0], Rh[:, 0] + Sc[0, 1] * solver.matvec(j, y2))
            U12 = qb.q(j, np.column_stack([y1, y2]) @ W.conj()).real
            Wd = T[:j, :j] @ U12 + T12U
            V = np.vstack([S.T, M.T])
            B[:j] = _apply_complement(np.hstack([Wd, B[:j]]), V)
        U[:j, j:e] = U12
    return U


# Hammarling's discrete-time 2x2 step loses about eps/|lambda| relative accuracy for a
# complex pair of tiny modulus (measured: 1e-8 at |lambda| = 1e-8, O(1) at 1e-18, which is
# what zero-order hold of a stiff system produces as rounding noise).  Below this modulus
# the factor comes from the squared Smith iteration instead.
TINY_PAIR = 1e-3


def has_tiny_pair(sd: SchurData) -> bool:
    """Whether the Schur form has a complex pair of modulus below ``TINY_PAIR``."""
    return any(abs(sd.Tc[j, j]) < TINY_PAIR for j, s in sd.blocks if s == 2)


def squared_smith(T: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Square-root factor of ``T X T^T - X + B B^T = 0`` by the squared Smith iteration.

    ``X = sum_k T^k B B^T T^{kT}``, accumulated as ``F <- [F, P F]``, ``P <- P^2`` with the
    columns compressed by a QR factorization at every step: orthogonal transformations keep
    ``F F^T`` exact, so no Gramian is formed and small singular values keep their accuracy.
    """
    n = T.shape[0]
    F = thin_factor(np.array(B, dtype=float))
    P = np.array(T, dtype=float)
    for _ in range(64):
        PF = P @ F
        if np.linalg.norm(PF) <= np.finfo(float).eps * np.linalg.norm(F):
            break
        F = thin_factor(np.hstack([F, PF]))
        P = P @ P
    out = np.zeros((n, n))
    out[:, : F.shape[1]] = F
    return out


def factors_from_schur(
    sys: StateSpace, sd: SchurData, kinds: str = "co"
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Factors in *Schur coordinates*: ``Wc = Z Uc Uc^T Z^T``, ``Wo = Z Uo Uo^T Z^T``."""
    _, B, C, _ = sys.matrices
    Z = sd.Z
    disc = sys.is_discrete
    Uc = Uo = None
    if disc and has_tiny_pair(sd):
        if "c" in kinds:
            Uc = squared_smith(sd.T, B if Z is None else Z.T @ B)
        if "o" in kinds:
            Uo = squared_smith(sd.T.T, (C if Z is None else C @ Z).T)
        return Uc, Uo
    if "c" in kinds:
        Bs = B if Z is None else Z.T @ B
        Uc = hammarling(sd, thin_factor(Bs), disc)
    if "o" in kinds:
        Cs = C if Z is None else C @ Z
        sdr = reversed_transpose(sd)
        Ur = hammarling(sdr, thin_factor(Cs[:, ::-1].T), disc)
        Uo = np.ascontiguousarray(Ur[::-1])
    return Uc, Uo


@dataclass
class ExactFactors:
    """``Lc = Z Uc``, ``Lo = Z Uo`` kept in Schur coordinates (``Z = None``: identity)."""

    Z: np.ndarray | None
    Uc: np.ndarray
    Uo: np.ndarray

    @property
    def Lc(self) -> np.ndarray:
        return self.Uc if self.Z is None else self.Z @ self.Uc

    @property
    def Lo(self) -> np.ndarray:
        return self.Uo if self.Z is None else self.Z @ self.Uo


def exact_factors(sys: StateSpace, what: str) -> ExactFactors:
    """Schur form, stability check from its eigenvalues, and both factors."""
    sd, _ = stable_schur(sys.A, discrete=sys.is_discrete, what=what)
    Uc, Uo = factors_from_schur(sys, sd)
    assert Uc is not None and Uo is not None
    return ExactFactors(sd.Z, Uc, Uo)
