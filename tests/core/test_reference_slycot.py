"""Agreement with python-control (``hsvd``, ``balred``) and SLICOT through slycot.

State bases differ between implementations, so reduced models are compared through their
transfer functions at frequency points.  Discrete time is checked against SLICOT directly
(``ab09ad``/``ab09nd``/``ab09bd`` with ``dico="D"``) because python-control's ``balred``
treats a discrete system as continuous.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hankelid as hk

from ._systems import with_poles

control = pytest.importorskip("control")
slycot = pytest.importorskip("slycot")


def _tf(sys: hk.StateSpace, w: np.ndarray) -> np.ndarray:
    return sys.frequency_response(w)


def _freqs(sys: hk.StateSpace) -> np.ndarray:
    if sys.is_discrete:
        return np.linspace(0.0, np.pi / sys.dt, 9)
    return np.concatenate([[0.0], np.geomspace(0.05, 50.0, 8)])


def _close(a: hk.StateSpace, b: hk.StateSpace, rtol: float = 1e-6) -> bool:
    w = _freqs(a)
    Ga, Gb = _tf(a, w), _tf(b, w)
    return bool(np.max(np.abs(Ga - Gb)) <= rtol * max(1.0, np.max(np.abs(Gb))))


def _slycot_system(n, A, B, C, D, dt):
    return hk.StateSpace(A[:n, :n], B[:n], C[:, :n], D, dt)


# --------------------------------------------------------------------------- python-control
@pytest.mark.parametrize("seed", range(4))
def test_hsvd_real_parts(seed) -> None:
    sys = hk.random_stable(5 + seed, 1 + seed % 2, 1 + seed % 3, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.sort(np.real(control.hsvd(sys.to_control())))[::-1]
    sig = hk.hsv(sys)
    k = int(np.sum(ref > 1e-6 * ref[0]))
    assert np.allclose(sig[:k], ref[:k], rtol=1e-6)


@pytest.mark.parametrize(
    ("seed", "order", "method"),
    [(0, 2, "truncate"), (1, 3, "truncate"), (2, 4, "matchdc"), (3, 3, "matchdc")],
)
def test_balred_transfer_functions(seed, order, method) -> None:
    sys = hk.random_stable(8, 2, 2, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = hk.from_control(control.balred(sys.to_control(), order, method=method))
    red = hk.balanced_truncation(sys, order, match_dc=(method == "matchdc"))
    assert ref.n == red.order == order
    assert _close(red.system, ref)


def test_balred_unstable_continuous() -> None:
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    A = Q @ np.diag([0.5, -1.0, -2.0, -3.0, -5.0, -8.0]) @ Q.T
    sys = hk.StateSpace(A, rng.standard_normal((6, 1)), rng.standard_normal((1, 6)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = hk.from_control(control.balred(sys.to_control(), 3))
    red = hk.balanced_truncation(sys, 3)
    w = np.geomspace(0.05, 50, 8)  # avoid the unstable pole region near 0.5 only by magnitude check
    assert np.allclose(_tf(red.system, w), _tf(ref, w), rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- SLICOT directly
@pytest.mark.parametrize("dt", [None, 1.0])
@pytest.mark.parametrize(("job", "method"), [("B", "sr"), ("N", "bfsr")])
@pytest.mark.parametrize("seed", range(3))
def test_ab09ad(dt, job, method, seed) -> None:
    sys = hk.random_stable(9, 2, 2, dt=dt, seed=seed)
    dico = "D" if dt else "C"
    A, B, C, D = (np.array(x) for x in sys.matrices)
    nr, Ar, Br, Cr, hsv = slycot.ab09ad(dico, job, "N", sys.n, sys.m, sys.p, A, B, C, nr=4)
    assert np.allclose(hk.hsv(sys), hsv, rtol=1e-8, atol=1e-12 * hsv[0])
    ref = _slycot_system(nr, Ar, Br, Cr, D, dt)
    red = hk.balanced_truncation(sys, 4, method=method)
    assert _close(red.system, ref)


def _unstable(dt):
    lam = [1.2, 0.8, 0.5, -0.3, 0.2, 0.1] if dt else [0.3, -0.5, -1.0, -2.0, -4.0, -6.0]
    return with_poles(lam, 2, 2, seed=7, dt=dt, feedthrough=True)


def _ab09nd(sys, nr):
    """SLICOT AB09ND: square-root SPA of the alpha-stable part, the rest kept whole.

    (AB09BD, the stable-only variant, corrupts the heap through slycot 0.6/0.7 with
    dico='D', so AB09ND -- which covers stable systems too -- is used throughout.)
    """
    dico = "D" if sys.is_discrete else "C"
    alpha = 1.0 - 1e-8 if sys.is_discrete else -1e-8
    A, B, C, D = (np.asfortranarray(np.array(x)) for x in sys.matrices)
    nr, Ar, Br, Cr, Dr, ns, hsv = slycot.ab09nd(
        dico, "B", "N", sys.n, sys.m, sys.p, A, B, C, D, alpha=alpha, nr=nr
    )
    return hk.StateSpace(Ar[:nr, :nr], Br[:nr], Cr[:, :nr], Dr, sys.dt), ns, hsv


@pytest.mark.parametrize("seed", range(3))
def test_ab09nd_spa_continuous(seed) -> None:
    sys = hk.random_stable(8, 2, 1, seed=seed, feedthrough=True)
    ref, ns, hsv = _ab09nd(sys, 3)
    red = hk.balanced_truncation(sys, 3, match_dc=True)
    assert ns == 8 and np.allclose(hk.hsv(sys), hsv, rtol=1e-8)
    assert _close(red.system, ref)
    assert np.allclose(red.system.dcgain(), sys.dcgain())


def test_ab09nd_unstable_continuous() -> None:
    sys = _unstable(None)
    ref, ns, hsv = _ab09nd(sys, 3)
    red = hk.balanced_truncation(sys, 3, match_dc=True)
    assert red.order == ref.n == 3 and red.n_unstable == 6 - ns == 1
    assert np.allclose(hk.hsv(sys)[1:], hsv[:ns], rtol=1e-8)
    w = np.geomspace(0.05, 50, 8)
    assert np.allclose(_tf(red.system, w), _tf(ref, w), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("unstable", [False, True])
def test_ab09nd_discrete(unstable) -> None:
    """dico='D': same HSVs, order and unstable part as SLICOT.

    The transfer functions are *not* compared: the model slycot returns for discrete-time
    SPA does not reproduce ``G(1)`` (the defining property of singular perturbation,
    ``Ar = A11 + A12 (I - A22)^{-1} A21`` ...), whereas ours does; both satisfy the bound.
    """
    from hankelid.decomposition import stable_unstable_split

    sys = _unstable(1.0) if unstable else hk.random_stable(8, 2, 1, dt=1.0, seed=4, feedthrough=True)
    nu = 1 if unstable else 0
    ref, ns, hsv = _ab09nd(sys, 3)
    red = hk.balanced_truncation(sys, 3, match_dc=True)
    assert ref.n == red.order == 3 and sys.n - ns == nu == red.n_unstable
    assert np.allclose(hk.hsv(sys)[nu:], hsv[:ns], rtol=1e-8)
    ref_u = np.sort_complex(ref.poles()[np.abs(ref.poles()) >= 1])
    ours_u = np.sort_complex(red.system.poles()[np.abs(red.system.poles()) >= 1])
    assert np.allclose(ref_u, ours_u)
    if unstable:
        parts, mine = stable_unstable_split(sys), stable_unstable_split(red.system)
        stable, reduced = parts.stable, mine.stable
    else:
        stable, reduced = sys, red.system
    assert np.allclose(reduced.dcgain(), stable.dcgain(), rtol=1e-9)
    assert hk.hinf_norm(stable - reduced) <= red.error_bound * (1 + 1e-8)


def test_hsv_more_accurate_than_ab09ad_on_an_ill_conditioned_system() -> None:
    """Against the block-Hankel definition, hankelid's small HSVs stay within 1e-8 sigma_1."""
    import scipy.linalg as sla

    rng = np.random.default_rng(29)
    base = hk.random_stable(14, 1, 1, dt=1.0, seed=29, pole_radius=(0.05, 0.85))
    U, _ = np.linalg.qr(rng.standard_normal((14, 14)))
    S = U @ np.diag(np.logspace(0, 4, 14))
    sys = base.transform(S)
    h = hk.markov_parameters(sys, 801)[1:, 0, 0]
    H = sla.hankel(h[:400], h[399:799])
    ref = sla.svd(H, compute_uv=False)[:14]
    ours = hk.hsv(sys)
    assert np.max(np.abs(ours - ref)) <= 1e-8 * ref[0]
