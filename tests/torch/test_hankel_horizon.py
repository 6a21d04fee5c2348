"""The default Hankel init: closed-form horizon Gramians, checked against the series summed term by term."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hankelid as hk  # noqa: E402
from hankelid_torch import HRMConfig  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402
from hankelid_torch.bridge import to_state_space  # noqa: E402


def series_hsv(sys: hk.StateSpace, length: int) -> np.ndarray:
    A, B, C, _ = sys.matrices
    Wc, Wo, X, Y = np.zeros_like(A), np.zeros_like(A), B.copy(), C.T.copy()
    for _ in range(length):
        Wc += X @ X.T
        Wo += Y @ Y.T
        X, Y = A @ X, A.T @ Y
    return np.sqrt(np.clip(np.sort(np.linalg.eigvals(Wc @ Wo).real)[::-1], 0, None))


def test_default_is_the_horizon_gramians_and_loads_the_truncation():
    assert HRMConfig().hankel_gramians == "horizon"
    ad = SSMAdapter(12, 3, init="hankel", hankel_length=64, dt_max=0.01, seed=0)  # slow poles: L matters
    info = ad.hankel_info
    assert info.gramians == "horizon" and info.options == {"length": 64}
    ref = series_hsv(info.full, 64)
    np.testing.assert_allclose(info.hsv, ref[: info.hsv.size], rtol=1e-8, atol=1e-12 * ref[0])
    # not the infinite-horizon HSVs: the horizon is the point
    assert np.max(np.abs(hk.hsv(info.full)[:3] - ref[:3]) / ref[:3]) > 1e-3
    # the adapter holds the reduced model exactly (kernel = Markov parameters h_{k+1})
    h = hk.markov_parameters(info.reduced, 21)[1:]
    np.testing.assert_allclose(
        ad.kernel(20, include_gate=False).double().detach().numpy(), h, rtol=1e-4, atol=1e-6
    )
    assert to_state_space(ad).n == 3
    assert info.error_bound == pytest.approx(2 * ref[3:].sum(), rel=1e-6)  # distinct HSVs here
