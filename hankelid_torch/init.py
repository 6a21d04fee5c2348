r"""Initializations of the HRM adapter: torch initializers and the Hankel-init glue.

* [`s4d_real`][hankelid_torch.init.s4d_real] -- S4D-real: `a_n = -(n + 1)` and `dt` log-uniform in
  `[dt_min, dt_max]`, returned in the adapter's raw parametrization (`log_a`, `log_dt`).
* [`random_s4d`][hankelid_torch.init.random_s4d] -- random rates `-a` log-uniform in `[0.5, d + 1]` instead.
* [`input_output_matrices`][hankelid_torch.init.input_output_matrices] -- random dense `B` (d x D_in) and `C`
  (D_out x d).
* [`hankel_reduction`][hankelid_torch.init.hankel_reduction] -- the Hankel initialization: a richer stable
  S4D-real system of order `N` (default `4 d`) with random dense `B`, `C`, discretized by zero-order hold,
  reduced to order `d` by [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation] (by
  default the exact Gramians over the finite horizon `length`, the mean of the Gaussian empirical estimate in
  closed form; or infinite-horizon Gramians; or the empirical estimate itself).
* [`reduce_full_system`][hankelid_torch.init.reduce_full_system] -- the same reduction of a given full system,
  optionally with the data Gramian of recorded inputs on the controllability side.

The numerical work (balanced truncation with channel compression, Gramian factors, the real
modal form [`hankelid.modal_realization`][hankelid.realization.modal_realization] the adapter loads) is done
by `hankelid`; this module draws the numbers with torch (a `torch.Generator`) and glues the steps.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import hankelid as hk
from hankelid.horizon import horizon_gramian_factors
from hankelid.truncation import balance_from_factors, compress_channels, distinct_bounds

from .options import HankelInitOptions
from .parametrization import s4d_to_modal

__all__ = [
    "HankelInit",
    "hankel_reduction",
    "input_output_matrices",
    "inverse_softplus",
    "random_s4d",
    "reduce_full_system",
    "s4d_full_system",
    "s4d_real",
]


def inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    """`log(exp(x) - 1)`, the inverse of `softplus` (for `x > 0`)."""
    return x + torch.log(-torch.expm1(-x))


def _log_uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    r = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(lo) + r * (math.log(hi) - math.log(lo)))


def s4d_real(
    d_state: int, *, dt_min: float = 1e-3, dt_max: float = 1e-1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """S4D-real rates and step sizes as raw parameters `(log_a, log_dt)` (float32).

    `a_n = -exp(log_a_n) = -(n + 1)`; `dt_n = softplus(log_dt_n)` log-uniform in
    `[dt_min, dt_max]`, so `exp(dt a)` starts between `exp(-dt_max d)` and
    `exp(-dt_min)`.
    """
    log_a = torch.log(torch.arange(1, d_state + 1, dtype=torch.float64))
    dt = _log_uniform(d_state, dt_min, dt_max, generator)
    return log_a.float(), inverse_softplus(dt).float()


def random_s4d(
    d_state: int, *, dt_min: float = 1e-3, dt_max: float = 1e-1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rates `-a` log-uniform in `[0.5, d + 1]` and `dt` log-uniform (float32)."""
    rate = _log_uniform(d_state, 0.5, d_state + 1.0, generator)
    dt = _log_uniform(d_state, dt_min, dt_max, generator)
    return torch.log(rate).float(), inverse_softplus(dt).float()


