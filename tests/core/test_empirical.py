"""Empirical Gramians: exactness of impulses, 1/sqrt(N) convergence of Gaussian inputs, black boxes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from scipy import signal

import hankelid as hk
from hankelid.empirical import Simulator, empirical_gramian_factors, empirical_hsv


def _rel(X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.linalg.norm(X - Y) / np.linalg.norm(Y))


def _exact(sys: hk.StateSpace, kind: str) -> np.ndarray:
    """Independent references: scipy Lyapunov solvers, and a Kronecker solve for the cross Gramian."""
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    if kind == "x":
        n = sys.n
        if sys.is_discrete:  # Wx = A Wx A + B C, column-major vec
            M = np.eye(n * n) - np.kron(A.T, A)
        else:  # A Wx + Wx A + B C = 0
            M = -(np.kron(np.eye(n), A) + np.kron(A.T, np.eye(n)))
        return np.linalg.solve(M, (B @ C).reshape(-1, order="F")).reshape(n, n, order="F")
    if kind == "o":
        A, B = A.T, C.T
    if sys.is_discrete:
        return sla.solve_discrete_lyapunov(A, B @ B.T)
    return sla.solve_continuous_lyapunov(A, -B @ B.T)


def _exact_hsv(sys: hk.StateSpace) -> np.ndarray:
    ev = np.linalg.eigvals(_exact(sys, "c") @ _exact(sys, "o")).real
    return np.sqrt(np.sort(np.clip(ev, 0, None))[::-1])


DISCRETE = [(1, 1), (3, 2), (2, 4)]


# --------------------------------------------------------------------------- impulse estimator
@pytest.mark.parametrize(("m", "p"), DISCRETE)
@pytest.mark.parametrize("kind", ["c", "o"])
def test_impulse_gramian_equals_exact_discrete(m: int, p: int, kind: str) -> None:
    sys = hk.random_stable(7, m, p, dt=1.0, seed=10 * m + p)  # pole moduli <= 0.95
    W = hk.empirical_gramian(sys, kind, length=800)
    assert _rel(W, _exact(sys, kind)) < 1e-10
    assert np.array_equal(W, W.T)


@pytest.mark.parametrize("dt", [None, 1.0])
def test_matches_hankelid_exact_gramians_and_hsv(dt: float | None) -> None:
    sys = hk.random_stable(6, 2, 3, dt=dt, seed=21)
    for kind in "co":
        assert _rel(hk.empirical_gramian(sys, kind, length=1500), hk.gramian(sys, kind)) < 1e-10
    assert np.allclose(empirical_hsv(sys, length=1500), hk.hsv(sys), rtol=1e-9)


def test_impulse_gramian_is_the_finite_horizon_sum() -> None:
    # Below the decay the estimate is exactly sum_{k<L} A^k B B^T A^kT (sequential reference).
    sys = hk.random_stable(5, 2, 1, dt=1.0, seed=1)
    A, B = np.array(sys.A), np.array(sys.B)
    ref, X = np.zeros((5, 5)), B.copy()
    for _ in range(7):
        ref += X @ X.T
        X = A @ X
    assert _rel(hk.empirical_gramian(sys, "c", length=7, finite_horizon=True), ref) < 1e-13


def test_cross_gramian_mimo_and_siso_identity() -> None:
    sys = hk.random_stable(6, 2, 2, dt=1.0, seed=3)
    assert _rel(hk.empirical_gramian(sys, "x", length=800), _exact(sys, "x")) < 1e-10
    # SISO: Wx^2 = Wc Wo in any basis, so |eig(Wx)| are the Hankel singular values.
    siso = hk.random_stable(5, dt=1.0, seed=4)
    Wx = hk.empirical_gramian(siso, "x", length=800)
    Wc, Wo = (hk.empirical_gramian(siso, k, length=800) for k in "co")
    assert _rel(Wx @ Wx, Wc @ Wo) < 1e-9
    assert np.allclose(np.sort(np.abs(np.linalg.eigvals(Wx)))[::-1], _exact_hsv(siso), rtol=1e-8)


# --------------------------------------------------------------------------- Gaussian estimator
def test_gaussian_gramian_converges_like_one_over_sqrt_n() -> None:
    sys = hk.random_stable(6, 2, 3, dt=1.0, seed=5)
    Wc = _exact(sys, "c")
    counts = np.array([64, 256, 1024, 4096])
    kw = {"inputs": "gaussian", "length": 300}
    errors = np.array(
        [
            np.sqrt(
                np.mean(
                    [
                        _rel(hk.empirical_gramian(sys, "c", n_trajectories=N, seed=s, **kw), Wc) ** 2
                        for s in range(6)
                    ]
                )
            )
            for N in counts
        ]
    )
    slope = np.polyfit(np.log(counts), np.log(errors), 1)[0]
    assert -0.7 < slope < -0.3
    # ... and the level matches E||W_hat - W||_F^2 = (||W||_F^2 + tr(W)^2) / N.
    theory = np.sqrt((1 + np.trace(Wc) ** 2 / np.linalg.norm(Wc) ** 2) / counts)
    assert np.all((errors > 0.5 * theory) & (errors < 2 * theory))


def test_gaussian_estimate_is_unbiased_and_reproducible() -> None:
    sys = hk.random_stable(4, 2, 2, dt=1.0, seed=6)
    runs = [
        hk.empirical_gramian(sys, "o", inputs="gaussian", length=200, n_trajectories=100, seed=s)
        for s in range(40)
    ]
    # The mean of 40 runs of 100 trajectories behaves like one run of 4000.
    assert _rel(np.mean(runs, axis=0), _exact(sys, "o")) < 0.1
    again = hk.empirical_gramian(sys, "o", inputs="gaussian", length=200, n_trajectories=100, seed=0)
    assert np.array_equal(again, runs[0])
    rng = np.random.default_rng(1)
    assert not np.array_equal(hk.empirical_gramian(sys, "o", inputs="gaussian", seed=rng), runs[0])


def test_gaussian_cross_gramian_converges() -> None:
    sys = hk.random_stable(5, 2, 2, dt=1.0, seed=7)
    est = hk.empirical_gramian(sys, "x", inputs="gaussian", length=300, n_trajectories=20000, seed=0)
    assert _rel(est, _exact(sys, "x")) < 0.1


def test_batching_does_not_change_the_estimate() -> None:
    sys = hk.random_stable(4, 2, 2, dt=1.0, seed=8)
    kw = {"inputs": "gaussian", "length": 300, "n_trajectories": 50, "seed": 3}
    assert np.allclose(
        hk.empirical_gramian(sys, "c", batch_size=7, **kw),
        hk.empirical_gramian(sys, "c", **kw),
        rtol=1e-13,
        atol=0,
    )


# --------------------------------------------------------------------------- black-box simulators
@pytest.mark.parametrize("inputs", ["impulse", "gaussian"])
@pytest.mark.parametrize("kind", ["c", "o", "x"])
def test_simulator_path_equals_state_space_path(inputs: str, kind: str) -> None:
    sys = hk.random_stable(5, 2, 2, dt=1.0, seed=9)
    kw = {"inputs": inputs, "length": 150}
    if inputs == "gaussian":
        kw.update(n_trajectories=40, seed=11)
    ref = hk.empirical_gramian(sys, kind, **kw)
    sim = Simulator.from_state_space(sys)
    assert _rel(hk.empirical_gramian(sim, kind, **kw), ref) < 1e-12
    assert _rel(hk.empirical_gramian(sim, kind, batch_size=3, **kw), ref) < 1e-12


def _diagonal_simulator(a: np.ndarray, B: np.ndarray, C: np.ndarray) -> Simulator:
    """A black box written independently: each state is a first-order IIR filter (scipy lfilter)."""

    def run(poles: np.ndarray, drive: np.ndarray) -> np.ndarray:
        # x_{k+1} = a x_k + drive_k, reported after each step: filter 1 / (1 - a z^-1).
        return np.stack(
            [signal.lfilter([1.0], [1.0, -ai], drive[..., i], axis=1) for i, ai in enumerate(poles)], axis=-1
        )

    def from_initial(x0: np.ndarray, length: int) -> np.ndarray:
        return (x0[:, None, :] * a ** np.arange(length)[:, None]) @ C.T

    return Simulator(
        lambda u: run(a, u @ B.T),
        n=a.size,
        m=B.shape[1],
        p=C.shape[0],
        adjoint=lambda v: run(a, v @ C),
        from_initial=from_initial,
    )


def test_independent_black_box_matches_exact_gramians() -> None:
    rng = np.random.default_rng(0)
    a = np.array([0.9, -0.5, 0.3, 0.7])
    B, C = rng.standard_normal((4, 2)), rng.standard_normal((2, 4))
    sys = hk.StateSpace(np.diag(a), B, C, dt=1.0)
    sim = _diagonal_simulator(a, B, C)
    for kind in "cox":
        assert _rel(hk.empirical_gramian(sim, kind, length=400), _exact(sys, kind)) < 1e-10
    # Observability from initial states only (no adjoint): the emgr-style output estimator.
    no_adjoint = Simulator(sim.forward, n=4, m=2, p=2, from_initial=sim.from_initial)
    assert _rel(hk.empirical_gramian(no_adjoint, "o", length=400), _exact(sys, "o")) < 1e-10
    assert _rel(hk.empirical_gramian(no_adjoint, "x", length=400), _exact(sys, "x")) < 1e-10
    est = hk.empirical_gramian(sim, "c", inputs="gaussian", length=200, n_trajectories=3000, seed=0)
    assert _rel(est, _exact(sys, "c")) < 0.15


def test_duck_typed_simulator_is_accepted() -> None:
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=2)
    sim = Simulator.from_state_space(sys)

    class Adapter:  # what the torch bridge passes: any object with the protocol's attributes
        n, m, p = 3, 1, 1
        forward = staticmethod(sim.forward)
        adjoint = staticmethod(sim.adjoint)

    assert _rel(hk.empirical_gramian(Adapter(), "o", length=300), _exact(sys, "o")) < 1e-10


# --------------------------------------------------------------------------- continuous time
@pytest.mark.parametrize("kind", ["c", "o", "x"])
def test_continuous_tustin_is_exact(kind: str) -> None:
    sys = hk.random_stable(6, 2, 2, seed=12)
    assert _rel(hk.empirical_gramian(sys, kind, length=1500), _exact(sys, kind)) < 1e-10


def test_continuous_sampled_converges_second_order() -> None:
    sys = hk.random_stable(4, 1, 2, seed=13)  # slowest pole real part about -0.5
    Wc = _exact(sys, "c")
    errs = [
        _rel(hk.empirical_gramian(sys, "c", discretization="sampled", dt=dt, length=int(60 / dt)), Wc)
        for dt in (0.02, 0.01)
    ]
    assert 3.5 < errs[0] / errs[1] < 4.5  # midpoint rule: O(dt^2)
    assert errs[1] < 1e-3


def test_continuous_finite_horizon_integral() -> None:
    # Scalar x' = -x + u: the finite-horizon Gramian over [0, T] is (1 - exp(-2T)) / 2.
    sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])
    W = hk.empirical_gramian(sys, "c", discretization="sampled", dt=1e-3, length=500, finite_horizon=True)
    assert abs(W[0, 0] - (1 - np.exp(-1.0)) / 2) < 1e-6


# --------------------------------------------------------------------------- factors and HSVs
def test_factors_reproduce_gramians_and_hsvs() -> None:
    sys = hk.random_stable(6, 2, 3, dt=1.0, seed=14)
    Lc, Lo = empirical_gramian_factors(sys, length=600)
    assert Lc.shape == (6, 6) and Lo.shape == (6, 6)
    assert _rel(Lc @ Lc.T, _exact(sys, "c")) < 1e-10
    assert _rel(Lo @ Lo.T, _exact(sys, "o")) < 1e-10
    assert np.allclose(empirical_hsv(sys, length=600), _exact_hsv(sys), rtol=1e-9)


def test_factors_drive_empirical_balanced_truncation() -> None:
    # The contract with balanced_truncation(gramians="empirical", **estimator_options).
    sys = hk.random_stable(8, 2, 2, dt=1.0, seed=5)
    emp = hk.balanced_truncation(sys, order=3, gramians="empirical", length=600)
    exact = hk.balanced_truncation(sys, order=3)
    assert np.allclose(emp.hsv, exact.hsv, rtol=1e-9)
    w = np.linspace(0, np.pi, 50)
    assert np.allclose(emp.system.frequency_response(w), exact.system.frequency_response(w), atol=1e-8)


def test_gaussian_factors_and_hsvs() -> None:
    sys = hk.random_stable(8, 2, 2, dt=1.0, seed=15)
    kw = {"inputs": "gaussian", "length": 300, "seed": 2}
    Lc, Lo = empirical_gramian_factors(sys, n_trajectories=5, **kw)
    assert Lc.shape == (8, 5) and Lo.shape == (8, 5)  # rank-deficient estimates are fine
    assert np.allclose(Lc @ Lc.T, hk.empirical_gramian(sys, "c", n_trajectories=5, **kw))
    s = empirical_hsv(sys, n_trajectories=5, **kw)
    assert s.shape == (8,) and np.all(s[5:] == 0) and np.all(np.diff(s) <= 0)
    big = empirical_hsv(sys, n_trajectories=20000, **kw)
    assert np.allclose(big[:3], _exact_hsv(sys)[:3], rtol=0.1)


def test_continuous_empirical_hsv_match_exact() -> None:
    sys = hk.random_stable(5, 1, 1, seed=16)
    assert np.allclose(empirical_hsv(sys, length=1500), _exact_hsv(sys), rtol=1e-8)


def test_python_control_system_is_accepted() -> None:
    control = pytest.importorskip("control")
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=17)
    W = hk.empirical_gramian(control.ss(*(np.array(M) for M in sys.matrices), 1.0), "c", length=400)
    assert _rel(W, _exact(sys, "c")) < 1e-10


# --------------------------------------------------------------------------- stability and bad input
def test_unstable_systems_need_an_explicit_finite_horizon() -> None:
    unstable_d = hk.StateSpace([[1.1, 0.0], [0.0, 0.5]], [[1.0], [1.0]], [[1.0, 1.0]], dt=1.0)
    unstable_c = hk.StateSpace([[0.2]], [[1.0]], [[1.0]])
    for sys in (unstable_d, unstable_c):
        with pytest.raises(hk.UnstableSystemError, match="not stable"):
            hk.empirical_gramian(sys, "c", length=50)
        with pytest.raises(hk.UnstableSystemError):
            empirical_hsv(sys, length=50)
    W = hk.empirical_gramian(unstable_d, "c", length=20, finite_horizon=True)
    assert np.isclose(W[0, 0], sum(1.1 ** (2 * k) for k in range(20)), rtol=1e-12)
    with pytest.raises(ValueError, match="discretization='sampled'"):
        hk.empirical_gramian(unstable_c, "c", finite_horizon=True)
    with pytest.raises(ValueError, match="overflowed"):
        hk.empirical_gramian(hk.StateSpace([[1e3]], [[1.0]], [[1.0]], dt=1.0), "c", finite_horizon=True)


def test_short_horizon_warns() -> None:
    sys = hk.StateSpace([[0.999]], [[1.0]], [[1.0]], dt=1.0)
    with pytest.warns(RuntimeWarning, match="does not cover the decay"):
        hk.empirical_gramian(sys, "c", length=100)


def _bad_simulator(out: np.ndarray) -> Simulator:
    return Simulator(lambda u: out, n=2, m=1)


@pytest.mark.parametrize(
    ("sys", "kwargs", "message"),
    [
        ("ss", {"kind": "z"}, "kind must be one of"),
        ("ss", {"inputs": "prbs"}, "inputs must be one of"),
        ("ss", {"length": 0}, "length must be a positive integer"),
        ("ss", {"length": 2.5}, "length must be a positive integer"),
        ("ss", {"n_trajectories": 10}, "n_trajectories applies to inputs='gaussian'"),
        ("ss", {"inputs": "gaussian", "n_trajectories": 0}, "n_trajectories must be a positive integer"),
        ("ss", {"kind": "x"}, "square system"),
        ("ss", {"dt": 0.1}, "continuous-time systems only"),
        ("ss", {"inputs": "gaussian", "seed": "abc"}, "seed must be"),
        ("ct", {"discretization": "zoh"}, "discretization must be"),
        ("ct", {"discretization": "sampled"}, "needs the sample spacing dt"),
        ("sim", {"kind": "o"}, "needs simulator.adjoint or from_initial"),
        ("sim", {"kind": "c", "dt": 1.0}, "not simulators"),
        ("bad_shape", {"kind": "c"}, "must return shape"),
        ("nan", {"kind": "c"}, "NaN or inf"),
        ("raises", {"kind": "c"}, "simulator.forward failed on inputs of shape"),
        ("text", {"kind": "c"}, "must be a hankelid.StateSpace"),
    ],
)
def test_bad_input_names_the_problem(sys: str, kwargs: dict, message: str) -> None:
    systems = {
        "ss": hk.random_stable(3, 2, 1, dt=1.0, seed=0),
        "ct": hk.random_stable(3, seed=0),
        "sim": Simulator.from_state_space(hk.random_stable(2, 1, 1, dt=1.0, seed=0)),
        "bad_shape": _bad_simulator(np.zeros((1, 10, 3))),
        "nan": _bad_simulator(np.full((1, 10, 2), np.nan)),
        "raises": Simulator(lambda u: u @ "B", n=2, m=1),
        "text": "not a system",
    }
    kwargs = {"kind": "c", "length": 10, **kwargs}
    if sys == "sim" and kwargs["kind"] == "o":
        target = Simulator(systems["sim"].forward, n=2, m=1)
    else:
        target = systems[sys]
    with pytest.raises(ValueError, match=message):
        hk.empirical_gramian(target, kwargs.pop("kind"), **kwargs)


def test_unknown_estimator_option_is_named() -> None:
    with pytest.raises(ValueError, match="unknown estimator options"):
        empirical_gramian_factors(hk.random_stable(2, dt=1.0, seed=0), lenght=10)


def test_gaussian_observability_needs_an_adjoint() -> None:
    sim = Simulator.from_state_space(hk.random_stable(2, 1, 1, dt=1.0, seed=0))
    only_initial = Simulator(sim.forward, n=2, m=1, p=1, from_initial=sim.from_initial)
    with pytest.raises(ValueError, match=r"needs simulator\.adjoint"):
        hk.empirical_gramian(only_initial, "o", inputs="gaussian", length=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "Simulator.n must be a positive integer"),
        ({"m": True}, "Simulator.m must be a positive integer"),
        ({"adjoint": lambda v: v}, "Simulator.p"),
        ({"forward": 3}, "Simulator.forward must be callable"),
    ],
)
def test_simulator_validation(kwargs: dict, message: str) -> None:
    args = {"forward": lambda u: u, "n": 2, "m": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Simulator(**args)


def test_continuous_simulator_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="discrete-time"):
        Simulator.from_state_space(hk.random_stable(2, seed=0))


# --------------------------------------------------------------------------- data Gramians
def _stepped_states(A: np.ndarray, B: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Independent reference: ``x_{k+1} = A x_k + B u_k`` stepped one sequence and one sample at a time."""
    K, L, _ = U.shape
    X = np.zeros((K, L, A.shape[0]))
    for i in range(K):
        x = np.zeros(A.shape[0])
        for k in range(L):
            x = A @ x + B @ U[i, k]
            X[i, k] = x
    return X


