"""StateSpace construction, validation, conversions and interop."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from scipy import signal

import hankelid as hk


def _tf_points(sys: hk.StateSpace, w: np.ndarray) -> np.ndarray:
    return sys.frequency_response(w)


# --------------------------------------------------------------------------- construction
def test_shapes_and_defaults() -> None:
    sys = hk.StateSpace(np.eye(3) * 0.5, np.ones(3), np.arange(3.0), dt=0.1)
    assert (sys.n, sys.m, sys.p) == (3, 1, 1)
    assert sys.B.shape == (3, 1) and sys.C.shape == (1, 3)
    assert np.array_equal(sys.D, np.zeros((1, 1)))
    assert sys.is_discrete and sys.dt == 0.1
    assert "dt=0.1" in repr(sys)


def test_immutable_and_private_copies() -> None:
    A = np.array([[-1.0, 0.0], [0.0, -2.0]])
    sys = hk.StateSpace(A, np.ones((2, 1)), np.ones((1, 2)))
    A[0, 0] = 100.0
    assert sys.A[0, 0] == -1.0
    with pytest.raises(ValueError, match="read-only"):
        sys.B[0, 0] = 1.0
    with pytest.raises(AttributeError):
        sys.dt = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"A": [[np.nan]]}, "A contains NaN"),
        ({"A": [[np.inf]]}, "A contains inf"),
        ({"A": np.ones((2, 3))}, "A must be square"),
        ({"A": np.zeros((0, 0)), "B": np.zeros((0, 1)), "C": np.zeros((1, 0))}, "zero states"),
        ({"B": np.ones((2, 1))}, "B must have n=1 rows"),
        ({"C": np.ones((1, 2))}, "C must have n=1 columns"),
        ({"D": np.ones((2, 2))}, "D must have shape"),
        ({"A": [[1j]]}, "A must be real"),
        ({"A": [["a"]]}, "A must be numeric"),
        ({"dt": 0.0}, "dt must be a positive"),
        ({"dt": -1.0}, "dt must be a positive"),
        ({"dt": True}, "dt must be None"),
        ({"dt": "1"}, "dt must be None"),
        ({"B": np.zeros((1, 0))}, "at least one input"),
    ],
)
def test_bad_input_names_the_problem(kwargs: dict, message: str) -> None:
    args = {"A": [[-1.0]], "B": [[1.0]], "C": [[1.0]], "D": None, "dt": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        hk.StateSpace(**args)


def test_stability_both_domains() -> None:
    cont = hk.StateSpace([[0.5]], [[1.0]], [[1.0]])
    disc = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=1.0)
    assert not cont.is_stable() and disc.is_stable()
    assert disc.stability_margin() == pytest.approx(0.5)
    assert hk.StateSpace([[-1.0, 5.0], [0.0, -2.0]], np.ones((2, 1)), np.ones((1, 2))).is_stable()


def test_poles_sorted() -> None:
    sys = hk.random_stable(6, dt=1.0, seed=3)
    poles = sys.poles()
    assert np.all(np.diff(np.abs(poles)) <= 1e-12)
    np.testing.assert_allclose(np.sort_complex(poles), np.sort_complex(np.linalg.eigvals(sys.A)))


# --------------------------------------------------------------------------- transfer functions
def test_frequency_response_matches_scipy() -> None:
    sys = hk.random_stable(5, 2, 3, seed=0, feedthrough=True)
    w = np.logspace(-2, 2, 7)
    ours = sys.frequency_response(w)
    num_den = [signal.ss2tf(sys.A, sys.B, sys.C, sys.D, input=j) for j in range(sys.m)]
    for j, (num, den) in enumerate(num_den):
        for i in range(sys.p):
            ref = np.polyval(num[i], 1j * w) / np.polyval(den, 1j * w)
            np.testing.assert_allclose(ours[:, i, j], ref, rtol=1e-8)


def test_discrete_frequency_response_uses_unit_circle() -> None:
    sys = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=0.2)
    w = np.array([0.0, 1.0, 5.0])
    z = np.exp(1j * w * 0.2)
    np.testing.assert_allclose(sys.frequency_response(w)[:, 0, 0], 1.0 / (z - 0.5))


def test_arithmetic_difference_and_scaling() -> None:
    a = hk.random_stable(3, 2, 2, seed=1)
    b = hk.random_stable(2, 2, 2, seed=2)
    w = np.array([0.3, 3.0])
    np.testing.assert_allclose(
        (a - b).frequency_response(w), a.frequency_response(w) - b.frequency_response(w)
    )
    np.testing.assert_allclose((2.0 * a).frequency_response(w), 2.0 * a.frequency_response(w))
    with pytest.raises(ValueError, match="sampling times"):
        _ = a - hk.random_stable(2, 2, 2, dt=1.0, seed=0)
    with pytest.raises(ValueError, match="shapes"):
        _ = a - hk.random_stable(2, 1, 2, seed=0)


# --------------------------------------------------------------------------- discretization
def test_c2d_zoh_matches_scipy() -> None:
    sys = hk.random_stable(4, 2, 2, seed=5, feedthrough=True)
    ours = hk.c2d(sys, 0.05, "zoh")
    ref = signal.cont2discrete((sys.A, sys.B, sys.C, sys.D), 0.05, method="zoh")
    for x, y in zip(ours.matrices, ref[:4]):
        np.testing.assert_allclose(x, y, atol=1e-12)
    assert ours.dt == 0.05


def test_tustin_round_trip_and_transfer_identity() -> None:
    sysc = hk.random_stable(5, 2, 2, seed=8, feedthrough=True)
    dt = 0.1
    sysd = hk.c2d(sysc, dt, "tustin")
    w = np.array([0.1, 1.0, 10.0])
    z = np.exp(1j * w * dt)
    s = (2.0 / dt) * (z - 1) / (z + 1)
    np.testing.assert_allclose(sysd.evaluate(z), sysc.evaluate(s), rtol=1e-10)
    back = hk.d2c(sysd)
    np.testing.assert_allclose(back.frequency_response(w), sysc.frequency_response(w), rtol=1e-9)


def test_discretization_errors() -> None:
    sysc = hk.random_stable(2, seed=0)
    with pytest.raises(ValueError, match="continuous-time"):
        hk.c2d(hk.c2d(sysc, 0.1), 0.1)
    with pytest.raises(ValueError, match="discrete-time"):
        hk.d2c(sysc)
    with pytest.raises(ValueError, match="unknown discretization"):
        hk.c2d(sysc, 0.1, "foh")
    with pytest.raises(ValueError, match="eigenvalue at -1"):
        hk.d2c(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]], dt=1.0))


# --------------------------------------------------------------------------- impulse / Markov
def test_markov_parameters_closed_form() -> None:
    sys = hk.random_stable(4, 2, 3, dt=1.0, seed=2, feedthrough=True)
    h = hk.markov_parameters(sys, 6)
    assert h.shape == (6, 3, 2)
    np.testing.assert_array_equal(h[0], sys.D)
    for k in range(1, 6):
        np.testing.assert_allclose(h[k], sys.C @ np.linalg.matrix_power(sys.A, k - 1) @ sys.B)


def test_markov_equals_simulated_impulse_response() -> None:
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=4, feedthrough=True)
    _, y = signal.dimpulse(sys.to_scipy(), n=8)
    np.testing.assert_allclose(hk.markov_parameters(sys, 8)[:, 0, 0], y[0][:, 0], atol=1e-12)


def test_continuous_impulse_samples_matrix_exponential() -> None:
    sys = hk.random_stable(3, 1, 2, seed=9)
    h = hk.impulse(sys, 4, dt=0.3)
    for k in range(4):
        np.testing.assert_allclose(h[k], sys.C @ sla.expm(sys.A * 0.3 * k) @ sys.B, atol=1e-12)
    with pytest.raises(ValueError, match="needs the sample spacing"):
        hk.impulse(sys, 4)


@pytest.mark.parametrize("length", [0, -3, 2.5, True])
def test_markov_length_validation(length: object) -> None:
    with pytest.raises(ValueError, match="length must be a positive integer"):
        hk.markov_parameters(hk.random_stable(2, dt=1.0, seed=0), length)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- random systems
@pytest.mark.parametrize("dt", [None, 0.5])
def test_random_stable_is_stable_and_reproducible(dt: float | None) -> None:
    a = hk.random_stable(12, 3, 2, dt=dt, seed=11)
    b = hk.random_stable(12, 3, 2, dt=dt, seed=11)
    assert a == b and a.is_stable() and a.dt == dt
    assert np.iscomplexobj(a.poles()) and np.any(np.abs(a.poles().imag) > 0)


def test_random_stable_validation() -> None:
    with pytest.raises(ValueError, match="n must be a positive integer"):
        hk.random_stable(0)
    with pytest.raises(ValueError, match="pole_radius"):
        hk.random_stable(3, dt=1.0, pole_radius=(0.1, 1.2))


# --------------------------------------------------------------------------- interop and IO
def test_python_control_round_trip() -> None:
    control = pytest.importorskip("control")
    sys = hk.random_stable(4, 2, 2, dt=0.5, seed=1, feedthrough=True)
    ct = sys.to_control()
    assert isinstance(ct, control.StateSpace) and ct.dt == 0.5
    assert hk.from_control(ct) == sys
    cont = hk.random_stable(3, seed=2)
    assert hk.from_control(cont.to_control()).dt is None
    tf = control.tf([1.0], [1.0, 3.0, 2.0])
    conv = hk.from_control(tf)
    np.testing.assert_allclose(conv.frequency_response([1.0])[0, 0, 0], 1.0 / ((1j) ** 2 + 3j + 2))


def test_scipy_round_trip() -> None:
    sys = hk.random_stable(3, 1, 2, dt=0.2, seed=7)
    sp = sys.to_scipy()
    assert isinstance(sp, signal.dlti)
    assert hk.from_scipy(sp) == sys
    cont = hk.random_stable(3, seed=7)
    assert hk.from_scipy(cont.to_scipy()) == cont
    assert hk.as_state_space(cont.to_scipy()) == cont
    with pytest.raises(ValueError, match=r"must be a hankelid\.StateSpace"):
        hk.as_state_space(np.eye(2))


def test_save_load(tmp_path) -> None:
    for dt in (None, 0.25):
        sys = hk.random_stable(3, 2, 1, dt=dt, seed=0, feedthrough=True)
        path = tmp_path / f"sys_{dt}.npz"
        sys.save(path)
        assert hk.load(path) == sys
    np.savez(tmp_path / "bad.npz", A=np.eye(2))
    with pytest.raises(ValueError, match="lacks the arrays"):
        hk.load(tmp_path / "bad.npz")


def test_transform_preserves_transfer_function() -> None:
    sys = hk.random_stable(4, 1, 1, seed=3)
    T = np.random.default_rng(0).standard_normal((4, 4)) + 4 * np.eye(4)
    w = np.array([0.5, 2.0])
    np.testing.assert_allclose(sys.transform(T).frequency_response(w), sys.frequency_response(w))
