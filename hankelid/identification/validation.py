r"""Model validation on measured data: prediction, initial states, fit and residual tests.

- [`predict`][hankelid.predict]: `k`-step-ahead prediction through the innovation form
  \( x_{t+1} = A x_t + B u_t + K e_t,\; y_t = C x_t + D u_t + e_t \) when the model carries a
  gain `K` (an [`Identification`][hankelid.Identification]); simulation otherwise.
- [`estimate_initial_state`][hankelid.estimate_initial_state]: least-squares `x0` per experiment.
- [`compare`][hankelid.compare]: the fit in percent per output,
  \( 100\,(1 - \lVert y - \hat y\rVert / \lVert y - \bar y\rVert) \), as MATLAB's `compare`.
- [`residuals`][hankelid.residuals]: whiteness of the prediction errors and their independence
  from past inputs, with 99 % confidence bounds (Ljung 1999, §16.6).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from ..systems import StateSpace, as_state_space
from ._recurrence import Recurrence, run_discrete
from .data import IOData
from .simulate import discretize_input_hold

__all__ = [
    "CompareResult",
    "ResidualAnalysis",
    "compare",
    "estimate_initial_state",
    "fit_percent",
    "predict",
    "residuals",
]


# ---------------------------------------------------------------------------- helpers
def _model(model: Any, name: str = "model") -> tuple[StateSpace, np.ndarray | None]:
    """The model's StateSpace and its innovation gain (None when it carries none)."""
    try:
        sys = as_state_space(model)
    except ValueError:
        raise TypeError(
            f"{name} must be a hankelid.StateSpace, a python-control / scipy system or an "
            f"Identification, got {type(model).__name__}"
        ) from None
    K = getattr(model, "K", None)
    if K is not None:
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (sys.n, sys.p):
            raise ValueError(f"{name}.K must have shape (n, p) = {(sys.n, sys.p)}, got {K.shape}")
    return sys, K


def _check_data(data: Any, sys: StateSpace, name: str = "model") -> IOData:
    if not isinstance(data, IOData):
        raise TypeError(f"data must be a hankelid.IOData, got {type(data).__name__}")
    if (data.m, data.p) != (sys.m, sys.p):
        raise ValueError(
            f"the data have m={data.m} inputs and p={data.p} outputs but {name} has m={sys.m}, p={sys.p}"
        )
    if sys.is_discrete and not np.isclose(sys.dt, data.dt, rtol=1e-9, atol=0.0):
        raise ValueError(
            f"{name} is discrete with dt={sys.dt} but the data are sampled at dt={data.dt}; "
            "re-identify the model or resample the data"
        )
    return data


def _discrete(sys: StateSpace, dt: float) -> tuple[StateSpace, np.ndarray | None]:
    """The model at the data's sampling (continuous models by exact zero-order hold)."""
    if sys.is_discrete:
        return sys, None
    return discretize_input_hold(sys, dt, "zoh")


def _predictor(sys: StateSpace, K: np.ndarray) -> StateSpace:
    """One-step predictor `x⁺ = (A - K C) x + [B - K D, K] [u; y]`, `ŷ = C x + [D, 0] [u; y]`."""
    A, B, C, D = sys.matrices
    return StateSpace(
        A - K @ C, np.hstack([B - K @ D, K]), C, np.hstack([D, np.zeros((sys.p, sys.p))]), sys.dt
    )


