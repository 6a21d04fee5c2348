"""Balanced truncation / singular perturbation: orders, bounds, methods, unstable systems, errors."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import hankelid as hk
from hankelid import empirical
from hankelid.gramians import gramian_factors
from hankelid.truncation import balance_from_factors, compress_channels, distinct_bounds

from ._systems import with_poles


def _unstable_system(dt):
    lam = [1.3, 0.95 + 0.1, 0.6, -0.4, 0.3, 0.1, 0.05] if dt else [0.4, 0.1, -0.5, -1.0, -2.0, -4.0, -7.0]
    return with_poles(lam, 2, 2, seed=4, dt=dt, feedthrough=True)


# --------------------------------------------------------------------------- basic contract
@pytest.mark.parametrize("dt", [None, 0.25])
@pytest.mark.parametrize("method", ["sr", "bfsr"])
@pytest.mark.parametrize("match_dc", [False, True])
def test_bounds_hold_and_structure(dt, method, match_dc) -> None:
    sys = hk.random_stable(9, 2, 2, dt=dt, seed=1, feedthrough=True)
    for r in (1, 3, 6):
        red = hk.balanced_truncation(sys, r, method=method, match_dc=match_dc)
        assert red.order == r == red.system.n
        assert red.system.dt == sys.dt
        assert red.system.is_stable()
        assert red.T.shape == (9, r) and red.Ti.shape == (r, 9)
        assert np.allclose(red.Ti @ red.T, np.eye(r), atol=1e-8)
        err = hk.hinf_norm(sys - red.system)
        assert red.hsv[r] * (1 - 1e-6) <= err <= red.error_bound * (1 + 1e-6)
        if match_dc:
            assert np.allclose(red.system.dcgain(), sys.dcgain(), rtol=1e-8, atol=1e-10)
        else:
            assert np.array_equal(red.system.D, sys.D)  # truncation keeps D
            A, B, C, _ = sys.matrices
            assert np.allclose(red.system.A, red.Ti @ A @ red.T)
            assert np.allclose(red.system.B, red.Ti @ B)
            assert np.allclose(red.system.C, C @ red.T)


@pytest.mark.parametrize("dt", [None, 0.25])
def test_sr_and_bfsr_give_the_same_transfer_function(dt) -> None:
    sys = hk.random_stable(10, 1, 2, dt=dt, seed=3)
    w = np.array([0.0, 0.4, 1.3, 3.0])
    for match_dc in (False, True):
        a = hk.balanced_truncation(sys, 4, method="sr", match_dc=match_dc).system
        b = hk.balanced_truncation(sys, 4, method="bfsr", match_dc=match_dc).system
        assert np.allclose(a.frequency_response(w), b.frequency_response(w), rtol=1e-8, atol=1e-10)


def test_sr_is_balanced_in_continuous_time() -> None:
    sys = hk.random_stable(8, 2, 2, seed=2)
    red = hk.balanced_truncation(sys, 4)
    Wc, Wo = hk.gramian(red.system, "c"), hk.gramian(red.system, "o")
    assert np.allclose(Wc, np.diag(red.hsv[:4]), atol=1e-10)
    assert np.allclose(Wo, np.diag(red.hsv[:4]), atol=1e-10)


def test_full_order_is_a_balanced_realization() -> None:
    sys = hk.random_stable(6, 1, 1, dt=1.0, seed=0)
    red = hk.balanced_truncation(sys, 6)
    assert red.error_bound == 0.0
    w = np.linspace(0, np.pi, 7)
    assert np.allclose(red.system.frequency_response(w), sys.frequency_response(w))
    assert np.allclose(hk.gramian(red.system, "c"), np.diag(red.hsv), atol=1e-10)


def test_order_from_tol_and_default() -> None:
    sys = hk.random_stable(12, 1, 1, dt=1.0, seed=8)
    sig = hk.hsv(sys)
    for tol in (1e-1, 1e-3, 1e-6):
        red = hk.balanced_truncation(sys, tol=tol)
        assert red.error_bound <= tol
        r = red.order
        assert r == 1 or red.bounds[r - 1] > tol  # the smallest such order
    # default: keep every HSV above n * eps * sigma_1
    red = hk.balanced_truncation(sys)
    assert red.order == int(np.sum(sig > 12 * np.finfo(float).eps * sig[0]))


def test_bounds_array_and_distinct_values() -> None:
    sys = hk.random_stable(7, 2, 1, seed=5)
    red = hk.balanced_truncation(sys, 3)
    b = red.error_bounds()
    assert b.shape == (8,) and b[-1] == 0.0
    assert np.all(np.diff(b) <= 0)
    assert np.isclose(b[3], 2 * red.hsv[3:].sum())
    assert b is not red.bounds
    # equal HSVs count once: diag(G, G) has every HSV of G twice
    s1 = hk.random_stable(3, seed=6)
    both = hk.StateSpace(np.kron(np.eye(2), s1.A), np.kron(np.eye(2), s1.B), np.kron(np.eye(2), s1.C))
    sig = hk.hsv(both)
    assert np.allclose(sig[0::2], hk.hsv(s1)) and np.allclose(sig[1::2], hk.hsv(s1))
    red2 = hk.balanced_truncation(both, 2)
    assert np.isclose(red2.error_bound, 2 * hk.hsv(s1)[1:].sum())
    assert hk.hinf_norm(both - red2.system) <= red2.error_bound * (1 + 1e-8)
    assert np.allclose(distinct_bounds([2.0, 2.0, 1.0, 1.0 + 1e-13]), [6.0, 6.0, 2.0, 2.0, 0.0])


def test_reduction_is_frozen_and_readonly() -> None:
    red = hk.balanced_truncation(hk.random_stable(5, seed=0), 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        red.order = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        red.hsv[0] = 0.0
    assert "Reduction(order=2" in repr(red)
    assert red.method == "sr" and red.gramians == "exact" and red.hsv_exact is None


def test_order_above_minimal_warns() -> None:
    sys = hk.StateSpace(np.diag([-1.0, -2.0, -3.0]), [[1.0], [1.0], [0.0]], [[1.0, 1.0, 1.0]])
    with pytest.warns(UserWarning, match="minimal order 2"):
        red = hk.balanced_truncation(sys, 3)
    assert red.order == 2


def test_system_without_dynamics() -> None:
    sys = hk.StateSpace(-np.eye(3), np.zeros((3, 1)), np.ones((1, 3)), [[2.0]])
    assert np.array_equal(hk.hsv(sys), np.zeros(3))
    with pytest.warns(UserWarning, match="all Hankel singular values are zero"):
        red = hk.balanced_truncation(sys, 2)
    assert red.order == 1 and red.error_bound == 0.0
    assert np.allclose(red.system.frequency_response([0.0, 3.0]), 2.0)


# --------------------------------------------------------------------------- unstable systems
@pytest.mark.parametrize("dt", [None, 1.0])
@pytest.mark.parametrize("match_dc", [False, True])
def test_unstable_part_kept_whole(dt, match_dc) -> None:
    sys = _unstable_system(dt)
    nu = 2
    red = hk.balanced_truncation(sys, 4, match_dc=match_dc)
    assert red.order == 4 and red.n_unstable == nu
    assert np.isinf(red.hsv[:nu]).all() and np.isinf(red.bounds[:nu]).all()
    poles = np.sort_complex(red.system.poles())
    unstable = poles[np.abs(poles) >= 1] if dt else poles[poles.real >= 0]
    assert len(unstable) == nu
    ref = np.sort_complex(sys.poles())
    ref_u = ref[np.abs(ref) >= 1] if dt else ref[ref.real >= 0]
    assert np.allclose(np.sort_complex(unstable), np.sort_complex(ref_u))
    # the error system is stable (the unstable parts cancel) and within the bound
    from hankelid.decomposition import stable_unstable_split

    parts = stable_unstable_split(sys)
    red_s = hk.balanced_truncation(parts.stable, 4 - nu, match_dc=match_dc)
    assert np.isclose(red.error_bound, red_s.error_bound)
    err = hk.hinf_norm(parts.stable - red_s.system)
    assert err <= red.error_bound * (1 + 1e-6)
    w = np.array([0.3, 1.1])
    recombined = red_s.system + parts.unstable
    assert np.allclose(red.system.frequency_response(w), recombined.frequency_response(w))
    with pytest.raises(ValueError, match="unstable modes"):
        hk.balanced_truncation(sys, 1)
    # tol: the stable part may vanish entirely
    big = hk.balanced_truncation(sys, tol=1e6, match_dc=match_dc)
    assert big.order == nu


def test_all_unstable_returns_the_system() -> None:
    sys = hk.StateSpace(np.diag([1.0, 2.0]), [[1.0], [1.0]], [[1.0, 1.0]])
    red = hk.balanced_truncation(sys)
    assert red.order == 2 and red.error_bound == 0.0
    with pytest.raises(ValueError, match="unstable modes"):
        hk.balanced_truncation(sys, 1)


# --------------------------------------------------------------------------- empirical gramians
def test_empirical_dispatch_uses_factor_provider(monkeypatch) -> None:
    sys = hk.random_stable(8, 1, 1, dt=1.0, seed=2)
    Lc, Lo = gramian_factors(sys)
    seen = {}

    def provider(s, **opts):
        seen.update(opts)
        return Lc * (1 + 1e-3), Lo

    monkeypatch.setattr(empirical, "empirical_gramian_factors", provider)
    red = hk.balanced_truncation(sys, 3, gramians="empirical", length=77, seed=1)
    assert seen == {"length": 77, "seed": 1}
    assert red.gramians == "empirical"
    assert red.hsv_exact is not None and np.allclose(red.hsv_exact, hk.hsv(sys))
    assert red.hsv_error == pytest.approx(1e-3, rel=1e-6)
    exact = hk.balanced_truncation(sys, 3)
    w = np.array([0.1, 1.0, 2.5])
    assert np.allclose(red.system.frequency_response(w), exact.system.frequency_response(w), rtol=1e-6)


@pytest.mark.parametrize("dt", [None, 1.0])
def test_empirical_impulse_gramians_match_exact(dt) -> None:
    sys = hk.random_stable(8, 2, 1, dt=dt, seed=4)
    red = hk.balanced_truncation(sys, 4, gramians="empirical", inputs="impulse", length=600)
    assert red.hsv_error is not None and red.hsv_error < 1e-6
    exact = hk.balanced_truncation(sys, 4)
    assert np.allclose(red.hsv, exact.hsv, rtol=1e-5, atol=1e-8 * exact.hsv[0])


def test_estimator_options_need_empirical() -> None:
    sys = hk.random_stable(4, seed=0)
    with pytest.raises(ValueError, match="estimator options"):
        hk.balanced_truncation(sys, 2, length=10)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": 0}, "between 1 and 5"),
        ({"order": 6}, "between 1 and 5"),
        ({"order": 2.5}, "integer"),
        ({"order": True}, "integer"),
        ({"tol": 0.0}, "positive"),
        ({"tol": -1.0}, "positive"),
        ({"tol": float("nan")}, "positive"),
        ({"order": 2, "tol": 1e-3}, "not both"),
        ({"order": 2, "method": "exact"}, "method"),
        ({"order": 2, "match_dc": "yes"}, "match_dc"),
        ({"order": 2, "gramians": "approx"}, "gramians"),
        ({"order": 2, "offset": -1.0}, "offset"),
    ],
)
def test_bad_arguments(kwargs, message) -> None:
    sys = hk.random_stable(5, seed=0)
    before = [m.copy() for m in sys.matrices]
    with pytest.raises(ValueError, match=message):
        hk.balanced_truncation(sys, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, sys.matrices))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: hk.StateSpace([[np.nan]], [[1.0]], [[1.0]]), "NaN"),
        (lambda: hk.StateSpace([[np.inf]], [[1.0]], [[1.0]]), "inf"),
        (lambda: hk.StateSpace(np.ones((2, 3)), np.ones((2, 1)), np.ones((1, 2))), "square"),
        (lambda: hk.StateSpace(-np.eye(2), np.ones((3, 1)), np.ones((1, 2))), "rows"),
        (lambda: hk.StateSpace(np.zeros((0, 0)), np.zeros((0, 1)), np.zeros((1, 0))), "zero"),
        (lambda: hk.StateSpace(-np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt=-1.0), "dt"),
        (lambda: hk.StateSpace(-np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt="1"), "dt"),
    ],
)
def test_bad_systems_are_rejected(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_not_a_system() -> None:
    with pytest.raises(ValueError, match="StateSpace"):
        hk.balanced_truncation(np.eye(3), 1)


def test_discrete_system_is_not_treated_as_continuous() -> None:
    """python-control's balred reduces a discrete system as if it were continuous."""
    sys = hk.random_stable(20, 1, 1, dt=1.0, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        red = hk.balanced_truncation(sys, 5)
    assert red.system.n == 5 and red.system.dt == 1.0
    assert hk.hinf_norm(sys - red.system) <= red.error_bound


@pytest.mark.parametrize("gramians", ["exact", "empirical"])
def test_channel_compression_gives_the_same_truncation(gramians) -> None:
    """A wide system (30 inputs, 20 outputs, 5 states): the compressed estimate is the full-width one."""
    sys = hk.random_stable(5, 30, 20, dt=1.0, seed=2, pole_radius=(0.1, 0.8))
    opts = {"inputs": "impulse", "length": 400} if gramians == "empirical" else {}
    red = hk.balanced_truncation(sys, order=2, gramians=gramians, **opts)
    # reference without compression: factors of the full-width system, then the shared projection
    Lc, Lo = empirical.empirical_gramian_factors(sys, **opts) if opts else gramian_factors(sys)
    ref, _, _, ref_hsv = balance_from_factors(sys, Lc, Lo, 2)
    np.testing.assert_allclose(red.hsv, ref_hsv, rtol=1e-8)
    np.testing.assert_allclose(
        hk.markov_parameters(red.system, 30), hk.markov_parameters(ref, 30), rtol=1e-7, atol=1e-10
    )


def test_compressed_channels_keep_the_gramians_and_shapes() -> None:
    sys = hk.random_stable(4, 9, 7, dt=1.0, seed=5)
    small = compress_channels(sys)
    assert small.shape == (4, 4) and small.dt == sys.dt
    for kind in ("c", "o"):
        np.testing.assert_allclose(hk.gramian(small, kind), hk.gramian(sys, kind), rtol=1e-10, atol=1e-12)
    narrow = hk.random_stable(4, 2, 3, dt=1.0, seed=5)
    assert np.array_equal(compress_channels(narrow).B, narrow.B)


def test_recorded_input_arrays_drive_the_wide_system_itself() -> None:
    sys = hk.random_stable(4, 6, 5, dt=1.0, seed=3)
    rng = np.random.default_rng(2)
    U, V = rng.standard_normal((3, 120, 6)), rng.standard_normal((2, 90, 5))
    red = hk.balanced_truncation(sys, order=2, gramians="empirical", inputs=(U, V))
    sim = hk.Simulator.from_state_space(sys)  # stepped states: the snapshot factors by hand
    Xc, Xo = sim.forward(U).reshape(-1, 4) / np.sqrt(360), sim.adjoint(V).reshape(-1, 4) / np.sqrt(180)
    ref, _, _, ref_hsv = balance_from_factors(sys, Xc.T, Xo.T, 2)
    np.testing.assert_allclose(red.hsv, ref_hsv[:4], rtol=1e-10)
    np.testing.assert_allclose(
        hk.markov_parameters(red.system, 20), hk.markov_parameters(ref, 20), rtol=1e-8, atol=1e-12
    )
