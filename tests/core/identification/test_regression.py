"""The streamed least-squares machinery behind n4sid and okid, against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import hankelid as hk
from hankelid.identification._regression import output_error_fit, state_filter, triangular_factor


def _loop(A, G, X0):
    X = np.empty((A.shape[0], G.shape[1], G.shape[2]))
    x = X0.copy()
    for t in range(G.shape[2]):
        X[:, :, t] = x
        x = A @ x + G[:, :, t]
    return X


@pytest.mark.parametrize("kind", ["random", "jordan", "repeated", "real-poles"], ids=lambda k: k)
def test_state_filter_matches_the_sequential_loop(kind):
    rng = np.random.default_rng(0)
    if kind == "random":  # diagonalizable, complex pairs: the modal filter
        A = hk.random_stable(6, dt=1.0, seed=1).A
    elif kind == "jordan":  # defective: the Schur filter
        A = 0.9 * np.eye(4) + np.diag(np.ones(3), 1)
        Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
        A = Q @ A @ Q.T
    elif kind == "repeated":  # python-control's drss repeats poles
        A = sla.block_diag(np.array([[0.5, 0.3], [-0.3, 0.5]]), np.array([[0.5, 0.3], [-0.3, 0.5]]), [[0.2]])
    else:
        A = np.diag([0.9, -0.5, 0.1]) + 0.1 * np.triu(rng.standard_normal((3, 3)), 1)
    n = A.shape[0]
    G = rng.standard_normal((n, 3, 700))
    X0 = rng.standard_normal((n, 3))
    expected = _loop(A, G, X0)
    np.testing.assert_allclose(state_filter(A, G, X0), expected, atol=1e-10 * np.abs(expected).max())


def test_triangular_factor_of_chunks():
    M = np.random.default_rng(1).standard_normal((3000, 9))
    R = triangular_factor((M[a : a + 257] for a in range(0, 3000, 257)), 9)
    np.testing.assert_allclose(R.T @ R, M.T @ M, rtol=1e-11, atol=1e-9)
    assert np.allclose(R, np.triu(R))


def test_output_error_fit_recovers_b_d_x0_across_chunks():
    sys = hk.random_stable(5, 2, 3, dt=1.0, seed=4, feedthrough=True)
    rng = np.random.default_rng(2)
    us = [rng.standard_normal((9000, 2)), rng.standard_normal((300, 2))]  # 9000 > one chunk
    x0 = rng.standard_normal((2, 5))
    ys = [hk.simulate(sys, u, x) for u, x in zip(us, x0)]
    B, D, x0_est, fit = output_error_fit(sys.A, sys.C, us, ys)
    np.testing.assert_allclose(B, sys.B, atol=1e-10)
    np.testing.assert_allclose(D, sys.D, atol=1e-10)
    np.testing.assert_allclose(x0_est, x0, atol=1e-9)
    assert np.all(fit > 100 - 1e-6)
    # without feedthrough D is zero and the fit drops
    _, D0, _, fit0 = output_error_fit(sys.A, sys.C, us, ys, feedthrough=False)
    assert np.all(D0 == 0) and np.all(fit0 < 100 - 1e-3)