def _ls_initial_state(sysd: StateSpace, u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares `x0` of `y ≈ O x0 + (forced response)`, `O[k] = C A^k`, in bounded memory.

    The rows of `O` are produced a chunk of `L` samples at a time (chunk `c` is the first chunk
    times `A^(cL)`) and folded into a QR factorization of `[O | r]`, so a long record never
    holds more than one chunk; for a stable model the chunks stop once `A^(cL)` has decayed
    below rounding level (they would add nothing).
    """
    n, p = sysd.n, sysd.p
    N = u.shape[0]
    r = y - run_discrete(sysd, u, np.zeros(n))[0]
    L = int(min(N, max(4 * n, 200_000 // max(1, p * n))))
    G = np.zeros((L, n, n))
    G[0] = np.eye(n)
    X = Recurrence(sysd.A).solve(G)  # X[k, j] = (A^k e_j)ᵀ, i.e. X[k] = (A^k)ᵀ
    O_first = np.einsum("pi,kji->kpj", sysd.C, X).reshape(L * p, n)  # rows C A^k
    step = sysd.A @ X[L - 1].T  # A^L
    R = np.zeros((0, n + 1))
    P = np.eye(n)
    for start in range(0, N, L):
        stop = min(N, start + L)
        rows = (stop - start) * p
        block = np.hstack([O_first[:rows] @ P, r[start:stop].reshape(-1, 1)])
        R = np.linalg.qr(np.vstack([R, block]), mode="r")
        P = P @ step
        if np.abs(P).max() < 1e-3 * np.finfo(float).eps:
            break
    Rx, z = R[:n, :n], R[:n, n]
    x0, *_ = np.linalg.lstsq(Rx, z, rcond=None)
    return x0


def _x0_list(spec: Any, sysd: StateSpace, inputs: list[np.ndarray], ys: list[np.ndarray]) -> list[np.ndarray]:
    n = sysd.n
    if isinstance(spec, str):
        if spec == "zero":
            return [np.zeros(n) for _ in inputs]
        if spec == "estimate":
            return [_ls_initial_state(sysd, ue, ye) for ue, ye in zip(inputs, ys)]
        raise ValueError(f"x0 must be 'estimate', 'zero' or an array, got {spec!r}")
    arr = np.asarray(spec, dtype=np.float64)
    if arr.shape == (n,) and len(inputs) == 1:
        return [arr]
    if arr.shape == (len(inputs), n):
        return list(arr)
    raise ValueError(f"x0 must have shape ({n},) or ({len(inputs)}, {n}), got {arr.shape}")


def _horizon(horizon: Any) -> int | None:
    if horizon is None or (isinstance(horizon, float) and np.isinf(horizon)):
        return None
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer or None (simulation), got {horizon!r}")
    return int(horizon)


def fit_percent(y: Any, y_hat: Any) -> np.ndarray:
    r"""Normalized fit per output, \( 100\,(1 - \lVert y - \hat y\rVert / \lVert y - \bar y\rVert) \).

    100 is a perfect fit; 0 is no better than the output's mean; it is unbounded below.
    A constant output gives NaN (the fit is undefined).

    Parameters
    ----------
    y, y_hat : array_like, shape (N, p) or (N,)
        Measured and predicted outputs.

    Returns
    -------
    ndarray, shape (p,)

    Examples
    --------
    >>> from hankelid.identification.validation import fit_percent
    >>> fit_percent([1.0, 2.0, 3.0], [1.0, 2.0, 2.0])    # 100 (1 - 1/sqrt(2))
    array([29.28932188])
    """
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y_hat.ndim == 1:
        y_hat = y_hat[:, None]
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {y.shape} and {y_hat.shape}")
    num = np.linalg.norm(y - y_hat, axis=0)
    den = np.linalg.norm(y - y.mean(axis=0), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100.0 * (1.0 - num / np.where(den > 0, den, 1.0)), np.nan)


# ---------------------------------------------------------------------------- public API
def estimate_initial_state(model: Any, data: IOData, *, predictor: bool = False) -> np.ndarray:
    r"""Least-squares initial state of each experiment.

    Minimizes \( \sum_k \lVert y_k - C A^k x_0 - (\text{forced response})_k \rVert^2 \) over
    the whole record (the simulation error). With `predictor=True` and a model carrying an
    innovation gain `K`, the one-step predictor \( A - K C \) is used instead (the initial
    state that minimizes the one-step prediction errors).

    Parameters
    ----------
    model : StateSpace, Identification, or python-control / scipy system
    data : IOData
    predictor : bool

    Returns
    -------
    ndarray
        Shape `(n,)` for one experiment, `(E, n)` for `E` experiments. For a continuous
        model, the state at the first sample.

    Raises
    ------
    ValueError
        If channel counts or (for a discrete model) `dt` differ.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(3, dt=1.0, seed=0)
    >>> u = np.random.default_rng(0).standard_normal(200)
    >>> x0 = np.array([1.0, -2.0, 0.5])
    >>> data = hk.IOData(u, hk.simulate(sys, u, x0))
    >>> np.round(hk.estimate_initial_state(sys, data), 6)
    array([ 1. , -2. ,  0.5])
    """
    sys, K = _model(model)
    _check_data(data, sys)
    sysd, shift = _discrete(sys, data.dt)
    if predictor and K is not None and sys.is_discrete:
        sysp = _predictor(sysd, K)
        x0s = [_ls_initial_state(sysp, np.hstack([ue, ye]), ye) for ue, ye in zip(data.u, data.y)]
    else:
        x0s = [_ls_initial_state(sysd, ue, ye) for ue, ye in zip(data.u, data.y)]
    if shift is not None:  # back from the hold-shifted discrete state to x(t_0)
        x0s = [x + shift @ ue[0] for x, ue in zip(x0s, data.u)]
    return x0s[0] if len(x0s) == 1 else np.array(x0s)


def predict(model: Any, data: IOData, horizon: int | None = 1, *, x0: Any = "estimate") -> list[np.ndarray]:
    r"""`horizon`-step-ahead output prediction, one array `(N_e, p)` per experiment.

    With an innovation gain `K` (an [`Identification`][hankelid.Identification] of a discrete
    model), the one-step predictor
    \( \hat x_{t+1|t} = (A - KC)\hat x_{t|t-1} + (B - KD) u_t + K y_t \) uses the outputs up
    to `t - horizon`; from there the model runs on the inputs alone:
    \( \hat y_{t|t-h} = C\big(A^{h-1}\hat x_{t-h+1|t-h} + \sum_{j=0}^{h-2} A^j B u_{t-1-j}\big) + D u_t \).
    The first `horizon - 1` samples, which have no measured output that far back, are the
    simulation from `x0`. A model without `K` (a plain `StateSpace`), or `horizon=None`, gives
    the simulation (an output-error model predicts no better than it simulates).

    Parameters
    ----------
    model : StateSpace or Identification (or a python-control / scipy system)
    data : IOData
    horizon : int or None
        Prediction horizon `k >= 1`; `None` (or `inf`) for pure simulation.
    x0 : "estimate", "zero" or array_like
        Initial state: least squares on `data` (for the predictor when `K` is used), zero, or
        given (shape `(n,)` or `(E, n)`).

    Returns
    -------
    list of ndarray (N_e, p)

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(2, dt=1.0, seed=1)
    >>> rng = np.random.default_rng(0)
    >>> u, e = rng.standard_normal(300), 0.1 * rng.standard_normal((300, 1))
    >>> K = np.array([[0.5], [0.2]])
    >>> noisy = hk.StateSpace(sys.A, np.hstack([sys.B, K]), sys.C, [[0.0, 1.0]], dt=1.0)
    >>> data = hk.IOData(u, hk.simulate(noisy, np.column_stack([u, e])))
    >>> model = hk.Identification(system=sys, order=2, singular_values=np.ones(2), K=K)
    >>> y1 = hk.predict(model, data, horizon=1, x0="zero")[0]
    >>> bool(np.allclose(data.y[0] - y1, e))      # the true model's one-step errors are e
    True
    """
    sys, K = _model(model)
    _check_data(data, sys)
    h = _horizon(horizon)
    sysd, shift = _discrete(sys, data.dt)
    if K is None or h is None or not sys.is_discrete:
        x0s = _x0_list(x0, sysd, data.u, data.y)
        if shift is not None and not (isinstance(x0, str) and x0 == "estimate"):
            # given (or zero) x0 is x(t_0); the hold-shifted discrete state is x(t_0) - E u_0
            x0s = [x - shift @ ue[0] for x, ue in zip(x0s, data.u)]
        return [run_discrete(sysd, ue, xe)[0] for ue, xe in zip(data.u, x0s)]
    sysp = _predictor(sysd, K)
    ext = [np.hstack([ue, ye]) for ue, ye in zip(data.u, data.y)]
    x0s = _x0_list(x0, sysp, ext, data.y)
    out = []
    A, B, C, D = sysd.matrices
    for ue, we, xe in zip(data.u, ext, x0s):
        y1, Xp = run_discrete(sysp, we, xe, states=True)
        assert Xp is not None
        if h == 1:
            out.append(y1)
            continue
        N = ue.shape[0]
        y_sim = run_discrete(sysd, ue, xe)[0]
        # S[t] = sum_{j=0}^{h-2} A^j B u[t-1-j]: the inputs' contribution over the last h-1 steps
        S = np.zeros((N, sys.n))
        Aj = np.eye(sys.n)
        for j in range(h - 1):
            if j + 1 < N:
                S[j + 1 :] += ue[: N - 1 - j] @ (Aj @ B).T
            Aj = A @ Aj
        Ah = np.linalg.matrix_power(A, h - 1)
        y = y_sim.copy()
        if N > h - 1:
            Xh = Xp[: N - h + 1] @ Ah.T + S[h - 1 :]
            y[h - 1 :] = Xh @ C.T + ue[h - 1 :] @ D.T
        out.append(y)
    return out


def _label(model: Any, index: int) -> str:
    method = getattr(model, "method", "")
    order = getattr(model, "order", None)
    if method:
        return f"{method} (n={order})" if order is not None else str(method)
    return f"model {index + 1}"


@dataclass(frozen=True)
class CompareResult:
    """The outcome of [`compare`][hankelid.compare].

    Attributes
    ----------
    fit : ndarray, shape (n_models, p)
        Fit in percent per model and output, over all experiments pooled.
    fit_per_experiment : ndarray, shape (n_models, E, p)
    predictions : list of list of ndarray
        `predictions[i][e]`: model `i`'s output, shape `(N_e, p)`, on experiment `e`.
    x0 : list of ndarray
        The initial states used, per model (`(E, n)`).
    names : list of str
        Model labels (method and order for identification results).
    data : IOData
        The data compared against.
    horizon : int or None
        Prediction horizon (`None`: simulation).
    """

    fit: np.ndarray
    fit_per_experiment: np.ndarray
    predictions: list[list[np.ndarray]]
    x0: list[np.ndarray]
    names: list[str]
    data: IOData = field(repr=False)
    horizon: int | None = None

    def __repr__(self) -> str:
        rows = ", ".join(f"{nm}: {np.round(f, 1).tolist()}" for nm, f in zip(self.names, self.fit))
        return f"CompareResult(fit % per output -> {rows})"


def compare(data: Any, *models: Any, x0: Any = "estimate", horizon: int | None = None, **kwargs: Any) -> Any:
    r"""Fit of one or more models on measured data, per output, as MATLAB's `compare`.

    $$
    \text{fit}_j = 100\left(1 - \frac{\lVert y_j - \hat y_j \rVert_2}{\lVert y_j - \bar y_j \rVert_2}\right)
    $$

    over all samples of all experiments (`ȳ_j`: the mean of output `j`), with `ŷ` the
    simulation (`horizon=None`) or the `horizon`-step-ahead prediction (see
    [`predict`][hankelid.predict]).

    Frequency-domain data (an object with its own `compare` method, such as `hk.FRData`) are
    handed to that method: `compare(frd, *models, **kw)` returns `frd.compare(*models, **kw)`.

    Parameters
    ----------
    data : IOData (or an object with a `compare(*models, **kw)` method)
    *models : StateSpace, Identification, python-control / scipy systems
    x0 : "estimate", "zero" or array_like
        Initial state per model: least squares on `data` (default, as MATLAB), zero, or
        given (shape `(n,)` or `(E, n)`, used for every model).
    horizon : int or None
        `None` for simulation, `k` for `k`-step-ahead prediction.

    Returns
    -------
    CompareResult
        `.fit` (n_models, p), `.fit_per_experiment`, `.predictions`, `.x0`, `.names`.

    Raises
    ------
    TypeError
        If `data` is neither an IOData nor has a `compare` method, or a model is not a system.
    ValueError
        If no model is given, or a model's channel counts or `dt` do not match the data.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(4, dt=1.0, seed=0)
    >>> u = np.random.default_rng(1).standard_normal(500)
    >>> data = hk.IOData(u, hk.simulate(sys, u, [1.0, 0.0, 0.0, 0.0]))
    >>> res = hk.compare(data, sys)
    >>> np.round(res.fit, 6)          # the true model with its estimated initial state
    array([[100.]])
    >>> bool(hk.compare(data, sys, x0="zero").fit[0, 0] < 100)
    True
    """
    if not isinstance(data, IOData):
        method = getattr(data, "compare", None)
        if callable(method):
            # pass the time-domain options on only where the caller set them
            if not (isinstance(x0, str) and x0 == "estimate"):
                kwargs["x0"] = x0
            if horizon is not None:
                kwargs["horizon"] = horizon
            return method(*models, **kwargs)
        raise TypeError(
            f"data must be a hankelid.IOData (or frequency-response data with a compare method), "
            f"got {type(data).__name__}"
        )
    if kwargs:
        raise TypeError(f"compare() got unexpected keyword arguments {sorted(kwargs)}")
    if not models:
        raise ValueError("compare needs at least one model")
    h = _horizon(horizon)
    preds, x0s, fits, fits_e, names = [], [], [], [], []
    y_all = np.vstack(data.y)
    for i, model in enumerate(models):
        sys, K = _model(model, f"model {i + 1}")
        _check_data(data, sys, f"model {i + 1}")
        if isinstance(x0, str) and x0 == "estimate":
            use_pred = h is not None and K is not None and sys.is_discrete
            x_est = estimate_initial_state(model, data, predictor=use_pred)
            xs = np.atleast_2d(x_est)
        elif isinstance(x0, str):
            xs = np.zeros((data.n_experiments, sys.n)) if x0 == "zero" else None
            if xs is None:
                raise ValueError(f"x0 must be 'estimate', 'zero' or an array, got {x0!r}")
        else:
            xs = np.atleast_2d(np.asarray(x0, dtype=np.float64))
        yh = predict(model, data, horizon=h, x0=xs if data.n_experiments > 1 else xs[0])
        preds.append(yh)
        x0s.append(xs)
        fits.append(fit_percent(y_all, np.vstack(yh)))
        fits_e.append([fit_percent(ye, yhe) for ye, yhe in zip(data.y, yh)])
        names.append(_label(model, i))
    return CompareResult(
        fit=np.array(fits),
        fit_per_experiment=np.array(fits_e),
        predictions=preds,
        x0=x0s,
        names=names,
        data=data,
        horizon=h,
    )


# ---------------------------------------------------------------------------- residual analysis
@dataclass(frozen=True)
class ResidualAnalysis:
    r"""The outcome of [`residuals`][hankelid.residuals].

    Attributes
    ----------
    errors : list of ndarray
        Prediction errors `y - ŷ`, one `(N_e, p)` array per experiment.
    lags : ndarray
        `0 .. M` for the auto-correlation.
    auto : ndarray, shape (p, M + 1)
        Normalized auto-correlation per output,
        \( \hat r_\varepsilon(\tau) = \hat R_\varepsilon(\tau) / \hat R_\varepsilon(0) \).
    auto_bound : float
        99 % bound on `auto` at lags `τ ≥ 1` for white errors, \( z_{0.995}/\sqrt{N} \).
    cross_lags : ndarray
        `-M .. M`; positive lags pair the error with *past* inputs.
    cross : ndarray, shape (p, m, 2M + 1)
        Normalized cross-correlation,
        \( \hat R_{\varepsilon u}(\tau) / \sqrt{\hat R_\varepsilon(0)\hat R_u(0)} \).
    cross_bound : ndarray, shape (p, m)
        99 % bound on `cross` (Ljung's \( P = \sum_k \hat R_\varepsilon(k)\hat R_u(k) \)).
    whiteness_stat, whiteness_pvalue : ndarray, shape (p,)
        \( N\sum_{\tau=1}^M \hat r_\varepsilon(\tau)^2 \sim \chi^2(M) \) and its p-value.
    independence_stat, independence_pvalue : ndarray, shape (p, m)
        \( N\,\hat r^\top (\hat R_\varepsilon(0) \hat R_u)^{-1} \hat r \sim \chi^2(M + 1) \)
        over lags `0 .. M`.
    white, independent : ndarray of bool
        The tests passed at the 1 % level.
    n_samples : int
        `N`, all experiments together.
    """

    errors: list[np.ndarray]
    lags: np.ndarray
    auto: np.ndarray
    auto_bound: float
    cross_lags: np.ndarray
    cross: np.ndarray
    cross_bound: np.ndarray
    whiteness_stat: np.ndarray
    whiteness_pvalue: np.ndarray
    independence_stat: np.ndarray
    independence_pvalue: np.ndarray
    white: np.ndarray
    independent: np.ndarray
    n_samples: int
    confidence: float = 0.99
    output_names: tuple[str, ...] = ()
    input_names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"ResidualAnalysis(N={self.n_samples}, lags={self.lags[-1]}, white={self.white.tolist()}, "
            f"independent={self.independent.tolist()})"
        )


def _xcov(a: list[np.ndarray], b: list[np.ndarray], max_lag: int) -> np.ndarray:
    """`R_ab(τ) = (1/N) Σ_t a(t) b(t-τ)ᵀ` for `τ = 0..max_lag`, pooled over experiments: `(M+1, ., .)`."""
    N = sum(x.shape[0] for x in a)
    out = np.zeros((max_lag + 1, a[0].shape[1], b[0].shape[1]))
    for ae, be in zip(a, b):
        n = ae.shape[0]
        for tau in range(min(max_lag, n - 1) + 1):
            out[tau] += ae[tau:].T @ be[: n - tau]
    return out / N


def residuals(model: Any, data: IOData, lags: int = 25, *, x0: Any = "estimate") -> ResidualAnalysis:
    r"""Residual analysis: are the prediction errors white and independent of past inputs?

    The errors are the one-step-ahead prediction errors for a model with an innovation gain
    `K` (an [`Identification`][hankelid.Identification]), the simulation errors otherwise.
    Sample means of errors and inputs are removed; experiments are pooled. With `N` samples
    and the sample covariances \( \hat R_\varepsilon(\tau) \), \( \hat R_u(\tau) \),
    \( \hat R_{\varepsilon u}(\tau) = \frac1N\sum_t \varepsilon(t)u(t-\tau) \) (Ljung 1999,
    *System Identification*, §16.6):

    - whiteness: for white errors \( \sqrt N\,\hat r_\varepsilon(\tau) \) is asymptotically
      \( \mathcal N(0,1) \) for \( \tau \ne 0 \): bound \( \pm z_{0.995}/\sqrt N \), and
      \( \zeta = N\sum_{\tau=1}^{M}\hat r_\varepsilon(\tau)^2 \sim \chi^2(M) \);
    - independence: if \( \varepsilon \) and \( u \) are independent,
      \( \sqrt N\,\hat R_{\varepsilon u}(\tau) \sim \mathcal N(0, P) \),
      \( P = \sum_{k=-M}^{M}\hat R_\varepsilon(k)\hat R_u(k) \): bound
      \( \pm z_{0.995}\sqrt{P/N} \) (shown normalized by \( \sqrt{\hat R_\varepsilon(0)\hat R_u(0)} \));
      and for white errors
      \( N\,\hat r^\top(\hat R_\varepsilon(0)\,\hat{\mathbf R}_u)^{-1}\hat r \sim \chi^2(M+1) \),
      \( \hat r = (\hat R_{\varepsilon u}(0),\dots,\hat R_{\varepsilon u}(M)) \),
      \( \hat{\mathbf R}_u \) the Toeplitz matrix of \( \hat R_u \).

    Parameters
    ----------
    model : StateSpace or Identification (or a python-control / scipy system)
    data : IOData
    lags : int
        `M`, the largest lag (default 25).
    x0 : "estimate", "zero" or array_like

    Returns
    -------
    ResidualAnalysis

    Raises
    ------
    ValueError
        If `lags` is not a positive integer smaller than the shortest experiment, or the model
        does not match the data.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(3, dt=1.0, seed=0)
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(2000)
    >>> data = hk.IOData(u, hk.simulate(sys, u) + 0.1 * rng.standard_normal((2000, 1)))
    >>> res = hk.residuals(sys, data)
    >>> bool(res.white[0]), bool(res.independent[0, 0])
    (True, True)
    >>> bool(hk.residuals(hk.random_stable(3, dt=1.0, seed=5), data).independent[0, 0])   # wrong model
    False
    """
    if isinstance(lags, bool) or not isinstance(lags, numbers.Integral) or lags < 1:
        raise ValueError(f"lags must be a positive integer, got {lags!r}")
    M = int(lags)
    sys, K = _model(model)
    _check_data(data, sys)
    data.check_length(M + 2, f"residual analysis with lags={M}")
    horizon = 1 if K is not None and sys.is_discrete else None
    pred = predict(model, data, horizon=horizon, x0=x0)
    errors = [ye - pe for ye, pe in zip(data.y, pred)]
    N = sum(e.shape[0] for e in errors)
    e_mean = np.vstack(errors).mean(axis=0)
    e_c = [e - e_mean for e in errors]
    u_all_mean = np.vstack(data.u).mean(axis=0)
    u_c = [ue - u_all_mean for ue in data.u]
    p, m = sys.p, sys.m
    z = float(scipy.stats.norm.ppf(0.995))

    Ree = _xcov(e_c, e_c, M)  # (M+1, p, p)
    Ruu = _xcov(u_c, u_c, M)  # (M+1, m, m)
    Reu_pos = _xcov(e_c, u_c, M)  # ε(t) u(t-τ): past inputs
    Rue = _xcov(u_c, e_c, M)  # u(t) ε(t-τ) = ε(t) u(t+τ): future inputs, for negative lags
    re0 = np.diagonal(Ree[0]).copy()  # (p,)
    ru0 = np.diagonal(Ruu[0]).copy()  # (m,)
    tiny = np.finfo(float).tiny
    auto = np.stack([Ree[:, j, j] for j in range(p)]) / np.maximum(re0, tiny)[:, None]
    cross_raw = np.concatenate([np.transpose(Rue[:0:-1], (0, 2, 1)), Reu_pos], axis=0)  # (2M+1, p, m)
    norm = np.sqrt(np.maximum(np.outer(re0, ru0), tiny))
    cross = np.transpose(cross_raw, (1, 2, 0)) / norm[:, :, None]

    # Ljung's P with the sample covariances summed over |k| <= M (both are even functions).
    ree_d = np.stack([Ree[:, j, j] for j in range(p)])  # (p, M+1)
    ruu_d = np.stack([Ruu[:, i, i] for i in range(m)])  # (m, M+1)
    P = ree_d[:, None, 0] * ruu_d[None, :, 0] + 2.0 * np.einsum("jk,ik->ji", ree_d[:, 1:], ruu_d[:, 1:])
    cross_bound = z * np.sqrt(np.maximum(P, 0.0) / N) / norm

    wh_stat = N * np.sum(auto[:, 1:] ** 2, axis=1)
    wh_p = scipy.stats.chi2.sf(wh_stat, M)
    ind_stat = np.zeros((p, m))
    for i in range(m):
        col = ruu_d[i]
        Tu = col[np.abs(np.subtract.outer(np.arange(M + 1), np.arange(M + 1)))]
        for j in range(p):
            r = Reu_pos[:, j, i]
            sol = np.linalg.lstsq(Tu * max(re0[j], tiny), r, rcond=None)[0]
            ind_stat[j, i] = N * float(r @ sol)
    ind_p = scipy.stats.chi2.sf(ind_stat, M + 1)
    return ResidualAnalysis(
        errors=errors,
        lags=np.arange(M + 1),
        auto=auto,
        auto_bound=z / np.sqrt(N),
        cross_lags=np.arange(-M, M + 1),
        cross=cross,
        cross_bound=cross_bound,
        whiteness_stat=wh_stat,
        whiteness_pvalue=wh_p,
        independence_stat=ind_stat,
        independence_pvalue=ind_p,
        white=wh_p >= 0.01,
        independent=ind_p >= 0.01,
        n_samples=N,
        output_names=data.output_names,
        input_names=data.input_names,
    )
