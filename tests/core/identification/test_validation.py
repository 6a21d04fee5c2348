"""predict, estimate_initial_state, compare and residuals against hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.stats

import hankelid as hk
from hankelid.identification.validation import fit_percent


def _innovation_data(seed=0, N=600, n=4, m=2, p=2, noise=0.2):
    """Data from an innovation-form model; returns (model with K, data, innovations)."""
    rng = np.random.default_rng(seed)
    sys = hk.random_stable(n, m, p, dt=0.5, seed=seed, feedthrough=True)
    K = 0.3 * rng.standard_normal((n, p))
    u = rng.standard_normal((N, m))
    e = noise * rng.standard_normal((N, p))
    x = np.zeros(n)
    y = np.empty((N, p))
    for t in range(N):
        y[t] = sys.C @ x + sys.D @ u[t] + e[t]
        x = sys.A @ x + sys.B @ u[t] + K @ e[t]
    model = hk.Identification(system=sys, order=n, singular_values=np.ones(n), method="true", K=K)
    return model, hk.IOData(u, y, dt=0.5), e


def test_fit_percent_hand_computed():
    y = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 0.0], [3.0, 1.0]])
    yh = np.array([[1.5, 0.0], [2.0, 0.5], [3.0, 0.0], [3.0, 1.0]])
    expected = []
    for j in range(2):
        num = np.sqrt(sum((y[i, j] - yh[i, j]) ** 2 for i in range(4)))
        mean = sum(y[i, j] for i in range(4)) / 4
        den = np.sqrt(sum((y[i, j] - mean) ** 2 for i in range(4)))
        expected.append(100 * (1 - num / den))
    np.testing.assert_allclose(fit_percent(y, yh), expected, rtol=1e-14)
    assert np.isnan(fit_percent(np.ones(5), np.zeros(5))[0])


def test_compare_against_hand_computed_nrmse():
    model, data, _ = _innovation_data(1)
    other = hk.random_stable(4, 2, 2, dt=0.5, seed=11)
    res = hk.compare(data, model, other, x0="zero")
    for i, sys in enumerate((model.system, other)):
        y_sim = hk.simulate(sys, data.u[0])
        y = data.y[0]
        expected = 100 * (1 - np.linalg.norm(y - y_sim, axis=0) / np.linalg.norm(y - y.mean(0), axis=0))
        np.testing.assert_allclose(res.fit[i], expected, rtol=1e-10)
        np.testing.assert_allclose(res.predictions[i][0], y_sim, atol=1e-12)
    assert res.fit.shape == (2, 2) and res.names[0] == "true (n=4)" and res.names[1] == "model 2"
    assert res.fit[0].min() > res.fit[1].max()


def test_compare_pools_experiments_and_estimates_x0():
    sys = hk.random_stable(5, 1, 2, dt=1.0, seed=3)
    rng = np.random.default_rng(3)
    us = [rng.standard_normal(300), rng.standard_normal(200)]
    x0 = rng.standard_normal((2, 5))
    ys = [hk.simulate(sys, u, x) for u, x in zip(us, x0)]
    data = hk.IOData(us, ys)
    res = hk.compare(data, sys)
    np.testing.assert_allclose(res.x0[0], x0, atol=1e-8)
    np.testing.assert_allclose(res.fit, 100.0, atol=1e-6)
    zero = hk.compare(data, sys, x0="zero")
    y_all = np.vstack(ys)
    yh_all = np.vstack([hk.simulate(sys, u) for u in us])
    np.testing.assert_allclose(zero.fit[0], fit_percent(y_all, yh_all), rtol=1e-12)
    assert zero.fit_per_experiment.shape == (1, 2, 2)


def test_estimate_initial_state_long_record_and_continuous():
    # lightly damped, 2 outputs, long enough that the observability rows come in several chunks
    rng = np.random.default_rng(4)
    blocks = [0.999 * np.array([[np.cos(w), np.sin(w)], [-np.sin(w), np.cos(w)]]) for w in (0.01, 0.3, 1.0)]
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ sla.block_diag(*blocks) @ Q.T
    sys = hk.StateSpace(A, rng.standard_normal((6, 1)), rng.standard_normal((2, 6)), dt=1.0)
    u = rng.standard_normal(25_000)
    x0 = rng.standard_normal(6)
    data = hk.IOData(u, hk.simulate(sys, u, x0))
    np.testing.assert_allclose(hk.estimate_initial_state(sys, data), x0, atol=1e-7)

    sysc = hk.random_stable(4, 1, 1, seed=2)
    t = np.arange(400) * 0.02
    uc = np.sin(2 * t)
    xc = rng.standard_normal(4)
    datac = hk.IOData(uc, hk.simulate(sysc, uc, xc, dt=0.02), dt=0.02)
    np.testing.assert_allclose(hk.estimate_initial_state(sysc, datac), xc, atol=1e-6)


def _predict_reference(sys, K, u, y, x0, h):
    """ŷ(t|t-h) by brute force: predictor up to t-h, then the model on inputs alone."""
    A, B, C, D = sys.matrices
    N = u.shape[0]
    xp = [np.array(x0, dtype=float)]
    for t in range(N - 1):
        e = y[t] - C @ xp[t] - D @ u[t]
        xp.append(A @ xp[t] + B @ u[t] + K @ e)
    out = np.empty_like(y)
    for t in range(N):
        s = t - h + 1
        if s <= 0:
            x = np.array(x0, dtype=float)
            start = 0
        else:
            x = xp[s].copy()
            start = s
        for k in range(start, t):
            x = A @ x + B @ u[k]
        out[t] = C @ x + D @ u[t]
    return out


@pytest.mark.parametrize("h", [1, 2, 5])
def test_predict_against_brute_force(h):
    model, data, _ = _innovation_data(2, N=120)
    x0 = np.random.default_rng(0).standard_normal(4)
    got = hk.predict(model, data, horizon=h, x0=x0)[0]
    ref = _predict_reference(model.system, model.K, data.u[0], data.y[0], x0, h)
    np.testing.assert_allclose(got, ref, atol=1e-11)


def test_predict_one_step_gives_innovations_and_simulation_without_K():
    model, data, e = _innovation_data(5)
    y1 = hk.predict(model, data, horizon=1, x0="zero")[0]
    np.testing.assert_allclose(data.y[0] - y1, e, atol=1e-12)
    sim = hk.predict(model.system, data, horizon=1, x0="zero")[0]
    np.testing.assert_allclose(sim, hk.simulate(model.system, data.u[0]), atol=1e-13)
    np.testing.assert_allclose(hk.predict(model, data, horizon=None, x0="zero")[0], sim, atol=1e-13)
    # one-step prediction beats simulation on noisy data with a noise model
    assert np.all(hk.compare(data, model, horizon=1).fit > hk.compare(data, model).fit)


def _xcov(a, b, tau):
    n = len(a)
    return sum(a[t] * b[t - tau] for t in range(tau, n)) / n


def test_residual_bounds_match_textbook_formula():
    rng = np.random.default_rng(7)
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=7)
    N = 400
    u = np.convolve(rng.standard_normal(N + 5), np.ones(3) / 3, "valid")[:N]  # coloured input
    y = hk.simulate(sys, u) + 0.3 * rng.standard_normal((N, 1))
    data = hk.IOData(u, y)
    M = 10
    res = hk.residuals(sys, data, lags=M, x0="zero")
    e = data.y[0][:, 0] - hk.simulate(sys, u)[:, 0]
    np.testing.assert_allclose(res.errors[0][:, 0], e, atol=1e-12)
    e = e - e.mean()
    uc = u - u.mean()
    Re = np.array([_xcov(e, e, k) for k in range(M + 1)])
    Ru = np.array([_xcov(uc, uc, k) for k in range(M + 1)])
    np.testing.assert_allclose(res.auto[0], Re / Re[0], rtol=1e-10)
    z = scipy.stats.norm.ppf(0.995)
    assert res.auto_bound == pytest.approx(z / np.sqrt(N))
    # Ljung (1999) §16.6: sqrt(N) R_eu(τ) ~ N(0, P), P = Σ_{|k|<=M} R_e(k) R_u(k)
    P = Re[0] * Ru[0] + 2 * np.sum(Re[1:] * Ru[1:])
    np.testing.assert_allclose(res.cross_bound[0, 0], z * np.sqrt(P / N) / np.sqrt(Re[0] * Ru[0]), rtol=1e-10)
    Reu = np.array([_xcov(e, uc, k) for k in range(M + 1)])
    Rue = np.array([_xcov(uc, e, k) for k in range(M + 1)])  # ε(t) u(t+k)
    np.testing.assert_allclose(res.cross[0, 0, M:], Reu / np.sqrt(Re[0] * Ru[0]), rtol=1e-10)
    np.testing.assert_allclose(res.cross[0, 0, :M], Rue[:0:-1] / np.sqrt(Re[0] * Ru[0]), rtol=1e-10)
    stat = N * np.sum((Re[1:] / Re[0]) ** 2)
    np.testing.assert_allclose(res.whiteness_stat[0], stat, rtol=1e-10)
    Tu = sla.toeplitz(Ru)
    np.testing.assert_allclose(
        res.independence_stat[0, 0], N * Reu @ np.linalg.solve(Re[0] * Tu, Reu), rtol=1e-8
    )
    assert res.independence_pvalue[0, 0] == pytest.approx(
        scipy.stats.chi2.sf(res.independence_stat[0, 0], M + 1)
    )


def test_residual_tests_detect_a_wrong_model():
    model, data, _ = _innovation_data(9, N=3000)
    good = hk.residuals(model, data)
    assert good.white.all() and good.independent.all()
    bad = hk.residuals(model.system, data)  # no noise model: coloured errors
    assert not bad.white.all()
    wrong = hk.residuals(hk.random_stable(4, 2, 2, dt=0.5, seed=99), data)
    assert not wrong.independent.all()


class _FakeFRData:
    def compare(self, *models, **kw):
        return ("frequency-domain", len(models), kw)


def test_compare_dispatches_to_frequency_data():
    sys = hk.random_stable(2, dt=1.0, seed=0)
    assert hk.compare(_FakeFRData(), sys, sys) == ("frequency-domain", 2, {})
    assert hk.compare(_FakeFRData(), sys, weight=2)[2] == {"weight": 2}
    with pytest.raises(TypeError, match="IOData"):
        hk.compare(np.zeros(5), sys)


def test_bad_input_names_the_problem_and_mutates_nothing():
    model, data, _ = _innovation_data(3, N=50)
    y_before = data.y[0].copy()
    with pytest.raises(ValueError, match="data have m=2 inputs and p=2 outputs but model 1 has m=1, p=1"):
        hk.compare(data, hk.random_stable(2, dt=0.5, seed=0))
    with pytest.raises(ValueError, match=r"dt=1\.0 but the data are sampled at dt=0\.5"):
        hk.compare(data, hk.random_stable(2, 2, 2, dt=1.0, seed=0))
    with pytest.raises(ValueError, match="at least one model"):
        hk.compare(data)
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        hk.predict(model, data, horizon=0)
    with pytest.raises(ValueError, match=r"x0 must have shape \(4,\)"):
        hk.predict(model, data, x0=np.zeros(3))
    with pytest.raises(ValueError, match="x0 must be 'estimate', 'zero'"):
        hk.compare(data, model, x0="guess")
    with pytest.raises(ValueError, match="residual analysis with lags=60 needs at least 62 samples"):
        hk.residuals(model, data, lags=60)
    with pytest.raises(ValueError, match="lags must be a positive integer"):
        hk.residuals(model, data, lags=0)
    with pytest.raises(TypeError, match=r"data must be a hankelid\.IOData"):
        hk.predict(model, (data.u[0], data.y[0]))
    with pytest.raises(TypeError, match="model must be"):
        hk.estimate_initial_state("model", data)
    np.testing.assert_array_equal(data.y[0], y_before)


def test_plots_draw_compare_and_residuals():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, data, _ = _innovation_data(4, N=300)
    data = hk.IOData(data.u, data.y, dt=0.5, output_names=["x", "v"], output_units=["m", "m/s"])
    res = hk.compare(data, model, horizon=1)
    ax = hk.plot.compare(res, output=1)
    assert ax.get_ylabel() == "v [m/s]" and ax.get_xlabel() == "time [s]"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["measured", f"true (n=4): {res.fit[0, 1]:.1f} %"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), res.predictions[0][0][:, 1])
    analysis = hk.residuals(model, data, lags=15)
    ax_a, ax_c = hk.plot.residuals(analysis, output=1, input=0)
    assert ax_a.get_ylabel() == "normalized auto-correlation" and "Residuals of v" in ax_a.get_title()
    assert "vs past u1" in ax_c.get_title()
    with pytest.raises(ValueError, match="output must be between 0 and 1"):
        hk.plot.compare(res, output=2)
    with pytest.raises(ValueError, match="model together with its data"):
        hk.plot.residuals(model)
    plt.close("all")
