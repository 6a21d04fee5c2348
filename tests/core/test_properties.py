"""Property-based tests (hypothesis) over random stable systems in both time domains.

Bounded on purpose (n <= 10, few examples per property) so this file runs in well under a
minute; ``HYPOTHESIS_PROFILE=thorough`` explores more.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import hankelid as hk

RTOL = 1e-6  # slack for the H-infinity norm computation (accurate to ~1e-8)


@st.composite
def systems(draw, min_n: int = 2, max_n: int = 10):
    n = draw(st.integers(min_n, max_n))
    m = draw(st.integers(1, 3))
    p = draw(st.integers(1, 3))
    discrete = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    feedthrough = draw(st.booleans())
    log_cond = draw(st.floats(0.0, 3.0))
    dt = draw(st.sampled_from([0.05, 0.5, 1.0])) if discrete else None
    sys = hk.random_stable(n, m, p, dt=dt, seed=seed, feedthrough=feedthrough, pole_radius=(0.05, 0.9))
    if log_cond > 0:  # hide it behind a non-orthogonal change of basis
        rng = np.random.default_rng(seed + 1)
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        S = U @ np.diag(np.logspace(0, log_cond, n))
        sys = sys.transform(S)
    return sys


def _minimal_order(sig: np.ndarray) -> int:
    return int(np.sum(sig > 1e-9 * sig[0]))


@settings(deadline=None)
@given(sys=systems(), data=st.data())
def test_error_between_hsv_and_bound(sys, data) -> None:
    sig = hk.hsv(sys)
    nmin = _minimal_order(sig)
    if nmin < 2:
        return
    r = data.draw(st.integers(1, nmin - 1))
    match_dc = data.draw(st.booleans())
    method = data.draw(st.sampled_from(["sr", "bfsr"]))
    red = hk.balanced_truncation(sys, r, match_dc=match_dc, method=method)
    assert red.system.is_stable()
    err = hk.hinf_norm(sys - red.system)
    assert sig[r] * (1 - RTOL) <= err
    assert err <= red.error_bound * (1 + RTOL) + 1e-12 * sig[0]
    assert red.error_bound <= 2 * np.sum(sig[r:]) * (1 + 1e-12)


@settings(deadline=None)
@given(sys=systems(), data=st.data())
def test_reduced_hsvs_are_the_leading_ones(sys, data) -> None:
    """Continuous truncation and SPA in both domains return a balanced reduced model.

    (Discrete-time *truncation* is stable but not balanced, so it is not included.)
    """
    sig = hk.hsv(sys)
    nmin = _minimal_order(sig)
    if nmin < 2:
        return
    r = data.draw(st.integers(1, nmin - 1))
    match_dc = True if sys.is_discrete else data.draw(st.booleans())
    red = hk.balanced_truncation(sys, r, match_dc=match_dc)
    assert np.max(np.abs(hk.hsv(red.system) - sig[:r])) <= 1e-8 * sig[0]


@settings(deadline=None)
@given(sys=systems())
def test_gramian_residuals(sys) -> None:
    A, B, C, _ = sys.matrices
    for kind, (M, F) in (("c", (A, B)), ("o", (A.T, C.T))):
        L = hk.gramian(sys, kind, factor=True)
        W = L @ L.T
        R = (M @ W @ M.T - W + F @ F.T) if sys.is_discrete else (M @ W + W @ M.T + F @ F.T)
        scale = 2 * np.linalg.norm(M) * np.linalg.norm(W) + np.linalg.norm(F) ** 2
        assert np.linalg.norm(R) <= 1e-10 * scale


@settings(deadline=None)
@given(sys=systems(), data=st.data())
def test_spa_matches_dc_gain(sys, data) -> None:
    sig = hk.hsv(sys)
    nmin = _minimal_order(sig)
    r = data.draw(st.integers(1, max(1, nmin - 1)))
    red = hk.balanced_truncation(sys, r, match_dc=True, method=data.draw(st.sampled_from(["sr", "bfsr"])))
    g0 = sys.dcgain()
    assert np.allclose(red.system.dcgain(), g0, rtol=1e-7, atol=1e-9 * max(1.0, np.abs(g0).max()))


@settings(deadline=None)
@given(sys=systems())
def test_hsv_invariants(sys) -> None:
    sig = hk.hsv(sys)
    assert np.all(np.isfinite(sig)) and np.all(sig >= 0) and np.all(np.diff(sig) <= 0)
    # sigma_1 <= ||G - D||_inf <= 2 * sum(sigma)  (Hankel norm bounds)
    g = hk.hinf_norm(sys.with_D(np.zeros_like(sys.D)))
    assert sig[0] <= g * (1 + RTOL)
    assert g <= 2 * sig.sum() * (1 + RTOL)
