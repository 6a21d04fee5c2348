r"""Observer/Kalman filter identification (OKID): a high-order ARX fit, then ERA.

OKID (Juang, Phan, Horta & Longman 1993) identifies the *observer* of the system instead of the
system itself. With an observer gain \(G\), \(\bar A = A - G C\) can be made as stable as wanted
(deadbeat for noise-free data, the Kalman predictor for noisy data), so the observer's Markov
parameters decay fast and a finite ARX model

$$ y_t = D u_t + \sum_{k=1}^{\ell} \left( \beta_k u_{t-k} + \alpha_k y_{t-k} \right) + e_t,
\qquad \beta_k = C \bar A^{k-1} (B - G D),\ \alpha_k = C \bar A^{k-1} G $$

fitted by least squares captures it, even from short records with low-frequency inputs where a
direct FIR fit of the system's Markov parameters is ill-conditioned. The system's Markov
parameters \(Y_k = C A^{k-1} B\) and the observer-gain Markov parameters \(Y^g_k = C A^{k-1} G\)
follow by the recursions (valid for every \(k\), with \(\beta_k = \alpha_k = 0\) for \(k > \ell\))

$$ Y_0 = D,\quad Y_k = \beta_k + \alpha_k D + \sum_{j=1}^{k-1} \alpha_j Y_{k-j},
\qquad Y^g_k = \alpha_k + \sum_{j=1}^{k-1} \alpha_j Y^g_{k-j}, $$

and ERA ([`era`][hankelid.era]) realizes \(Y_k\) as \((A, B, C)\); the observer gain solves
\(C A^{k-1} G = Y^g_k\) in least squares (Juang 1994). For a noisy record the least-squares ARX
predictor approaches the Kalman predictor, so \(G\) estimates the innovation (Kalman) gain
\(K\), and the ARX residual covariance the innovation covariance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.lib.stride_tricks import sliding_window_view

from .._stability import is_stable
from .._validation import check_auto_order, check_count
from ..systems import StateSpace
from ._regression import CHUNK_ROWS, TriangularAccumulator, output_error_fit, simulation_fit, state_filter
from .data import IOData
from .era import era
from .result import Identification

__all__ = ["okid"]

_CRITERIA = ("bic", "aic")
_MAX_ARX_ORDER = 30
_MAX_MODEL_ORDER = 30  # largest order the automatic choice considers for noisy data
# ARX residuals below this fraction of the outputs' norm: noise-free data, ERA's rank is the order.
_EXACT_RTOL = 1e-9
# An ARX model needs this many regression rows per coefficient of one output.
_ROWS_PER_COLUMN = 4


def _arx_rows(u: np.ndarray, y: np.ndarray, lmax: int, feedthrough: bool):
    """Chunks of `[u_t, v_{t-1}, ..., v_{t-lmax}, y_t]`, `v = [u; y]`, for `t = lmax..N-1`."""
    v = np.hstack([u, y])
    win = sliding_window_view(v, lmax + 1, axis=0)  # (N - lmax, m + p, lmax + 1), a view
    m = u.shape[1]
    for a in range(0, win.shape[0], CHUNK_ROWS):
        w = win[a : a + CHUNK_ROWS]
        T = w.shape[0]
        lags = w[:, :, :lmax][:, :, ::-1].transpose(0, 2, 1).reshape(T, -1)  # lag 1 first
        now = w[:, :, lmax]
        parts = ([now[:, :m]] if feedthrough else []) + [lags, now[:, m:]]
        yield np.hstack(parts)


def _arx(us: list[np.ndarray], ys: list[np.ndarray], lmax: int, feedthrough: bool) -> tuple[np.ndarray, int]:
    """R factor of `[Phi_lmax, Y]` (columns ordered by lag, so every order is a leading block)."""
    m, p = us[0].shape[1], ys[0].shape[1]
    width = (m if feedthrough else 0) + lmax * (m + p) + p
    acc = TriangularAccumulator(width)
    rows = 0
    for u, y in zip(us, ys):
        for chunk in _arx_rows(u, y, lmax, feedthrough):
            acc.add(chunk)
            rows += chunk.shape[0]
    return np.triu(acc.R), rows


def _choose_arx_order(
    R: np.ndarray, rows: int, lmin: int, lmax: int, m: int, p: int, feedthrough: bool, criterion: str
) -> tuple[int, np.ndarray]:
    """ARX order minimizing `rows log det(Sigma_l) + c k_l` (`k_l` coefficients; BIC/AIC)."""
    m0 = m if feedthrough else 0
    values = np.full(lmax + 1, np.inf)
    penalty = np.log(rows) if criterion == "bic" else 2.0
    Ry = R[:, -p:]
    floor = np.finfo(float).eps * max(float(np.sum(Ry**2)), np.finfo(float).tiny)
    for ell in range(lmin, lmax + 1):
        c = m0 + ell * (m + p)
        res = Ry[c:]
        logdet = np.linalg.slogdet(res.T @ res + floor * np.eye(p))[1]
        values[ell] = rows * logdet + penalty * p * c
    return int(np.argmin(values)), values


def _markov_from_observer(alpha: np.ndarray, beta: np.ndarray, D: np.ndarray, length: int) -> np.ndarray:
    """`[Y_k, Y^g_k]`, `k = 0..length-1`, shape `(length, p, m + p)`, from the ARX coefficients."""
    ell, p, m = beta.shape
    Y = np.zeros((length, p, m))
    G = np.zeros((length, p, p))
    Y[0] = D
    for k in range(1, length):
        a_k = alpha[k - 1] if k <= ell else 0.0
        b_k = beta[k - 1] if k <= ell else 0.0
        Y[k] = b_k + a_k @ D if k <= ell else 0.0
        G[k] = a_k if k <= ell else 0.0
        for j in range(1, min(k, ell + 1)):
            Y[k] += alpha[j - 1] @ Y[k - j]
            G[k] += alpha[j - 1] @ G[k - j]
    return np.concatenate([Y, G], axis=2)


def _observer_gain(A: np.ndarray, C: np.ndarray, Yg: np.ndarray) -> np.ndarray:
    """`G` minimizing `sum_k ||C A^(k-1) G - Y^g_k||^2` (the observability matrix times `G`)."""
    blocks, Ak = [], np.eye(A.shape[0])
    for _ in range(1, Yg.shape[0]):
        blocks.append(C @ Ak)
        Ak = Ak @ A
    O = np.vstack(blocks)
    return sla.lstsq(O, Yg[1:].reshape(-1, Yg.shape[2]), check_finite=False)[0]


def _truncated(sys: StateSpace, r: int) -> StateSpace:
    """The leading `r` states of a balanced ERA realization (ERA at order `r`)."""
    return StateSpace(sys.A[:r, :r], sys.B[:r], sys.C[:, :r], sys.D, sys.dt)


def _prediction_criterion(sys: StateSpace, G: np.ndarray, data: IOData, criterion: str) -> float:
    """`N log det Sigma_e + c d(r)` for a model with observer gain `G`.

    `Sigma_e` is the covariance of the one-step prediction errors of the observer
    `x+ = (A - G C) x + (B - G D) u + G y`; `d(r) = r (m + 2p) + p m` free parameters.
    """
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    r, m, p = sys.n, sys.m, sys.p
    F = A - G @ C
    if not is_stable(np.linalg.eigvals(F), discrete=True):
        return np.inf
    S = np.zeros((p, p))
    count = 0
    for u, y in zip(data.u, data.y):
        drive = ((B - G @ D) @ u.T + G @ y.T)[:, None, :]
        X = state_filter(F, drive)[:, 0, :]
        e = y - (C @ X).T - u @ D.T
        S += e.T @ e
        count += y.shape[0]
    penalty = np.log(count) if criterion == "bic" else 2.0
    sign, logdet = np.linalg.slogdet(S / count)
    return float(count * logdet + penalty * (r * (m + 2 * p) + p * m)) if sign > 0 else -np.inf


def okid(
    data: IOData,
    order: int | str | None = None,
    *,
    arx_order: int | None = None,
    max_arx_order: int | None = None,
    criterion: str = "bic",
    markov_length: int | None = None,
    feedthrough: bool = True,
    refit: bool = True,
) -> Identification:
    r"""Identify a state-space model with an observer (Kalman) gain by OKID: ARX, then ERA.

    See the module description for the algorithm (Juang, Phan, Horta & Longman 1993).

    Parameters
    ----------
    data : IOData
        Estimation data (one or several experiments; detrend first if the signals have offsets).
    order : int, "auto" or None
        Model order. `None`/`"auto"`: for noise-free data (ARX residual at rounding level) the
        numerical rank of ERA's Hankel matrix; otherwise the order up to that rank (at most 30)
        whose truncated ERA realization, with its least-squares observer gain, minimizes the
        information criterion of its one-step predictor,
        \(N\log\det\hat\Sigma_e + c\,(n(m+2p) + pm)\) (`criterion` sets \(c\)).
    arx_order : int, optional
        Number of lags \(\ell\) of the ARX model (the observer's length). Default: the order in
        \([\lceil n/p \rceil, \ell_{\max}]\) that minimizes the information criterion
        \(N_r \log\det\hat\Sigma_\ell + c\,p\,k_\ell\) (\(N_r\): regression rows, \(k_\ell\):
        coefficients per output, \(c = \log N_r\) for BIC, 2 for AIC), all orders fitted on the
        same rows from one QR factorization.
    max_arx_order : int, optional
        \(\ell_{\max}\) for the search (default 30, lowered for short records).
    criterion : {"bic", "aic"}
        The information criterion of the ARX order search and of the automatic model order.
    markov_length : int, optional
        Number of Markov parameters handed to ERA (default \(2\max(\ell, 10) + 1\)).
    feedthrough : bool
        Estimate \(D\) (otherwise \(D = 0\)).
    refit : bool
        Re-estimate \(B\), \(D\) and the initial states by simulation-error least squares given
        ERA's \(A, C\) (as in [`n4sid`][hankelid.n4sid]); otherwise keep ERA's \(B\) and OKID's
        \(D\). Skipped for an unstable \(A\).

    Returns
    -------
    Identification
        `.system` (discrete, `data.dt`), `.K` (the observer gain \(G\), an estimate of the
        Kalman gain), `.noise_cov` (the ARX residual covariance), `.x0`, `.fit` (percent per
        output on the estimation data), `.singular_values` (ERA's Hankel singular values), and
        `.info` (ARX order and criterion values, Markov parameters, ERA details).

    Raises
    ------
    TypeError
        If `data` is not an [`IOData`][hankelid.IOData].
    ValueError
        If `order` or `arx_order` is not a positive integer, there are too few samples for the
        ARX order, or `order` is more than ERA's Hankel matrix or the data support.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> true = hk.random_stable(4, 1, 2, dt=1.0, seed=1)
    >>> u = np.random.default_rng(0).standard_normal(600)
    >>> ident = hk.okid(hk.IOData(u, hk.simulate(true, u)))
    >>> ident.order, bool(ident.fit.min() > 99.99)
    (4, True)
    >>> h = hk.markov_parameters(ident.system, 20) - hk.markov_parameters(true, 20)
    >>> bool(np.abs(h).max() < 1e-8)
    True
    """
    if not isinstance(data, IOData):
        raise TypeError(f"data must be a hankelid.IOData, got {type(data).__name__}")
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    order = check_auto_order(order)
    for name, flag in (("feedthrough", feedthrough), ("refit", refit)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    m, p = data.m, data.p
    m0 = m if feedthrough else 0
    lmin = 1 if order is None else math.ceil(order / p)

    def rows_for(ell: int) -> int:
        return sum(max(0, N - ell) for N in data.n_samples)

    if arx_order is not None:
        arx_order = check_count(arx_order, "arx_order")
        lmax = arx_order
        if order is not None and arx_order * p < order:
            raise ValueError(
                f"arx_order {arx_order} is too short for order {order}: an observer of {arx_order} lags "
                f"reaches at most arx_order * p = {arx_order * p} states"
            )
    else:
        lmax = _MAX_ARX_ORDER if max_arx_order is None else check_count(max_arx_order, "max_arx_order")
        while lmax > lmin and rows_for(lmax) < _ROWS_PER_COLUMN * (m0 + lmax * (m + p)):
            lmax -= 1
    need = _ROWS_PER_COLUMN * (m0 + lmax * (m + p))
    if rows_for(lmax) < need:
        raise ValueError(
            f"too few samples for an ARX model of order {lmax}: {rows_for(lmax)} regression rows, need "
            f"at least {need} ({_ROWS_PER_COLUMN} per coefficient); record more data or lower arx_order"
        )
    if lmax < lmin:
        raise ValueError(f"max_arx_order {lmax} is too short for order {order}: needs at least {lmin}")

    R, nrows = _arx(data.u, data.y, lmax, feedthrough)
    if arx_order is None:
        ell, values = _choose_arx_order(R, nrows, lmin, lmax, m, p, feedthrough, criterion)
    else:
        ell, values = lmax, None
    c = m0 + ell * (m + p)
    coef = sla.lstsq(R[:c, :c], R[:c, -p:], check_finite=False)[0]  # (c, p): y_t^T = phi_t^T coef
    resid = R[c:, -p:]
    noise_cov = resid.T @ resid / max(nrows - c, 1)
    D0 = coef[:m0].T if feedthrough else np.zeros((p, m))
    lagged = coef[m0:].T.reshape(p, ell, m + p).transpose(1, 0, 2)  # (ell, p, m + p)
    beta, alpha = lagged[:, :, :m], lagged[:, :, m:]
    length = markov_length if markov_length is not None else 2 * max(ell, 10) + 1
    length = check_count(length, "markov_length")
    both = _markov_from_observer(alpha, beta, D0, length)
    markov, observer = both[:, :, :m], both[:, :, m:]
    sys, era_info = era(markov, order, dt=data.dt, return_info=True)
    order_rule, order_values = ("given", None) if order is not None else ("era-rank", None)
    exact = float(np.linalg.norm(resid)) <= _EXACT_RTOL * float(np.linalg.norm(R[:, -p:]))
    if order is None and not exact:
        # Noisy data: ERA's rank is the ARX model's (up to ell * p), not the system's. Compare the
        # truncated realizations by the information criterion of their one-step predictors.
        rmax = min(era_info.rank or era_info.hsv.size, max(lmin, ell * p), _MAX_MODEL_ORDER)
        full = era(markov, rmax, dt=data.dt)
        order_values = np.array(
            [
                _prediction_criterion(
                    _truncated(full, r),
                    _observer_gain(full.A[:r, :r], full.C[:, :r], observer),
                    data,
                    criterion,
                )
                for r in range(1, rmax + 1)
            ]
        )
        sys = _truncated(full, 1 + int(np.argmin(order_values)))
        order_rule = f"prediction-{criterion}"
    n = sys.n
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    G = _observer_gain(A, C, observer)
    stable = is_stable(np.linalg.eigvals(A), discrete=True)
    if refit and stable:
        B, D, x0, fit = output_error_fit(A, C, data.u, data.y, feedthrough=feedthrough)
    else:
        x0 = np.zeros((data.n_experiments, n))
        fit = simulation_fit(A, B, C, D, x0, data.u, data.y)
    info: dict[str, Any] = {
        "arx_order": ell,
        "arx_criterion": None if values is None else criterion,
        "arx_criterion_values": values,
        "markov": markov,
        "observer_markov": observer,
        "era": era_info,
        "order_rule": order_rule,
        "order_criterion_values": order_values,
        "refit": bool(refit and stable),
        "regression_rows": nrows,
        "n_experiments": data.n_experiments,
    }
    return Identification(
        system=StateSpace(A, B, C, D, data.dt),
        order=n,
        singular_values=era_info.hsv,
        method="okid",
        K=G,
        noise_cov=(noise_cov + noise_cov.T) / 2,
        x0=x0[0] if data.n_experiments == 1 else x0,
        fit=fit,
        info=info,
    )