@pytest.mark.parametrize("kind", ["c", "o", "x"])
def test_data_gramian_is_the_second_moment_of_the_visited_states(kind: str) -> None:
    sys = hk.random_stable(5, 2, 2, dt=1.0, seed=4)
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    U = np.random.default_rng(0).standard_normal((3, 40, 2)).cumsum(axis=1)  # random walks: not white
    X = _stepped_states(A, B, U).reshape(-1, 5)
    Z = _stepped_states(A.T, C.T, U).reshape(-1, 5)
    expected = {"c": X.T @ X, "o": Z.T @ Z, "x": X.T @ Z}[kind] / (3 * 40)
    for target in (sys, Simulator.from_state_space(sys)):
        W = hk.empirical_gramian(target, kind, inputs=U)
        np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_data_gramian_of_white_noise_tends_to_the_gramian() -> None:
    sys = hk.random_stable(6, 2, 1, dt=1.0, seed=2)
    U = np.random.default_rng(1).standard_normal((64, 3000, 2))
    W = hk.empirical_gramian(sys, "c", inputs=U, batch_size=16)
    assert _rel(W, _exact(sys, "c")) < 0.05


def test_data_gramian_of_coloured_inputs_is_the_frequency_weighted_gramian() -> None:
    """AR(1) inputs u_{k+1} = a u_k + sqrt(1 - a^2) w_k: the stationary covariance of the cascade."""
    sys = hk.random_stable(4, 1, 1, dt=1.0, seed=7)
    A, B, _, _ = (np.array(M) for M in sys.matrices)
    a, K, L = 0.95, 48, 4000
    rng = np.random.default_rng(3)
    U = np.empty((K, L, 1))
    U[:, 0] = rng.standard_normal((K, 1))  # the AR(1) input starts in its stationary law
    w = rng.standard_normal((K, L, 1)) * np.sqrt(1 - a**2)
    for k in range(1, L):
        U[:, k] = a * U[:, k - 1] + w[:, k]
    F = np.block([[A, B], [np.zeros((1, 4)), np.array([[a]])]])
    G = np.vstack([np.zeros((4, 1)), [[np.sqrt(1 - a**2)]]])
    weighted = sla.solve_discrete_lyapunov(F, G @ G.T)[:4, :4]
    W = hk.empirical_gramian(sys, "c", inputs=U)
    assert _rel(W, weighted) < 0.08
    assert _rel(_exact(sys, "c"), weighted) > 0.3  # the weighting matters: white noise is far off


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("ss", {"inputs": np.zeros((2, 5))}, r"shape \(K sequences, L samples, channels\)"),
        ("ss", {"inputs": np.full((1, 5, 2), np.nan)}, "NaN or inf"),
        ("ss", {"inputs": np.zeros((1, 5, 2)), "length": 5}, "come from its shape"),
        ("ss", {"inputs": np.zeros((1, 5, 2)), "seed": 1}, "come from its shape"),
        ("ss", {"inputs": np.zeros((1, 5, 3))}, "3 channels, the system has 2 inputs"),
        ("ss", {"inputs": np.zeros((1, 5, 2)), "kind": "o"}, "2 channels, the system has 1 outputs"),
        ("ct", {"inputs": np.zeros((1, 5, 2))}, "discretize the continuous-time system"),
        ("sim", {"inputs": np.zeros((1, 5, 1)), "kind": "o"}, "needs simulator.adjoint"),
        ("ss", {"inputs": [["a"]]}, "array of input sequences"),
    ],
)
def test_data_gramian_bad_input_names_the_problem(target: str, kwargs: dict, message: str) -> None:
    systems = {
        "ss": hk.random_stable(3, 2, 1, dt=1.0, seed=0),
        "ct": hk.random_stable(3, 2, 1, seed=0),
        "sim": Simulator(
            Simulator.from_state_space(hk.random_stable(2, 1, 1, dt=1.0, seed=0)).forward, n=2, m=1
        ),
    }
    kwargs = {"kind": "c", **kwargs}
    with pytest.raises(ValueError, match=message):
        hk.empirical_gramian(systems[target], kwargs.pop("kind"), **kwargs)


