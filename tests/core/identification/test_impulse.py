"""impulse_estimate: kernels, marginal likelihood, and the ill-conditioned case from issue 14."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.signal as ss

import hankelid as hk
from hankelid.identification.impulse import kernel


def _pair(zeta, w):
    """A discrete lightly damped mode: radius exp(-ζ w), angle w sqrt(1 - ζ²)."""
    r, th = np.exp(-zeta * w), w * np.sqrt(1 - zeta**2)
    return r * np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])


def _lightly_damped(seed=1):
    """2×2, 6th order, ζ = 0.03 .. 0.05, as in the issue's measured failure."""
    rng = np.random.default_rng(seed)
    A = sla.block_diag(_pair(0.03, 0.6), _pair(0.04, 1.2), _pair(0.05, 2.0))
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    return hk.StateSpace(
        Q @ A @ Q.T, Q @ rng.standard_normal((6, 2)), rng.standard_normal((2, 6)) @ Q.T, dt=1.0
    )


@pytest.mark.parametrize("kind", ["tc", "dc", "ss"])
def test_kernels_closed_form_and_psd(kind):
    L, c, lam, rho = 12, 2.0, 0.8, 0.5
    K = kernel(kind, L, c, lam, rho)
    for i in range(1, L + 1):
        for j in range(1, L + 1):
            if kind == "tc":
                ref = c * lam ** max(i, j)
            elif kind == "dc":
                ref = c * lam ** ((i + j) / 2) * rho ** abs(i - j)
            else:
                ref = c * (lam ** (i + j + max(i, j)) / 2 - lam ** (3 * max(i, j)) / 6)
            assert K[i - 1, j - 1] == pytest.approx(ref, rel=1e-12, abs=1e-300)
    np.testing.assert_array_equal(K, K.T)
    assert np.linalg.eigvalsh(K).min() > -1e-12 * np.abs(K).max()


def test_least_squares_matches_explicit_regression():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((300, 2))
    y = rng.standard_normal((300, 1))
    L = 7
    g = hk.impulse_estimate(hk.IOData(u, y), L, regularization=None)
    # the regression written out: y(t) = Σ_k g_k u(t - k), t = L-1 .. N-1
    Phi = np.array([[u[t - k, i] for i in range(2) for k in range(L)] for t in range(L - 1, 300)])
    theta = np.linalg.lstsq(Phi, y[L - 1 :, 0], rcond=None)[0]
    np.testing.assert_allclose(g[:, 0, :], theta.reshape(2, L).T, atol=1e-10)


def test_white_input_recovers_mimo_markov_parameters():
    sys = hk.random_stable(4, 2, 3, dt=1.0, seed=2, feedthrough=True, pole_radius=(0.1, 0.7))
    rng = np.random.default_rng(2)
    u = rng.standard_normal((1500, 2))
    data = hk.IOData(u, hk.simulate(sys, u) + 1e-3 * rng.standard_normal((1500, 3)))
    true = hk.markov_parameters(sys, 30)
    for reg in (None, "tc"):
        g = hk.impulse_estimate(data, 30, regularization=reg)
        assert g.shape == (30, 3, 2)
        np.testing.assert_allclose(g, true, atol=5e-3)


def test_marginal_likelihood_matches_direct_formula():
    rng = np.random.default_rng(3)
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=3)
    N, L = 120, 15
    u = rng.standard_normal(N)
    u = u / np.sqrt(np.mean(u**2))  # unit RMS: the estimator's input scaling is then the identity
    y = hk.simulate(sys, u)[:, 0] + 0.05 * rng.standard_normal(N)
    g, info = hk.impulse_estimate(hk.IOData(u, y), L, regularization="tc", return_info=True)
    c, lam = info.hyperparameters[0][0]["c"], info.hyperparameters[0][0]["lam"]
    s2 = info.noise_variance[0]
    Phi = np.array([[u[t - k] for k in range(L)] for t in range(L - 1, N)])
    Y = y[L - 1 :]
    P = kernel("tc", L, c, lam)
    Sigma = Phi @ P @ Phi.T + s2 * np.eye(len(Y))
    direct = Y @ np.linalg.solve(Sigma, Y) + np.linalg.slogdet(Sigma)[1]
    np.testing.assert_allclose(info.neg_log_marginal_likelihood[0], direct, rtol=1e-9)
    # the estimate is the posterior mean, and the chosen hyperparameters are a local optimum
    np.testing.assert_allclose(g[:, 0, 0], P @ Phi.T @ np.linalg.solve(Sigma, Y), rtol=1e-7, atol=1e-10)
    for c2, lam2 in ((1.3 * c, lam), (c / 1.3, lam), (c, lam + 0.3 * (1 - lam)), (c, lam - 0.02)):
        S2 = Phi @ kernel("tc", L, c2, lam2) @ Phi.T + s2 * np.eye(len(Y))
        assert Y @ np.linalg.solve(S2, Y) + np.linalg.slogdet(S2)[1] >= direct - 1e-6
    # the noise variance comes from the plain least-squares residual
    theta = np.linalg.lstsq(Phi, Y, rcond=None)[0]
    np.testing.assert_allclose(s2, np.sum((Y - Phi @ theta) ** 2) / (len(Y) - L), rtol=1e-9)


