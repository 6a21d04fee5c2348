r"""Empirical Gramians: Gramians estimated from simulated trajectories.

The estimators (Moore 1981; Lall, Marsden & Glavaški 2002; Himpe's emgr for the cross
Gramian) work on a discrete-time system `x_{k+1} = A x_k + B u_k`, `y_k = C x_k`, given
either as a [`hankelid.StateSpace`][hankelid.systems.StateSpace] or only as code (a
[`Simulator`][hankelid.empirical.Simulator]).  With a horizon of `L = length` steps:

`inputs="impulse"` (deterministic)
:   One unit impulse per input channel; the states `x_{k+1} = A^k B e_j` give
    `Wc_L = sum_{k<L} A^k B B^T A^{kT}`.  Observability uses the adjoint (dual) system
    driven by impulses in each output channel, or the outputs `C A^k e_i` of the free
    response from each unit initial state.  The only bias is the horizon truncation,
    `Wc - Wc_L = A^L Wc A^{LT}` (relative size about `rho(A)^{2L}`): once the horizon
    covers the decay the estimate equals the exact Gramian to rounding.

`inputs="gaussian"` (randomized)
:   `N = n_trajectories` input sequences of i.i.d. standard normal samples (`E u u^T = I`
    in every channel, so MIMO channels are weighted equally) drive the system from rest; the
    estimate is the second moment of the final states,
    `Wc_hat = (1/N) sum_i x_L^{(i)} x_L^{(i)T}`.  The mean is known to be zero, so there is
    no centring and the `1/N` normalisation is unbiased: `E Wc_hat = Wc_L`, with
    `E ||Wc_hat - Wc_L||_F^2 = (||Wc_L||_F^2 + tr(Wc_L)^2) / N` -- the error falls like
    `1/sqrt(N)`.  Observability: the adjoint system `z_{k+1} = A^T z_k + C^T v_k` driven by
    independent Gaussian `v`.  Cross Gramian (`m = p`): the forward and the adjoint
    systems driven by the *same* inputs, `Wx_hat = (1/N) sum_i x_L^{(i)} z_L^{(i)T}`, whose
    mean is `sum_{k<L} A^k B C A^k`.  Nonlinear functions of the estimates, such as Hankel
    singular values, are biased at finite `N` (the small ones sit on a noise floor).

Given input sequences (`inputs` an array `U` of shape `(K, L, channels)`)
:   The *data Gramian*: the system runs from rest on each recorded sequence and the estimate is
    the second moment of every state visited, `W_hat = (1/(K L)) sum_i sum_k x_k^{(i)}
    x_k^{(i)T}` (the snapshot correlation matrix of proper orthogonal decomposition, Lall et
    al. 2002).  It weights state directions by how much the given inputs excite them: for a
    stationary input process with spectrum `Phi(w)` it tends to the frequency-weighted
    Gramian `(1/2 pi) int (e^{iw} - A)^{-1} B Phi(w) B^T (e^{iw} - A)^{-H} dw` as the
    sequences outgrow the decay, and for white unit-variance inputs to `(1/L) sum_{k<=L} Wc_k`,
    the exact Gramian less a start-up transient of order `1/((1 - rho^2) L)`.  Observability
    (`kind="o"`): the sequences drive the adjoint system; cross (`"x"`): both.  Input
    sequences are samples, so continuous-time systems must be discretized first.

Continuous-time systems are mapped to an equivalent discrete-time system first
(`discretization`):

`"tustin"` (default)
:   The Gramian-preserving bilinear (Cayley) map with `alpha = 2/dt`:
    `Ad = (alpha I - A)^{-1}(alpha I + A)`, `Bd = sqrt(2 alpha)(alpha I - A)^{-1} B`,
    `Cd = sqrt(2 alpha) C (alpha I - A)^{-1}`.  Its discrete Gramians (and cross Gramian)
    *equal* the continuous ones, so there is no discretization bias at all; `dt` only
    sets how fast the discrete trajectories decay and is by default chosen from the poles to
    make that decay fastest.

`"sampled"`
:   Time samples with spacing `dt` (required): `Ad = e^{A dt}`,
    `Bd = sqrt(dt) e^{A dt/2} B`, `Cd = sqrt(dt) C e^{A dt/2}`, whose discrete Gramian is
    the midpoint rule `dt sum_k e^{A t_k} B B^T e^{A^T t_k}`, `t_k = (k + 1/2) dt`, of the
    continuous integral: bias `O(dt^2)`, and a finite horizon `T = length * dt` when
    `finite_horizon=True`.  Gaussian inputs are then sampled white noise of unit intensity.

All trajectories are simulated at once.  For a [`hankelid.StateSpace`][hankelid.systems.StateSpace] the states
are never stepped through in Python: the impulse states are the block Krylov sequence
`B, AB, A^2B, ...` built by repeated doubling, and the final Gaussian states are one
matrix product `x_L = [A^{L-1}B, ..., AB, B] vec(u)` (the causal convolution evaluated
at `t = L`).  A [`Simulator`][hankelid.empirical.Simulator] is called with whole batches of input sequences
(all trajectories at once, unless `batch_size` or a ~32 MB memory bound splits them).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from ._factors import thin_factor
from ._krylov import krylov_blocks
from ._stability import is_stable, require_stable
from ._validation import check_count, check_dt
from .gramians import hsv_from_factors
from .systems import StateSpace, as_state_space

__all__ = [
    "Simulator",
    "empirical_gramian",
    "empirical_gramian_factors",
    "empirical_hsv",
]

_KINDS = ("c", "o", "x")
_INPUTS = ("impulse", "gaussian")
# Upper bound on the doubles of one input batch (inputs are drawn and used chunk by chunk).
_CHUNK_DOUBLES = 1 << 22
# Relative truncation bias (about rho^(2L)) above which the horizon is reported as too short.
_HORIZON_RTOL = 1e-8


# ---------------------------------------------------------------------- black-box protocol
@dataclass(frozen=True)
class Simulator:
    r"""A discrete-time linear system given only as code: the black-box protocol.

    All arrays are float64; `K` is the number of trajectories, `L` their length, and every
    trajectory starts from rest unless stated otherwise.

    Parameters
    ----------
    forward : callable
        `forward(u) -> x`: inputs `u` of shape `(K, L, m)` to states `x` of shape
        `(K, L, n)` with `x[:, k]` the state *after* applying `u[:, k]`
        (`x_{k+1} = A x_k + B u_k`, `x_0 = 0`).  Needed for `kind="c"` and `"x"`.
    n, m : int
        States and inputs.
    p : int, optional
        Outputs; required with `adjoint` (it sizes the adjoint inputs).
    adjoint : callable, optional
        `adjoint(v) -> z`: the dual system `z_{k+1} = A^T z_k + C^T v_k` from `z_0 = 0`,
        `v` of shape `(K, L, p)` to `z` of shape `(K, L, n)`.  Enables `kind="o"`
        and `"x"` with either input kind.
    from_initial : callable, optional
        `from_initial(x0, L) -> y`: free response (zero input) from initial states `x0` of
        shape `(K, n)`, outputs `y_k = C A^k x0` for `k = 0..L-1`, shape `(K, L, p)`.
        Enables `kind="o"` and `"x"` with `inputs="impulse"` (unit initial states).

    Examples
    --------
    A system known only through its simulation code:

    >>> import numpy as np
    >>> import hankelid as hk
    >>> from hankelid.empirical import Simulator
    >>> a, b = 0.5, 2.0
    >>> def forward(u):                      # x_{k+1} = a x_k + b u_k, batched over trajectories
    ...     x, out = np.zeros(u.shape[0]), np.empty(u.shape[:2] + (1,))
    ...     for k in range(u.shape[1]):
    ...         x = a * x + b * u[:, k, 0]
    ...         out[:, k, 0] = x
    ...     return out
    >>> sim = Simulator(forward, n=1, m=1)
    >>> float(np.round(hk.empirical_gramian(sim, "c", length=60)[0, 0], 10))  # b^2 / (1 - a^2)
    5.3333333333
    """

    forward: Callable[[np.ndarray], np.ndarray] | None
    n: int
    m: int
    p: int | None = None
    adjoint: Callable[[np.ndarray], np.ndarray] | None = None
    from_initial: Callable[[np.ndarray, int], np.ndarray] | None = None

    def __post_init__(self) -> None:
        for name in ("n", "m") + (("p",) if self.p is not None else ()):
            check_count(getattr(self, name), f"Simulator.{name}")
        for name in ("forward", "adjoint", "from_initial"):
            fn = getattr(self, name)
            if fn is not None and not callable(fn):
                raise ValueError(f"Simulator.{name} must be callable or None, got {type(fn).__name__}")
        if self.adjoint is not None and self.p is None:
            raise ValueError("Simulator.p (number of outputs) is required when an adjoint is given")

    @classmethod
    def from_state_space(cls, sys: Any) -> Simulator:
        """The protocol for a known discrete-time system, by batched recurrence.

        Useful as a reference and for testing black-box code paths: the time loop runs in
        Python once per call, with all trajectories advanced together.

        Raises
        ------
        ValueError
            If `sys` is continuous-time.
        """
        sys = as_state_space(sys)
        if not sys.is_discrete:
            raise ValueError("Simulator.from_state_space needs a discrete-time system (dt set)")
        A, B, C, _ = (np.array(M) for M in sys.matrices)

        def forward(u: np.ndarray) -> np.ndarray:
            return _recurrence(A, u @ B.T)

        def adjoint(v: np.ndarray) -> np.ndarray:
            return _recurrence(A.T, v @ C)

        def from_initial(x0: np.ndarray, length: int) -> np.ndarray:
            drive = np.zeros((x0.shape[0], length, A.shape[0]))
            drive[:, 0] = x0  # the state sequence x0, A x0, A^2 x0, ...
            return _recurrence(A, drive) @ C.T

        return cls(forward, n=sys.n, m=sys.m, p=sys.p, adjoint=adjoint, from_initial=from_initial)


def _recurrence(A: np.ndarray, drive: np.ndarray) -> np.ndarray:
    """States of `s_k = A s_{k-1} + drive_k` (`s_{-1} = 0`) for a batch `(K, L, n)`."""
    out = np.empty_like(drive)
    state = drive[:, 0].copy()
    out[:, 0] = state
    At = A.T
    for k in range(1, drive.shape[1]):
        state = state @ At + drive[:, k]
        out[:, k] = state
    return out


def _as_simulator(obj: Any) -> Simulator | None:
    """A [`Simulator`][hankelid.empirical.Simulator] for objects following the protocol (duck-typed); `None`
    otherwise."""
    if isinstance(obj, Simulator):
        return obj
    if callable(getattr(obj, "forward", None)) and hasattr(obj, "n") and hasattr(obj, "m"):
        return Simulator(
            obj.forward,
            n=obj.n,
            m=obj.m,
            p=getattr(obj, "p", None),
            adjoint=getattr(obj, "adjoint", None),
            from_initial=getattr(obj, "from_initial", None),
        )
    return None


# ---------------------------------------------------------------------- option handling
@dataclass(frozen=True)
class _Options:
    inputs: str  # "impulse", "gaussian" or "data" (then ``data`` holds the sequences)
    length: int
    n_trajectories: int | None
    seed: Any
    dt: float | None
    discretization: str | None
    finite_horizon: bool
    batch_size: int | None
    data: np.ndarray | None = None


def _input_data(inputs: Any, length: Any, n_trajectories: Any, seed: Any) -> np.ndarray:
    """The user's input sequences as a finite float64 array `(K, L, channels)`, checked."""
    if length is not None or n_trajectories is not None or seed is not None:
        raise ValueError(
            "length, n_trajectories and seed describe generated inputs; with an input array they come "
            "from its shape (K sequences, L samples, channels)"
        )
    try:
        data = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"inputs must be 'impulse', 'gaussian' or an array of input sequences: {exc}"
        ) from exc
    if data.ndim != 3 or min(data.shape) < 1:
        raise ValueError(
            f"an input array must have shape (K sequences, L samples, channels), got {data.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError("the input array contains NaN or inf entries")
    return data


def _options(
    inputs: Any = "impulse",
    length: int | None = None,
    n_trajectories: int | None = None,
    seed: Any = None,
    dt: float | None = None,
    discretization: str | None = None,
    finite_horizon: bool = False,
    batch_size: int | None = None,
) -> _Options:
    data = None
    if not isinstance(inputs, str):
        data = _input_data(inputs, length, n_trajectories, seed)
        inputs, length = "data", data.shape[1]
    elif inputs not in _INPUTS:
        raise ValueError(f"inputs must be one of {_INPUTS} or an array of input sequences, got {inputs!r}")
    length = check_count(1024 if length is None else length, "length")
    if n_trajectories is not None:
        if inputs != "gaussian":
            raise ValueError("n_trajectories applies to inputs='gaussian' only (one impulse per channel)")
        n_trajectories = check_count(n_trajectories, "n_trajectories")
    if discretization is not None and discretization not in ("tustin", "sampled"):
        raise ValueError(f"discretization must be 'tustin' or 'sampled', got {discretization!r}")
    if batch_size is not None:
        batch_size = check_count(batch_size, "batch_size")
    seed_types = (numbers.Integral, np.random.Generator, np.random.SeedSequence)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, seed_types)):
        raise ValueError(f"seed must be None, an integer, a SeedSequence or a Generator, got {seed!r}")
    if not isinstance(finite_horizon, (bool, np.bool_)):
        raise ValueError(f"finite_horizon must be True or False, got {finite_horizon!r}")
    return _Options(
        inputs,
        length,
        n_trajectories,
        seed,
        check_dt(dt),
        discretization,
        bool(finite_horizon),
        batch_size,
        data,
    )


