"""Exact Gramians and their square-root factors (Hammarling's method on one Schur form)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import hankelid as hk
from hankelid import gramians as gm
from hankelid.gramians import gramian_factors


def _residual(sys: hk.StateSpace, W: np.ndarray, kind: str) -> float:
    """Relative residual of the Lyapunov / Stein equation."""
    A, B, C, _ = sys.matrices
    F = B if kind == "c" else C.T
    if kind == "o":
        A = A.T
    if sys.is_discrete:
        R = A @ W @ A.T - W + F @ F.T
    else:
        R = A @ W + W @ A.T + F @ F.T
    scale = 2 * np.linalg.norm(A) * np.linalg.norm(W) + np.linalg.norm(F) ** 2
    return float(np.linalg.norm(R) / scale)


def _reference(sys: hk.StateSpace, kind: str) -> np.ndarray:
    A, B, C, _ = sys.matrices
    if kind == "o":
        A, B = A.T, C.T
    if sys.is_discrete:
        return sla.solve_discrete_lyapunov(A, B @ B.T)
    return sla.solve_continuous_lyapunov(A, -B @ B.T)


@pytest.mark.parametrize("dt", [None, 0.5])
@pytest.mark.parametrize(
    ("n", "m", "p", "seed"),
    [(1, 1, 1, 0), (2, 1, 2, 1), (5, 2, 1, 2), (12, 3, 2, 3), (40, 1, 1, 4), (80, 2, 3, 5)],
)
def test_gramians_solve_the_equations(dt, n, m, p, seed) -> None:
    sys = hk.random_stable(n, m, p, dt=dt, seed=seed)
    for kind in ("c", "o"):
        W = hk.gramian(sys, kind)
        assert W.shape == (n, n)
        assert np.allclose(W, W.T)
        assert _residual(sys, W, kind) <= 1e-13
        assert np.allclose(W, _reference(sys, kind), rtol=1e-8, atol=1e-11 * np.abs(W).max())
        L = hk.gramian(sys, kind, factor=True)
        assert L.shape == (n, n)
        assert np.allclose(L @ L.T, W, rtol=1e-10, atol=1e-13 * np.abs(W).max())
        assert np.linalg.eigvalsh(W).min() >= -1e-12 * np.abs(W).max()


def test_factors_share_one_schur_form(monkeypatch) -> None:
    sys = hk.random_stable(9, 2, 2, seed=7)
    calls = []
    real_schur = sla.schur

    def counting(*args, **kwargs):
        calls.append(1)
        return real_schur(*args, **kwargs)

    monkeypatch.setattr(gm.sla, "schur", counting)
    Lc, Lo = gramian_factors(sys)
    assert len(calls) == 1
    assert _residual(sys, Lc @ Lc.T, "c") <= 1e-13
    assert _residual(sys, Lo @ Lo.T, "o") <= 1e-13
    hk.hsv(sys)
    assert len(calls) == 2


@pytest.mark.parametrize("dt", [None, 1.0])
def test_diagonal_closed_form(dt) -> None:
    a = np.array([-0.5, -1.0, -3.0]) if dt is None else np.array([0.9, -0.5, 0.2])
    B = np.array([[1.0, 0.5], [2.0, -1.0], [0.3, 0.0]])
    C = np.array([[1.0, -1.0, 2.0]])
    sys = hk.StateSpace(np.diag(a), B, C, dt=dt)
    BB = B @ B.T
    expected = BB / (1 - np.outer(a, a)) if dt else -BB / np.add.outer(a, a)
    assert np.allclose(hk.gramian(sys, "c"), expected, rtol=1e-14)
    L = hk.gramian(sys, "c", factor=True)
    assert np.allclose(L @ L.T, expected, rtol=1e-12)
    CC = C.T @ C
    expected_o = CC / (1 - np.outer(a, a)) if dt else -CC / np.add.outer(a, a)
    assert np.allclose(hk.gramian(sys, "o"), expected_o, rtol=1e-14)


@pytest.mark.parametrize("dt", [None, 0.1])
def test_real_and_complex_spectra(dt) -> None:
    """Only real poles (triangular Schur form), only complex pairs, and a mixture."""
    rng = np.random.default_rng(11)
    n = 10
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    real = -np.linspace(0.5, 5, n)
    pairs = sla.block_diag(*[np.array([[-0.3 * k, 2.0 * k], [-2.0 * k, -0.3 * k]]) for k in range(1, 6)])
    for Lam in (np.diag(real), pairs):
        A = Q @ Lam @ Q.T
        sys = hk.StateSpace(A, rng.standard_normal((n, 2)), rng.standard_normal((2, n)))
        if dt is not None:
            sys = hk.c2d(sys, dt)
        for kind in ("c", "o"):
            W = hk.gramian(sys, kind)
            assert _residual(sys, W, kind) <= 1e-13


def test_lightly_damped_and_nonnormal() -> None:
    rng = np.random.default_rng(3)
    n = 12
    J = np.diag(-np.linspace(0.01, 1.0, n)) + np.diag(np.ones(n - 1), 1) * 0.5  # non-normal
    S = rng.standard_normal((n, n))
    A = S @ J @ np.linalg.inv(S)
    sys = hk.StateSpace(A, rng.standard_normal((n, 1)), rng.standard_normal((1, n)))
    for kind in ("c", "o"):
        W = hk.gramian(sys, kind)
        assert _residual(sys, W, kind) <= 1e-11


def test_many_inputs_are_compressed() -> None:
    sys = hk.random_stable(4, 9, 7, dt=1.0, seed=5)
    for kind in ("c", "o"):
        L = hk.gramian(sys, kind, factor=True)
        assert L.shape == (4, 4)
        assert _residual(sys, L @ L.T, kind) <= 1e-13


def test_accepts_control_and_scipy_systems() -> None:
    control = pytest.importorskip("control")
    sys = hk.random_stable(5, seed=1)
    W = hk.gramian(sys, "c")
    assert np.allclose(hk.gramian(sys.to_control(), "c"), W)
    assert np.allclose(hk.gramian(sys.to_scipy(), "c"), W)
    del control


@pytest.mark.parametrize("dt", [None, 1.0])
def test_unstable_system_raises(dt) -> None:
    A = np.diag([0.5, 1.5]) if dt else np.diag([-1.0, 0.5])
    sys = hk.StateSpace(A, np.ones((2, 1)), np.ones((1, 2)), dt=dt)
    with pytest.raises(hk.UnstableSystemError, match="stable"):
        hk.gramian(sys, "c")
    with pytest.raises(ValueError, match="pole"):
        gramian_factors(sys)
    # marginally stable: an integrator has no Gramian either
    integ = hk.StateSpace([[1.0]] if dt else [[0.0]], [[1.0]], [[1.0]], dt=dt)
    with pytest.raises(hk.UnstableSystemError):
        hk.gramian(integ, "o")


@pytest.mark.parametrize("kind", ["x", "", None, "co", 1])
def test_bad_kind(kind) -> None:
    sys = hk.random_stable(3, seed=0)
    with pytest.raises(ValueError, match="kind"):
        hk.gramian(sys, kind)


def test_bad_factor_flag_and_system() -> None:
    sys = hk.random_stable(3, seed=0)
    with pytest.raises(ValueError, match="factor"):
        hk.gramian(sys, "c", factor="yes")
    with pytest.raises(ValueError, match="StateSpace"):
        hk.gramian(np.eye(3), "c")


def test_input_not_mutated() -> None:
    sys = hk.random_stable(6, 2, 2, dt=1.0, seed=9)
    before = [m.copy() for m in sys.matrices]
    hk.gramian(sys, "c", factor=True)
    hk.hsv(sys)
    assert all(np.array_equal(a, b) for a, b in zip(before, sys.matrices))


def _zoh_heat_equation(N: int = 40, dt: float = 1e-2) -> hk.StateSpace:
    h = 1.0 / (N + 1)
    A = (np.diag(-2.0 * np.ones(N)) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1)) / h**2
    B = np.zeros((N, 1))
    B[0, 0] = 1.0 / h**2
    C = np.zeros((1, N))
    C[0, 29] = 1.0
    return hk.c2d(hk.StateSpace(A, B, C), dt, "zoh")


def test_stiff_zoh_system_with_rounding_noise_poles() -> None:
    # ZOH of a stiff heat equation: exp(-67) underflows to poles of size 1e-18, some of which
    # come out of the Schur form as complex pairs; Hammarling's 2x2 step is unreliable there.
    sysd = _zoh_heat_equation()
    T, _ = sla.schur(sysd.A, output="real")
    assert np.any(np.abs(np.diag(T, -1)) > 0), "the test system must have a complex pair"
    Wc = sla.solve_discrete_lyapunov(sysd.A, sysd.B @ sysd.B.T)
    Wo = sla.solve_discrete_lyapunov(sysd.A.T, sysd.C.T @ sysd.C)
    assert np.linalg.norm(hk.gramian(sysd, "c") - Wc) <= 1e-10 * np.linalg.norm(Wc)
    assert np.linalg.norm(hk.gramian(sysd, "o") - Wo) <= 1e-10 * np.linalg.norm(Wo)
    definition = hk.hankel_hsv(hk.markov_parameters(sysd, 4001), 2000, 2000)
    sigma = hk.hsv(sysd)
    np.testing.assert_allclose(sigma[:8], definition[:8], atol=1e-9 * sigma[0])


@pytest.mark.parametrize("radius", [1e-6, 1e-12, 1e-18])
def test_discrete_tiny_complex_pair(radius: float) -> None:
    rng = np.random.default_rng(0)
    block = radius * np.array([[np.cos(1.0), np.sin(1.0)], [-np.sin(1.0), np.cos(1.0)]])
    Lam = sla.block_diag(block, np.diag(rng.uniform(-0.9, 0.9, 4)))
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    sysd = hk.StateSpace(Q @ Lam @ Q.T, rng.standard_normal((6, 2)), rng.standard_normal((1, 6)), dt=1.0)
    Wc = sla.solve_discrete_lyapunov(sysd.A, sysd.B @ sysd.B.T)
    assert np.linalg.norm(hk.gramian(sysd, "c") - Wc) <= 1e-12 * np.linalg.norm(Wc)
    red = hk.balanced_truncation(sysd, order=3)
    assert red.system.is_stable()
