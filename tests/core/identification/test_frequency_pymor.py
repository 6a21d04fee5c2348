"""pyMOR's Loewner framework and AAA as independent references (optional test dependency)."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk

from ._frequency_cases import grid, held_out

pytest.importorskip("pymor")

from pymor.core.logger import set_log_levels
from pymor.reductors.aaa import PAAAReductor
from pymor.reductors.loewner import LoewnerReductor

set_log_levels({"pymor": "WARN"})


def _pymor_response(tf, w: np.ndarray, dt: float | None) -> np.ndarray:
    pts = np.exp(1j * w * dt) if dt else 1j * w
    return np.array([tf.eval_tf(z) for z in pts]).reshape(len(w), *np.shape(tf.eval_tf(pts[0])))


@pytest.mark.parametrize("dt", [None, 0.1])
def test_loewner_pencil_and_model_match_pymor(dt) -> None:
    sys = hk.random_stable(6, 2, 3, dt=dt, seed=51)
    w = grid(sys, 40)[1:-1] if dt else grid(sys, 40)  # keep the real points z = ±1 out of it
    frd = hk.FRData.from_system(sys, w)
    ours = hk.loewner(frd, directions="block")
    K = w.size
    pts = frd.points()
    # The same partition as ours: odd frequencies left, even right, each with its conjugate.
    left = np.r_[np.arange(1, K, 2), K + np.arange(1, K, 2)]
    right = np.r_[np.arange(0, K, 2), K + np.arange(0, K, 2)]
    red = LoewnerReductor(
        np.r_[pts, np.conj(pts)],
        np.concatenate([frd.response, np.conj(frd.response)]),
        partitioning=(left, right),
        conjugate=False,
        mimo_handling="full",
    )
    L, Ls, _, _ = red.loewner_quadruple()
    ref_sv = np.linalg.svd(np.hstack([L, Ls]), compute_uv=False)
    # Our real pencil is a unitary transform of pyMOR's complex one: same singular values.
    np.testing.assert_allclose(ours.singular_values[:6], ref_sv[:6], rtol=1e-9)
    rom = red.reduce(r=6)
    wt = held_out(w)
    ref = _pymor_response(rom.transfer_function, wt, dt)
    mine = ours.system.frequency_response(wt)
    np.testing.assert_allclose(mine, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())


def test_aaa_matches_pymor_on_mimo_data() -> None:
    sys = hk.random_stable(6, 2, 2, seed=52)
    w = grid(sys, 60)
    frd = hk.FRData.from_system(sys, w)
    ours = hk.aaa(frd, tol=1e-10)
    ref_tf = PAAAReductor(1j * w, frd.response.copy()).reduce(tol=1e-10)
    wt = held_out(w)
    ref = _pymor_response(ref_tf, wt, None)
    np.testing.assert_allclose(ours.frequency_response(wt), ref, rtol=1e-6, atol=1e-8 * np.abs(ref).max())
