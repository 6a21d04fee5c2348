"""Loewner, AAA and vector fitting: exact recovery, noise, stability, references, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk

from ._frequency_cases import grid, held_out, minimal_order, noisy, relative_error, structure, systems

CASES = systems()
IDS = [name for name, _ in CASES]


@pytest.mark.parametrize("sys", [s for _, s in CASES], ids=IDS)
def test_loewner_recovers_the_system_and_its_order(sys: hk.StateSpace) -> None:
    w = grid(sys, 60)
    ident = hk.loewner(hk.FRData.from_system(sys, w))
    n = minimal_order(sys)
    assert ident.order == n
    assert ident.system.dt == sys.dt
    assert relative_error(ident, sys, held_out(w)) < 1e-8
    # Exactly n + rank(D) singular values of [L, Ls] stand above rounding.
    s = ident.singular_values / ident.singular_values[0]
    assert int(np.sum(s > 1e-10)) == ident.info["pencil_order"] == n + np.linalg.matrix_rank(sys.D)
    np.testing.assert_allclose(ident.system.D, sys.D, atol=1e-8 * max(1.0, np.abs(sys.D).max()))


@pytest.mark.parametrize("directions", ["block", "random"])
def test_loewner_tangential_directions_give_the_same_model(directions: str) -> None:
    sys = hk.random_stable(6, 3, 2, seed=21)
    w = grid(sys, 50)
    ident = hk.loewner(hk.FRData.from_system(sys, w), directions=directions)
    assert ident.info["directions"] == directions and ident.order == 6
    assert relative_error(ident, sys, held_out(w)) < 1e-8


@pytest.mark.parametrize("sys", [s for _, s in CASES], ids=IDS)
def test_aaa_recovers_the_transfer_function(sys: hk.StateSpace) -> None:
    w = grid(sys, 80)
    fit = hk.aaa(hk.FRData.from_system(sys, w), tol=1e-11)
    assert isinstance(fit, hk.StateSpace) and fit.dt == sys.dt
    assert relative_error(fit, sys, held_out(w)) < 1e-8


@pytest.mark.parametrize("sys", [s for _, s in CASES], ids=IDS)
def test_vector_fit_recovers_the_transfer_function_and_poles(sys: hk.StateSpace) -> None:
    w = grid(sys, 80)
    n = minimal_order(sys)
    fit = hk.vector_fit(hk.FRData.from_system(sys, w), n, iterations=20)
    assert isinstance(fit, hk.StateSpace) and fit.dt == sys.dt
    assert relative_error(fit, sys, held_out(w)) < 1e-8
    assert fit.n == n
    # The fitted poles are the controllable and observable poles of the system.
    truth = hk.balanced_truncation(sys, n).system.poles()
    got = fit.poles()
    dist = np.abs(truth[:, None] - got[None, :]).min(axis=1) / np.abs(truth)
    assert dist.max() < 1e-6


def test_aaa_agrees_with_scipy_on_siso_data() -> None:
    from scipy.interpolate import AAA

    sys = hk.random_stable(7, seed=31)
    w = grid(sys, 60)
    frd = hk.FRData.from_system(sys, w)
    ours = hk.aaa(frd, tol=1e-12)
    # scipy sees the same samples, conjugates included (it has no notion of a real model).
    pts = np.r_[1j * w, -1j * w[1:]] if w[0] == 0 else np.r_[1j * w, -1j * w]
    vals = np.r_[frd.response[:, 0, 0], np.conj(frd.response[w > 0, 0, 0])]
    ref = AAA(pts, vals, rtol=1e-12)
    wt = held_out(w)
    G = sys.frequency_response(wt)[:, 0, 0]
    mine = ours.frequency_response(wt)[:, 0, 0]
    np.testing.assert_allclose(mine, ref(1j * wt), rtol=1e-7, atol=1e-9 * abs(G).max())
    # scipy's poles include spurious ones with negligible residues; the true poles are in both.
    truth = sys.poles()
    for poles in (ours.poles(), ref.poles()):
        assert (np.abs(truth[:, None] - poles[None, :]).min(axis=1) / np.abs(truth)).max() < 1e-6
    assert ours.n == 7


def test_noisy_data_errors_stay_near_the_noise_level() -> None:
    sys = structure(modes=4, m=2, p=2, damping=0.03, seed=1)
    w = np.geomspace(0.3, 60.0, 250)
    level = 1e-3
    frd = noisy(sys, w, level, seed=2)
    wt = held_out(w)
    loe = hk.loewner(frd, order=8)
    vf = hk.vector_fit(frd, 8)
    aaa = hk.aaa(frd, tol=1e-2, max_order=9)
    for model in (loe, vf, aaa):
        assert relative_error(model, sys, wt) < 3 * level
    # Least squares averages the noise: vector fitting lands below the noise level.
    assert relative_error(vf, sys, wt) < level


@pytest.mark.parametrize("dt", [None, 0.05])
def test_stable_options_return_stable_models_with_a_report(dt) -> None:
    sys = structure(modes=4, m=2, p=2, damping=0.01, seed=3)
    if dt is not None:
        sys = hk.c2d(sys, dt)
    w = grid(sys, 200) if dt else np.geomspace(0.3, 60.0, 200)
    frd = noisy(sys, w, 3e-3, seed=4)
    loe = hk.loewner(frd, order=12, stable=True)
    aaa = hk.aaa(frd, tol=1e-3, stable=True)
    vf = hk.vector_fit(frd, 12, enforce_stability=True)
    for report, model in (
        (loe.info["stability"], loe.system),
        (aaa.info["stability"], aaa),
        (vf.info["stability"], vf),
    ):
        assert model.is_stable()
        assert set(report) >= {"moved_poles", "rms_before", "rms_after", "model_change"}
        assert report["rms_after"] < 0.1


def test_refitting_after_flipping_beats_flipping_alone() -> None:
    # Data of a system with one unstable real pole: the stable model that mirrors the pole
    # and refits the residues must fit better than the one that only mirrors the pole.
    rng = np.random.default_rng(7)
    A = np.diag([0.5, -1.0, -3.0])
    sys = hk.StateSpace(A, rng.standard_normal((3, 2)), rng.standard_normal((2, 3)))
    w = np.geomspace(0.05, 50.0, 200)
    frd = hk.FRData.from_system(sys, w)
    ident = hk.loewner(frd, stable=True)
    report = ident.info["stability"]
    assert report["moved_poles"] == 1 and ident.system.is_stable()
    assert report["rms_before"] < 1e-10  # the unstable interpolant was exact
    flipped = hk.StateSpace(np.diag([-0.5, -1.0, -3.0]), sys.B, sys.C)
    flip_only = hk.frequency_compare(frd, flipped).rms[0]
    assert report["rms_after"] < 0.9 * flip_only
    # The refit residues need not be rank one: the poles are kept, their multiplicity may grow.
    poles = ident.system.poles()
    np.testing.assert_allclose(np.unique(np.round(poles.real, 6)), [-3.0, -1.0, -0.5], rtol=1e-6)
    assert np.all(poles.imag == 0)


@pytest.mark.parametrize("dt", [None, 0.1])
def test_realization_is_real_and_matches_the_pole_residue_sum(dt) -> None:
    # The real block realization of conjugate pole pairs against the complex partial fractions.
    from hankelid.identification._rational import evaluate_pole_residue, realize_pole_residue

    rng = np.random.default_rng(8)
    reps = np.array([-0.5 + 2j, -1.0 + 0j, -0.2 + 5j]) if dt is None else np.array([0.5 + 0.6j, -0.3 + 0j])
    R = rng.standard_normal((reps.size, 2, 3)) + 1j * rng.standard_normal((reps.size, 2, 3))
    R[reps.imag == 0] = R[reps.imag == 0].real
    D = rng.standard_normal((2, 3))
    sys = realize_pole_residue(reps, R, D, dt, scale=1.0)
    pts = np.exp(1j * np.linspace(0.1, 3.0, 7)) if dt else 1j * np.linspace(0.1, 3.0, 7)
    np.testing.assert_allclose(sys.evaluate(pts), evaluate_pole_residue(pts, reps, R, D), rtol=1e-12)
    assert sys.n == sum(min(2, 3) * (2 if a.imag else 1) for a in reps)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f: hk.loewner(f, order=31), "larger than the data allow"),
        (lambda f: hk.loewner(f[:1]), "at least two frequencies"),
        (lambda f: hk.loewner(f, order=0), "positive integer"),
        (lambda f: hk.loewner(f, directions="diagonal"), "directions"),
        (lambda f: hk.aaa(f, tol=0.0), "tol"),
        (lambda f: hk.aaa(f, max_order=60), "larger than the data allow"),
        (lambda f: hk.vector_fit(f, 20), "larger than the data allow"),
        (lambda f: hk.vector_fit(f, 0), "positive integer"),
        (lambda f: hk.vector_fit(f, 4, iterations=0), "iterations"),
    ],
)
def test_bad_options_raise_value_errors_that_name_the_problem(call, match) -> None:
    sys = hk.random_stable(4, seed=9)
    frd = hk.FRData.from_system(sys, np.geomspace(0.1, 50, 20))
    with pytest.raises(ValueError, match=match):
        call(frd)


def test_methods_refuse_non_frdata() -> None:
    for fn in (hk.loewner, hk.aaa, lambda x: hk.vector_fit(x, 2)):
        with pytest.raises(TypeError, match="FRData"):
            fn(np.ones((5, 1, 1)))


def test_reduction_from_data_tracks_reduction_of_the_true_model() -> None:
    # Loewner model of exact data, then balanced truncation: the same reduced model (and
    # bound) as truncating the true system.
    sys = hk.random_stable(10, 2, 2, seed=41)
    w = grid(sys, 80)
    ident = hk.loewner(hk.FRData.from_system(sys, w))
    from_data = hk.balanced_truncation(ident, 4)
    from_truth = hk.balanced_truncation(sys, 4)
    np.testing.assert_allclose(from_data.hsv, from_truth.hsv, rtol=1e-6)
    np.testing.assert_allclose(from_data.error_bound, from_truth.error_bound, rtol=1e-6)
    assert relative_error(from_data.system, from_truth.system, held_out(w)) < 1e-6


def test_loewner_pencil_from_a_subset_of_many_frequencies() -> None:
    sys = hk.random_stable(6, 2, 2, seed=71)
    w = grid(sys, 400)
    frd = hk.FRData.from_system(sys, w)
    ident = hk.loewner(frd, max_points=40)
    assert ident.info["pencil_frequencies"] == 40 and ident.order == 6
    assert relative_error(ident, sys, held_out(w)) < 1e-8
    with pytest.raises(ValueError, match="max_points"):
        hk.loewner(frd, max_points=1)
