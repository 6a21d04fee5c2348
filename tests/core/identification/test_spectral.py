"""spectral_estimate: H1 estimates against scipy.signal and against the true response."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.signal as ss

import hankelid as hk


@dataclass
class Records:
    """A stand-in for hankelid.IOData: lists of (N, m) inputs and (N, p) outputs, and dt."""

    u: list
    y: list
    dt: float | None


def _records(sys: hk.StateSpace, N: int, experiments: int, noise: float, seed: int) -> Records:
    rng = np.random.default_rng(seed)
    us, ys = [], []
    for _ in range(experiments):
        u = rng.standard_normal((N, sys.m))
        y = ss.dlsim(sys.to_scipy(), u)[1]
        us.append(u)
        ys.append(y + noise * rng.standard_normal(y.shape))
    return Records(us, ys, sys.dt)


def test_siso_welch_matches_scipy_csd_and_coherence() -> None:
    sys = hk.random_stable(4, dt=0.5, seed=1)
    rec = _records(sys, 6000, 1, 0.05, seed=2)
    u, y = rec.u[0][:, 0], rec.y[0][:, 0]
    f, Puy = ss.csd(u, y, fs=2.0, nperseg=256)
    _, Puu = ss.welch(u, fs=2.0, nperseg=256)
    _, Cuy = ss.coherence(u, y, fs=2.0, nperseg=256)
    frd = hk.spectral_estimate(rec, nperseg=256)
    np.testing.assert_allclose(frd.omega, 2 * np.pi * f[1:], rtol=1e-14)
    np.testing.assert_allclose(frd.response[:, 0, 0], (Puy / Puu)[1:], rtol=1e-10)
    np.testing.assert_allclose(frd.coherence[:, 0], Cuy[1:], atol=1e-12)
    assert frd.dt == 0.5


@pytest.mark.parametrize("method", ["welch", "blackman-tukey"])
def test_mimo_estimate_is_close_to_the_true_response(method: str) -> None:
    sys = hk.random_stable(6, 2, 3, dt=1.0, seed=3, pole_radius=(0.2, 0.8))
    rec = _records(sys, 6000, 2, 0.01, seed=4)
    frd = hk.spectral_estimate(rec, method=method)
    G = sys.frequency_response(frd.omega)
    assert (frd.p, frd.m) == (3, 2)
    err = np.sqrt(np.mean(np.abs(frd.response - G) ** 2) / np.mean(np.abs(G) ** 2))
    assert err < 0.05
    assert frd.coherence.shape == (frd.K, 3) and np.median(frd.coherence) > 0.95


def test_coherence_drops_with_output_noise() -> None:
    sys = hk.random_stable(4, dt=1.0, seed=5)
    quiet = hk.spectral_estimate(_records(sys, 4000, 1, 0.01, seed=6), nperseg=128)
    loud = hk.spectral_estimate(_records(sys, 4000, 1, 3.0, seed=6), nperseg=128)
    assert np.mean(loud.coherence) < np.mean(quiet.coherence) - 0.2


def test_identification_from_an_estimated_frf() -> None:
    sys = hk.random_stable(4, 2, 2, dt=1.0, seed=7, pole_radius=(0.3, 0.8))
    frd = hk.spectral_estimate(_records(sys, 8000, 1, 0.01, seed=8), nperseg=256)
    fit = hk.vector_fit(frd, 4)
    G = sys.frequency_response(frd.omega)
    err = np.sqrt(np.mean(np.abs(fit.frequency_response(frd.omega) - G) ** 2) / np.mean(np.abs(G) ** 2))
    assert fit.is_stable() and err < 0.02


def test_bad_records_raise() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal((500, 1))
    with pytest.raises(ValueError, match="not independently excited"):
        hk.spectral_estimate(Records([np.hstack([u, u])], [u], 1.0), nperseg=64)
    with pytest.raises(ValueError, match="method"):
        hk.spectral_estimate(Records([u], [u], 1.0), method="periodogram")
    with pytest.raises(ValueError, match="segment"):
        hk.spectral_estimate(Records([u], [u], 1.0), nperseg=1000)
    with pytest.raises(ValueError, match="NaN"):
        hk.spectral_estimate(Records([u], [np.full_like(u, np.nan)], 1.0))
    with pytest.raises(ValueError, match="must be"):
        hk.spectral_estimate(Records([u], [u[:-1]], 1.0))
    with pytest.raises(TypeError, match=r"\.u, \.y"):
        hk.spectral_estimate(u)