def _input_generators(seed: Any) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent streams for the forward and the adjoint inputs.

    `seed` (int, `SeedSequence`, `Generator` or `None`) is spawned into two children,
    each driving an SFC64 generator (the fastest NumPy bit generator for normal draws), so
    `kind="c"` and `kind="o"` estimates with one seed use independent inputs, and the same
    inputs whether they are requested alone or together.  Trajectory `i` uses draws
    `i*L*m .. (i+1)*L*m - 1` of its stream, in C order of shape `(L, m)`.
    """
    if isinstance(seed, np.random.Generator):
        seq = np.random.SeedSequence(seed.integers(0, 2**63, size=4))
    elif isinstance(seed, np.random.SeedSequence):
        seq = seed
    else:
        seq = np.random.SeedSequence(seed)
    fwd, adj = seq.spawn(2)
    return np.random.Generator(np.random.SFC64(fwd)), np.random.Generator(np.random.SFC64(adj))


# ---------------------------------------------------------------------- state-space route
def _tustin_dt(poles: np.ndarray) -> float:
    """`dt = 2/alpha` minimising the slowest Cayley-mapped pole `max |(alpha+l)/(alpha-l)|`."""
    mags = np.abs(poles)
    alphas = np.geomspace(mags.min(), mags.max(), 65) if mags.max() > mags.min() else mags[:1]
    rho = np.abs((alphas[:, None] + poles) / (alphas[:, None] - poles)).max(axis=1)
    return float(2.0 / alphas[np.argmin(rho)])


def _discrete_matrices(sys: StateSpace, opts: _Options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(A, B, C)` of the discrete system whose Gramians are estimated (see module docs)."""
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    if sys.is_discrete:
        if opts.dt is not None or opts.discretization is not None:
            raise ValueError(
                f"dt and discretization apply to continuous-time systems only; sys is discrete (dt={sys.dt})"
            )
        return A, B, C
    poles = np.linalg.eigvals(A)
    method = opts.discretization or "tustin"
    if method == "sampled":
        if opts.dt is None:
            raise ValueError("discretization='sampled' needs the sample spacing dt")
        half = sla.expm(A * (opts.dt / 2.0))
        root = np.sqrt(opts.dt)
        return half @ half, root * half @ B, root * C @ half
    if opts.finite_horizon:
        raise ValueError(
            "a finite-horizon Gramian of a continuous-time system needs discretization='sampled' "
            "(the Tustin map has no time axis)"
        )
    if not is_stable(poles, discrete=False):
        return A, B, C  # unstable: rejected by the caller with the continuous-time poles
    alpha = 2.0 / (opts.dt if opts.dt is not None else _tustin_dt(poles))
    lu = sla.lu_factor(alpha * np.eye(sys.n) - A, check_finite=False)
    root = np.sqrt(2.0 * alpha)
    Ad = sla.lu_solve(lu, alpha * np.eye(sys.n) + A)
    return Ad, root * sla.lu_solve(lu, B), root * sla.lu_solve(lu, C.T, trans=1).T