def test_regularization_fixes_the_ill_conditioned_case():
    """The issue's failure: lightly damped MIMO system, low-frequency input, 10 % noise."""
    sys = _lightly_damped()
    rng = np.random.default_rng(1)
    N, a = 2000, 0.9
    white = rng.standard_normal((N, 2))
    u = ss.lfilter([1 - a], [1, -a], ss.lfilter([1 - a], [1, -a], white, axis=0), axis=0)
    u /= u.std(axis=0)
    y0 = hk.simulate(sys, u)
    data = hk.IOData(u, y0 + 0.1 * y0.std(axis=0) * rng.standard_normal(y0.shape))
    est, val = data.split(0.5)
    L = 100
    true = hk.markov_parameters(sys, L)
    g_ls = hk.impulse_estimate(est, L, regularization=None)
    g_tc = hk.impulse_estimate(est, L, regularization="tc")
    err_ls = np.linalg.norm(g_ls - true) / np.linalg.norm(true)
    err_tc = np.linalg.norm(g_tc - true) / np.linalg.norm(true)
    assert err_tc < 0.35 * err_ls, (err_tc, err_ls)
    fit_true = hk.compare(val, sys).fit[0]
    fit_tc = hk.compare(val, hk.era(g_tc, 6, dt=1.0)).fit[0]
    fit_ls = hk.compare(val, hk.era(g_ls, 6, dt=1.0)).fit[0]
    assert np.all(fit_tc > fit_true - 4.0), (fit_tc, fit_true)
    assert np.all(fit_tc > fit_ls)


@pytest.mark.parametrize("kind", ["tc", "dc", "ss"])
def test_every_kernel_beats_least_squares_on_a_smooth_response(kind):
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    sys = hk.StateSpace(
        Q @ np.diag([0.95, 0.9, 0.8]) @ Q.T,
        Q @ rng.standard_normal((3, 1)),
        rng.standard_normal((1, 3)) @ Q.T,
        dt=1.0,
    )
    a = 0.9  # twice low-pass filtered noise: the least-squares problem is badly conditioned
    u = ss.lfilter([1 - a], [1, -a], ss.lfilter([1 - a], [1, -a], rng.standard_normal(500)))
    y0 = hk.simulate(sys, u)
    data = hk.IOData(u, y0 + 0.1 * y0.std() * rng.standard_normal(y0.shape))
    true = hk.markov_parameters(sys, 60)
    err = {
        reg: np.linalg.norm(hk.impulse_estimate(data, 60, regularization=reg) - true) for reg in (None, kind)
    }
    assert err[kind] < 0.25 * err[None], err


def test_bad_input():
    data = hk.IOData(np.zeros((50, 1)), np.zeros((50, 1)))
    u_before = data.u[0].copy()
    with pytest.raises(ValueError, match="length must be a positive integer"):
        hk.impulse_estimate(data, 0)
    with pytest.raises(ValueError, match="impulse_estimate with length 60 needs at least 61 samples"):
        hk.impulse_estimate(data, 60)
    with pytest.raises(ValueError, match="30 unknowns per output but only 21 equations"):
        hk.impulse_estimate(data, 30)
    with pytest.raises(ValueError, match="regularization must be one of"):
        hk.impulse_estimate(data, 5, regularization="ridge")
    with pytest.raises(ValueError, match="noise_variance must be a positive number"):
        hk.impulse_estimate(data, 5, noise_variance=-1.0)
    with pytest.raises(TypeError, match="IOData"):
        hk.impulse_estimate(np.zeros((50, 2)), 5)
    np.testing.assert_array_equal(data.u[0], u_before)
