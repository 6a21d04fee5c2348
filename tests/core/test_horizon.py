"""Finite-horizon Gramians in closed form against the series summed term by term."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk
from hankelid.horizon import horizon_gramian, horizon_gramian_factors

control = pytest.importorskip("control")


def series(sys: hk.StateSpace, kind: str, length: int) -> np.ndarray:
    A, B, C, _ = sys.matrices
    M, F = (A, B) if kind == "c" else (A.T, C.T)
    W, X = np.zeros_like(A), F.copy()
    for _ in range(length):
        W += X @ X.T
        X = M @ X
    return W


@pytest.mark.parametrize("kind", ["c", "o"])
@pytest.mark.parametrize("length", [1, 7, 1024])
def test_diagonal_closed_form_equals_the_series(kind, length):
    # a zero pole, negative poles, and poles so close to 1 that (1 - q^L)/(1 - q) would cancel
    a = np.array([0.0, -0.5, -0.999, 0.3, 0.9, 0.999999, 0.9999999])
    rng = np.random.default_rng(0)
    sys = hk.StateSpace(np.diag(a), rng.standard_normal((7, 3)), rng.standard_normal((2, 7)), dt=1.0)
    np.testing.assert_allclose(
        horizon_gramian(sys, kind, length), series(sys, kind, length), rtol=1e-11, atol=1e-13
    )


@pytest.mark.parametrize("kind", ["c", "o"])
def test_dense_system_from_python_control(kind):
    np.random.seed(3)  # noqa: NPY002  (python-control draws from NumPy's global generator)
    ct = control.drss(6, 2, 3, strictly_proper=True)  # other library's generator: repeated poles, masks
    sys = hk.from_control(ct)
    for length in (1, 5, 300):
        ref = series(sys, kind, length)
        # W - A^L W A^LT: absolute accuracy relative to the Gramian's norm
        np.testing.assert_allclose(horizon_gramian(sys, kind, length), ref, atol=1e-12 * np.abs(ref).max())


def test_factors_and_the_gaussian_estimators_mean():
    sys = hk.StateSpace(np.diag([0.8, -0.6, 0.95]), np.eye(3)[:, :2], np.ones((1, 3)), dt=1.0)
    Lc, Lo = horizon_gramian_factors(sys, 40)
    np.testing.assert_allclose(Lc @ Lc.T, series(sys, "c", 40), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Lo @ Lo.T, series(sys, "o", 40), rtol=1e-10, atol=1e-12)
    # the Gaussian estimate is this Gramian plus noise of relative size ~ 1/sqrt(N)
    with pytest.warns(RuntimeWarning, match="does not cover the decay"):  # the horizon is the point here
        est = hk.empirical_gramian(sys, "c", inputs="gaussian", length=40, n_trajectories=20000, seed=0)
    W = series(sys, "c", 40)
    assert np.linalg.norm(est - W) / np.linalg.norm(W) < 0.05


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((hk.StateSpace(-np.eye(2), np.ones((2, 1)), np.ones((1, 2))), "c", 5), "discrete-time"),
        ((hk.StateSpace(0.5 * np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt=1.0), "x", 5), "kind"),
        ((hk.StateSpace(0.5 * np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt=1.0), "c", 0), "length"),
        ((hk.StateSpace(0.5 * np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt=1.0), "c", 2.5), "length"),
    ],
)
def test_bad_input(args, error):
    with pytest.raises(ValueError, match=error):
        horizon_gramian(*args)