def _check_horizon(sys: StateSpace, Ad: np.ndarray, opts: _Options) -> None:
    """Reject unstable systems (unless a finite horizon is asked for); warn if `L` is too short."""
    if opts.finite_horizon:
        return
    poles = np.linalg.eigvals(np.asarray(sys.A))
    require_stable(
        "an infinite-horizon empirical Gramian",
        poles,
        discrete=sys.is_discrete,
        n=sys.n,
        hint="pass finite_horizon=True for the length-L finite-horizon Gramian",
    )
    if opts.data is not None:
        return  # the data's own horizon is the point of a data Gramian, not a truncation
    rho = float(np.max(np.abs(poles if sys.is_discrete else np.linalg.eigvals(Ad))))
    if rho ** (2 * opts.length) > _HORIZON_RTOL:
        warnings.warn(
            f"length={opts.length} does not cover the decay of the slowest mode (|pole| = {rho:.6g}): "
            f"the truncation bias is about {rho ** (2 * opts.length):.2g} relative; increase length",
            RuntimeWarning,
            stacklevel=5,
        )


def _gaussian_final_states(
    kernels: list[np.ndarray], rng: np.random.Generator, n_traj: int, batch: int | None
) -> list[np.ndarray]:
    """Final states `x_L` (rows) of `n_traj` runs per Krylov sequence, all driven by the same inputs.

    `x_L = sum_k A^(L-1-k) B u_k`: one product of the inputs with the Krylov blocks in reverse
    order (`kernels` as `krylov_blocks(..., reverse=True)`) -- the batched simulation's last
    state, without stepping through time.
    """
    length, m, n = kernels[0].shape
    flat = [G.reshape(length * m, n) for G in kernels]
    step = batch or max(1, _CHUNK_DOUBLES // (length * m))
    out = [np.empty((n_traj, n)) for _ in kernels]
    for start in range(0, n_traj, step):
        stop = min(start + step, n_traj)
        u = rng.standard_normal((stop - start, length * m))
        for res, kernel in zip(out, flat):
            res[start:stop] = u @ kernel
    return out


def _state_space_snapshots(
    sys: StateSpace, need: tuple[bool, bool], opts: _Options, shared_inputs: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Snapshot matrices `(Sc, So)` (samples x n) with `Wc = Sc^T Sc`, `Wo = So^T So`."""
    A, B, C = _discrete_matrices(sys, opts)
    _check_horizon(sys, A, opts)
    L = opts.length
    systems = [(A, B) if need[0] else None, (A.T, C.T) if need[1] else None]
    if opts.inputs == "impulse":
        return tuple(None if s is None else krylov_blocks(*s, L).reshape(-1, sys.n) for s in systems)
    n_traj = opts.n_trajectories or max(256, 2 * sys.n)
    rng_fwd, rng_adj = _input_generators(opts.seed)
    scale = 1.0 / np.sqrt(n_traj)
    if shared_inputs:  # the cross Gramian drives the adjoint with the very inputs of the forward runs
        kernels = [krylov_blocks(*s, L, reverse=True) for s in systems]
        Xc, Xo = _gaussian_final_states(kernels, rng_fwd, n_traj, opts.batch_size)
        return scale * Xc, scale * Xo

    def estimate(job: tuple[tuple[np.ndarray, np.ndarray], np.random.Generator]) -> np.ndarray:
        kernel = krylov_blocks(*job[0], L, reverse=True)
        return scale * _gaussian_final_states([kernel], job[1], n_traj, opts.batch_size)[0]

    jobs = [(s, rng) for s, rng in zip(systems, (rng_fwd, rng_adj)) if s is not None]
    if len(jobs) == 1:
        S = estimate(jobs[0])
        return (S, None) if need[0] else (None, S)
    # Two independent streams: drawing them (the bulk of the cost) releases the GIL, so the
    # two estimates run concurrently and give the very numbers of two separate calls.
    with ThreadPoolExecutor(max_workers=2) as pool:
        Sc, So = pool.map(estimate, jobs)
    return Sc, So


# ---------------------------------------------------------------------- simulator route
def _call(fn: Callable[..., np.ndarray], name: str, args: tuple[Any, ...], width: int | None) -> np.ndarray:
    """One simulator call, checked: shape `(K, L, width)` (any width if `None`), finite."""
    batch = args[0]
    length = args[1] if len(args) > 1 else batch.shape[1]
    try:
        res = np.asarray(fn(*args), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"simulator.{name} failed on inputs of shape {batch.shape}: {exc}") from exc
    expected = (batch.shape[0], length, width if width is not None else res.shape[-1])
    if res.shape != expected or expected[2] < 1:
        shown = expected if width is not None else (batch.shape[0], length, "p")
        raise ValueError(f"simulator.{name} must return shape {shown}, got {res.shape}")
    if not np.all(np.isfinite(res)):
        raise ValueError(
            f"simulator.{name} returned NaN or inf entries (an unstable system or a too long horizon?)"
        )
    return res


def _impulse_runs(
    fn: Callable[..., np.ndarray], name: str, starts: np.ndarray, length: int, width: int | None, step: int
) -> np.ndarray:
    """Runs from unit impulses (or unit initial states, for `from_initial`), in batches."""
    parts = []
    for i in range(0, starts.shape[0], step):
        block = starts[i : i + step]
        args = (block, length) if name == "from_initial" else (block,)
        parts.append(_call(fn, name, args, width))
        width = parts[-1].shape[2]
    return np.concatenate(parts, axis=0)


def _reject_time_options(opts: _Options, what: str) -> None:
    if opts.dt is not None or opts.discretization is not None:
        raise ValueError(f"dt and discretization apply to continuous-time StateSpace systems, not {what}")


def _simulator_snapshots(
    sim: Simulator, need: tuple[bool, bool], opts: _Options, shared_inputs: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Snapshot matrices from simulator runs, batched over trajectories (see the module docs)."""
    _reject_time_options(opts, "simulators")
    n, m, p, L = sim.n, sim.m, sim.p, opts.length
    step = opts.batch_size or max(1, _CHUNK_DOUBLES // (L * max(n, m, p or 1)))
    gaussian = opts.inputs == "gaussian"
    if need[0] and sim.forward is None:
        raise ValueError("this estimate needs simulator.forward (controllability / cross Gramian)")
    if need[1] and sim.adjoint is None and (gaussian or sim.from_initial is None):
        wanted = "adjoint" if gaussian else "adjoint or from_initial"
        raise ValueError(f"observability with inputs={opts.inputs!r} needs simulator.{wanted}")
    if gaussian:
        n_traj = opts.n_trajectories or max(256, 2 * n)
        rng_fwd, rng_adj = _input_generators(opts.seed)
        final_c, final_o = [], []
        for start in range(0, n_traj, step):
            count = min(step, n_traj - start)
            # Drawn batch by batch from the streams: the same numbers as one big draw.
            u = rng_fwd.standard_normal((count, L, m)) if (need[0] or shared_inputs) else None
            if need[0]:
                final_c.append(_call(sim.forward, "forward", (u,), n)[:, -1])
            if need[1]:
                v = u if shared_inputs else rng_adj.standard_normal((count, L, p))
                final_o.append(_call(sim.adjoint, "adjoint", (v,), n)[:, -1])
        scale = 1.0 / np.sqrt(n_traj)
        return (
            scale * np.concatenate(final_c) if need[0] else None,
            scale * np.concatenate(final_o) if need[1] else None,
        )
    # Impulses: snapshot rows ordered (time k, channel), as for the state-space route.
    Sc = So = None
    if need[0]:
        x = _impulse_runs(sim.forward, "forward", _impulses(m, L), L, n, step)
        Sc = x.transpose(1, 0, 2).reshape(L * m, n)
    if need[1]:
        if sim.adjoint is not None:
            z = _impulse_runs(sim.adjoint, "adjoint", _impulses(p, L), L, n, step)
            So = z.transpose(1, 0, 2).reshape(L * p, n)
        else:
            y = _impulse_runs(sim.from_initial, "from_initial", np.eye(n), L, p, step)
            So = y.transpose(1, 2, 0).reshape(-1, n)
    return Sc, So


def _data_snapshots(
    sys: Any, sim: Simulator | None, need: tuple[bool, bool], opts: _Options
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """All states of the runs driven by the user's sequences, scaled by `1/sqrt(K L)`."""
    if sim is None:
        ss = as_state_space(sys)
        if not ss.is_discrete:
            raise ValueError(
                "input sequences are time samples: discretize the continuous-time system first "
                "(hankelid.c2d) so the sample time is explicit"
            )
        _reject_time_options(opts, "input arrays (they drive a discrete system)")
        _check_horizon(ss, np.asarray(ss.A), opts)
        sim = Simulator.from_state_space(ss)
    else:
        _reject_time_options(opts, "simulators")
    fns = [(sim.forward, "forward") if need[0] else None, (sim.adjoint, "adjoint") if need[1] else None]
    for fn in fns:
        if fn is not None and fn[0] is None:
            raise ValueError(f"an input array with this kind needs simulator.{fn[1]}")
    data = opts.data
    K, L, width = data.shape
    wanted = sim.m if need[0] else sim.p
    if width != wanted:
        role = "inputs m" if need[0] else "outputs p (the adjoint's inputs)"
        raise ValueError(f"the input array has {width} channels, the system has {wanted} {role}")
    step = opts.batch_size or max(1, _CHUNK_DOUBLES // (L * max(sim.n, width)))
    scale = 1.0 / np.sqrt(K * L)
    out = []
    for fn in fns:
        if fn is None:
            out.append(None)
            continue
        parts = [_call(fn[0], fn[1], (data[i : i + step],), sim.n) for i in range(0, K, step)]
        out.append(scale * np.concatenate(parts).reshape(K * L, sim.n))
    return out[0], out[1]


def _impulses(channels: int, length: int) -> np.ndarray:
    u = np.zeros((channels, length, channels))
    u[np.arange(channels), 0, np.arange(channels)] = 1.0
    return u


# ---------------------------------------------------------------------- public API
def _snapshots(
    sys: Any, need: tuple[bool, bool], opts: _Options, shared_inputs: bool = False
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Snapshot matrices of a state-space system or a simulator (see the module docs)."""
    sim = _as_simulator(sys)
    if opts.inputs == "data":
        return _data_snapshots(sys, sim, need, opts)
    if sim is not None:
        return _simulator_snapshots(sim, need, opts, shared_inputs)
    Sc, So = _state_space_snapshots(as_state_space(sys), need, opts, shared_inputs)
    for S in (Sc, So):
        if S is not None and not np.all(np.isfinite(S)):
            raise ValueError("the trajectories overflowed (an unstable system over a long finite horizon)")
    return Sc, So


def empirical_gramian(
    sys: Any,
    kind: str,
    *,
    inputs: Any = "impulse",
    length: int | None = None,
    n_trajectories: int | None = None,
    seed: Any = None,
    dt: float | None = None,
    discretization: str | None = None,
    finite_horizon: bool = False,
    batch_size: int | None = None,
    factor: bool = False,
) -> np.ndarray:
    r"""Empirical controllability, observability or cross Gramian from simulated trajectories.

    The estimators and their bias are described in [`hankelid.empirical`][hankelid.empirical].

    Parameters
    ----------
    sys : StateSpace or Simulator
        A [`hankelid.StateSpace`][hankelid.systems.StateSpace] (python-control and scipy systems are
        converted), or a discrete-time black box following the [`Simulator`][hankelid.empirical.Simulator]
        protocol.
    kind : "c" | "o" | "x"
        Controllability, observability, or cross Gramian (square systems, `m = p`).
    inputs : {"impulse", "gaussian"} or array_like, shape (K, L, channels)
        Unit impulses per channel (deterministic, exact up to the horizon truncation),
        i.i.d. standard normal input sequences (unbiased, error `~ 1/sqrt(n_trajectories)`),
        or `K` given input sequences of `L` samples (discrete-time systems): the *data
        Gramian*, the second moment of all the states they produce (see the module docs).
        Their channels are the `m` inputs for `"c"` and `"x"`, the `p` inputs of the
        adjoint system for `"o"`.
    length : int, optional
        Horizon `L` in steps (default 1024); set by the array for input sequences.
    n_trajectories : int, optional
        Number of Gaussian input sequences (default `max(256, 2 n)`); only for `"gaussian"`.
    seed : int, numpy Generator or SeedSequence, optional
        Reproducibility of the Gaussian inputs.
    dt : float, optional
        Continuous time only: Tustin parameter `2/alpha` (default: chosen from the poles) or
        the sample spacing of `discretization="sampled"` (required there).
    discretization : "tustin" | "sampled", optional
        Continuous time only; `None` (the default) means `"tustin"` (exact Gramians).
    finite_horizon : bool
        Return the length-`L` finite-horizon Gramian, also for unstable systems.  Without it
        an unstable `StateSpace` raises.  A simulator's estimate is always the finite-horizon
        one (its stability cannot be checked).
    batch_size : int, optional
        Trajectories per batch (simulator call / input draw); default bounds memory to ~32 MB.
    factor : bool
        `"c"` and `"o"` only: return a square-root factor `L` (`n x r`, `r <= n`,
        `W = L L^T`) taken straight from the snapshot matrix (thin QR) instead of `W` --
        the estimate is never formed and then factored, as for
        [`gramian`][hankelid.gramian] with `factor=True`.

    Returns
    -------
    ndarray, shape (n, n) or (n, r)
        Symmetric positive semidefinite for `"c"` and `"o"`; the factor with `factor=True`.

    Raises
    ------
    UnstableSystemError
        If a `StateSpace` is not stable and `finite_horizon` is not set.
    ValueError
        For an unknown `kind`/`inputs`, non-positive `length`/`n_trajectories`,
        `kind="x"` of a non-square system, options that do not apply, or a simulator that
        lacks the needed method or returns the wrong shape or non-finite values.

    Warns
    -----
    RuntimeWarning
        If `length` is too short for the slowest mode of a `StateSpace` (relative
        truncation bias above 1e-8).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.linalg as sla
    >>> import hankelid as hk
    >>> sys = hk.random_stable(6, 2, 3, dt=1.0, seed=0)
    >>> A, B, C, _ = sys
    >>> Wc = hk.empirical_gramian(sys, "c", length=600)
    >>> bool(np.allclose(Wc, sla.solve_discrete_lyapunov(A, B @ B.T), rtol=1e-10, atol=0))
    True
    >>> Wg = hk.empirical_gramian(sys, "c", inputs="gaussian", n_trajectories=4000, length=600, seed=1)
    >>> bool(np.linalg.norm(Wg - Wc) < 0.1 * np.linalg.norm(Wc))
    True

    The data Gramian of recorded inputs, here a slow sinusoid in the first channel only:

    >>> t = np.arange(400)
    >>> U = np.zeros((1, 400, 2))
    >>> U[0, :, 0] = np.sin(0.05 * t)
    >>> Wd = hk.empirical_gramian(sys, "c", inputs=U)
    >>> X = hk.Simulator.from_state_space(sys).forward(U)[0]     # the states these inputs produce
    >>> bool(np.allclose(Wd, X.T @ X / 400))
    True
    >>> Ld = hk.empirical_gramian(sys, "c", inputs=U, factor=True)  # its factor, from the snapshots
    >>> Ld.shape, bool(np.allclose(Ld @ Ld.T, Wd))
    ((6, 6), True)
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS} (controllability, observability, cross): {kind!r}")
    if not isinstance(factor, (bool, np.bool_)):
        raise ValueError(f"factor must be True or False, got {factor!r}")
    if factor and kind == "x":
        raise ValueError("factor=True applies to kind 'c' or 'o' (the cross Gramian is not symmetric)")
    opts = _options(inputs, length, n_trajectories, seed, dt, discretization, finite_horizon, batch_size)
    if kind == "x":
        _check_square(sys)
    need = (kind in ("c", "x"), kind in ("o", "x"))
    Sc, So = _snapshots(sys, need, opts, shared_inputs=kind == "x")
    if kind == "x":
        return Sc.T @ So
    S = Sc if kind == "c" else So
    if factor:
        return thin_factor(S.T)
    W = S.T @ S
    return 0.5 * (W + W.T)


def _check_square(sys: Any) -> None:
    sim = _as_simulator(sys)
    if sim is not None:
        m, p = sim.m, sim.p
        if p is None:
            raise ValueError("the cross Gramian needs a square system; set Simulator.p")
    else:
        m, p = as_state_space(sys).shape[::-1]
    if m != p:
        raise ValueError(f"the cross Gramian needs a square system (m = p), got m={m}, p={p}")


def empirical_gramian_factors(sys: Any, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Factors `Lc`, `Lo` with `Lc Lc^T = Wc` and `Lo Lo^T = Wo` (empirical Gramians).

    The factors come straight from the trajectory data: the scaled snapshot matrices, reduced
    by a thin QR to `n` columns when there are more samples than states -- no Gramian is
    formed and none is Cholesky-factored, so rank-deficient estimates are fine.  This is the
    input to square-root balanced truncation and to [`empirical_hsv`][hankelid.empirical.empirical_hsv].

    Parameters
    ----------
    sys : StateSpace or Simulator
        As in [`empirical_gramian`][hankelid.empirical.empirical_gramian] (a simulator needs `forward` and
        `adjoint` or `from_initial`).
    **options
        The keywords of [`empirical_gramian`][hankelid.empirical.empirical_gramian] (`inputs`, `length`,
        `n_trajectories`, `seed`, `dt`, `discretization`, `finite_horizon`, `batch_size`).  Data
        Gramians take a pair of input arrays `inputs=(U, V)`: `U` of shape `(K, L, m)`
        drives the system (`Lc`), `V` of shape `(K', L', p)` its adjoint (`Lo`).  A
        single array is refused: it cannot drive both sides.

    Returns
    -------
    Lc : ndarray, shape (n, rc)
    Lo : ndarray, shape (n, ro)
        `rc, ro <= n` for impulses; `min(n, n_trajectories)` for Gaussian inputs.

    Raises
    ------
    UnstableSystemError, ValueError
        As [`empirical_gramian`][hankelid.empirical.empirical_gramian].

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> from hankelid.empirical import empirical_gramian_factors
    >>> sys = hk.random_stable(5, 2, 2, dt=1.0, seed=3)
    >>> Lc, Lo = empirical_gramian_factors(sys, length=500)
    >>> bool(np.allclose(Lc @ Lc.T, hk.empirical_gramian(sys, "c", length=500)))
    True

    Data Gramians from recorded sequences, one array per side:

    >>> rng = np.random.default_rng(0)
    >>> U, V = rng.standard_normal((3, 200, 2)), rng.standard_normal((4, 100, 2))
    >>> Lc, Lo = empirical_gramian_factors(sys, inputs=(U, V))
    >>> bool(np.allclose(Lo @ Lo.T, hk.empirical_gramian(sys, "o", inputs=V)))
    True
    """
    unknown = sorted(set(options) - set(_Options.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown estimator options {unknown}; use {sorted(_Options.__dataclass_fields__)}")
    inputs = options.get("inputs")
    if isinstance(inputs, tuple) and len(inputs) == 2 and not any(isinstance(x, str) for x in inputs):
        rest = {k: v for k, v in options.items() if k != "inputs"}
        return (
            empirical_gramian(sys, "c", inputs=inputs[0], factor=True, **rest),
            empirical_gramian(sys, "o", inputs=inputs[1], factor=True, **rest),
        )
    opts = _options(**options)
    if opts.inputs == "data":
        raise ValueError(
            "an input array drives one Gramian at a time: pass a pair inputs=(U, V) (U for the system, "
            "V for its adjoint), or use empirical_gramian(sys, 'c', inputs=U, factor=True)"
        )
    Sc, So = _snapshots(sys, (True, True), opts)
    return thin_factor(Sc.T), thin_factor(So.T)


def empirical_hsv(sys: Any, **options: Any) -> np.ndarray:
    r"""Hankel singular values from empirical Gramian factors: `svd(Lo^T Lc)`.

    Parameters
    ----------
    sys : StateSpace or Simulator
        As in [`empirical_gramian_factors`][hankelid.empirical.empirical_gramian_factors].
    **options
        The keywords of [`empirical_gramian`][hankelid.empirical.empirical_gramian].

    Returns
    -------
    ndarray, shape (n,)
        Descending; zeros pad the values a rank-deficient estimate cannot resolve.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> from hankelid.empirical import empirical_hsv
    >>> sys = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=1.0)
    >>> float(np.round(empirical_hsv(sys, length=100)[0], 10))   # 1 / (1 - 0.5^2)
    1.3333333333
    """
    Lc, Lo = empirical_gramian_factors(sys, **options)
    s = hsv_from_factors(Lc, Lo)
    out = np.zeros(Lc.shape[0])
    out[: s.size] = s[: Lc.shape[0]]
    return out
