"""Linear time-invariant state-space systems in continuous and discrete time.

`StateSpace` is immutable: its matrices are read-only copies, and every transformation
(`c2d`, `d2c`, `with_D` ...) returns a new system.  Continuous time has `dt=None`;
discrete time has a positive sampling time `dt` -- a discrete system is never silently
treated as a continuous one.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np
import scipy.linalg as sla

from ._krylov import krylov_blocks
from ._stability import is_stable
from ._validation import as_array, as_real_matrix, check_count, check_dt

__all__ = [
    "StateSpace",
    "as_state_space",
    "c2d",
    "d2c",
    "from_control",
    "from_scipy",
    "impulse",
    "load",
    "markov_parameters",
    "random_stable",
]


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


class StateSpace:
    r"""A real LTI system `x' = A x + B u`, `y = C x + D u`.

    `x'` is \(\dot x(t)\) in continuous time (`dt=None`) and \(x_{k+1}\) in
    discrete time (`dt > 0`).

    Parameters
    ----------
    A : array_like, shape (n, n)
        State matrix.
    B : array_like, shape (n, m)
        Input matrix; a 1-D array of length `n` is read as a single input column.
    C : array_like, shape (p, n)
        Output matrix; a 1-D array of length `n` is read as a single output row.
    D : array_like, shape (p, m), optional
        Feed-through; `None` means zero.  A scalar is accepted for SISO systems.
    dt : float or None, optional
        `None` for continuous time, a positive sampling time for discrete time.

    Raises
    ------
    ValueError
        If a matrix is not real and finite, if the shapes are inconsistent, if the system
        has zero states, inputs or outputs, or if `dt` is not `None` or positive.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[0.5, 0.1], [0.0, 0.2]], [[1.0], [1.0]], [[1.0, 0.0]], dt=1.0)
    >>> sys.n, sys.m, sys.p, sys.is_discrete
    (2, 1, 1, True)
    >>> sys.is_stable()
    True
    >>> sys.A[0, 0] = 3.0
    Traceback (most recent call last):
    ...
    ValueError: assignment destination is read-only
    """

    __slots__ = ("_A", "_B", "_C", "_D", "_dt")

    def __init__(
        self,
        A: Any,
        B: Any,
        C: Any,
        D: Any = None,
        dt: float | None = None,
    ) -> None:
        A = as_real_matrix(A, "A")
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got shape {A.shape}")
        n = A.shape[0]
        if n == 0:
            raise ValueError("the system has zero states (A is 0x0); zero-size systems are not supported")
        B = as_array(B, "B")
        if np.ndim(B) == 1:
            B = np.reshape(B, (-1, 1))
        B = as_real_matrix(B, "B")
        C = as_array(C, "C")
        if np.ndim(C) == 1:
            C = np.reshape(C, (1, -1))
        C = as_real_matrix(C, "C")
        if B.shape[0] != n:
            raise ValueError(f"B must have n={n} rows to match A {A.shape}, got shape {B.shape}")
        if C.shape[1] != n:
            raise ValueError(f"C must have n={n} columns to match A {A.shape}, got shape {C.shape}")
        m, p = B.shape[1], C.shape[0]
        if m == 0 or p == 0:
            raise ValueError(f"the system must have at least one input and one output, got m={m}, p={p}")
        if D is None:
            D = np.zeros((p, m))
        else:
            D_arr = as_array(D, "D")
            if D_arr.ndim == 0 or (D_arr.ndim == 1 and (p == 1 or m == 1) and D_arr.size == p * m):
                D_arr = np.reshape(D_arr, (p, m))
            D = as_real_matrix(D_arr, "D")
            if D.shape != (p, m):
                raise ValueError(f"D must have shape (p, m) = {(p, m)}, got shape {D.shape}")
        dt = check_dt(dt)
        self._A = _frozen(A)
        self._B = _frozen(B)
        self._C = _frozen(C)
        self._D = _frozen(D)
        self._dt = dt

    # ------------------------------------------------------------------ attributes
    @property
    def A(self) -> np.ndarray:
        """State matrix, shape (n, n) (read-only)."""
        return self._A

    @property
    def B(self) -> np.ndarray:
        """Input matrix, shape (n, m) (read-only)."""
        return self._B

    @property
    def C(self) -> np.ndarray:
        """Output matrix, shape (p, n) (read-only)."""
        return self._C

    @property
    def D(self) -> np.ndarray:
        """Feed-through matrix, shape (p, m) (read-only)."""
        return self._D

    @property
    def dt(self) -> float | None:
        """Sampling time, or `None` for a continuous-time system."""
        return self._dt

    @property
    def n(self) -> int:
        """Number of states."""
        return self._A.shape[0]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self._B.shape[1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self._C.shape[0]

    @property
    def is_discrete(self) -> bool:
        """`True` for a discrete-time system (`dt` is set)."""
        return self._dt is not None

    @property
    def shape(self) -> tuple[int, int]:
        """`(p, m)`: outputs by inputs, like a transfer matrix."""
        return (self.p, self.m)

    # ------------------------------------------------------------------ dunder
    def __repr__(self) -> str:
        domain = f"dt={self._dt!r}" if self.is_discrete else "continuous"
        return f"StateSpace(n={self.n}, m={self.m}, p={self.p}, {domain})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateSpace):
            return NotImplemented
        return self._dt == other._dt and all(
            np.array_equal(a, b) for a, b in zip(self.matrices, other.matrices)
        )

    __hash__ = None  # type: ignore[assignment]  # equality is by value, arrays are unhashable

    def __iter__(self):
        """Unpack as `A, B, C, D = sys`."""
        return iter(self.matrices)

    @property
    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`(A, B, C, D)`."""
        return (self._A, self._B, self._C, self._D)

    # ------------------------------------------------------------------ arithmetic
    def _check_compatible(self, other: StateSpace, op: str) -> None:
        if self.shape != other.shape:
            raise ValueError(f"cannot {op} systems of shapes {self.shape} and {other.shape}")
        if self.dt != other.dt:
            raise ValueError(f"cannot {op} systems with sampling times {self.dt} and {other.dt}")

    def __add__(self, other: object) -> StateSpace:
        """Parallel connection `G1 + G2` (same inputs, summed outputs)."""
        if not isinstance(other, StateSpace):
            return NotImplemented
        self._check_compatible(other, "add")
        A = sla.block_diag(self._A, other._A)
        B = np.vstack([self._B, other._B])
        C = np.hstack([self._C, other._C])
        return StateSpace(A, B, C, self._D + other._D, self._dt)

    def __neg__(self) -> StateSpace:
        return StateSpace(self._A, self._B, -self._C, -self._D, self._dt)

    def __sub__(self, other: object) -> StateSpace:
        """Difference `G1 - G2`, e.g. the error system of a reduction.

        Examples
        --------
        >>> import hankelid as hk
        >>> sys = hk.random_stable(3, seed=0)
        >>> (sys - sys).n
        6
        """
        if not isinstance(other, StateSpace):
            return NotImplemented
        return self + (-other)

    def __mul__(self, k: object) -> StateSpace:
        """Scale the output by a real scalar `k`."""
        if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
            return NotImplemented
        return StateSpace(self._A, self._B, float(k) * self._C, float(k) * self._D, self._dt)

    __rmul__ = __mul__

    # ------------------------------------------------------------------ analysis
    def poles(self) -> np.ndarray:
        """Eigenvalues of `A` (complex), sorted by decreasing real part / modulus.

        Examples
        --------
        >>> import hankelid as hk
        >>> hk.StateSpace([[-1.0, 0.0], [0.0, -3.0]], [[1.0], [1.0]], [[1.0, 1.0]]).poles()
        array([-1.+0.j, -3.+0.j])
        """
        ev = np.linalg.eigvals(self._A).astype(complex)
        key = np.abs(ev) if self.is_discrete else ev.real
        return ev[np.argsort(-key, kind="stable")]

    def stability_margin(self) -> float:
        """Distance of the slowest pole to the stability boundary (positive when stable).

        Continuous time: `-max Re(lambda)`; discrete time: `1 - max |lambda|`.
        """
        ev = np.linalg.eigvals(self._A)
        if self.is_discrete:
            return float(1.0 - np.max(np.abs(ev)))
        return float(-np.max(ev.real))

    def is_stable(self) -> bool:
        """`True` when every pole is strictly inside the stability region.

        Continuous time: `Re(lambda) < 0`; discrete time: `|lambda| < 1`.
        """
        return is_stable(self.poles(), self.is_discrete)

    def evaluate(self, s: Any) -> np.ndarray:
        """Transfer matrix `C (sI - A)^{-1} B + D` at complex points `s`.

        Parameters
        ----------
        s : complex or array_like of complex
            Laplace variable (continuous) or `z` (discrete).

        Returns
        -------
        ndarray, shape `s.shape + (p, m)`
        """
        s = np.asarray(s, dtype=complex)
        flat = s.reshape(-1)
        out = np.empty((flat.size, self.p, self.m), dtype=complex)
        eye = np.eye(self.n)
        chunk = max(1, int(2**24 // max(1, self.n * self.n)))
        for start in range(0, flat.size, chunk):
            pts = flat[start : start + chunk]
            M = pts[:, None, None] * eye - self._A
            try:
                X = np.linalg.solve(M, np.broadcast_to(self._B, (pts.size, *self._B.shape)))
            except np.linalg.LinAlgError:
                raise ValueError("the transfer function was evaluated at a pole of the system") from None
            out[start : start + chunk] = self._C @ X + self._D
        return out.reshape(*s.shape, self.p, self.m)

    def __call__(self, s: Any) -> np.ndarray:
        return self.evaluate(s)

    def frequency_response(self, w: Any) -> np.ndarray:
        """Frequency response at angular frequencies `w` (rad/s; rad/sample times 1/dt).

        Continuous time evaluates at `s = j w`; discrete time at `z = exp(j w dt)`.

        Returns
        -------
        ndarray, shape `(len(w), p, m)`, complex

        Examples
        --------
        >>> import numpy as np
        >>> import hankelid as hk
        >>> sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])
        >>> np.round(abs(sys.frequency_response([0.0, 1.0])[:, 0, 0]), 4)
        array([1.    , 0.7071])
        """
        w = np.atleast_1d(np.asarray(w, dtype=float))
        if w.ndim != 1:
            raise ValueError(f"w must be a 1-D array of frequencies, got shape {w.shape}")
        pts = np.exp(1j * w * self._dt) if self.is_discrete else 1j * w
        return self.evaluate(pts)

    def dcgain(self) -> np.ndarray:
        """Steady-state gain `G(0)` (continuous) or `G(1)` (discrete), shape (p, m)."""
        return self.evaluate(1.0 if self.is_discrete else 0.0)

    # ------------------------------------------------------------------ transformations
    def transform(self, T: Any, Ti: Any | None = None) -> StateSpace:
        """State transformation `x = T z`: returns `(Ti A T, Ti B, C T, D)`."""
        T = as_real_matrix(T, "T")
        if T.shape != (self.n, self.n):
            raise ValueError(f"T must have shape {(self.n, self.n)}, got {T.shape}")
        if Ti is None:
            try:
                Ti = np.linalg.inv(T)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "T is singular: a state transformation x = T z needs an invertible T"
                ) from None
            if not np.all(np.isfinite(Ti)):
                raise ValueError("T is numerically singular: its inverse overflows")
        else:
            Ti = as_real_matrix(Ti, "Ti")
            if Ti.shape != (self.n, self.n):
                raise ValueError(f"Ti must have shape {(self.n, self.n)}, got {Ti.shape}")
        return StateSpace(Ti @ self._A @ T, Ti @ self._B, self._C @ T, self._D, self._dt)

    def with_D(self, D: Any) -> StateSpace:
        """A copy with a different feed-through matrix."""
        return StateSpace(self._A, self._B, self._C, D, self._dt)

    def c2d(self, dt: float, method: str = "zoh") -> StateSpace:
        """Discretize; see [`hankelid.c2d`][hankelid.systems.c2d]."""
        return c2d(self, dt, method=method)

    def d2c(self, method: str = "tustin") -> StateSpace:
        """Continuous-time equivalent; see [`hankelid.d2c`][hankelid.systems.d2c]."""
        return d2c(self, method=method)

    # ------------------------------------------------------------------ interop
    def to_control(self) -> Any:
        """Convert to a `control.StateSpace` (python-control is an optional dependency).

        Continuous time becomes `dt=0` (python-control's convention), discrete time keeps `dt`.

        Returns
        -------
        control.StateSpace

        Examples
        --------
        >>> import hankelid as hk
        >>> ct = hk.random_stable(3, dt=0.5, seed=0).to_control()
        >>> type(ct).__name__, ct.dt, ct.nstates
        ('StateSpace', 0.5, 3)
        """
        try:
            import control
        except ImportError as exc:  # pragma: no cover - exercised only without the extra
            raise ImportError("to_control() needs python-control: pip install 'hankelid[control]'") from exc
        return control.ss(
            np.array(self._A),
            np.array(self._B),
            np.array(self._C),
            np.array(self._D),
            0 if self._dt is None else self._dt,
        )

    def to_scipy(self) -> Any:
        """Convert to `scipy.signal.StateSpace` (an `lti` or, when discrete, `dlti`)."""
        from scipy import signal

        args = (np.array(self._A), np.array(self._B), np.array(self._C), np.array(self._D))
        if self._dt is None:
            return signal.StateSpace(*args)
        return signal.StateSpace(*args, dt=self._dt)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        """Write `A, B, C, D, dt` to an `.npz` archive at exactly `path` (`dt` NaN: continuous).

        Unlike `numpy.savez`, no `.npz` suffix is appended: the file written is `path`.

        Parameters
        ----------
        path : str or path-like
            The file to write (conventionally ending in `.npz`).
        overwrite : bool, default True
            With `False`, an existing file is left alone and `FileExistsError` is raised.

        Raises
        ------
        ValueError
            If `path` is an existing directory.
        FileExistsError
            If `path` exists and `overwrite` is False.

        Examples
        --------
        >>> import os, tempfile
        >>> import hankelid as hk
        >>> path = os.path.join(tempfile.mkdtemp(), "plant")          # no suffix: written as is
        >>> hk.random_stable(2, dt=1.0, seed=0).save(path)
        >>> os.path.exists(path), os.path.exists(path + ".npz")
        (True, False)
        """
        target = os.fspath(path)
        if os.path.isdir(target):
            raise ValueError(
                f"{target} is a directory; give a file name such as {os.path.join(target, 'system.npz')}"
            )
        if not overwrite and os.path.exists(target):
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        with open(target, "wb") as handle:  # a file object: numpy writes it as named, no suffix added
            np.savez(
                handle,
                A=self._A,
                B=self._B,
                C=self._C,
                D=self._D,
                dt=np.nan if self._dt is None else self._dt,
            )


# ---------------------------------------------------------------------- module functions
def load(path: str | os.PathLike[str]) -> StateSpace:
    """Read a system written by [`StateSpace.save`][hankelid.systems.StateSpace.save] (or any npz with A, B,
    C[, D, dt]).

    Raises
    ------
    ValueError
        If the file is not an `.npz` archive (a `.npy` array, a corrupt file), lacks `A`,
        `B` or `C`, or holds a `dt` that is not one number.
    FileNotFoundError
        If there is no such file.

    Examples
    --------
    >>> import tempfile, os
    >>> import hankelid as hk
    >>> sys = hk.random_stable(3, dt=0.5, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "sys.npz")
    >>> sys.save(path)
    >>> hk.load(path) == sys
    True
    """
    name = os.fspath(path)
    try:
        data = np.load(name, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{name}: not a readable .npz archive ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{name}: a single array ({type(data).__name__}), not an .npz archive of A, B, C[, D, dt]; "
            "write one with StateSpace.save or numpy.savez"
        )
    try:
        with data:
            arrays = {k: data[k] for k in ("A", "B", "C", "D", "dt") if k in data.files}
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{name}: a corrupt .npz archive or unreadable array ({exc})") from None
    missing = [k for k in ("A", "B", "C") if k not in arrays]
    if missing:
        raise ValueError(f"{name} lacks the arrays {missing}; expected A, B, C[, D, dt]")
    dt = None
    if "dt" in arrays:
        raw = arrays["dt"]
        if raw.size != 1 or raw.dtype.kind not in "biuf":
            raise ValueError(
                f"{name}: dt must be one number (NaN or 0: continuous time), got a {raw.dtype} array of "
                f"shape {raw.shape}"
            )
        value = float(raw.reshape(()))
        dt = None if np.isnan(value) or value == 0 else value
    return StateSpace(arrays["A"], arrays["B"], arrays["C"], arrays.get("D"), dt)


def from_control(sys: Any) -> StateSpace:
    """Convert a python-control `StateSpace` (or `TransferFunction`) to hankelid.

    python-control marks continuous time with `dt=0` and an unspecified discrete sampling
    time with `dt=True`; the latter is mapped to `dt=1.0`.

    Parameters
    ----------
    sys : control.StateSpace or control.TransferFunction
        The python-control system.

    Returns
    -------
    StateSpace

    Examples
    --------
    >>> import control
    >>> import hankelid as hk
    >>> hk.from_control(control.ss([[-1.0]], [[1.0]], [[2.0]], [[0.0]]))
    StateSpace(n=1, m=1, p=1, continuous)
    """
    try:
        import control
    except ImportError as exc:  # pragma: no cover
        raise ImportError("from_control() needs python-control: pip install 'hankelid[control]'") from exc
    if not isinstance(sys, control.StateSpace):
        sys = control.ss(sys)
    dt = sys.dt
    if dt is None or dt is False or dt == 0:
        dt = None
    elif dt is True:
        dt = 1.0
    return StateSpace(sys.A, sys.B, sys.C, sys.D, dt)


def from_scipy(sys: Any) -> StateSpace:
    """Convert a `scipy.signal` `lti`/`dlti` system (any representation)."""
    ss = sys.to_ss() if hasattr(sys, "to_ss") else sys
    dt = getattr(ss, "dt", None)
    return StateSpace(ss.A, ss.B, ss.C, ss.D, dt)


def c2d(sys: StateSpace, dt: float, method: str = "zoh") -> StateSpace:
    r"""Discretize a continuous-time system with sampling time `dt`.

    Parameters
    ----------
    sys : StateSpace
        Continuous-time system.
    dt : float
        Positive sampling time.
    method : {"zoh", "tustin"}
        `"zoh"`: zero-order hold, `Ad = exp(A dt)`, `Bd = \int_0^dt exp(A s) ds B`.
        `"tustin"` (alias `"bilinear"`): `s = (2/dt)(z-1)/(z+1)`, which preserves the
        Hankel singular values.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sysd = hk.c2d(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]]), 0.1)
    >>> float(np.round(sysd.A[0, 0], 6)), sysd.dt
    (0.904837, 0.1)
    """
    if sys.is_discrete:
        raise ValueError(f"c2d needs a continuous-time system, got one with dt={sys.dt}")
    dt = check_dt(dt)
    if dt is None:
        raise ValueError("c2d needs a positive sampling time dt, got None")
    if not isinstance(method, str) or method.lower() not in ("zoh", "tustin", "bilinear"):
        raise ValueError(
            f"unknown discretization method {method!r}; use one of 'zoh', 'tustin' (alias 'bilinear')"
        )
    n, m = sys.n, sys.m
    A, B, C, D = sys.matrices
    method = method.lower()
    if method == "zoh":
        M = np.zeros((n + m, n + m))
        M[:n, :n] = A * dt
        M[:n, n:] = B * dt
        E = sla.expm(M)
        return StateSpace(E[:n, :n], E[:n, n:], C, D, dt)
    if method in ("tustin", "bilinear"):
        h = dt / 2.0
        IminusA = np.eye(n) - h * A
        try:
            lu = sla.lu_factor(IminusA, check_finite=False)
        except (ValueError, sla.LinAlgError):
            raise ValueError("tustin discretization failed: A has an eigenvalue at 2/dt") from None
        if np.min(np.abs(np.diag(lu[0]))) <= np.finfo(float).eps * np.abs(lu[0]).max() * n:
            raise ValueError("tustin discretization failed: A has an eigenvalue at 2/dt")
        Ad = sla.lu_solve(lu, np.eye(n) + h * A)
        Bd = sla.lu_solve(lu, B * dt)
        Cd = sla.lu_solve(lu, C.T, trans=1).T
        Dd = D + 0.5 * C @ Bd
        return StateSpace(Ad, Bd, Cd, Dd, dt)
    raise ValueError(f"unknown discretization method {method!r}; use 'zoh' or 'tustin'")


def d2c(sys: StateSpace, method: str = "tustin") -> StateSpace:
    r"""Continuous-time equivalent of a discrete-time system (inverse Tustin map).

    `A = (2/dt)(Ad - I)(Ad + I)^{-1}`; the transfer functions satisfy
    `Gc((2/dt)(z-1)/(z+1)) = Gd(z)`, so the Hankel singular values are equal.

    Raises
    ------
    ValueError
        If `sys` is continuous, or `Ad` has an eigenvalue at -1.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sysc = hk.random_stable(4, seed=1)
    >>> back = hk.d2c(hk.c2d(sysc, 0.1, "tustin"))
    >>> bool(np.allclose(back.frequency_response([0.3]), sysc.frequency_response([0.3])))
    True
    """
    if not sys.is_discrete:
        raise ValueError("d2c needs a discrete-time system, got a continuous one (dt=None)")
    if method.lower() not in ("tustin", "bilinear"):
        raise ValueError(f"unknown method {method!r}; d2c supports 'tustin'")
    n = sys.n
    Ad, Bd, Cd, Dd = sys.matrices
    dt = sys.dt
    assert dt is not None
    P = Ad + np.eye(n)
    if np.min(np.abs(np.linalg.eigvals(P))) <= 1e-12 * max(1.0, np.abs(Ad).max()):
        raise ValueError("d2c (tustin) failed: Ad has an eigenvalue at -1")
    Pinv = np.linalg.inv(P)
    A = (2.0 / dt) * (Ad - np.eye(n)) @ Pinv
    B = (2.0 / dt) * Pinv @ Bd
    C = 2.0 * Cd @ Pinv
    D = Dd - 0.5 * C @ Bd
    return StateSpace(A, B, C, D, None)


def markov_parameters(sys: StateSpace, length: int) -> np.ndarray:
    r"""Markov parameters `h_0 = D`, `h_k = C A^{k-1} B` for `k = 1 .. length-1`.

    For a discrete-time system these are the impulse response.  For a continuous-time
    system they are the coefficients of the expansion of `G(s)` at infinity
    (`G(s) = sum_k h_k s^{-k}`).

    Parameters
    ----------
    sys : StateSpace
        The system (either time domain).
    length : int
        Number of parameters, `h_0` included.

    Returns
    -------
    ndarray, shape (length, p, m)

    Examples
    --------
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[0.5]], [[1.0]], [[2.0]], [[1.0]], dt=1.0)
    >>> hk.markov_parameters(sys, 4)[:, 0, 0]
    array([1. , 2. , 1. , 0.5])
    """
    length = check_count(length, "length")
    A, B, C, D = sys.matrices
    out = np.empty((length, sys.p, sys.m))
    out[0] = D
    if length > 1:
        out[1:] = _sampled_outputs(A, B, C, length - 1)
    return out


def _sampled_outputs(A: np.ndarray, B: np.ndarray, C: np.ndarray, count: int) -> np.ndarray:
    """`C A^k B` for `k < count`, shape `(count, p, m)`.

    One multiplication by `A` per sample (`doubling=False`): repeated squaring would be
    faster but loses accuracy on non-normal `A`.
    """
    return (krylov_blocks(A, B, count, doubling=False) @ C.T).transpose(0, 2, 1)


def impulse(sys: StateSpace, length: int, *, dt: float | None = None) -> np.ndarray:
    r"""Sampled impulse response, shape (length, p, m).

    Discrete time: identical to [`markov_parameters`][hankelid.systems.markov_parameters] (`y_0 = D`).
    Continuous time: `C exp(A t_k) B` at `t_k = k * dt` (`dt` required; the
    `D delta(t)` term is not sampled).
    """
    if sys.is_discrete:
        return markov_parameters(sys, length)
    dt = check_dt(dt)
    if dt is None:
        raise ValueError("impulse() of a continuous-time system needs the sample spacing dt")
    length = check_count(length, "length")
    return _sampled_outputs(sla.expm(sys.A * dt), sys.B, sys.C, length)


def random_stable(
    n: int,
    m: int = 1,
    p: int = 1,
    *,
    dt: float | None = None,
    seed: int | np.random.Generator | None = None,
    feedthrough: bool = False,
    pole_radius: tuple[float, float] = (0.05, 0.95),
) -> StateSpace:
    """A random stable system with a mix of real and complex-conjugate poles.

    Poles are drawn as in python-control's `rss`/`drss` (continuous: negative real parts;
    discrete: modulus within `pole_radius`) and hidden behind a random orthogonal change of
    basis, so `A` is dense.

    Parameters
    ----------
    n : int
        Number of states.
    m : int
        Number of inputs.
    p : int
        Number of outputs.
    dt : float or None
        `None` for continuous time, a positive sampling time for discrete time.
    seed : int or numpy Generator, optional
        Reproducibility.
    feedthrough : bool
        Draw a random `D` (default zero).
    pole_radius : (float, float)
        Discrete time: range of pole moduli.  Continuous time: range of `-Re(pole)`
        scaled by 10.

    Examples
    --------
    >>> import hankelid as hk
    >>> sys = hk.random_stable(6, 2, 3, dt=1.0, seed=0)
    >>> sys.shape, sys.is_stable()
    ((3, 2), True)
    """
    n, m, p = (check_count(val, name) for name, val in (("n", n), ("m", m), ("p", p)))
    dt = check_dt(dt)
    lo, hi = pole_radius
    if not 0 < lo <= hi:
        raise ValueError(f"pole_radius must satisfy 0 < lo <= hi, got {pole_radius}")
    if dt is not None and hi >= 1:
        raise ValueError(f"pole_radius must lie in (0, 1) for a discrete system, got {pole_radius}")
    rng = np.random.default_rng(seed)
    blocks: list[np.ndarray] = []
    k = 0
    while k < n:
        if n - k >= 2 and rng.random() < 0.5:
            r = rng.uniform(lo, hi)
            theta = rng.uniform(0.05, np.pi - 0.05)
            if dt is None:
                re, im = -10.0 * r, 10.0 * r * np.tan(theta / 2)
            else:
                re, im = r * np.cos(theta), r * np.sin(theta)
            blocks.append(np.array([[re, im], [-im, re]]))
            k += 2
        else:
            r = rng.uniform(lo, hi)
            val = -10.0 * r if dt is None else r * rng.choice([-1.0, 1.0], p=[0.2, 0.8])
            blocks.append(np.array([[val]]))
            k += 1
    Lam = sla.block_diag(*blocks)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ Lam @ Q.T
    B = rng.standard_normal((n, m))
    C = rng.standard_normal((p, n))
    D = rng.standard_normal((p, m)) if feedthrough else None
    return StateSpace(A, B, C, D, dt)


def as_state_space(sys: Any, name: str = "sys") -> StateSpace:
    """Coerce `sys` to [`StateSpace`][hankelid.systems.StateSpace] (python-control and scipy systems
    accepted).

    Also accepts an object with a `StateSpace` `.system` (an identification result);
    anything else raises a `ValueError` that names the argument `name`.
    """
    if isinstance(sys, StateSpace):
        return sys
    # Identification results (and anything else that wraps one model) expose it as `.system`:
    # duck-typed so that this module needs no import of the identification package.
    inner = getattr(sys, "system", None)
    if isinstance(inner, StateSpace):
        return inner
    mod = type(sys).__module__ or ""
    if mod.startswith("control"):
        return from_control(sys)
    if mod.startswith("scipy.signal"):
        return from_scipy(sys)
    raise ValueError(
        f"{name} must be a hankelid.StateSpace (or a python-control / scipy.signal system, or an "
        f"object with a StateSpace `.system` such as hankelid.Identification), "
        f"got {type(sys).__name__}"
    )
