"""Simulation of a state-space model driven by an arbitrary sampled input: [`simulate`][hankelid.simulate].

Discrete-time models run the recurrence `x[k+1] = A x[k] + B u[k]`, `y[k] = C x[k] + D u[k]`
over the whole record at once (real Schur form, one vectorized filter per 1×1 or 2×2 block,
checked against the sequential loop's backward error; see `hankelid.identification._recurrence`).
Continuous-time models are sampled exactly first: zero-order hold (the input is held constant
between samples) or first-order hold (it is linear between samples, as in `scipy.signal.lsim`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from .._validation import check_dt
from ..systems import StateSpace, as_state_space
from ._recurrence import run_discrete
from .data import IOData

__all__ = ["discretize_input_hold", "simulate"]


def _model(sys: Any) -> StateSpace:
    try:
        return as_state_space(sys)
    except ValueError:
        raise TypeError(
            "simulate takes a hankelid.StateSpace, a python-control or scipy.signal system, or an "
            f"object with a StateSpace `.system` (hankelid.Identification); got {type(sys).__name__}"
        ) from None


def discretize_input_hold(sys: StateSpace, dt: float, hold: str = "zoh") -> tuple[StateSpace, np.ndarray]:
    r"""Exact sampling of a continuous-time system for an input held between samples.

    Parameters
    ----------
    sys : StateSpace
        Continuous-time system.
    dt : float
        Sample spacing.
    hold : {"zoh", "foh"}
        `"zoh"`: the input is constant on each interval. `"foh"`: it is linear between
        consecutive samples (triangle hold).

    Returns
    -------
    (StateSpace, ndarray)
        The discrete system and the matrix `E` (shape `(n, m)`) with `x_d[k] = x(t_k) - E u[k]`:
        zero for ZOH; for FOH the discrete state is shifted by the input so that the model is
        strictly causal in its state.

    Notes
    -----
    With \( \Phi = e^{A\,dt} \), ZOH gives \( \Gamma = \int_0^{dt} e^{As}\,ds\,B \). For FOH,
    \( u(t_k + \tau) = u_k + (u_{k+1} - u_k)\,\tau/dt \) gives
    \( x_{k+1} = \Phi x_k + (\Gamma_1 - \Gamma_2) u_k + \Gamma_2 u_{k+1} \) with
    \( \Gamma_1, \Gamma_2 \) read from one matrix exponential of
    \( \begin{bmatrix} A & B & 0 \\ 0 & 0 & I/dt \\ 0 & 0 & 0 \end{bmatrix} dt \)
    (Franklin, Powell & Workman, *Digital Control of Dynamic Systems*, §6.3.2); the state
    \( \tilde x_k = x_k - \Gamma_2 u_k \) removes the \( u_{k+1} \) term.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> from hankelid.identification.simulate import discretize_input_hold
    >>> sysd, E = discretize_input_hold(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]]), 0.1)
    >>> round(float(sysd.A[0, 0]), 6), round(float(sysd.B[0, 0]), 6), float(E[0, 0])
    (0.904837, 0.095163, 0.0)
    """
    if sys.is_discrete:
        raise ValueError(f"discretize_input_hold needs a continuous-time system, got dt={sys.dt}")
    if hold not in ("zoh", "foh"):
        raise ValueError(f"hold must be 'zoh' or 'foh', got {hold!r}")
    n, m = sys.n, sys.m
    A, B, C, D = sys.matrices
    if hold == "zoh":
        M = np.zeros((n + m, n + m))
        M[:n, :n] = A * dt
        M[:n, n:] = B * dt
        Ex = sla.expm(M)
        return StateSpace(Ex[:n, :n], Ex[:n, n:], C, D, dt), np.zeros((n, m))
    M = np.zeros((n + 2 * m, n + 2 * m))
    M[:n, :n] = A * dt
    M[:n, n : n + m] = B * dt
    M[n : n + m, n + m :] = np.eye(m)
    Ex = sla.expm(M)
    Phi, G1, G2 = Ex[:n, :n], Ex[:n, n : n + m], Ex[:n, n + m :]
    Bd = G1 - G2 + Phi @ G2
    return StateSpace(Phi, Bd, C, D + C @ G2, dt), G2


def _input_array(u: Any, m: int, name: str = "u") -> np.ndarray:
    try:
        arr = np.array(u, dtype=None, copy=True)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        if m != 1:
            raise ValueError(f"a 1-D {name} is one input channel, but the model has m={m} inputs")
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != m:
        raise ValueError(f"{name} must have shape (N, m) with m={m} (the model's inputs), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    finite = np.isfinite(arr)
    if not finite.all():
        k, j = np.argwhere(~finite)[0]
        raise ValueError(f"{name} contains NaN or inf (first at sample {k}, channel {j})")
    return arr


def _initial_states(x0: Any, n: int, count: int) -> list[np.ndarray]:
    if x0 is None:
        return [np.zeros(n)] * count
    arr = np.array(x0, dtype=np.float64)
    if arr.ndim == 1 and arr.shape == (n,):
        if count > 1:
            raise ValueError(f"x0 must have shape ({count}, {n}): one initial state per experiment")
        return [arr]
    if arr.ndim == 2 and arr.shape == (count, n):
        if not np.all(np.isfinite(arr)):
            raise ValueError("x0 contains NaN or inf")
        return list(arr)
    expected = f"({n},)" if count == 1 else f"({count}, {n})"
    raise ValueError(f"x0 must have shape {expected} (the model has n={n} states), got {arr.shape}")


def simulate(
    sys: Any,
    u: Any,
    x0: Any = None,
    *,
    dt: float | None = None,
    hold: str = "zoh",
    return_states: bool = False,
    algorithm: str = "auto",
) -> Any:
    r"""Response of a state-space model to a sampled input.

    Parameters
    ----------
    sys : StateSpace, python-control / scipy system, or an object with a StateSpace `.system`
        The model ([`Identification`][hankelid.Identification] results are accepted).
    u : array_like (N, m) or (N,), a list of such arrays, or IOData
        Input samples `u[k] = u(k dt)`. With an [`IOData`][hankelid.IOData] its inputs and
        `dt` are used, one simulation per experiment.
    x0 : array_like, optional
        Initial state, shape `(n,)`, or `(E, n)` for `E` experiments; zero by default.
    dt : float, optional
        Sample spacing for a continuous-time model (taken from the IOData when one is given).
        For a discrete model it must equal the model's `dt` if given.
    hold : {"zoh", "foh"}
        How a continuous-time model sees the input between samples: held constant
        (zero-order hold) or linearly interpolated (first-order hold, as `scipy.signal.lsim`).
    return_states : bool
        Also return the states `x[k]`, shape `(N, n)` (continuous time: `x(k dt)`).
    algorithm : {"auto", "schur", "loop"}
        `"auto"` (default) runs the vectorized Schur/filter recurrence and falls back to the
        sequential loop when its defect exceeds rounding level; `"loop"` is the plain
        sequential recurrence (slow, for reference).

    Returns
    -------
    ndarray (N, p), or a list of them
        Outputs `y[k]`: an array for an array input, a list (one per experiment) for a list or
        an IOData. With `return_states`, a pair `(y, x)` (lists of pairs' parts accordingly).

    Raises
    ------
    ValueError
        If `u` does not have `m` columns, has NaN/inf, `x0` has the wrong shape, a continuous
        model has no `dt`, or the data's `dt` differs from a discrete model's.
    TypeError
        If `sys` is not a system.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=1.0)
    >>> hk.simulate(sys, [1.0, 0.0, 0.0, 0.0]).ravel()
    array([0.  , 1.  , 0.5 , 0.25])
    >>> sysc = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])          # continuous: needs dt
    >>> np.round(hk.simulate(sysc, np.ones(3), dt=0.5).ravel(), 4)  # step response 1 - exp(-t)
    array([0.    , 0.3935, 0.6321])
    """
    model = _model(sys)
    if hold not in ("zoh", "foh"):
        raise ValueError(f"hold must be 'zoh' or 'foh', got {hold!r}")
    if isinstance(u, IOData):
        if u.m != model.m:
            raise ValueError(f"the data have m={u.m} inputs but the model has m={model.m}")
        if dt is not None and check_dt(dt) != u.dt:
            raise ValueError(f"dt={dt} differs from the data's dt={u.dt}")
        dt, records, as_list = u.dt, u.u, True
    elif isinstance(u, (list, tuple)) and u and all(isinstance(v, np.ndarray) for v in u):
        records, as_list = [_input_array(v, model.m, f"u[{i}]") for i, v in enumerate(u)], True
    else:
        records, as_list = [_input_array(u, model.m)], False
    dt = check_dt(dt)
    if model.is_discrete:
        if dt is not None and not np.isclose(dt, model.dt, rtol=1e-9, atol=0.0):
            raise ValueError(
                f"the model is discrete with dt={model.dt} but the input is sampled at dt={dt}; "
                "resample the data or re-identify the model"
            )
        sysd, shift = model, None
    else:
        if dt is None:
            raise ValueError("a continuous-time model needs the input's sample spacing: pass dt=...")
        sysd, shift = discretize_input_hold(model, dt, hold)
    x0s = _initial_states(x0, model.n, len(records))
    ys, xs = [], []
    for ue, xe in zip(records, x0s):
        xd0 = xe if shift is None else xe - shift @ ue[0]
        y, X = run_discrete(sysd, ue, xd0, algorithm=algorithm, states=return_states)
        ys.append(y)
        if return_states:
            assert X is not None
            xs.append(X if shift is None else X + ue @ shift.T)
    if not as_list:
        return (ys[0], xs[0]) if return_states else ys[0]
    return (ys, xs) if return_states else ys
