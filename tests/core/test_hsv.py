"""Hankel singular values: agreement with the block-Hankel definition, conventions, interop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hankelid as hk
from benchmarks.bench_core import continuous_system, tustin_for_definition

from ._systems import with_poles

TOL = 1e-8  # every HSV within TOL * sigma_1 of the definition


def _definition(sysd: hk.StateSpace, blocks: int) -> np.ndarray:
    """Singular values of the block Hankel matrix [h_{i+j+1}] of a discrete system."""
    return hk.hankel_hsv(hk.markov_parameters(sysd, 2 * blocks + 1), blocks, blocks)


def _blocks_for(sysd: hk.StateSpace) -> int:
    rho = float(np.max(np.abs(sysd.poles())))
    return int(min(700, max(60, np.ceil(20.0 / -np.log(rho)))))


def _ill_conditioned(sys: hk.StateSpace, cond: float, seed: int) -> hk.StateSpace:
    """The same transfer function behind a badly conditioned change of basis."""
    rng = np.random.default_rng(seed)
    n = sys.n
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    S = U @ np.diag(np.logspace(0, np.log10(cond), n)) @ V.T
    Si = np.linalg.inv(S)
    return hk.StateSpace(Si @ sys.A @ S, Si @ sys.B, sys.C @ S, sys.D, sys.dt)


CASES = [
    (8, 1, 1, 0, 1e2),
    (13, 2, 1, 1, 1e3),
    (17, 1, 2, 2, 1e4),
    (22, 2, 2, 3, 1e3),
    (29, 1, 1, 4, 1e4),
    (11, 3, 2, 5, 1e4),
]


@pytest.mark.parametrize(("n", "m", "p", "seed", "cond"), CASES)
def test_discrete_matches_block_hankel_definition(n, m, p, seed, cond) -> None:
    base = hk.random_stable(n, m, p, dt=1.0, seed=seed, pole_radius=(0.05, 0.9))
    sys = _ill_conditioned(base, cond, seed + 100)
    sig = hk.hsv(sys)
    ref = _definition(sys, _blocks_for(sys))[:n]
    assert np.max(np.abs(sig - ref)) <= TOL * ref[0]


@pytest.mark.parametrize(("n", "m", "p", "seed", "cond"), CASES)
def test_continuous_matches_definition_through_tustin(n, m, p, seed, cond) -> None:
    sys = _ill_conditioned(continuous_system(n, seed, m, p), cond, seed + 200)
    sysd = tustin_for_definition(sys)  # poles centred on the unit disk
    sig = hk.hsv(sys)
    ref = _definition(sysd, _blocks_for(sysd))[:n]
    assert np.max(np.abs(sig - ref)) <= TOL * ref[0]
    # the bilinear map preserves the HSVs: ours agree in both domains
    assert np.max(np.abs(hk.hsv(sysd) - sig)) <= TOL * sig[0]


@pytest.mark.parametrize("dt", [None, 0.3])
def test_real_nonnegative_descending(dt) -> None:
    for seed in range(5):
        sys = hk.random_stable(7 + seed, 2, 2, dt=dt, seed=seed)
        sig = hk.hsv(sys)
        assert sig.dtype == np.float64 and sig.ndim == 1 and sig.shape == (sys.n,)
        assert np.all(sig >= 0)
        assert np.all(np.diff(sig) <= 0)


def test_invariant_under_state_transformation() -> None:
    sys = hk.random_stable(9, 2, 3, dt=0.5, seed=4)
    T = np.random.default_rng(0).standard_normal((9, 9)) + 3 * np.eye(9)
    assert np.allclose(hk.hsv(sys.transform(T)), hk.hsv(sys), rtol=1e-9, atol=1e-12)


def test_known_values() -> None:
    # G(s) = 1/(s+1): Wc = Wo = 1/2
    assert np.allclose(hk.hsv(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])), [0.5])
    # G(z) = 1/(z - a): sigma = 1/(1-a^2)
    a = 0.6
    assert np.allclose(hk.hsv(hk.StateSpace([[a]], [[1.0]], [[1.0]], dt=1.0)), [1 / (1 - a * a)])
    # uncontrollable mode: a zero HSV
    sys = hk.StateSpace(np.diag([-1.0, -2.0]), [[1.0], [0.0]], [[1.0, 1.0]])
    assert np.allclose(hk.hsv(sys), [0.5, 0.0], atol=1e-15)


def test_diagonal_s4d_style_system() -> None:
    """Many diagonal modes (closed-form path) agree with the dense path."""
    rng = np.random.default_rng(1)
    n = 24
    a = np.exp(-np.exp(rng.uniform(-3, 0, n)))
    B = rng.standard_normal((n, 1))
    C = rng.standard_normal((1, n))
    diag = hk.StateSpace(np.diag(a), B, C, dt=1.0)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    dense = hk.StateSpace(Q @ np.diag(a) @ Q.T, Q @ B, C @ Q.T, dt=1.0)
    s1, s2 = hk.hsv(diag), hk.hsv(dense)
    assert np.max(np.abs(s1 - s2)) <= 1e-10 * s1[0]
    ref = _definition(diag, _blocks_for(diag))[:n]
    assert np.max(np.abs(s1 - ref)) <= TOL * ref[0]


# --------------------------------------------------------------------------- unstable systems
def _with_unstable(dt):
    lam = [1.5, 1.2, 0.5, -0.3, 0.2] if dt else [0.5, 0.2, -1.0, -2.0, -3.0]
    return with_poles(lam, 1, 1, seed=2, dt=dt)


@pytest.mark.parametrize("dt", [None, 1.0])
def test_unstable_modes_give_inf(dt) -> None:
    from hankelid.decomposition import stable_unstable_split

    sys = _with_unstable(dt)
    sig = hk.hsv(sys)
    assert np.isinf(sig[:2]).all() and np.isfinite(sig[2:]).all()
    parts = stable_unstable_split(sys)
    assert parts.n_unstable == 2
    assert np.allclose(sig[2:], hk.hsv(parts.stable))
    w = np.array([0.1, 0.7, 2.0])
    total = parts.stable + parts.unstable
    assert np.allclose(total.frequency_response(w), sys.frequency_response(w))


def test_offset_stability_margin() -> None:
    sys = hk.StateSpace(np.diag([-1e-3, -1.0]), [[1.0], [1.0]], [[1.0, 1.0]])
    assert np.isfinite(hk.hsv(sys)).all()
    sig = hk.hsv(sys, offset=1e-2)  # the slow pole now counts as unstable
    assert np.isinf(sig[0]) and np.isfinite(sig[1])
    with pytest.raises(ValueError, match="offset"):
        hk.hsv(sys, offset=-1.0)
    with pytest.raises(ValueError, match="offset"):
        hk.hsv(sys, offset=float("nan"))


def test_all_unstable() -> None:
    sys = hk.StateSpace(np.diag([1.0, 2.0]), [[1.0], [1.0]], [[1.0, 1.0]])
    assert np.isinf(hk.hsv(sys)).all()


# --------------------------------------------------------------------------- python-control
def test_agrees_with_python_control_hsvd_on_well_conditioned_systems() -> None:
    control = pytest.importorskip("control")
    pytest.importorskip("slycot")
    for seed in range(4):
        sys = hk.random_stable(6 + seed, 1 + seed % 2, 1, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.sort(np.real(control.hsvd(sys.to_control())))[::-1]
        sig = hk.hsv(sys)
        k = int(np.sum(ref > 1e-6 * ref[0]))  # hsvd is only reliable for the leading values
        assert np.allclose(sig[:k], ref[:k], rtol=1e-6)


def test_hsv_offset_is_relative_to_the_system_scale() -> None:
    # A -> c A scales the HSVs by 1/c; with an absolute margin of 1e-8 every pole of
    # 1e-100 * A used to count as unstable (all inf).
    sys = hk.random_stable(5, 2, 2, seed=1)
    slow = hk.StateSpace(sys.A * 1e-100, sys.B, sys.C)
    np.testing.assert_allclose(hk.hsv(slow) * 1e-100, hk.hsv(sys), rtol=1e-10)
    red = hk.balanced_truncation(slow, order=2)
    assert red.order == 2 and np.all(np.isfinite(red.hsv))
    # relative to the fast pole at -1, a pole at -1e-9 is still inside the margin
    sig = hk.hsv(with_poles([-1e-9, -1.0, -2.0], 1, 1, seed=0, dt=None))
    assert np.isinf(sig[0]) and np.all(np.isfinite(sig[1:]))
