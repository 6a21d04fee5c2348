"""Passivity: the Hamiltonian test against dense frequency sweeps, and enforcement in vector fitting.

The references are independent of the Hamiltonian pencil: the singular values of `G(jω)` (or the
eigenvalues of `G + Gᴴ`) on a dense grid, with the crossings refined by root bracketing
(`scipy.optimize.brentq`) on the swept function itself; and passive-by-construction systems
(an RLC admittance, port-Hamiltonian models with `D ⪰ 0`).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import hankelid as hk
from hankelid.identification.passivity import enforce_passivity


def _sigma_max(sys: hk.StateSpace, w: np.ndarray) -> np.ndarray:
    return np.linalg.svd(sys.frequency_response(np.atleast_1d(w)), compute_uv=False)[:, 0]


def _lambda_min(sys: hk.StateSpace, w: np.ndarray) -> np.ndarray:
    G = sys.frequency_response(np.atleast_1d(w))
    return np.linalg.eigvalsh(G + np.conj(np.swapaxes(G, 1, 2)))[:, 0]


def _sweep_crossings(f, w: np.ndarray) -> np.ndarray:
    """Roots of `f` on the grid `w`, bracketed by sign changes and refined by brentq."""
    v = f(w)
    idx = np.nonzero(np.sign(v[:-1]) * np.sign(v[1:]) < 0)[0]
    return np.array([brentq(lambda x: f(np.array([x]))[0], w[i], w[i + 1], xtol=1e-13) for i in idx])


def _port_hamiltonian(n: int, m: int, seed: int, d: float) -> hk.StateSpace:
    """`A = J - R`, `C = Bᵀ`, `D = d I`: positive real for skew `J`, `R ⪰ 0` (KYP with P = I)."""
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((n, n))
    J = S - S.T
    F = rng.standard_normal((n, n))
    R = F @ F.T / n + 0.05 * np.eye(n)
    B = rng.standard_normal((n, m))
    return hk.StateSpace(J - R, B, B.T, d * np.eye(m))


def _scaled(sys: hk.StateSpace, peak: float) -> hk.StateSpace:
    """`sys` with `D = 0` and `C` scaled so that the swept peak of `σ_max` is `peak`."""
    w = np.r_[0.0, np.geomspace(1e-3, 1e3, 20001)]
    s0 = hk.StateSpace(sys.A, sys.B, sys.C, np.zeros_like(sys.D), sys.dt)
    return hk.StateSpace(sys.A, sys.B, sys.C * peak / _sigma_max(s0, w).max(), s0.D, sys.dt)


def test_series_rlc_admittance_is_passive_with_singular_feedthrough() -> None:
    # Y(s) = I/V of a series R-L-C: strictly proper, so D + Dᵀ = 0 (the singular case).
    R, L, C = 0.5, 2.0, 0.1
    sys = hk.StateSpace([[-R / L, -1 / L], [1 / C, 0.0]], [[1 / L], [0.0]], [[1.0, 0.0]], [[0.0]])
    res = hk.passivity(sys, kind="immittance")
    assert res.is_passive and res.bands.shape == (0, 2)
    w = np.geomspace(1e-3, 1e3, 4001)
    assert np.all(_lambda_min(sys, w) >= 0)  # Re Y(jω) = R |Y(jω)|² ≥ 0
    # A negative resistance makes it active at every frequency.
    bad = hk.StateSpace([[R / L, -1 / L], [1 / C, 0.0]], [[1 / L], [0.0]], [[1.0, 0.0]], [[0.0]])
    with pytest.raises(ValueError, match="unstable"):
        hk.passivity(bad, kind="immittance")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_port_hamiltonian_models_are_positive_real(seed: int) -> None:
    sys = _port_hamiltonian(6, 2, seed, d=0.05)
    res = hk.passivity(sys, kind="immittance")
    assert res.is_passive
    w = np.geomspace(1e-3, 1e3, 4001)
    assert np.all(_lambda_min(sys, w) > 0)
    assert res.worst_violation == pytest.approx(-_lambda_min(sys, np.r_[w, 1e9]).min(), abs=1e-6)


def test_immittance_violation_bands_match_the_sweep() -> None:
    # A passive model minus a constant: G + Gᴴ < 0 where Re G(jω) is small.
    base = _port_hamiltonian(6, 1, 3, d=0.0)
    w = np.r_[0.0, np.geomspace(1e-4, 1e4, 40001)]
    shift = 0.5 * _lambda_min(base, w).max() / 2
    sys = hk.StateSpace(base.A, base.B, base.C, base.D - shift, None)
    res = hk.passivity(sys, kind="immittance")
    assert not res.is_passive
    ref = _sweep_crossings(lambda x: _lambda_min(sys, x), w)
    np.testing.assert_allclose(res.crossings[res.crossings > 0], ref, rtol=1e-7)
    assert res.worst_violation == pytest.approx(-_lambda_min(sys, w).min(), rel=1e-6)


@pytest.mark.parametrize("dt", [None, 0.05])
def test_bounded_real_violation_bands_match_a_dense_sweep(dt: float | None) -> None:
    sys = _scaled(hk.random_stable(8, 2, 2, dt=dt, seed=3), 1.25)
    top = np.pi / dt if dt is not None else 1e3
    w = np.r_[0.0, np.geomspace(1e-3, top, 40001)]
    res = hk.passivity(sys, kind="scattering")
    assert not res.is_passive and res.kind == "scattering"
    sweep = _sigma_max(sys, w)
    # Crossings: where the swept σ_max crosses 1 (refined on the sweep itself).
    ref = _sweep_crossings(lambda x: _sigma_max(sys, x) - 1.0, w)
    assert ref.size >= 1
    np.testing.assert_allclose(res.crossings[res.crossings > 0], ref, rtol=1e-7)
    # Bands: every swept violation lies in a band, every band's interior violates.
    inside = np.zeros(w.size, dtype=bool)
    for lo, hi in res.bands:
        inside |= (w >= lo) & (w <= hi)
        assert np.all(sweep[(w > lo + 1e-6) & (w < hi - 1e-6)] > 1.0)
    assert np.all(sweep[~inside] <= 1.0 + 1e-12)
    assert res.worst_violation == pytest.approx(sweep.max() - 1.0, abs=1e-6)
    assert _sigma_max(sys, np.array([res.worst_frequency]))[0] - 1 == pytest.approx(res.worst_violation)


def test_passive_scattering_model_and_enforcement_change() -> None:
    sys = _scaled(hk.random_stable(8, 2, 2, seed=5), 1.1)
    fixed, report = enforce_passivity(sys, kind="scattering")
    assert report["violations_before"] >= 1 and report["violations_after"] == 0
    w = np.r_[0.0, np.geomspace(1e-3, 1e3, 20001)]
    assert _sigma_max(fixed, w).max() <= 1.0
    assert hk.passivity(fixed).is_passive
    np.testing.assert_array_equal(fixed.A, sys.A)
    np.testing.assert_array_equal(fixed.D, sys.D)
    with pytest.raises(RuntimeError, match="did not converge"):
        enforce_passivity(_scaled(hk.random_stable(8, 2, 2, seed=3), 1.25), max_iterations=1)


def test_enforcement_in_discrete_time_and_for_immittances() -> None:
    d = _scaled(hk.random_stable(8, 2, 2, dt=0.05, seed=3), 1.1)
    fixed, rep = enforce_passivity(d, kind="scattering")
    assert rep["violations_before"] == 1 and hk.passivity(fixed).is_passive
    assert _sigma_max(fixed, np.linspace(0.0, np.pi / 0.05, 20001)).max() <= 1.0
    # A positive-real model with its strictly proper part's sign flipped: active below ~1 rad/s.
    b = _port_hamiltonian(6, 2, 3, d=0.0)
    active = hk.StateSpace(b.A, b.B, -0.1 * b.C, 0.3 * np.eye(2))
    assert not hk.passivity(active, kind="immittance").is_passive
    fixed, rep = enforce_passivity(active, kind="immittance")
    assert hk.passivity(fixed, kind="immittance").is_passive
    assert _lambda_min(fixed, np.r_[0.0, np.geomspace(1e-4, 1e4, 20001)]).min() >= 0.0


@pytest.mark.parametrize("noise_seed", [0, 2])
def test_vector_fit_enforces_passivity_on_noisy_data(noise_seed: int) -> None:
    true = _scaled(hk.random_stable(6, 2, 2, seed=7), 0.999)
    w = np.geomspace(1e-2, 1e3, 300)
    rng = np.random.default_rng(noise_seed)
    H = true.frequency_response(w)
    noise = 3e-3 * (rng.standard_normal(H.shape) + 1j * rng.standard_normal(H.shape))
    frd = hk.FRData(w, H + noise)
    plain = hk.vector_fit(frd, 6)
    before = hk.passivity(plain)
    assert not before.is_passive  # the noise pushes the fit over 1
    fit = hk.vector_fit(frd, 6, enforce_passivity="scattering")
    rep = fit.info["passivity"]
    assert rep["violations_before"] == before.bands.shape[0] and rep["violations_after"] == 0
    assert rep["worst_before"] == pytest.approx(before.worst_violation)
    # Seed 2 fits a D with σ_max(D) > 1: it is clipped before the residues are perturbed.
    assert rep["feedthrough_clipped"] == (np.linalg.norm(plain.D, 2) >= 1)
    assert hk.passivity(fit).is_passive
    dense = np.r_[0.0, np.geomspace(1e-4, 1e5, 20001)]
    assert _sigma_max(fit, dense).max() <= 1.0
    # The change is small next to the noise (relative RMS error ~1e-2), and the fit as good.
    assert rep["model_change"] < 2e-3
    assert fit.info["rms"] < 1.05 * plain.info["rms"]


@pytest.mark.parametrize("method", ["aaa", "loewner"])
def test_aaa_and_loewner_enforce_passivity_through_the_same_refit(method: str) -> None:
    true = _scaled(hk.random_stable(6, 2, 2, seed=7), 0.999)
    w = np.geomspace(1e-2, 1e3, 300)
    rng = np.random.default_rng(0)
    H = true.frequency_response(w)
    frd = hk.FRData(w, H + 3e-3 * (rng.standard_normal(H.shape) + 1j * rng.standard_normal(H.shape)))

    def fit(**kw):
        if method == "aaa":
            out = hk.aaa(frd, max_order=6, stable=True, **kw)
            return out, out.info
        ident = hk.loewner(frd, 6, stable=True, **kw)
        return ident.system, ident.info

    plain, _ = fit()
    assert not hk.passivity(plain).is_passive
    model, info = fit(enforce_passivity="scattering")
    rep = info["passivity"]
    assert rep["violations_before"] >= 1 and rep["violations_after"] == 0
    assert hk.passivity(model).is_passive
    assert _sigma_max(model, np.r_[0.0, np.geomspace(1e-4, 1e5, 20001)]).max() <= 1.0
    assert rep["model_change"] < 5e-3
    without_stable = {
        "aaa": lambda: hk.aaa(frd, max_order=6, enforce_passivity="scattering"),
        "loewner": lambda: hk.loewner(frd, 6, enforce_passivity="scattering"),
    }
    with pytest.raises(ValueError, match="stable=True"):
        without_stable[method]()


def test_bad_input_raises_named_errors() -> None:
    stable = hk.random_stable(3, 2, 1, seed=0)
    with pytest.raises(ValueError, match="kind"):
        hk.passivity(stable, kind="impedance")
    with pytest.raises(ValueError, match="square"):
        hk.passivity(stable, kind="immittance")
    with pytest.raises(ValueError, match="unstable"):
        hk.passivity(hk.StateSpace([[0.5]], [[1.0]], [[1.0]], [[0.0]]))
    with pytest.raises(TypeError, match="StateSpace"):
        hk.passivity(np.eye(2))
    # Enforcement keeps D, so D itself must be strictly passive.
    with pytest.raises(ValueError, match="D is not strictly passive"):
        enforce_passivity(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]], [[1.5]]))
    frd = hk.FRData.from_system(stable, np.geomspace(0.1, 10, 30))
    with pytest.raises(ValueError, match="enforce_passivity"):
        hk.vector_fit(frd, 3, enforce_passivity=True)
    with pytest.raises(ValueError, match="square"):
        hk.vector_fit(frd, 3, enforce_passivity="immittance")
    with pytest.raises(ValueError, match="enforce_stability"):
        hk.vector_fit(frd, 3, enforce_passivity="scattering", enforce_stability=False)
