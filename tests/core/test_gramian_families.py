"""Gramian factors, HSVs and the balanced-truncation bound on systems that are hard for Hammarling's method.

Families (hypothesis strategies, both time domains): repeated eigenvalues behind a random
similarity transform, Jordan blocks, masked ``B``/``C``, uncontrollable and unobservable
modes, near-boundary poles; python-control's ``rss``/``drss`` (which repeat poles and mask
``B``/``C``) over fixed seeds as a second, independent generator.

References: SciPy's ``solve_continuous_lyapunov``/``solve_discrete_lyapunov`` for the
Gramians (forward error, with the tolerance widened only by the Kronecker condition number
of the equation), the singular values of a long block Hankel matrix of Markov parameters for
the HSVs (continuous systems via the Tustin map, which keeps the HSVs), and ``hk.hinf_norm``
of the error system for ``sigma_{r+1} <= ||G - G_r||_inf <= 2 sum_{i>r} sigma_i``.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

import hankelid as hk
from hankelid import _lyapunov
from hankelid._lyapunov_blocked import factor_from_schur, factored_residual

control = pytest.importorskip("control")

EPS = np.finfo(float).eps
FAMILIES = ("repeated", "jordan", "masked", "uncontrollable", "unobservable", "near_boundary")
#: Examples actually checked per family and kind, reported by the slow test.
CHECKED: Counter = Counter()


# ----------------------------------------------------------------------------- generators
def _real_pole(rng: np.random.Generator, discrete: bool) -> float:
    return float(rng.uniform(-0.8, 0.8) if discrete else -rng.uniform(0.3, 2.0))


def _pair_block(rng: np.random.Generator, discrete: bool) -> np.ndarray:
    if discrete:
        r, th = rng.uniform(0.1, 0.8), rng.uniform(0.2, 2.9)
        a, b = r * np.cos(th), r * np.sin(th)
    else:
        a, b = -rng.uniform(0.3, 2.0), rng.uniform(0.1, 1.0)
    return np.array([[a, b], [-b, a]])


def _diagonal_part(
    rng: np.random.Generator, n: int, discrete: bool, *, repeats: bool, jordan: bool
) -> np.ndarray:
    """Real block-diagonal matrix of order ``n``: 1x1 and 2x2 (complex pair) blocks, each
    repeated up to three times (``repeats``), optionally coupled into Jordan chains."""
    blocks: list[np.ndarray] = []
    size = 0
    while size < n:
        base = _pair_block(rng, discrete) if (n - size >= 2 and rng.random() < 0.4) else None
        if base is None:
            base = np.array([[_real_pole(rng, discrete)]])
        k = base.shape[0]
        times = int(rng.integers(1, 4)) if repeats else 1
        times = max(1, min(times, (n - size) // k))
        if jordan and times > 1:
            J = np.kron(np.eye(times), base)
            J += np.kron(np.diag(rng.uniform(0.5, 1.5, times - 1), 1), np.eye(k))
            blocks.append(J)
        else:
            blocks.extend([base] * times)
        size += k * times
    return sla.block_diag(*blocks)


def _similarity(rng: np.random.Generator, n: int, log_cond: float) -> np.ndarray:
    Q1, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return Q1 @ np.diag(np.logspace(0.0, log_cond, n)) @ Q2


def family_system(family: str, n: int, m: int, p: int, discrete: bool, seed: int) -> hk.StateSpace:
    rng = np.random.default_rng(seed)
    log_cond = float(rng.uniform(0.0, 1.5))
    S = _similarity(rng, n, log_cond)
    Si = np.linalg.inv(S)
    B = rng.standard_normal((n, m))
    C = rng.standard_normal((p, n))
    if family in ("repeated", "masked"):
        D = _diagonal_part(rng, n, discrete, repeats=True, jordan=False)
    elif family == "jordan":
        D = _diagonal_part(rng, n, discrete, repeats=True, jordan=True)
    elif family == "near_boundary":
        D = _diagonal_part(rng, n, discrete, repeats=rng.random() < 0.5, jordan=False)
        gap = 10.0 ** rng.uniform(-3, -2)
        D[0, :] = 0.0
        D[:, 0] = 0.0
        D[0, 0] = (1.0 - gap) * (1 if rng.random() < 0.5 else -1) if discrete else -gap
    else:  # uncontrollable / unobservable: block triangular, B or C blind to one block
        k = int(rng.integers(1, n))
        D = sla.block_diag(
            _diagonal_part(rng, k, discrete, repeats=True, jordan=False),
            _diagonal_part(rng, n - k, discrete, repeats=True, jordan=False),
        )
        D[:k, k:] = rng.standard_normal((k, n - k))
        if family == "uncontrollable":
            B[k:] = 0.0  # the modes of D[k:, k:] cannot be reached
        else:
            C[:, :k] = 0.0  # the modes of D[:k, :k] cannot be seen
    B, C = S @ B, C @ Si
    if family == "masked" or (family not in ("uncontrollable", "unobservable") and rng.random() < 0.3):
        B = np.where(rng.random(B.shape) < 0.5, 0.0, B)  # as rss/drss do, in the final coordinates
        C = np.where(rng.random(C.shape) < 0.5, 0.0, C)
    return hk.StateSpace(S @ D @ Si, B, C, dt=1.0 if discrete else None)


@st.composite
def family_systems(draw, families=FAMILIES, max_n: int = 9):
    family = draw(st.sampled_from(families))
    n = draw(st.integers(2, max_n))
    m = draw(st.integers(1, 3))
    p = draw(st.integers(1, 3))
    discrete = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return family, family_system(family, n, m, p, discrete, seed)


def control_system(seed: int, discrete: bool, max_n: int = 10) -> hk.StateSpace:
    """python-control's ``rss``/``drss`` (global NumPy seed), discrete poles within 0.9."""
    rng = np.random.default_rng(seed)
    n, m, p = int(rng.integers(2, max_n + 1)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    np.random.seed(seed)  # noqa: NPY002 - python-control draws from the global state
    s = control.drss(n, p, m) if discrete else control.rss(n, p, m)
    A, B, C = (np.asarray(x, dtype=float) for x in (s.A, s.B, s.C))
    if discrete:
        A = A * min(1.0, 0.9 / max(np.abs(np.linalg.eigvals(A)).max(), 1e-300))
    return hk.StateSpace(A, B, C, dt=1.0 if discrete else None)


# ----------------------------------------------------------------------------- checks
def _reference_gramian(sys: hk.StateSpace, kind: str) -> np.ndarray:
    A, B, C, _ = sys.matrices
    At, F = (A, B) if kind == "c" else (A.T, C.T)
    if sys.is_discrete:
        return sla.solve_discrete_lyapunov(At, F @ F.T)
    return sla.solve_continuous_lyapunov(At, -F @ F.T)


def _condition(sys: hk.StateSpace) -> float:
    """Kronecker condition number of the Lyapunov/Stein operator (small n only)."""
    A = sys.A
    n = sys.n
    K = np.eye(n * n) - np.kron(A, A) if sys.is_discrete else np.kron(A, np.eye(n)) + np.kron(np.eye(n), A)
    s = np.linalg.svd(K, compute_uv=False)
    return float(s[0] / s[-1])


def check_factors(sys: hk.StateSpace) -> None:
    """Backward error of the factored equation and forward error against SciPy."""
    A, B, C, _ = sys.matrices
    for kind in ("c", "o"):
        L = hk.gramian(sys, kind, factor=True)
        assert L.shape == (sys.n, sys.n) and np.all(np.isfinite(L))
        X = L @ L.T
        At, F = (A, B) if kind == "c" else (A.T, C.T)
        R = At @ X @ At.T - X + F @ F.T if sys.is_discrete else At @ X + X @ At.T + F @ F.T
        scale = (np.linalg.norm(At) ** 2 + 1) * np.linalg.norm(X) + np.linalg.norm(F) ** 2
        if scale == 0.0:
            continue
        assert np.linalg.norm(R) <= 1e-12 * scale, f"{kind}: backward error {np.linalg.norm(R) / scale:.2e}"
        W = _reference_gramian(sys, kind)
        nw = np.linalg.norm(W)
        err = np.linalg.norm(X - W) / nw if nw > 0 else np.linalg.norm(X)
        # SciPy's own error can exceed 1e-10 on ill-conditioned equations (5e-8 measured on
        # drss systems); only then the tolerance grows with the condition number.
        tol_fwd = 1e-10 if err <= 1e-10 else max(1e-10, 100 * EPS * _condition(sys))
        assert err <= tol_fwd, f"{kind}: forward error {err:.2e} > {tol_fwd:.1e} against SciPy"


def _noise_floor(sys: hk.StateSpace) -> float:
    """Rounding level of the HSVs: ``eps sqrt(||Wc|| ||Wo||)`` (they are ``sqrt(eig(Wc Wo))``).

    When every mode is uncontrollable or unobservable the HSVs are this noise, and
    relative comparisons with sigma_1 say nothing.
    """
    wc = np.linalg.norm(_reference_gramian(sys, "c"), 2)
    wo = np.linalg.norm(_reference_gramian(sys, "o"), 2)
    return float(EPS * np.sqrt(wc * wo))


def _hankel_length(rho: float) -> int:
    return int(np.ceil(np.log(1e-17) / np.log(rho))) + 30 if rho > 0 else 30


def check_definition(sys: hk.StateSpace, max_blocks: int = 400) -> bool:
    """HSVs within 1e-8 sigma_1 of the singular values of the block Hankel matrix.

    Returns False (nothing checked) when the impulse response decays too slowly for a
    block Hankel matrix of ``max_blocks`` blocks.
    """
    sd = sys
    if not sys.is_discrete:
        mod = np.abs(np.linalg.eigvals(sys.A))
        sd = hk.c2d(sys, 2.0 / np.sqrt(mod.min() * mod.max()), "tustin")
    rho = float(np.abs(np.linalg.eigvals(sd.A)).max())
    N = _hankel_length(rho)
    if N > max_blocks:
        return False
    H = hk.hankel_matrix(hk.markov_parameters(sd, 2 * N), N, N)
    ref = np.linalg.svd(H, compute_uv=False)[: sys.n]
    sig = hk.hsv(sys)
    assert sig.shape == (sys.n,) and np.all(sig[:-1] >= sig[1:])
    s1 = max(ref[0], 1e-300)
    err = np.max(np.abs(sig - ref))
    assert err <= 1e-8 * s1 + 100 * _noise_floor(sys), f"HSV error {err / s1:.2e} sigma_1"
    return True


def check_bound(sys: hk.StateSpace, r: int | None = None) -> bool:
    """``sigma_{r+1} <= ||G - G_r||_inf <= error_bound <= 2 sum_{i>r} sigma_i``."""
    sig = hk.hsv(sys)
    nmin = int(np.sum(sig > 1e-7 * sig[0])) if sig[0] > 1e3 * _noise_floor(sys) else 0
    if nmin < 2:
        return False
    r = int(r if r is not None else nmin // 2)
    r = min(max(r, 1), nmin - 1)
    red = hk.balanced_truncation(sys, order=r)
    err = hk.hinf_norm(sys - red.system)
    slack = 1e-9 * sig[0]
    assert err >= sig[r] * (1 - 1e-6) - slack, f"r={r}: error {err:.3e} below sigma_(r+1) {sig[r]:.3e}"
    bound = red.error_bound
    assert err <= bound * (1 + 1e-6) + slack, f"r={r}: error {err:.3e} > bound {bound:.3e}"
    assert red.error_bound <= 2 * np.sum(sig[r:]) * (1 + 1e-12) + slack
    return True


def check_all(name: str, sys: hk.StateSpace, r: int | None = None, *, definition: bool = True) -> None:
    check_factors(sys)
    CHECKED[(name, "factors")] += 1
    if definition and check_definition(sys):
        CHECKED[(name, "definition")] += 1
    if check_bound(sys, r):
        CHECKED[(name, "bound")] += 1


# ----------------------------------------------------------------------------- the issue's cases
def test_issue_reproducer_drss_repeated_pole() -> None:
    np.random.seed(2)  # noqa: NPY002 - python-control draws from the global state
    s = control.drss(34, 1, 1)
    A = np.asarray(s.A)
    A *= 0.94 / max(abs(np.linalg.eigvals(A)))
    sys = hk.StateSpace(A, np.asarray(s.B), np.asarray(s.C), dt=1.0)
    check_factors(sys)
    assert check_definition(sys, max_blocks=800)
    assert check_bound(sys, 11)


def test_issue_reproducer_rss_repeated_pole() -> None:
    np.random.seed(8)  # noqa: NPY002 - python-control draws from the global state
    s = control.rss(29, 1, 1)
    sys = hk.StateSpace(np.asarray(s.A), np.asarray(s.B), np.asarray(s.C))
    check_factors(sys)


@pytest.mark.parametrize("seed", range(20))
def test_repeated_eigenvalue_single_input(seed: int) -> None:
    # A = T diag(lam) T^{-1} with one eigenvalue three times: LAPACK leaves two of the three
    # copies as a 2x2 block with an O(eps) imaginary part, whose 2x2 factor block is
    # singular (the fault of the real-arithmetic 2x2 step: 0.12 relative error at seed 15).
    rng = np.random.default_rng(seed)
    n = 12
    lam = -rng.uniform(0.1, 3, n)
    lam[1] = lam[2] = lam[0]
    T = rng.standard_normal((n, n))
    A = T @ np.diag(lam) @ np.linalg.inv(T)
    sys = hk.StateSpace(A, rng.standard_normal((n, 1)), rng.standard_normal((1, n)))
    Wc = _reference_gramian(sys, "c")
    L = hk.gramian(sys, "c", factor=True)
    assert np.linalg.norm(L @ L.T - Wc) <= 1e-10 * np.linalg.norm(Wc)
    sig = hk.hsv(sys)
    assert np.all(sig[-2:] <= 1e-7 * sig[0])  # two uncontrollable modes


# ----------------------------------------------------------------------------- families
@settings(max_examples=10, deadline=None)
@given(case=family_systems())
def test_families(case) -> None:
    family, sys = case
    check_all(family, sys, definition=family != "near_boundary")


@pytest.mark.parametrize("discrete", [False, True], ids=["rss", "drss"])
@pytest.mark.parametrize("seed", range(4))
def test_python_control_generators(seed: int, discrete: bool) -> None:
    check_all("rss/drss", control_system(seed, discrete))


def test_zero_input_gives_zero_factor_and_hsvs() -> None:
    sys = family_system("masked", 5, 2, 2, True, 0)
    sys = hk.StateSpace(sys.A, np.zeros((5, 2)), sys.C, dt=1.0)
    assert np.all(hk.gramian(sys, "c", factor=True) == 0.0)
    assert np.all(hk.hsv(sys) == 0.0)


# ----------------------------------------------------------------------------- solver pieces
@pytest.mark.parametrize("discrete", [False, True])
def test_blocked_solver_crosses_block_boundaries(discrete: bool) -> None:
    # n well above the leaf size, so the Sylvester/Stein-Sylvester recursion runs
    sys = hk.random_stable(150, 2, 1, dt=1.0 if discrete else None, seed=4)
    T, Z = sla.schur(sys.A, output="real")
    B = Z.T @ sys.B
    F = factor_from_schur(T, B, discrete=discrete)
    X = sla.solve_discrete_lyapunov(T, B @ B.T) if discrete else sla.solve_continuous_lyapunov(T, -B @ B.T)
    assert np.linalg.norm(F @ F.T - X) <= 1e-11 * np.linalg.norm(X)
    assert factored_residual(T, F, B, discrete=discrete) < 1e-14


@pytest.mark.parametrize("discrete", [False, True])
def test_factored_residual_sees_a_wrong_factor(discrete: bool) -> None:
    sys = hk.random_stable(20, 1, 1, dt=1.0 if discrete else None, seed=1)
    T, Z = sla.schur(sys.A, output="real")
    B = Z.T @ sys.B
    F = factor_from_schur(T, B, discrete=discrete)
    G = F.copy()
    G[:, 0] *= 1 + 1e-6
    assert factored_residual(T, F, B, discrete=discrete) < 1e-14
    bad = factored_residual(T, G, B, discrete=discrete)
    X = G @ G.T
    R = T @ X @ T.T - X + B @ B.T if discrete else T @ X + X @ T.T + B @ B.T
    scale = (np.linalg.norm(T) ** 2 + 1.0 if discrete else 2 * np.linalg.norm(T)) * np.linalg.norm(G) ** 2
    exact = np.linalg.norm(R) / (scale + np.linalg.norm(B) ** 2)
    assert exact / 5 <= bad <= 5 * exact and bad > 1e-12


@pytest.mark.parametrize("discrete", [False, True])
def test_fallback_runs_when_the_residual_is_large(monkeypatch, discrete: bool) -> None:
    sys = family_system("repeated", 8, 1, 1, discrete, 3)
    monkeypatch.setattr(_lyapunov, "RESIDUAL_RTOL", 0.0)  # every residual counts as large
    with pytest.warns(RuntimeWarning, match="residual"):
        L = hk.gramian(sys, "c", factor=True)
    W = _reference_gramian(sys, "c")
    assert np.linalg.norm(L @ L.T - W) <= 1e-10 * np.linalg.norm(W)


# ----------------------------------------------------------------------------- many examples
@pytest.mark.slow
def test_families_many_examples() -> None:
    """>= 10,000 bound examples across the families and python-control's generators."""
    CHECKED.clear()
    rng = np.random.default_rng(12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback may fail silently
        for i in range(12_000):
            # family cycles fastest, then the time domain, then whether the definition is
            # checked (it needs a long Hankel matrix), so every family gets all four pairings
            family = FAMILIES[i % len(FAMILIES)]
            discrete = bool((i // len(FAMILIES)) % 2)
            definition = family != "near_boundary" and (i // (2 * len(FAMILIES))) % 2 == 0
            n, m, p = int(rng.integers(2, 10)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
            sys = family_system(family, n, m, p, discrete, int(rng.integers(2**32)))
            check_all(f"{family}-{'dt' if discrete else 'ct'}", sys, definition=definition)
        for seed in range(400):
            for discrete in (False, True):
                check_all("drss" if discrete else "rss", control_system(seed, discrete))
    bound = sum(v for (_, what), v in CHECKED.items() if what == "bound")
    print("\nchecked:", dict(sorted(CHECKED.items())), "bound examples:", bound)
    assert bound >= 10_000
