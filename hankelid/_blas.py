"""Direct BLAS access for the shifted triangular solves of Hammarling's method.

Hammarling's recursion needs one shifted triangular solve with a *leading principal block*
of the (complex) Schur form per step.  SciPy's f2py wrappers cannot address a sub-block
without copying it, so where possible the BLAS routines ``?trsv``/``?trmv`` are called
through SciPy's public Cython BLAS table (``scipy.linalg.cython_blas``) with an explicit
leading dimension; the handles are self-tested on first use.  If that is unavailable the
solver falls back to copying the block.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import scipy.linalg as sla

try:
    from scipy.linalg import cython_blas
except ImportError:  # pragma: no cover - depends on the SciPy build
    cython_blas = None

__all__ = ["BlasHandles", "TriangularSolver", "blas_handles"]


class BlasHandles:
    def __init__(self) -> None:
        self.ztrsv: Any = None
        self.ztrmv: Any = None
        self.ok = False
        try:
            self._load()
        except Exception:  # pragma: no cover - depends on the SciPy build
            self.ok = False

    def _load(self) -> None:
        if cython_blas is None:  # pragma: no cover - depends on the SciPy build
            raise RuntimeError("scipy.linalg.cython_blas is unavailable")
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
        ok = True
        for Tk, xk in ((T, x), (np.asfortranarray(T.real), x.real.copy())):  # complex, then real
            y = xk.copy()
            self.trsv(Tk, 3, y)
            ref = np.linalg.solve(Tk[:3, :3], xk)
            z = ref.copy()
            self.trmv(Tk, 3, z)
            ok = ok and np.allclose(y, ref, rtol=1e-12, atol=1e-12) and np.allclose(z, xk, rtol=1e-12)
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


_BLAS: BlasHandles | None = None


def blas_handles() -> BlasHandles:
    """The process-wide BLAS handles, loaded (and self-tested) on first use."""
    global _BLAS
    if _BLAS is None:
        _BLAS = BlasHandles()
    return _BLAS


class TriangularSolver:
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
        blas = blas_handles()
        self.blas = blas if blas.ok else None
        if not diagonal and self.blas is not None:
            # A writable view of the diagonal of the F-ordered array.
            self._dview = self.T.reshape(-1, order="F")[:: self.n + 1]
            assert np.shares_memory(self._dview, self.T)
            self._prepare_blas()

    def _prepare_blas(self) -> None:
        """Pre-resolve everything a BLAS call needs, so each solve is one foreign call."""
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
