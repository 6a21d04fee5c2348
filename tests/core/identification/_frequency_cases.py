"""Systems and data shared by the frequency-domain identification tests."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk


def grid(sys: hk.StateSpace, K: int) -> np.ndarray:
    """Frequencies covering the dynamics: a log grid in continuous time, up to Nyquist in discrete."""
    if sys.is_discrete:
        return np.linspace(0.0, np.pi / sys.dt, K)
    mags = np.abs(sys.poles())
    return np.geomspace(mags.min() / 20, mags.max() * 20, K)


def held_out(omega: np.ndarray) -> np.ndarray:
    """Midpoints between the sample frequencies (geometric where positive)."""
    lo, hi = omega[:-1], omega[1:]
    return np.where(lo > 0, np.sqrt(lo * np.maximum(hi, 1e-300)), (lo + hi) / 2)


def relative_error(model, sys: hk.StateSpace, w: np.ndarray) -> float:
    """Relative RMS error of a model's response against the truth at frequencies `w`."""
    G = sys.frequency_response(w)
    Gm = hk.as_state_space(model).frequency_response(w)
    return float(np.sqrt(np.sum(np.abs(Gm - G) ** 2) / np.sum(np.abs(G) ** 2)))


def minimal_order(sys: hk.StateSpace) -> int:
    """McMillan degree of a stable system: its nonzero Hankel singular values."""
    s = hk.hsv(sys)
    return int(np.sum(s > 1e-9 * s[0]))


def control_system(kind: str, n: int, p: int, m: int, seed: int) -> hk.StateSpace:
    """python-control's rss / drss (repeated poles, masked B and C): a generator not ours."""
    control = pytest.importorskip("control")
    state = np.random.get_state()  # noqa: NPY002 - rss/drss draw from numpy's global generator
    try:
        np.random.seed(seed)  # noqa: NPY002
        sys = control.rss(n, p, m) if kind == "rss" else control.drss(n, p, m, dt=0.1)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return hk.from_control(sys)


def systems() -> list[tuple[str, hk.StateSpace]]:
    """Random stable MIMO systems from both generators, continuous and discrete."""
    out = [
        ("hk-ct", hk.random_stable(8, 2, 3, seed=11)),
        ("hk-dt", hk.random_stable(8, 3, 2, dt=0.1, seed=12)),
        ("hk-ct-D", hk.random_stable(6, 2, 2, seed=13, feedthrough=True)),
    ]
    for kind, seed in (("rss", 3), ("drss", 4)):
        out.append((kind, control_system(kind, 6, 2, 2, seed)))
    return out


def noisy(sys: hk.StateSpace, omega: np.ndarray, level: float, seed: int) -> hk.FRData:
    """Samples with complex Gaussian noise of RMS `level` relative to the response's RMS."""
    G = sys.frequency_response(omega)
    rng = np.random.default_rng(seed)
    scale = level * np.sqrt(np.mean(np.abs(G) ** 2))
    noise = scale * (rng.standard_normal(G.shape) + 1j * rng.standard_normal(G.shape)) / np.sqrt(2)
    return hk.FRData(omega, G + noise, sys.dt)


def structure(
    modes: int = 4, m: int = 2, p: int = 2, *, damping: float = 0.02, seed: int = 0
) -> hk.StateSpace:
    """A lightly damped mechanical structure in modal form: force inputs, velocity outputs."""
    rng = np.random.default_rng(seed)
    wn = np.geomspace(1.0, 20.0, modes)
    blocks = [np.array([[0.0, 1.0], [-(w**2), -2 * damping * w]]) for w in wn]
    A = np.zeros((2 * modes, 2 * modes))
    for i, blk in enumerate(blocks):
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = blk
    shapes_in = rng.standard_normal((modes, m))
    shapes_out = rng.standard_normal((p, modes))
    B = np.zeros((2 * modes, m))
    B[1::2] = shapes_in
    C = np.zeros((p, 2 * modes))
    C[:, 1::2] = shapes_out
    return hk.StateSpace(A, B, C)
