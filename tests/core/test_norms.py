"""H2 and H-infinity norms in both time domains."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import hankelid as hk


def _grid_peak(sys: hk.StateSpace) -> float:
    if sys.is_discrete:
        w = np.linspace(0, np.pi / sys.dt, 20001)
    else:
        w = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 20000)])
    return float(np.linalg.norm(sys.frequency_response(w), 2, axis=(1, 2)).max())


@pytest.mark.parametrize("dt", [None, 0.5])
def test_hinf_upper_bounds_a_dense_grid_and_is_attained(dt) -> None:
    for seed in range(6):
        sys = hk.random_stable(
            3 + 2 * seed, 1 + seed % 3, 1 + seed % 2, dt=dt, seed=seed, feedthrough=bool(seed % 2)
        )
        g, w = hk.hinf_norm(sys, return_frequency=True)
        grid = _grid_peak(sys)
        assert grid <= g * (1 + 1e-9)
        assert g <= grid * (1 + 1e-3)  # the grid is fine enough to come close
        if np.isfinite(w):
            at = np.linalg.norm(sys.frequency_response([w])[0], 2)
            assert at == pytest.approx(g, rel=1e-9)


def test_hinf_known_values() -> None:
    assert hk.hinf_norm(hk.StateSpace([[-2.0]], [[1.0]], [[1.0]])) == pytest.approx(0.5, rel=1e-12)
    # lightly damped resonance: peak 1/(2 zeta sqrt(1 - zeta^2)) at w = sqrt(1 - 2 zeta^2)
    zeta = 1e-3
    res = hk.StateSpace([[0.0, 1.0], [-1.0, -2 * zeta]], [[0.0], [1.0]], [[1.0, 0.0]])
    g, w = hk.hinf_norm(res, return_frequency=True)
    assert g == pytest.approx(1 / (2 * zeta * np.sqrt(1 - zeta**2)), rel=1e-9)
    assert w == pytest.approx(np.sqrt(1 - 2 * zeta**2), rel=1e-6)
    # discrete pole near -1 (Tustin would send it to infinity): peak at the Nyquist frequency
    g, w = hk.hinf_norm(hk.StateSpace([[-0.999]], [[1.0]], [[1.0]], dt=2.0), return_frequency=True)
    assert g == pytest.approx(1000.0, rel=1e-9) and w == pytest.approx(np.pi / 2.0)
    # pure feed-through
    sys = hk.StateSpace([[-1.0]], [[0.0]], [[0.0]], [[3.0]])
    assert hk.hinf_norm(sys) == pytest.approx(3.0)


def test_hinf_discrete_poles_near_both_ends_use_the_pencil() -> None:
    """Poles near +1 and -1: no safe bilinear map, the symplectic pencil is used."""
    A = np.diag([0.99, -0.99, 0.3])
    sys = hk.StateSpace(A, [[1.0], [1.0], [1.0]], [[1.0, 0.5, 2.0]], dt=1.0)
    g, w = hk.hinf_norm(sys, return_frequency=True)
    assert g == pytest.approx(_grid_peak(sys), rel=1e-6)
    assert g == pytest.approx(float(np.abs(sys.frequency_response([w])[0, 0, 0])), rel=1e-12)


def test_hinf_peak_at_infinity() -> None:
    # G(s) = 2 - 1/(s+1): |G| grows from 1 to 2 as w -> inf
    sys = hk.StateSpace([[-1.0]], [[1.0]], [[-1.0]], [[2.0]])
    g, w = hk.hinf_norm(sys, return_frequency=True)
    assert g == pytest.approx(2.0, rel=1e-9) and np.isinf(w)


@pytest.mark.parametrize("dt", [None, 0.1])
def test_hinf_agrees_with_slycot_ab13dd(dt) -> None:
    control = pytest.importorskip("control")
    pytest.importorskip("slycot")
    for seed in range(4):
        sys = hk.random_stable(6 + seed, 2, 2, dt=dt, seed=seed, feedthrough=True)
        ref = float(control.linfnorm(sys.to_control(), tol=1e-10)[0])
        assert hk.hinf_norm(sys) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("dt", [None, 0.5])
def test_h2(dt) -> None:
    sys = hk.random_stable(7, 2, 3, dt=dt, seed=3, feedthrough=dt is not None)
    h2 = hk.h2_norm(sys)
    if dt is None:
        # energy of the impulse response C exp(At) B, integrated with a fine exact-hold grid
        step = 1e-3
        Phi = sla.expm(sys.A * step)
        X = sys.B.copy()
        total = 0.0
        for _ in range(20000):  # t up to 20; the slowest pole decays like exp(-0.5 t)
            Y = Phi @ X
            total += 0.5 * step * (np.sum((sys.C @ X) ** 2) + np.sum((sys.C @ Y) ** 2))
            X = Y
        assert h2 == pytest.approx(np.sqrt(total), rel=1e-5)
    else:
        h = hk.markov_parameters(sys, 4000)
        assert h2 == pytest.approx(np.sqrt(np.sum(h**2)), rel=1e-10)


def test_h2_continuous_with_feedthrough_is_infinite() -> None:
    sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]], [[1.0]])
    assert hk.h2_norm(sys) == float("inf")


def test_h2_agrees_with_python_control() -> None:
    control = pytest.importorskip("control")
    pytest.importorskip("slycot")
    sys = hk.random_stable(6, 2, 2, seed=1)
    assert hk.h2_norm(sys) == pytest.approx(float(control.norm(sys.to_control(), 2)), rel=1e-8)


@pytest.mark.parametrize("fn", [hk.h2_norm, hk.hinf_norm])
@pytest.mark.parametrize("dt", [None, 1.0])
def test_unstable_raises(fn, dt) -> None:
    A = [[1.5]] if dt else [[0.5]]
    with pytest.raises(hk.UnstableSystemError, match="stable"):
        fn(hk.StateSpace(A, [[1.0]], [[1.0]], dt=dt))


@pytest.mark.parametrize("rtol", [0, -1.0, 1.0, "x", True])
def test_bad_rtol(rtol) -> None:
    with pytest.raises(ValueError, match="rtol"):
        hk.hinf_norm(hk.random_stable(2, seed=0), rtol=rtol)


def test_hinf_norm_discrete_pole_on_unit_circle_names_the_discrete_condition() -> None:
    # Rotations have |z| = 1; rounding puts some just inside, where the bilinear map used
    # for discrete systems lands on the imaginary axis.  Whichever check fires, the message
    # must speak of the unit circle, not of Re(s) < 0.
    raised = 0
    for th in np.linspace(0.01, 3.13, 60):
        A = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        sys = hk.StateSpace(A, [[1.0], [0.0]], [[1.0, 0.0]], dt=0.1)
        try:
            hk.hinf_norm(sys)
        except hk.UnstableSystemError as err:
            raised += 1
            assert "discrete-time" in str(err) and "unit circle" in str(err)
            assert "Re(s)" not in str(err) and "continuous" not in str(err)
    assert raised >= 50  # the rest return a huge finite value (|z| < 1 in float64)


@pytest.mark.parametrize("zeta", [2e-6, 2e-5, 2e-4, 0.05])
def test_hinf_norm_accuracy_condition(zeta: float) -> None:
    # One lightly damped mode: ||G||_inf = 1 / (2 zeta sqrt(1 - zeta^2)) exactly, and the
    # Tustin map keeps it.  The documented condition: within rtol when eps/delta <= rtol,
    # else within about eps/delta (delta = 1 - max|z|).
    rtol = 1e-8
    sys = hk.StateSpace([[0.0, 1.0], [-1.0, -2 * zeta]], [[0.0], [1.0]], [[1.0, 0.0]])
    exact = 1.0 / (2 * zeta * np.sqrt(1 - zeta**2))
    sysd = hk.c2d(sys, 0.01, "tustin")
    delta = 1.0 - np.abs(np.linalg.eigvals(sysd.A)).max()
    level = np.finfo(float).eps / delta
    err = abs(hk.hinf_norm(sysd, rtol=rtol) - exact) / exact
    assert err <= (rtol if level <= rtol else 2 * level)
    assert abs(hk.hinf_norm(sys, rtol=rtol) - exact) / exact <= rtol  # continuous: delta = zeta