def test_input_arrays_are_refused_where_both_gramians_are_estimated() -> None:
    sys = hk.random_stable(3, 1, 1, dt=1.0, seed=0)
    with pytest.raises(ValueError, match="drives one Gramian at a time"):
        empirical_gramian_factors(sys, inputs=np.zeros((1, 5, 1)))


def test_both_gaussian_estimates_in_one_call_equal_two_calls() -> None:
    """The concurrent estimates of empirical_gramian_factors use the streams of separate calls."""
    sys = hk.random_stable(6, 2, 3, dt=1.0, seed=1)
    kw = {"inputs": "gaussian", "length": 300, "n_trajectories": 50, "seed": 9}
    Lc, Lo = empirical_gramian_factors(sys, **kw)
    np.testing.assert_allclose(Lc @ Lc.T, hk.empirical_gramian(sys, "c", **kw), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Lo @ Lo.T, hk.empirical_gramian(sys, "o", **kw), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("length", [1, 2, 3, 7, 64, 100])
def test_reversed_krylov_blocks_are_the_blocks_in_reverse(length: int) -> None:
    from hankelid.empirical import krylov_blocks

    sys = hk.random_stable(4, 2, 1, dt=1.0, seed=length)
    A, B, _, _ = (np.array(M) for M in sys.matrices)
    direct = np.stack([(np.linalg.matrix_power(A, k) @ B).T for k in range(length)])
    np.testing.assert_allclose(krylov_blocks(A, B, length), direct, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(
        krylov_blocks(A, B, length, reverse=True), direct[::-1], rtol=1e-10, atol=1e-13
    )


# --------------------------------------------------------------------------- factors of data Gramians
def test_data_gramian_factor_keeps_the_small_singular_values() -> None:
    """The factor comes from the snapshots: its tiny singular values match the states' own SVD."""
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((2, 2)))[0]  # hide the graded axes
    sys = hk.StateSpace(Q @ np.diag([0.5, 0.3]) @ Q.T, Q @ [[1.0], [1e-9]], [[1.0, 1.0]], dt=1.0)
    U = np.random.default_rng(0).standard_normal((3, 200, 1))
    L = hk.empirical_gramian(sys, "c", inputs=U, factor=True)
    X = hk.Simulator.from_state_space(sys).forward(U).reshape(-1, 2) / np.sqrt(600)  # stepped reference
    want = np.linalg.svd(X, compute_uv=False)
    assert want[-1] < 1e-9 * want[0]  # eigh of the formed Gramian returns 0 here (measured)
    np.testing.assert_allclose(np.linalg.svd(L, compute_uv=False), want, rtol=1e-6)


def test_factor_option_matches_the_gramian_and_is_checked() -> None:
    sys = hk.random_stable(5, 2, 3, dt=1.0, seed=4)
    gaussian = {"inputs": "gaussian", "seed": 2, "n_trajectories": 40}
    for kind, extra in (("c", {"inputs": "impulse"}), ("o", gaussian)):
        kw = {"length": 300, **extra}
        L = hk.empirical_gramian(sys, kind, factor=True, **kw)
        assert L.shape[0] == 5 and L.shape[1] <= 5
        np.testing.assert_allclose(L @ L.T, hk.empirical_gramian(sys, kind, **kw), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="factor"):
        hk.empirical_gramian(hk.random_stable(3, 2, 2, dt=1.0, seed=0), "x", factor=True)
    with pytest.raises(ValueError, match="factor must be True or False"):
        hk.empirical_gramian(sys, "c", factor="yes")


def test_a_pair_of_input_arrays_gives_both_data_factors() -> None:
    sys = hk.random_stable(4, 2, 3, dt=1.0, seed=6)
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((2, 150, 2)), rng.standard_normal((5, 80, 3))
    Lc, Lo = empirical_gramian_factors(sys, inputs=(U, V))
    sim = hk.Simulator.from_state_space(sys)
    Xc = sim.forward(U).reshape(-1, 4) / np.sqrt(300)
    Xo = sim.adjoint(V).reshape(-1, 4) / np.sqrt(400)
    np.testing.assert_allclose(Lc @ Lc.T, Xc.T @ Xc, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(Lo @ Lo.T, Xo.T @ Xo, rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="channels"):
        empirical_gramian_factors(sys, inputs=(V, U))
