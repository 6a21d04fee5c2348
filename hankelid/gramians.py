r"""Exact Gramians, their square-root factors and Hankel singular values.

Continuous time (``dt=None``) solves the Lyapunov equations

.. math:: A W_c + W_c A^T + B B^T = 0, \qquad A^T W_o + W_o A + C^T C = 0,

discrete time (``dt > 0``) the Stein equations

.. math:: A W_c A^T - W_c + B B^T = 0, \qquad A^T W_o A - W_o + C^T C = 0.

The square-root factors ``W = L L^T`` are computed *directly* by Hammarling's method on a
single real Schur form ``A = Z T Z^T`` shared by both Gramians; the Gramian itself is never
formed and then factored, which would lose the small Hankel singular values (an absolute
error of about ``sqrt(eps)`` of the largest one).  Hammarling's recursion runs block column
by block column (1x1 blocks for real poles, 2x2 blocks for complex pairs, all in real
arithmetic); the shifted quasi-triangular solves it needs are done as triangular solves
with the complex Schur form (one BLAS ``ztrsv`` call each), so the whole factor costs
``O(n^3)`` flops with ``O(n)`` Python-level steps.

For a diagonal ``A`` no Schur form is needed: the solves become divisions and the
Gramians have the closed forms ``(BB^T)_{ij} / (1 - a_i a_j)`` (discrete) and
``-(BB^T)_{ij} / (a_i + a_j)`` (continuous).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from ._lyapunov_blocked import factor_from_schur, factored_residual
from ._validation import UnstableSystemError
from .systems import StateSpace, _as_state_space

__all__ = ["gramian", "gramian_factors", "hsv", "hsv_from_factors"]

_EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------- BLAS access
# Hammarling's recursion needs one shifted triangular solve with a *leading principal
# block* of the (complex) Schur form per step.  SciPy's f2py wrappers cannot address a
# sub-block without copying it, so where possible the BLAS routines are called through
# SciPy's public Cython BLAS table (scipy.linalg.cython_blas) with an explicit leading
# dimension.  If that is unavailable the code falls back to copying the block.
class _BlasHandles:
    def __init__(self) -> None:
        self.ztrsv: Any = None
        self.ztrmv: Any = None
        self.ok = False
        try:
            self._load()
        except Exception:  # pragma: no cover - depends on the SciPy build
            self.ok = False

    def _load(self) -> None:
        import ctypes

        from scipy.linalg import cython_blas

        api = ctypes.pythonapi
        api.PyCapsule_GetName.restype = ctypes.c_char_p
        api.PyCapsule_GetName.argtypes = [ctypes.py_object]
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        proto = ctypes.CFUNCTYPE(
            None,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
        )

        def fetch(name: str) -> Any:
            cap = cython_blas.__pyx_capi__[name]
            sig = api.PyCapsule_GetName(cap)
            if b"int *" not in sig:  # only the LP64 (32-bit int) interface is handled
                raise RuntimeError(f"unexpected BLAS signature {sig!r}")
            return proto(api.PyCapsule_GetPointer(cap, sig))

        self.ztrsv = fetch("ztrsv")
        self.ztrmv = fetch("ztrmv")
        self.dtrsv = fetch("dtrsv")
        self.dtrmv = fetch("dtrmv")
        self._c_int = ctypes.c_int
        self._byref = ctypes.byref
        # Self-test on a small system whose leading block is solved in place.
        rng = np.random.default_rng(0)
        T = np.asfortranarray(np.triu(rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5))))
        T += 4 * np.eye(5)
        x = rng.standard_normal(3) + 1j * rng.standard_normal(3)
        y = x.copy()
        self.ok = True
        self.trsv(T, 3, y)
        ref = np.linalg.solve(T[:3, :3], x)
        z = ref.copy()
        self.trmv(T, 3, z)
        ok = np.allclose(y, ref, rtol=1e-12, atol=1e-12) and np.allclose(z, x, rtol=1e-12)
        Tr = np.asfortranarray(T.real)
        xr = x.real.copy()
        yr = xr.copy()
        self.trsv(Tr, 3, yr)
        refr = np.linalg.solve(Tr[:3, :3], xr)
        zr = refr.copy()
        self.trmv(Tr, 3, zr)
        ok = ok and np.allclose(yr, refr, rtol=1e-12, atol=1e-12) and np.allclose(zr, xr, rtol=1e-12)
        self.ok = bool(ok)

    def _call(self, fn: Any, T: np.ndarray, k: int, y: np.ndarray) -> None:
        assert T.flags.f_contiguous and y.flags.c_contiguous and T.dtype == y.dtype
        kk = self._c_int(k)
        ld = self._c_int(T.shape[0])
        one = self._c_int(1)
        fn(b"U", b"N", b"N", self._byref(kk), T.ctypes.data, self._byref(ld), y.ctypes.data, self._byref(one))

    def trsv(self, T: np.ndarray, k: int, y: np.ndarray) -> None:
        """In place: ``y <- T[:k, :k]^{-1} y`` for upper triangular F-ordered ``T``."""
        self._call(self.ztrsv if T.dtype == complex else self.dtrsv, T, k, y)

    def trmv(self, T: np.ndarray, k: int, y: np.ndarray) -> None:
        """In place: ``y <- T[:k, :k] y``."""
        self._call(self.ztrmv if T.dtype == complex else self.dtrmv, T, k, y)


_BLAS: _BlasHandles | None = None


def _blas() -> _BlasHandles:
    global _BLAS
    if _BLAS is None:
        _BLAS = _BlasHandles()
    return _BLAS


class _TriangularSolver:
    """Shifted solves ``(T[:k,:k] + sigma I) y = c`` with an upper triangular ``T``.

    ``T`` is complex, or real when the Schur form has no complex pairs (then only real
    shifts occur and the cheaper real BLAS routines are used).
    """

    def __init__(self, T: np.ndarray, *, diagonal: bool) -> None:
        dtype = float if not np.iscomplexobj(T) else complex
        self.T = np.asfortranarray(T, dtype=dtype)
        self.dtype = dtype
        self.n = self.T.shape[0]
        self.d = np.diag(self.T).copy()
        self.diagonal = diagonal
        blas = _blas()
        self.blas = blas if blas.ok else None
        if not diagonal and self.blas is not None:
            # A writable view of the diagonal of the F-ordered array.
            self._dview = self.T.reshape(-1, order="F")[:: self.n + 1]
            assert np.shares_memory(self._dview, self.T)
            self._prepare_blas()

    def _prepare_blas(self) -> None:
        """Pre-resolve everything a BLAS call needs, so each solve is one foreign call."""
        import ctypes

        blas = self.blas
        assert blas is not None
        cplx = self.dtype is complex
        self._trsv = blas.ztrsv if cplx else blas.dtrsv
        self._trmv = blas.ztrmv if cplx else blas.dtrmv
        self._buf = np.zeros(self.n, dtype=self.dtype)
        self._buf_ptr = self._buf.ctypes.data
        self._T_ptr = self.T.ctypes.data
        self._k = ctypes.c_int(0)
        self._ld = ctypes.c_int(self.n)
        self._one = ctypes.c_int(1)
        self._kref = ctypes.byref(self._k)
        self._ldref = ctypes.byref(self._ld)
        self._oneref = ctypes.byref(self._one)

    def solve(self, k: int, sigma: complex, c: np.ndarray) -> np.ndarray:
        if self.diagonal:
            return c / (self.d[:k] + sigma)
        if self.blas is not None:
            buf = self._buf
            buf[:k] = c
            dv = self._dview
            dv[:k] += sigma
            self._k.value = k
            try:
                self._trsv(
                    b"U", b"N", b"N", self._kref, self._T_ptr, self._ldref, self._buf_ptr, self._oneref
                )
            finally:
                dv[:k] = self.d[:k]
            return buf[:k].copy()
        M = np.array(self.T[:k, :k], order="F", dtype=np.result_type(self.T, sigma))
        M.flat[:: k + 1] += sigma
        return sla.solve_triangular(M, c, check_finite=False)

    def solve_scaled(self, k: int, lam: complex, c: np.ndarray) -> np.ndarray:
        """Solve ``(I - lam T[:k,:k]) y = c`` (the discrete-time Stein step)."""
        if lam == 0:
            return np.array(c, dtype=self.dtype)
        if self.diagonal:
            return c / (1.0 - lam * self.d[:k])
        if abs(lam) < 1e-150:  # (I - lam T) = I to working precision
            return np.array(c, dtype=self.dtype)
        # I - lam T = -lam (T - I/lam)
        return self.solve(k, -1.0 / lam, c) * (-1.0 / lam)

    def matvec(self, k: int, y: np.ndarray) -> np.ndarray:
        if self.diagonal:
            return self.d[:k] * y
        if self.blas is not None:
            buf = self._buf
            buf[:k] = y
            self._k.value = k
            self._trmv(b"U", b"N", b"N", self._kref, self._T_ptr, self._ldref, self._buf_ptr, self._oneref)
            return buf[:k].copy()
        return self.T[:k, :k] @ y


# ----------------------------------------------------------------------------- Schur data
@dataclass
class _SchurData:
    """One real Schur form ``A = Z T Z^T`` and the unitary that makes it triangular.

    ``Tc = Q^H T Q`` is complex upper triangular; ``Q`` is block diagonal with a 2x2
    unitary block ``G[j]`` at each complex-pair block ``(j, j+1)`` of ``T`` and ones
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