def input_output_matrices(
    in_features: int, out_features: int, d_state: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random dense `B ~ N(0, 1/D_in)` (d x D_in) and `C ~ N(0, 1/d)` (D_out x d), float32.

    With these scales a state driven by unit-variance inputs has O(1/|a|) entries and the
    readout has O(1) entries, independently of the widths.
    """
    B = torch.randn(d_state, in_features, generator=generator, dtype=torch.float64) / math.sqrt(in_features)
    C = torch.randn(out_features, d_state, generator=generator, dtype=torch.float64) / math.sqrt(d_state)
    return B.float(), C.float()


# ---------------------------------------------------------------------------- Hankel init
def s4d_full_system(
    in_features: int,
    out_features: int,
    order: int,
    *,
    dt_min: float = 1e-3,
    dt_max: float = 1e-1,
    generator: torch.Generator | None = None,
) -> hk.StateSpace:
    """The richer system the Hankel initialization starts from (discrete, `dt = 1`).

    S4D-real poles `exp(dt_n a_n)` with `a_n = -(n + 1)`, `dt_n` log-uniform in
    `[dt_min, dt_max]`, random dense `B`, `C` (as
    [`input_output_matrices`][hankelid_torch.init.input_output_matrices]), zero-order hold
    `B_bar = (exp(dt a) - 1) / a * B`.  In the adapter's convention (the state is read after the input entered
    it) this system's kernel is `C A^k B_bar`.
    """
    log_a, log_dt = s4d_real(order, dt_min=dt_min, dt_max=dt_max, generator=generator)
    B, C = input_output_matrices(in_features, out_features, order, generator=generator)
    modal = s4d_to_modal(log_a, log_dt, B, C, dt_min=dt_min, dt_max=dt_max)
    return hk.StateSpace(np.diag(modal.rho), modal.B, modal.C, dt=1.0)


@dataclass
class HankelInit:
    """What [`hankel_reduction`][hankelid_torch.init.hankel_reduction] did: the full system, the reduction and
    its diagnostics.

    `settings` are the [`HankelInitOptions`][hankelid_torch.options.HankelInitOptions] it ran with;
    `options` what reached the Gramian estimator (with the seed drawn, and `"inputs"`).
    """

    full: hk.StateSpace
    reduced: hk.StateSpace
    hsv: np.ndarray
    error_bound: float
    gramians: str
    options: dict[str, Any] = field(default_factory=dict)
    settings: HankelInitOptions = field(default_factory=HankelInitOptions)


def hankel_reduction(
    in_features: int,
    out_features: int,
    d_state: int,
    options: HankelInitOptions | None = None,
    *,
    dt_min: float = 1e-3,
    dt_max: float = 1e-1,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    inputs: np.ndarray | None = None,
) -> HankelInit:
    r"""Build the richer S4D-real system of order `N` and balance-truncate it to `d_state`.

    Parameters
    ----------
    in_features, out_features : int
        Inputs `D_in` and outputs `D_out` of the adapter.
    d_state : int
        Reduced order `d`.
    options : HankelInitOptions, optional
        `order`: order `N` of the full system (default `4 * d_state`); must be `>= d_state`.
        `gramians`: `"horizon"` (default), the Gramians over the finite horizon `length`,
        `sum_{k<L} A^k B B^T A^kT`
        ([`hankelid.horizon.horizon_gramian_factors`][hankelid.horizon.horizon_gramian_factors], closed form
        for the diagonal full system) -- exactly the mean of the `"empirical"` estimate, without its sampling
        noise and at a fraction of its cost; `"exact"`, Lyapunov Gramians of the full system; `"empirical"`,
        Gramians estimated from `n_trajectories` random Gaussian input sequences of `length` samples
        (`inputs="gaussian"` of [`hankelid.empirical_gramian`][hankelid.empirical.empirical_gramian]): i.i.d.
        standard normal white noise on all `D_in` inputs at once for the controllability Gramian, and on all
        `D_out` inputs of the adjoint system for the observability Gramian, the estimate
        being the finite-horizon Gramian of that length.  Only `B u` reaches the state, so
        the estimator runs on the channel-compressed system
        ([`hankelid.truncation.compress_channels`][hankelid.truncation.compress_channels]: `N` channels with
        the same law of `B u`, inside
        [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation]): the cost is
        `O(n_trajectories * N^2 * length)`, independent of `D`.  `length` is ignored for exact Gramians and
        `n_trajectories` for all but empirical ones; `n_trajectories=None` uses the estimator's default
        (`max(256, 2 N)`).  Default: `HankelInitOptions()`.
    seed : int, optional
        Seed for the empirical estimator's Gaussian inputs (default: drawn from `generator`
        / torch's global RNG, so `torch.manual_seed` reproduces the init).
    inputs : ndarray, shape (K, L, D_in), optional
        Task data: `K` recorded sequences of the adapter's input (e.g. MLP inputs of the
        frozen model).  The controllability Gramian is then their data Gramian (see
        [`reduce_full_system`][hankelid_torch.init.reduce_full_system]); `gramians` still chooses the
        observability side.

    Returns
    -------
    HankelInit
        `reduced` is a discrete strictly proper system (`D = 0`) whose Markov parameters
        `h_{k+1} = C_r A_r^k B_r` are the initial adapter's kernel.
    """
    options = HankelInitOptions() if options is None else options
    N = 4 * d_state if options.order is None else int(options.order)
    if N < d_state:
        raise ValueError(f"hankel_order must be >= d_state={d_state}, got {N}")
    full = s4d_full_system(in_features, out_features, N, dt_min=dt_min, dt_max=dt_max, generator=generator)
    return reduce_full_system(full, d_state, options, seed=seed, generator=generator, inputs=inputs)


def reduce_full_system(
    full: hk.StateSpace,
    d_state: int,
    options: HankelInitOptions | None = None,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    inputs: np.ndarray | None = None,
) -> HankelInit:
    r"""Balanced truncation of the full system `full` to `d_state` states, as the Hankel init does it.

    With `inputs` (`K` recorded input sequences, shape `(K, L, D_in)`), the
    controllability Gramian is their *data Gramian*
    `(1/(K L)) sum_i sum_k x_k^{(i)} x_k^{(i)T}`, the second moment of the states the task's
    own inputs drive ([`hankelid.empirical_gramian`][hankelid.empirical.empirical_gramian] with an input
    array): state directions the data never excites are truncated first, whatever white noise would do.  The
    Hankel singular values are then data-weighted ones and `error_bound` is NaN (the
    `2 sum sigma` bound needs Lyapunov Gramians).  There is no
    data for the observability side (it would need the gradients the outputs receive), so it
    stays the `gramians` choice: horizon, exact, or Gaussian-input empirical.  Without `inputs` both
    Gramians follow `options.gramians` (see [`hankel_reduction`][hankelid_torch.init.hankel_reduction]).

    Examples
    --------
    >>> import numpy as np, torch
    >>> full = s4d_full_system(8, 8, 12, generator=torch.Generator().manual_seed(0))
    >>> U = np.random.default_rng(0).standard_normal((4, 64, 8))
    >>> info = reduce_full_system(full, 3, HankelInitOptions(gramians="exact"), inputs=U)
    >>> info.reduced.n, info.options["inputs"]
    (3, 'data (4, 64, 8)')
    """
    settings = HankelInitOptions() if options is None else options
    gramians = settings.gramians
    if gramians == "empirical" and seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
    options = settings.estimator_options(seed)
    with warnings.catch_warnings():
        # The horizon is the prescribed input length (the training context), so the estimate is
        # meant to be the finite-horizon Gramian of the slow modes: no warning about it.
        warnings.filterwarnings("ignore", message=r".*does not cover the decay", category=RuntimeWarning)
        if inputs is None and gramians == "horizon":
            reduced, hsv, bound = _horizon_reduction(full, d_state, int(settings.length))
        elif inputs is None:
            red = hk.balanced_truncation(full, d_state, gramians=gramians, **options)
            reduced, hsv, bound = red.system, np.asarray(red.hsv), float(red.error_bound)
        else:
            reduced, hsv, bound = _data_reduction(full, d_state, np.asarray(inputs), gramians, options)
            options = {**options, "inputs": f"data {tuple(np.shape(inputs))}"}
    return HankelInit(
        full=full,
        reduced=reduced,
        hsv=hsv,
        error_bound=bound,
        gramians=gramians,
        options=options,
        settings=settings,
    )


def _data_reduction(
    full: hk.StateSpace, d_state: int, inputs: np.ndarray, gramians: str, options: dict[str, Any]
) -> tuple[hk.StateSpace, np.ndarray, float]:
    """Balanced truncation with the data Gramian of `inputs` on the controllability side."""
    if inputs.ndim != 3 or inputs.shape[2] != full.m:
        raise ValueError(
            f"task-data inputs must have shape (K, L, {full.m}) (sequences, samples, adapter inputs), "
            f"got {inputs.shape}"
        )
    # Both factors straight from the core's solvers / snapshot matrices: never formed, then factored.
    Lc = hk.empirical_gramian(full, "c", inputs=inputs, factor=True)
    if gramians == "exact":
        Lo = hk.gramian(full, "o", factor=True)
    elif gramians == "horizon":
        Lo = horizon_gramian_factors(full, options["length"])[1]
    else:
        Lo = hk.empirical_gramian(compress_channels(full), "o", factor=True, **options)
    reduced, _, _, hsv = balance_from_factors(full, Lc, Lo, d_state)
    # No proven bound: a data Gramian solves no Lyapunov equation, so 2 sum(sigma_tail) is not one.
    return reduced, hsv, math.nan


def _horizon_reduction(
    full: hk.StateSpace, d_state: int, length: int
) -> tuple[hk.StateSpace, np.ndarray, float]:
    """Balanced truncation with the closed-form horizon-`length` Gramians of the (diagonal) full system.

    The closed form needs only `B B^T` and `C^T C` (one product each, no QR of the wide `B`).
    The bound `2 sum` of the discarded horizon HSVs is reported as the empirical estimate's was:
    it is computed from finite-horizon Gramians, which solve no Lyapunov equation.
    """
    Lc, Lo = horizon_gramian_factors(full, length)
    A, B, C, _ = full.matrices
    # The projection depends on A and the factors only: a 1-channel stand-in avoids copying and
    # checking the (D_out x D_in) zero feed-through of the wide system, which dominates otherwise.
    stand_in = hk.StateSpace(A, np.zeros((A.shape[0], 1)), np.zeros((1, A.shape[0])), dt=full.dt)
    _, T, Ti, hsv = balance_from_factors(stand_in, Lc, Lo, d_state)
    reduced = hk.StateSpace(Ti @ A @ T, Ti @ B, C @ T, dt=full.dt)
    return reduced, hsv, float(distinct_bounds(hsv)[d_state])
