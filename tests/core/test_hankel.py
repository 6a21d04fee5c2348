"""Block Hankel matrices, their singular values, and the matrix-free Hankel operator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import hankelid as hk
from hankelid.identification.hankel import HankelOperator


def _exact_hsv(sys: hk.StateSpace) -> np.ndarray:
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    Wc = sla.solve_discrete_lyapunov(A, B @ B.T)
    Wo = sla.solve_discrete_lyapunov(A.T, C.T @ C)
    return np.sqrt(np.sort(np.linalg.eigvals(Wc @ Wo).real)[::-1])


def test_siso_hand_case() -> None:
    h = np.array([9.0, 1.0, 2.0, 3.0, 4.0, 5.0]).reshape(6, 1, 1)  # h_0 = D = 9 is left out
    H = hk.hankel_matrix(h, rows=3, cols=2)
    assert np.array_equal(H, [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    assert np.array_equal(hk.hankel_matrix(h), [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]])


def test_mimo_block_layout() -> None:
    rng = np.random.default_rng(0)
    h = rng.standard_normal((12, 2, 3))
    H = hk.hankel_matrix(h, rows=4, cols=5)
    assert H.shape == (8, 15)
    for i in range(4):
        for j in range(5):
            assert np.array_equal(H[2 * i : 2 * i + 2, 3 * j : 3 * j + 3], h[i + j + 1])


@pytest.mark.parametrize(
    ("L", "rows", "cols", "expected"),
    [
        (9, None, None, (5, 4)),  # 8 samples after D, split evenly, rows >= cols
        (10, None, None, (5, 5)),
        (9, 2, None, (2, 7)),
        (9, None, 3, (6, 3)),
        (9, 1, 1, (1, 1)),
    ],
)
def test_default_block_counts(L: int, rows: int | None, cols: int | None, expected: tuple[int, int]) -> None:
    H = hk.hankel_matrix(np.ones((L, 1, 1)), rows, cols)
    assert H.shape == expected


def test_hankel_hsv_converge_to_hsv() -> None:
    sys = hk.random_stable(6, 2, 3, dt=1.0, seed=1)
    exact = _exact_hsv(sys)
    short = hk.hankel_hsv(hk.markov_parameters(sys, 11))
    long = hk.hankel_hsv(hk.markov_parameters(sys, 801))
    assert long.shape == (min(400 * 3, 400 * 2),) and np.all(np.diff(long) <= 0)
    assert np.allclose(long[:6], exact, rtol=1e-10)
    assert np.allclose(long[:6], hk.hsv(sys), rtol=1e-10)
    assert np.all(long[6:] < 1e-10 * exact[0])
    # The finite Hankel matrix is a compression of the Hankel operator: values grow towards the HSVs.
    assert np.all(short[:6] <= exact * (1 + 1e-12))
    assert np.all(short[:6] <= long[:6] * (1 + 1e-12))


def test_hankel_hsv_equal_singular_values_of_the_matrix() -> None:
    rng = np.random.default_rng(2)
    h = rng.standard_normal((20, 2, 2))
    assert np.allclose(hk.hankel_hsv(h, 7, 9), np.linalg.svd(hk.hankel_matrix(h, 7, 9), compute_uv=False))


@pytest.mark.parametrize("shift", [0, 1, 3])
def test_operator_products_match_dense(shift: int) -> None:
    rng = np.random.default_rng(3)
    h = rng.standard_normal((40, 3, 2))
    rows, cols = 11, 40 - 11 - shift
    dense = hk.hankel_matrix(h[shift:], rows, cols)
    op = HankelOperator(h, rows, cols, shift=shift)
    X, Y = rng.standard_normal((cols * 2, 4)), rng.standard_normal((rows * 3, 5))
    assert op.shape == dense.shape
    assert np.allclose(op.matmul(X), dense @ X, rtol=0, atol=1e-12)
    assert np.allclose(op.rmatmul(Y), dense.T @ Y, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("markov", "kwargs", "message"),
    [
        (np.ones((5, 1)), {}, "must be a 3-D array"),
        (np.ones((5, 1, 1, 1)), {}, "must be a 3-D array"),
        (np.full((5, 1, 1), np.nan), {}, "contains NaN"),
        (np.ones((5, 1, 1)) * 1j, {}, "must be real"),
        (np.ones((1, 1, 1)), {}, "at least 2 samples"),
        (np.ones((5, 0, 1)), {}, "no empty dimension"),
        (np.ones((5, 1, 1)), {"rows": 3, "cols": 3}, "too few Markov parameters"),
        (np.ones((5, 1, 1)), {"rows": 0}, "rows must be a positive integer"),
        (np.ones((5, 1, 1)), {"cols": 1.5}, "cols must be a positive integer"),
        (np.ones((5, 1, 1)), {"rows": True}, "rows must be a positive integer"),
        (np.ones((5, 1, 1)), {"rows": 5}, "too few Markov parameters"),
    ],
)
def test_bad_input_names_the_problem(markov: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hk.hankel_matrix(markov, **kwargs)
    with pytest.raises(ValueError, match=message):
        hk.hankel_hsv(markov, **kwargs)
