"""simulate: against scipy.signal.dlsim / lsim, python-control, and a sequential recurrence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.signal as ss

import hankelid as hk
from hankelid.identification._recurrence import Recurrence


def _loop(A, B, C, D, u, x0):
    """The textbook sequential recurrence, written out sample by sample."""
    x = np.array(x0, dtype=float)
    y = np.empty((u.shape[0], C.shape[0]))
    for k in range(u.shape[0]):
        y[k] = C @ x + D @ u[k]
        x = A @ x + B @ u[k]
    return y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discrete_mimo_matches_dlsim(seed):
    rng = np.random.default_rng(seed)
    sys = hk.random_stable(7, 2, 3, dt=0.1, seed=seed, feedthrough=True)
    u = rng.standard_normal((400, 2))
    x0 = rng.standard_normal(7)
    u_before = u.copy()
    y = hk.simulate(sys, u, x0)
    _, y_ref, _ = ss.dlsim((sys.A, sys.B, sys.C, sys.D, 0.1), u, x0=x0)
    np.testing.assert_allclose(y, y_ref, atol=1e-11 * np.abs(y_ref).max())
    np.testing.assert_array_equal(u, u_before)


def test_python_control_drss_with_repeated_poles():
    control = pytest.importorskip("control")
    rng = np.random.default_rng(5)
    np.random.seed(5)  # noqa: NPY002 -- python-control draws from NumPy's global generator
    for k in range(6):
        # drss repeats poles and masks B/C entries: the systems a hand-written generator misses
        ct = control.drss(8, 2, 2, dt=True)
        sys = hk.StateSpace(*hk.from_control(ct).matrices, dt=1.0)
        u = rng.standard_normal((300, 2))
        x0 = rng.standard_normal(8)
        y = hk.simulate(sys, u, x0)
        y_ref = _loop(*sys.matrices, u, x0)
        np.testing.assert_allclose(y, y_ref, atol=1e-10 * max(1.0, np.abs(y_ref).max()), err_msg=f"draw {k}")


def _rotation(r, theta, skew=1.0):
    c, s = np.cos(theta), np.sin(theta)
    return r * np.array([[c, s * skew], [-s / skew, c]])


def test_lightly_damped_and_defective_against_loop():
    rng = np.random.default_rng(1)
    # two lightly damped slow pairs (|λ| = 0.9995), a non-normal 2x2 block and a Jordan block of size 3
    Lam = sla.block_diag(
        _rotation(0.9995, 0.01, skew=30.0),
        _rotation(0.999, 0.05),
        np.array([[0.95, 1.0, 0.0], [0.0, 0.95, 1.0], [0.0, 0.0, 0.95]]),
        np.array([[0.3, 50.0], [0.0, 0.3]]),
    )
    Q, _ = np.linalg.qr(rng.standard_normal((9, 9)))
    A = Q @ Lam @ Q.T
    B, C = rng.standard_normal((9, 2)), rng.standard_normal((2, 9))
    sys = hk.StateSpace(A, B, C, dt=1.0)
    u = np.repeat(rng.standard_normal((60, 2)), 50, axis=0)  # a slow input that excites the slow modes
    x0 = rng.standard_normal(9)
    y = hk.simulate(sys, u, x0)
    y_ref = _loop(A, B, C, np.zeros((2, 2)), u, x0)
    # sequential rounding grows like 1 / (1 - |λ|); both results agree far below that
    np.testing.assert_allclose(y, y_ref, atol=1e-10 * np.abs(y_ref).max())
    y_loop = hk.simulate(sys, u, x0, algorithm="loop")
    np.testing.assert_allclose(y_loop, y_ref, atol=1e-12 * np.abs(y_ref).max())


def test_recurrence_falls_back_to_loop_on_large_defect(monkeypatch):
    import hankelid.identification._recurrence as rec

    rng = np.random.default_rng(0)
    A = hk.random_stable(4, dt=1.0, seed=3).A
    G = rng.standard_normal((50, 1, 4))
    solver = Recurrence(A)
    solver.solve(G)
    assert solver.last_algorithm == "schur"
    # an impossible tolerance forces the exact sequential path
    monkeypatch.setattr(rec, "DEFECT_TOL", -1.0)
    X = solver.solve(G)
    assert solver.last_algorithm == "loop"
    x = G[0, 0]
    for k in range(1, 50):
        x = A @ x + G[k, 0]
    np.testing.assert_allclose(X[-1, 0], x, rtol=1e-13)


@pytest.mark.parametrize(("hold", "interp"), [("zoh", False), ("foh", True)])
def test_continuous_matches_lsim(hold, interp):
    rng = np.random.default_rng(2)
    sys = hk.random_stable(5, 2, 2, seed=4, feedthrough=True)
    dt = 0.05
    t = np.arange(300) * dt
    u = np.column_stack([np.sin(3 * t), np.cos(1.3 * t) + t])
    x0 = rng.standard_normal(5)
    y, X = hk.simulate(sys, u, x0, dt=dt, hold=hold, return_states=True)
    _, y_ref, x_ref = ss.lsim((sys.A, sys.B, sys.C, sys.D), u, t, X0=x0, interp=interp)
    np.testing.assert_allclose(y, y_ref, atol=1e-11 * np.abs(y_ref).max())
    np.testing.assert_allclose(X, x_ref, atol=1e-11 * np.abs(x_ref).max())


def test_inputs_iodata_lists_and_identification():
    rng = np.random.default_rng(3)
    sys = hk.random_stable(4, 1, 2, dt=0.5, seed=1)
    u1, u2 = rng.standard_normal(80), rng.standard_normal(50)
    data = hk.IOData([u1, u2], [np.zeros((80, 2)), np.zeros((50, 2))], dt=0.5)
    x0 = rng.standard_normal((2, 4))
    ys = hk.simulate(sys, data, x0)
    assert isinstance(ys, list) and [y.shape for y in ys] == [(80, 2), (50, 2)]
    np.testing.assert_allclose(ys[1], _loop(*sys.matrices, u2[:, None], x0[1]), atol=1e-12)
    ident = hk.Identification(system=sys, order=4, singular_values=np.ones(4))
    np.testing.assert_array_equal(hk.simulate(ident, u1), hk.simulate(sys, u1))
    assert len(hk.simulate(sys, [u1, u2])) == 2
    dlti = ss.dlti(sys.A, sys.B, sys.C, sys.D, dt=0.5)
    np.testing.assert_allclose(hk.simulate(dlti, u1), hk.simulate(sys, u1), atol=1e-14)
    control = pytest.importorskip("control")
    np.testing.assert_allclose(hk.simulate(sys.to_control(), u1), hk.simulate(sys, u1), atol=1e-14)
    del control


def test_bad_input():
    sys = hk.random_stable(3, 2, 1, dt=1.0, seed=0)
    with pytest.raises(ValueError, match=r"shape \(N, m\) with m=2"):
        hk.simulate(sys, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="1-D u is one input channel"):
        hk.simulate(sys, np.zeros(10))
    u = np.zeros((10, 2))
    u[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(first at sample 4, channel 1\)"):
        hk.simulate(sys, u)
    with pytest.raises(ValueError, match=r"x0 must have shape \(3,\)"):
        hk.simulate(sys, np.zeros((10, 2)), x0=np.zeros(4))
    with pytest.raises(ValueError, match=r"sampled at dt=0\.5"):
        hk.simulate(sys, np.zeros((10, 2)), dt=0.5)
    with pytest.raises(ValueError, match="needs the input's sample spacing"):
        hk.simulate(hk.random_stable(3, 2, 1, seed=0), np.zeros((10, 2)))
    with pytest.raises(TypeError, match="simulate takes"):
        hk.simulate(np.eye(3), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="hold"):
        hk.simulate(sys, np.zeros((10, 2)), hold="cubic")
    with pytest.raises(ValueError, match="data have m=1 inputs"):
        hk.simulate(sys, hk.IOData(np.zeros(10), np.zeros(10)))
