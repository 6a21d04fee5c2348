"""ERA identification: exact recovery, balancing, order selection, noise, experiments, stability."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import hankelid as hk


def _rel(X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.linalg.norm(X - Y) / np.linalg.norm(Y))


def _exact_hsv(sys: hk.StateSpace) -> np.ndarray:
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    Wc = sla.solve_discrete_lyapunov(A, B @ B.T)
    Wo = sla.solve_discrete_lyapunov(A.T, C.T @ C)
    return np.sqrt(np.sort(np.linalg.eigvals(Wc @ Wo).real)[::-1])


def _noisy(h: np.ndarray, level: float, seed: int) -> np.ndarray:
    return h + level * np.abs(h).max() * np.random.default_rng(seed).standard_normal(h.shape)


# --------------------------------------------------------------------------- exact data
@pytest.mark.parametrize(("n", "m", "p"), [(1, 1, 1), (5, 1, 1), (6, 2, 3), (7, 3, 2)])
def test_exact_recovery_of_the_true_order(n: int, m: int, p: int) -> None:
    true = hk.random_stable(n, m, p, dt=0.5, seed=n + 10 * m + 100 * p, feedthrough=True)
    h = hk.markov_parameters(true, 150)
    model = hk.era(h, dt=0.5)
    assert (model.n, model.m, model.p, model.dt) == (n, m, p, 0.5)
    assert np.array_equal(model.D, h[0])
    assert _rel(hk.markov_parameters(model, 300), hk.markov_parameters(true, 300)) < 1e-10
    assert np.allclose(np.sort_complex(model.poles()), np.sort_complex(true.poles()), atol=1e-8)


def test_realization_is_balanced_for_the_finite_hankel_matrix() -> None:
    true = hk.random_stable(5, 2, 2, dt=1.0, seed=1)
    h = hk.markov_parameters(true, 61)
    model, info = hk.era(h, return_info=True)
    A, B, C, _ = (np.array(M) for M in model.matrices)
    # Observability over info.rows block rows and controllability over info.cols block columns.
    O = np.vstack([C @ np.linalg.matrix_power(A, k) for k in range(info.rows)])
    R = np.hstack([np.linalg.matrix_power(A, k) @ B for k in range(info.cols)])
    assert np.allclose(O.T @ O, np.diag(info.hsv[:5]), atol=1e-10 * info.hsv[0])
    assert np.allclose(R @ R.T, np.diag(info.hsv[:5]), atol=1e-10 * info.hsv[0])
    assert np.all(np.diff(info.hsv) <= 0) and info.rank == 5 and info.svd == "dense"


def test_identified_model_composes_with_gramian_analysis() -> None:
    # Long, decayed data: the identified model's Hankel singular values are the true ones.
    true = hk.random_stable(6, 2, 2, dt=1.0, seed=2)
    model, info = hk.era(hk.markov_parameters(true, 801), return_info=True)
    assert np.allclose(_exact_hsv(model), _exact_hsv(true), rtol=1e-8)
    assert np.allclose(hk.hsv(model), hk.hsv(true), rtol=1e-8)
    assert np.allclose(info.hsv[:6], _exact_hsv(true), rtol=1e-8)


def test_identified_model_composes_with_balanced_truncation() -> None:
    true = hk.random_stable(8, 2, 2, dt=1.0, seed=5)
    model = hk.era(hk.markov_parameters(true, 400))
    ours, ref = hk.balanced_truncation(model, order=3), hk.balanced_truncation(true, order=3)
    assert np.allclose(ours.hsv, ref.hsv, rtol=1e-8)
    assert np.isclose(ours.error_bound, ref.error_bound, rtol=1e-8)
    w = np.linspace(0, np.pi, 100)
    diff = ours.system.frequency_response(w) - ref.system.frequency_response(w)
    assert np.abs(diff).max() < 1e-8 * np.abs(ref.system.frequency_response(w)).max()


def test_randomized_svd_agrees_with_dense() -> None:
    true = hk.random_stable(8, 3, 2, dt=1.0, seed=3)
    h = hk.markov_parameters(true, 200)
    dense, i_dense = hk.era(h, svd="dense", return_info=True)
    rand, i_rand = hk.era(h, svd="randomized", return_info=True)
    assert i_rand.svd == "randomized" and i_rand.order == i_dense.order == 8
    assert np.allclose(i_rand.hsv[:8], i_dense.hsv[:8], rtol=1e-10)
    assert _rel(hk.markov_parameters(rand, 200), h) < 1e-10
    assert np.allclose(np.sort_complex(rand.poles()), np.sort_complex(dense.poles()), atol=1e-8)


def test_large_mimo_uses_the_matrix_free_path() -> None:
    true = hk.random_stable(12, 10, 10, dt=1.0, seed=4)
    h = hk.markov_parameters(true, 400)
    model, info = hk.era(h, return_info=True)
    assert info.svd == "randomized" and model.n == 12
    assert _rel(hk.markov_parameters(model, 400), h) < 1e-10


def test_randomized_svd_on_data_without_a_gap() -> None:
    # White noise has no gap: the sketch stops growing and the order comes from the computed values.
    noise = np.random.default_rng(8).standard_normal((801, 1, 1))
    model, info = hk.era(noise, svd="randomized", return_info=True)
    assert info.svd == "randomized" and info.rank is None and 1 <= model.n < info.hsv.size
    ratios = info.hsv[:-11] / info.hsv[1:-10]
    assert model.n == 1 + int(np.argmax(ratios))
    with pytest.raises(ValueError, match="leading Hankel singular values"):
        hk.era(noise, tol=1e-6, svd="randomized")
    # A dense SVD takes over where it is affordable.
    assert hk.era(noise[:301], return_info=True)[1].svd == "dense"


def test_matches_python_control_era_on_noisy_data() -> None:
    control = pytest.importorskip("control")
    true = hk.random_stable(5, 2, 3, dt=1.0, seed=3, feedthrough=True)
    noisy = _noisy(hk.markov_parameters(true, 60), 1e-3, seed=0)
    ref, S = control.eigensys_realization(np.transpose(noisy, (1, 2, 0)), 3, m=20, n=25)
    model, info = hk.era(noisy, order=3, rows=20, cols=25, return_info=True)
    assert np.allclose(info.hsv, S[: info.hsv.size], rtol=1e-10)
    ref_h = hk.markov_parameters(hk.from_control(ref), 60)
    assert _rel(hk.markov_parameters(model, 60), ref_h) < 1e-10


# --------------------------------------------------------------------------- order selection
def test_fixed_order_and_tolerance() -> None:
    true = hk.random_stable(8, 2, 2, dt=1.0, seed=5)
    h = hk.markov_parameters(true, 300)
    _, info = hk.era(h, return_info=True)
    s = info.hsv[:8]
    assert hk.era(h, order=3).n == 3
    tol = 2.5 * s[4:].sum()  # the bound 2 sum_{i>r} s_i first drops below tol at r = 4
    model, info_tol = hk.era(h, tol=tol, return_info=True)
    r = model.n
    assert 2 * s[r:].sum() <= tol < 2 * s[r - 1 :].sum()
    assert info_tol.order == r == 4


def test_reduced_order_error_respects_the_bound() -> None:
    true = hk.random_stable(8, 1, 1, dt=1.0, seed=6)
    h = hk.markov_parameters(true, 600)
    model, info = hk.era(h, order=4, return_info=True)
    # Max over frequency of |G - G_r| is at most 2 sum_{i>r} s_i (balanced truncation bound).
    w = np.linspace(0, np.pi, 400)
    err = np.abs(true.frequency_response(w) - model.frequency_response(w)).max()
    assert err <= 2 * info.hsv[4:8].sum() * (1 + 1e-6)


# --------------------------------------------------------------------------- noise and experiments
def test_noisy_data_true_order_and_small_error() -> None:
    true = hk.random_stable(6, 2, 2, dt=1.0, seed=4)
    h = hk.markov_parameters(true, 300)
    noisy = _noisy(h, 1e-6, seed=0)
    for svd in ("dense", "randomized"):
        model = hk.era(noisy, svd=svd)
        assert model.n == 6
        assert _rel(hk.markov_parameters(model, 300), h) < 1e-4
    coarse = hk.era(_noisy(h, 1e-3, seed=1), order=6)
    assert _rel(hk.markov_parameters(coarse, 300), h) < 0.05


def test_automatic_order_ignores_gaps_at_the_edge_of_the_noise_spectrum() -> None:
    # SISO, square Hankel matrix: the smallest noise singular values spread out and produce
    # ratios larger than the signal/noise gap; the order must still come from the latter.
    true = hk.random_stable(6, 1, 1, dt=1.0, seed=49, pole_radius=(0.5, 0.9))
    h = hk.markov_parameters(true, 300)
    noisy = _noisy(h, 1e-3, seed=0)
    model, info = hk.era(noisy, return_info=True)
    s = info.hsv
    assert np.max(s[:-1] / s[1:]) > s[5] / s[6]  # the trap is there
    assert model.n == 6


def test_multiple_experiments_are_averaged() -> None:
    true = hk.random_stable(5, 2, 1, dt=1.0, seed=7)
    h = hk.markov_parameters(true, 200)
    runs = [_noisy(h, 1e-3, seed=s) for s in range(16)]
    single = _rel(hk.markov_parameters(hk.era(runs[0], order=5), 200), h)
    many = hk.era(runs, order=5)
    stacked, info = hk.era(np.stack(runs), order=5, return_info=True)
    assert info.n_experiments == 16
    assert np.allclose(stacked.A, many.A)
    assert _rel(hk.markov_parameters(many, 200), h) < 0.5 * single  # ~ 1/4 expected


# --------------------------------------------------------------------------- stability enforcement
def test_stability_enforcement_moves_only_unstable_poles() -> None:
    rng = np.random.default_rng(0)
    A = sla.block_diag([[0.94]], [[1.05]], [[0.5, 0.3], [-0.3, 0.5]], [[-1.2]])
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    true = hk.StateSpace(Q @ A @ Q.T, rng.standard_normal((5, 2)), rng.standard_normal((2, 5)), dt=1.0)
    h = hk.markov_parameters(true, 60)
    plain = hk.era(h)
    model, info = hk.era(h, stable=True, return_info=True)
    assert model.is_stable() and not plain.is_stable() and info.moved_poles == 2
    # Stable poles stay (to rounding); 1.05 and -1.2 are mirrored to 1/1.05 and -1/1.2.
    expected = np.sort_complex(np.array([0.94, 0.5 + 0.3j, 0.5 - 0.3j, 1 / 1.05, -1 / 1.2]))
    assert np.allclose(np.sort_complex(model.poles()), expected, atol=1e-8)
    assert _rel(hk.markov_parameters(plain, 60), h) < 1e-10


def test_stability_enforcement_leaves_stable_models_alone() -> None:
    true = hk.StateSpace([[0.94, 0.0], [0.0, 0.3]], [[1.0], [1.0]], [[1.0, 2.0]], dt=1.0)
    h = hk.markov_parameters(true, 80)
    plain, forced = hk.era(h), hk.era(h, stable=True)
    assert plain == forced
    assert np.allclose(np.sort(forced.poles().real), [0.3, 0.94], atol=1e-12)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("markov", "kwargs", "message"),
    [
        (np.ones((10, 1)), {}, "must be a 3-D array"),
        (np.full((10, 1, 1), np.nan), {}, "contains NaN"),
        (np.ones((5, 1, 1)), {"order": 4}, "too few Markov parameters for that order"),
        (np.ones((2, 1, 1)), {}, "too few Markov parameters"),
        (np.zeros((10, 1, 1)), {}, "all Markov parameters after D are zero"),
        ("exact2", {"order": 4}, "exceeds the numerical rank 2"),
        ("exact2", {"order": 2, "tol": 0.1}, "either order or tol"),
        ("exact2", {"order": 0}, "order must be a positive integer"),
        ("exact2", {"tol": -1.0}, "tol must be positive"),
        ("exact2", {"dt": None}, "discrete-time model"),
        ("exact2", {"svd": "lanczos"}, "svd must be"),
        ("exact2", {"stable": "yes"}, "stable must be True or False"),
        ([np.ones((10, 1, 1)), np.ones((9, 1, 1))], {}, "same shape"),
        ([], {}, "empty list"),
    ],
)
def test_bad_input_names_the_problem(markov, kwargs: dict, message: str) -> None:
    if isinstance(markov, str):
        markov = hk.markov_parameters(hk.random_stable(2, 1, 1, dt=1.0, seed=0), 40)
    with pytest.raises(ValueError, match=message):
        hk.era(markov, **kwargs)
