"""okid: exact recovery, noisy accuracy, consistency, observer gain, references, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk

from ._io_systems import drss, frequency_error, lightly_damped, markov_error, prbs_record, record


# ----------------------------------------------------------------------------- noise-free data
@pytest.mark.parametrize("seed", [0, 1])
def test_noise_free_random_stable_exact(seed):
    true = hk.random_stable(5, 2, 3, dt=1.0, seed=seed, feedthrough=True)
    ident = hk.okid(record(true, 600, seed=seed))
    assert ident.order == 5
    assert markov_error(ident, true) < 1e-8
    assert frequency_error(ident, true) < 1e-8
    assert np.all(ident.fit > 100 - 1e-6)


@pytest.mark.parametrize("seed", [3, 4])
def test_noise_free_control_drss_exact(seed):
    true, minimal = drss(6, 2, 2, seed)
    ident = hk.okid(record(true, 800, seed=seed))
    assert ident.order == minimal
    assert markov_error(ident, true) < 1e-8
    assert frequency_error(ident, true) < 1e-8


def test_markov_recursion_without_refit_is_exact():
    # refit=False keeps ERA's B and the ARX estimate of D: the OKID recursions alone are exact
    true = hk.random_stable(4, 1, 2, dt=1.0, seed=3, feedthrough=True)
    ident = hk.okid(record(true, 500, seed=3), refit=False, arx_order=4)
    assert markov_error(ident, true) < 1e-8
    h = ident.info["markov"]
    np.testing.assert_allclose(h, hk.markov_parameters(true, h.shape[0]), atol=1e-9)


def test_several_experiments_exact():
    true = hk.random_stable(3, 2, 1, dt=1.0, seed=6)
    data = hk.IOData.merge(record(true, 300, seed=1), record(true, 200, seed=2))
    ident = hk.okid(data, 3)
    assert ident.x0.shape == (2, 3)
    assert markov_error(ident, true) < 1e-8


# ----------------------------------------------------------------------------- noisy data
def test_noisy_validation_fit_close_to_true_system():
    true = hk.random_stable(4, 2, 2, dt=1.0, seed=11)
    est = record(true, 3000, seed=1, noise=0.3)
    val = record(true, 2000, seed=2, noise=0.3)
    ident = hk.okid(est)
    fit_true = hk.compare(val, true).fit[0]
    assert np.all(hk.compare(val, ident).fit[0] > fit_true - 2.0)
    assert ident.info["order_rule"] == "prediction-bic"
    assert ident.info["arx_criterion"] == "bic"


def test_issue_scenario_lightly_damped_prbs():
    true = lightly_damped()
    est, val = prbs_record(true, 4000, seed=1), prbs_record(true, 4000, seed=2)
    ident = hk.okid(est)
    assert ident.order == 6 and ident.system.is_stable()
    assert np.all(hk.compare(val, ident).fit[0] > hk.compare(val, true).fit[0] - 1.0)


def test_consistency_error_shrinks_with_n():
    true = hk.random_stable(4, 1, 2, dt=1.0, seed=2)
    errors = {}
    for N in (1000, 16000):
        errors[N] = np.median(
            [markov_error(hk.okid(record(true, N, seed=s, noise=0.3), 4), true) for s in range(3)]
        )
    assert errors[16000] < errors[1000] / 2, errors


def test_observer_gain_estimates_kalman_gain():
    true = hk.random_stable(3, 1, 2, dt=1.0, seed=4)
    rng = np.random.default_rng(0)
    K_true = 0.3 * rng.standard_normal((3, 2))
    Re = np.diag([0.2, 0.1])
    N = 20000
    u = rng.standard_normal((N, 1))
    e = rng.standard_normal((N, 2)) @ np.sqrt(Re)
    aug = hk.StateSpace(true.A, np.hstack([true.B, K_true]), true.C, np.hstack([true.D, np.eye(2)]), dt=1.0)
    ident = hk.okid(hk.IOData(u, hk.simulate(aug, np.hstack([u, e]))), 3)
    h_id = np.array([ident.C @ np.linalg.matrix_power(ident.A, k) @ ident.K for k in range(8)])
    h_true = np.array([true.C @ np.linalg.matrix_power(true.A, k) @ K_true for k in range(8)])
    assert np.abs(h_id - h_true).max() < 0.1 * np.abs(h_true).max()
    np.testing.assert_allclose(ident.noise_cov, Re, rtol=0.1, atol=0.01)


def test_aic_picks_at_least_the_bic_arx_order():
    data = record(hk.random_stable(4, 1, 1, dt=1.0, seed=8), 2000, seed=0, noise=0.2)
    bic = hk.okid(data, 4, criterion="bic").info["arx_order"]
    aic = hk.okid(data, 4, criterion="aic").info["arx_order"]
    assert aic >= bic  # AIC's penalty is the smaller one


def test_agrees_with_n4sid_on_noise_free_data():
    true = hk.random_stable(4, 2, 2, dt=1.0, seed=21)
    data = record(true, 700, seed=0)
    assert markov_error(hk.okid(data), hk.n4sid(data).system) < 1e-8


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def small_data():
    return record(hk.random_stable(3, 1, 1, dt=1.0, seed=0), 200, seed=0)


@pytest.mark.parametrize("order", [0, -1, 1.5, "x"])
def test_bad_order(small_data, order):
    with pytest.raises(ValueError, match="order"):
        hk.okid(small_data, order)


def test_bad_arx_order_and_short_records(small_data):
    with pytest.raises(ValueError, match="arx_order"):
        hk.okid(small_data, arx_order=0)
    with pytest.raises(ValueError, match="too short for order 3"):
        hk.okid(small_data, 3, arx_order=2)
    with pytest.raises(ValueError, match="too few samples"):
        hk.okid(small_data, arx_order=60)
    with pytest.raises(TypeError, match="IOData"):
        hk.okid(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="criterion"):
        hk.okid(small_data, criterion="fpe")


def test_inputs_not_mutated():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((400, 1))
    y = rng.standard_normal((400, 2))
    u0, y0 = u.copy(), y.copy()
    hk.okid(hk.IOData(u, y), 2)
    np.testing.assert_array_equal(u, u0)
    np.testing.assert_array_equal(y, y0)
