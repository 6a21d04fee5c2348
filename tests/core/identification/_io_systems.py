"""Systems, records and reference identifications shared by the subspace and OKID tests."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk


def drss(n: int, m: int, p: int, seed: int) -> tuple[hk.StateSpace, int]:
    """python-control's random discrete system (repeated poles, masked B/C) and its minimal order."""
    control = pytest.importorskip("control")
    # control.minreal reduces through slycot's tb01pd; both come with the `control` extra (the lock
    # has them; make test-oldest's first step runs without slycot, which needs numpy >= 2).
    pytest.importorskip("slycot", reason="control.minreal needs slycot (the control extra)")
    state = np.random.get_state()  # noqa: NPY002 - drss draws from NumPy's global generator
    np.random.seed(seed)  # noqa: NPY002
    try:
        sys = control.drss(n, p, m)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    minimal = control.minreal(sys, verbose=False).nstates
    return hk.from_control(sys), minimal  # dt=True maps to dt=1.0


def record(sys: hk.StateSpace, N: int, *, seed: int, noise: float = 0.0, x0: bool = True) -> hk.IOData:
    """White-input record of `sys` with a random initial state and white output noise.

    `noise` is the noise standard deviation relative to each noise-free output's.
    """
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((N, sys.m))
    start = rng.standard_normal(sys.n) if x0 else None
    y = hk.simulate(sys, u, start)
    y = y + noise * y.std(axis=0) * rng.standard_normal(y.shape)
    return hk.IOData(u, y, dt=sys.dt)


def markov_error(model, true: hk.StateSpace, length: int = 60) -> float:
    """Largest Markov-parameter error relative to the largest true Markov parameter."""
    sys = getattr(model, "system", model)
    h_true = hk.markov_parameters(true, length)
    return float(np.abs(hk.markov_parameters(sys, length) - h_true).max() / np.abs(h_true).max())


def frequency_error(model, true: hk.StateSpace, points: int = 64) -> float:
    """Largest frequency-response error on the unit circle relative to the largest true gain."""
    sys = getattr(model, "system", model)
    z = np.exp(1j * np.linspace(0.0, np.pi, points))

    def response(s: hk.StateSpace) -> np.ndarray:
        eye = np.eye(s.n)
        return np.array([s.C @ np.linalg.solve(zk * eye - s.A, s.B) + s.D for zk in z])

    G = response(true)
    return float(np.abs(response(sys) - G).max() / np.abs(G).max())


def sippy_n4sid(data: hk.IOData, order: int, horizon: int) -> hk.StateSpace:
    """SIPPY's N4SID (PyPI `sippy-unipi`) on the same record, D estimated."""
    sippy = pytest.importorskip("sippy_unipi")
    u, y = data.u[0], data.y[0]
    model = sippy.system_identification(
        y.T, u.T, "N4SID", SS_fixed_order=order, SS_f=horizon, SS_D_required=True
    )
    return hk.StateSpace(model.A, model.B, model.C, model.D, dt=data.dt)


def nfoursid_n4sid(data: hk.IOData, order: int, horizon: int) -> hk.StateSpace:
    """`nfoursid`'s PO-MOESP/N4SID (PyPI `nfoursid`) on the same record."""
    nfoursid = pytest.importorskip("nfoursid.nfoursid")
    pd = pytest.importorskip("pandas")
    u, y = data.u[0], data.y[0]
    cols_u = [f"u{j}" for j in range(u.shape[1])]
    cols_y = [f"y{j}" for j in range(y.shape[1])]
    frame = pd.DataFrame(np.hstack([u, y]), columns=cols_u + cols_y)
    ident = nfoursid.NFourSID(frame, output_columns=cols_y, input_columns=cols_u, num_block_rows=horizon)
    ident.subspace_identification()
    ss, _ = ident.system_identification(rank=order)
    return hk.StateSpace(ss.a, ss.b, ss.c, ss.d, dt=data.dt)


def lightly_damped(seed: int = 0, dt: float = 0.2) -> hk.StateSpace:
    """2x2, 6th order, three modes with damping 0.03-0.05 (the scenario of issue 14), ZOH-sampled."""
    import scipy.linalg as sla

    rng = np.random.default_rng(seed)
    modes = [np.array([[0.0, 1.0], [-w * w, -2 * z * w]]) for w, z in ((1.0, 0.03), (2.3, 0.04), (4.1, 0.05))]
    A = sla.block_diag(*modes)
    return hk.c2d(hk.StateSpace(A, rng.standard_normal((6, 2)), rng.standard_normal((2, 6))), dt)


def prbs_record(sys: hk.StateSpace, N: int, *, seed: int, noise: float = 0.1, hold: int = 3) -> hk.IOData:
    """Pseudo-random binary input (levels +-1 held for `hold` samples) and noisy outputs."""
    rng = np.random.default_rng(seed)
    u = np.repeat(rng.choice([-1.0, 1.0], size=(N // hold + 1, sys.m)), hold, axis=0)[:N]
    y = hk.simulate(sys, u)
    return hk.IOData(u, y + noise * y.std(axis=0) * rng.standard_normal(y.shape), dt=sys.dt)