def _quasi_blocks(T: np.ndarray) -> list[tuple[int, int]]:
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


def _complexify(T: np.ndarray, blocks: list[tuple[int, int]]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Complex Schur form ``Tc = Q^H T Q`` from a real one (vectorized ``rsf2csf``)."""
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


def _schur_data(A: np.ndarray) -> _SchurData:
    n = A.shape[0]
    if np.count_nonzero(A - np.diag(np.diag(A))) == 0:
        T = np.asfortranarray(np.diag(np.diag(A)))
        return _SchurData(None, T, T.astype(complex), [(j, 1) for j in range(n)], {}, True)
    T, Z = sla.schur(A, output="real", check_finite=False)
    T = np.asfortranarray(T)
    blocks = _quasi_blocks(T)
    Tc, G = _complexify(T, blocks)
    return _SchurData(Z, T, Tc, blocks, G, False)


def _reversed_transpose(sd: _SchurData) -> _SchurData:
    """Schur data of ``P T^T P`` (P the reversal), which carries the observability equation."""
    n = sd.n
    T = np.asfortranarray(sd.T.T[::-1, ::-1])
    Tc = np.asfortranarray(sd.Tc.T[::-1, ::-1])
    blocks = [(n - j - s, s) for j, s in reversed(sd.blocks)]
    P2 = np.array([[0.0, 1.0], [1.0, 0.0]])
    G = {n - j - 2: P2 @ g.conj() @ P2 for j, g in sd.G.items()}
    return _SchurData(None, T, Tc, blocks, G, sd.diagonal)


class _QBasis:
    """Apply ``Q^H`` / ``Q`` (2x2 rotations at the complex-pair rows) to leading rows.

    ``(Q^H x)_i = dh_i x_i + oh_i x_{partner(i)}``: two multiplications and one gather,
    valid for any leading block that does not split a pair.
    """

    def __init__(self, sd: _SchurData) -> None:
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
        """``Q1^H X`` for the leading ``k`` rows (complex)."""
        if self.trivial:
            return X
        if X.ndim == 1:
            return self.dh[:k] * X + self.oh[:k] * X[self.partner[:k]]
        return self.dh[:k, None] * X + self.oh[:k, None] * X[self.partner[:k]]

    def q(self, k: int, Y: np.ndarray) -> np.ndarray:
        """``Q1 Y`` (complex)."""
        if self.trivial:
            return Y
        if Y.ndim == 1:
            return self.d[:k] * Y + self.o[:k] * Y[self.partner[:k]]
        return self.d[:k, None] * Y + self.o[:k, None] * Y[self.partner[:k]]


# ----------------------------------------------------------------------------- Hammarling
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


def _hammarling(sd: _SchurData, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Square-root factor ``U`` (real, upper triangular) with ``X = U U^T`` solving

    ``T X + X T^T + B B^T = 0`` (continuous) or ``T X T^T - X + B B^T = 0`` (discrete)
    for the real quasi-triangular ``T`` of ``sd``.  All bookkeeping is real, as in
    Hammarling's algorithm; only the shifted solves use the complex form ``Tc``.
    """
    n = sd.n
    # Without complex pairs the real Schur form is triangular: solve with it directly.
    solver = _TriangularSolver(sd.Tc if sd.G else sd.T, diagonal=sd.diagonal)
    qb = _QBasis(sd)
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


# ----------------------------------------------------------------------------- public API
def _poles_from_schur(sd: _SchurData) -> np.ndarray:
    return np.diag(sd.Tc).copy() if sd.G else np.diag(sd.T).astype(complex)


def _absolute_offset(poles: np.ndarray, discrete: bool, offset: float) -> float:
    """The stability margin ``offset`` in absolute terms.

    Discrete time: ``offset`` itself (the unit circle sets the scale).  Continuous time:
    ``offset`` times the spectral radius, so that rescaling time (``A -> c A``) does not
    change which poles count as stable -- an absolute 1e-8 would call every pole of
    ``1e-100 * A`` unstable.
    """
    if discrete or poles.size == 0:
        return offset
    return offset * float(np.max(np.abs(poles)))


def _stable_with_offset(poles: np.ndarray, discrete: bool, offset: float = 0.0) -> bool:
    if discrete:
        return bool(np.all(np.abs(poles) < 1.0 - offset))
    return bool(np.all(poles.real < -offset))


def _unstable_error(sys: StateSpace, what: str, poles: np.ndarray) -> UnstableSystemError:
    if sys.is_discrete:
        worst = poles[np.argmax(np.abs(poles))]
        where = f"pole {worst:.4g} with |z| = {abs(worst):.4g} >= 1"
        region = "inside the unit circle |z| < 1"
    else:
        worst = poles[np.argmax(poles.real)]
        where = f"pole {worst:.4g} with Re(s) = {worst.real:.4g} >= 0"
        region = "in the open left half-plane Re(s) < 0"
    domain = "discrete" if sys.is_discrete else "continuous"
    return UnstableSystemError(
        f"{what} needs a stable system (all poles {region}), but this {domain}-time system "
        f"(n={sys.n}) has a {where}; use hsv()/balanced_truncation(), which split off the "
        f"unstable part, or hankelid.decomposition.stable_unstable_split()"
    )


def _compressed(X: np.ndarray, n: int) -> np.ndarray:
    """An ``n x min(n, k)`` matrix with the same ``X X^T`` as the ``n x k`` matrix ``X``."""
    if X.shape[1] <= n:
        return X
    R = sla.qr(X.T, mode="r", check_finite=False)[0]
    return np.ascontiguousarray(R[:n].T)


# Hammarling's discrete-time 2x2 step loses about eps/|lambda| relative accuracy for a
# complex pair of tiny modulus (measured: 1e-8 at |lambda| = 1e-8, O(1) at 1e-18, which is
# what zero-order hold of a stiff system produces as rounding noise).  Below this modulus
# the factor comes from the squared Smith iteration instead.
_TINY_PAIR = 1e-3


def _has_tiny_pair(sd: _SchurData) -> bool:
    return any(abs(sd.Tc[j, j]) < _TINY_PAIR for j, s in sd.blocks if s == 2)


def _squared_smith(T: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Square-root factor of ``T X T^T - X + B B^T = 0`` by the squared Smith iteration.

    ``X = sum_k T^k B B^T T^{kT}``, accumulated as ``F <- [F, P F]``, ``P <- P^2`` with the
    columns compressed by a QR factorization at every step: orthogonal transformations keep
    ``F F^T`` exact, so no Gramian is formed and small singular values keep their accuracy.
    """
    n = T.shape[0]
    F = _compressed(np.array(B, dtype=float), n)
    P = np.array(T, dtype=float)
    for _ in range(64):
        PF = P @ F
        if np.linalg.norm(PF) <= np.finfo(float).eps * np.linalg.norm(F):
            break
        F = _compressed(np.hstack([F, PF]), n)
        P = P @ P
    out = np.zeros((n, n))
    out[:, : F.shape[1]] = F
    return out


#: Relative residual (see `factored_residual`) above which a factor is recomputed by the
#: squared Smith fallback.  Correct factors measure 1e-19..1e-15 up to n = 2000.
_RESIDUAL_RTOL = 1e-11


def _smith_fallback(T: np.ndarray, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Factor by the squared Smith iteration; continuous time through a Cayley map.

    ``T X + X T^T + B B^T = 0`` equals the Stein equation with
    ``A_p = (pI - T)^{-1} (pI + T)``, ``B_p = sqrt(2p) (pI - T)^{-1} B`` for any ``p > 0``;
    ``p`` is the geometric mean of the extreme pole moduli.
    """
    if discrete:
        return _squared_smith(T, B)
    n = T.shape[0]
    mod = np.abs(np.linalg.eigvals(T))
    p = float(np.sqrt(max(mod.min(), np.finfo(float).tiny) * max(mod.max(), np.finfo(float).tiny)))
    lu = sla.lu_factor(p * np.eye(n) - T, check_finite=False)
    Ap = sla.lu_solve(lu, p * np.eye(n) + T, check_finite=False)
    Bp = np.sqrt(2.0 * p) * sla.lu_solve(lu, B, check_finite=False)
    return _squared_smith(Ap, Bp)


def _solve_factor(T: np.ndarray, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Blocked Hammarling factor, checked by its residual; squared Smith when that is large."""
    F = factor_from_schur(T, B, discrete=discrete)
    res = factored_residual(T, F, B, discrete=discrete)
    if res <= _RESIDUAL_RTOL:
        return F
    G = _smith_fallback(T, B, discrete)
    res_g = factored_residual(T, G, B, discrete=discrete)
    if res_g < res:
        F, res = G, res_g
    if res > _RESIDUAL_RTOL:
        warnings.warn(
            f"Gramian factor has relative residual {res:.2e} > {_RESIDUAL_RTOL:.0e} after the squared "
            "Smith fallback; the Lyapunov/Stein equation is ill-conditioned for this system",
            RuntimeWarning,
            stacklevel=3,
        )
    return F


def _factors_from_schur(
    sys: StateSpace, sd: _SchurData, kinds: str = "co"
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Factors in *Schur coordinates*: ``Wc = Z Uc Uc^T Z^T``, ``Wo = Z Uo Uo^T Z^T``."""
    _, B, C, _ = sys.matrices
    n = sys.n
    Z = sd.Z
    disc = sys.is_discrete
    Uc = Uo = None
    if "c" in kinds:
        Bs = B if Z is None else Z.T @ B
        Uc = _solve_factor(sd.T, _compressed(Bs, n), disc)
    if "o" in kinds:
        # P T^T P (P the reversal) is quasi-upper-triangular and carries the dual equation.
        Cs = C if Z is None else C @ Z
        Ur = _solve_factor(np.asfortranarray(sd.T.T[::-1, ::-1]), _compressed(Cs[:, ::-1].T, n), disc)
        Uo = np.ascontiguousarray(Ur[::-1])
    return Uc, Uo


@dataclass
class _ExactFactors:
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


def _exact_factors(sys: StateSpace, what: str) -> _ExactFactors:
    """Schur form, stability check from its eigenvalues, and both factors."""
    sd = _schur_data(sys.A)
    poles = _poles_from_schur(sd)
    if not _stable_with_offset(poles, sys.is_discrete):
        raise _unstable_error(sys, what, poles)
    Uc, Uo = _factors_from_schur(sys, sd)
    assert Uc is not None and Uo is not None
    return _ExactFactors(sd.Z, Uc, Uo)


def gramian_factors(sys: Any) -> tuple[np.ndarray, np.ndarray]:
    """Square-root factors ``(Lc, Lo)`` of both Gramians from one Schur decomposition.

    ``Wc = Lc Lc^T`` and ``Wo = Lo Lo^T``; both are ``n x n``.  Computed directly by
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
    sys = _as_state_space(sys)
    f = _exact_factors(sys, "gramian_factors")
    return f.Lc, f.Lo


def _closed_form_diagonal(a: np.ndarray, F: np.ndarray, discrete: bool) -> np.ndarray:
    FF = F @ F.T
    if discrete:
        return FF / (1.0 - np.outer(a, a))
    return -FF / np.add.outer(a, a)


def gramian(sys: Any, kind: str, *, factor: bool = False) -> np.ndarray:
    r"""Exact controllability (``"c"``) or observability (``"o"``) Gramian.

    Parameters
    ----------
    sys : StateSpace
        A stable system (continuous or discrete time; python-control and scipy systems are
        accepted too).
    kind : {"c", "o"}
        ``"c"``: ``Wc`` with ``A Wc + Wc A^T + B B^T = 0`` (continuous) or
        ``A Wc A^T - Wc + B B^T = 0`` (discrete).  ``"o"``: the dual with ``A^T`` and ``C``.
    factor : bool
        Return a square-root factor ``L`` (``n x n``, ``W = L L^T``, not necessarily
        triangular) computed directly, never by factoring a formed ``W``, instead of ``W``.

    Notes
    -----
    What is guaranteed: the factor comes from Hammarling's method run blockwise on the
    complex Schur form with 1x1 steps only, which stays exact for rank-deficient Gramians
    (repeated poles with few inputs, uncontrollable modes, zero rows of ``B``).  Its
    residual is then checked in factored form (no Gramian formed): when
    \( \|T X + X T^T + B B^T\|_F \) (or the Stein residual) exceeds ``1e-11`` relative to
    the size of its terms, the factor is recomputed by the squared Smith iteration
    (continuous time after a Cayley map), and if that does not meet the tolerance either a
    `RuntimeWarning` names the residual.  A small residual bounds the backward error; the
    forward error is that times the condition number of the equation.

    Returns
    -------
    ndarray, shape (n, n)
        ``W`` (symmetric positive semidefinite) or its factor ``L``.

    Raises
    ------
    ValueError
        If ``kind`` is not ``"c"`` or ``"o"``.
    UnstableSystemError
        If the system is not stable (the Gramian does not exist).

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
    sys = _as_state_space(sys)
    if not isinstance(kind, str) or kind.lower() not in ("c", "o"):
        raise ValueError(f"kind must be 'c' (controllability) or 'o' (observability), got {kind!r}")
    kind = kind.lower()
    if not isinstance(factor, (bool, np.bool_)):
        raise ValueError(f"factor must be True or False, got {factor!r}")
    sd = _schur_data(sys.A)
    poles = _poles_from_schur(sd)
    if not _stable_with_offset(poles, sys.is_discrete):
        raise _unstable_error(sys, "gramian", poles)
    if sd.diagonal and not factor:
        a = np.diag(sys.A)
        F = sys.B if kind == "c" else sys.C.T
        W = _closed_form_diagonal(a, F, sys.is_discrete)
        return 0.5 * (W + W.T)
    Uc, Uo = _factors_from_schur(sys, sd, kinds=kind)
    U = Uc if kind == "c" else Uo
    assert U is not None
    L = U if sd.Z is None else sd.Z @ U
    if factor:
        return L
    W = L @ L.T
    return 0.5 * (W + W.T)


def hsv_from_factors(Lc: np.ndarray, Lo: np.ndarray) -> np.ndarray:
    """Hankel singular values as the singular values of ``Lo^T Lc`` (descending).

    Examples
    --------
    >>> import numpy as np
    >>> from hankelid.gramians import hsv_from_factors
    >>> hsv_from_factors(np.eye(2), np.diag([3.0, 1.0]))
    array([3., 1.])
    """
    s = sla.svd(Lo.T @ Lc, compute_uv=False, check_finite=False, lapack_driver="gesdd")
    return np.sort(np.abs(s))[::-1]


def _check_offset(offset: Any) -> float:
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not np.isfinite(offset):
        raise ValueError(f"offset must be a finite real number >= 0, got {offset!r}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset!r}")
    return float(offset)


def hsv(sys: Any, *, offset: float = 1e-8) -> np.ndarray:
    r"""Hankel singular values, real, nonnegative and in descending order.

    Computed as the singular values of ``Lo^T Lc`` where ``Lc``, ``Lo`` are square-root
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
        Relative stability margin: poles with ``Re(s) >= -offset * rho`` (continuous,
        ``rho`` the spectral radius of ``A``, so the margin scales with the system) or
        ``|z| >= 1 - offset`` (discrete) are treated as unstable.

    Returns
    -------
    ndarray, shape (n,)
        For an unstable system, one ``inf`` per unstable mode followed by the HSVs of the
        stable part (additive decomposition), as MATLAB's ``hsvd`` does.

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
    sys = _as_state_space(sys)
    offset = _check_offset(offset)
    sd = _schur_data(sys.A)
    poles = _poles_from_schur(sd)
    offset = _absolute_offset(poles, sys.is_discrete, offset)
    if _stable_with_offset(poles, sys.is_discrete, offset):
        Uc, Uo = _factors_from_schur(sys, sd)
        assert Uc is not None and Uo is not None
        return hsv_from_factors(Uc, Uo)
    from .decomposition import stable_unstable_split

    split = stable_unstable_split(sys, offset=offset)
    inf = np.full(split.n_unstable, np.inf)
    if split.stable is None:
        return inf
    return np.concatenate([inf, hsv(split.stable, offset=0.0)])
