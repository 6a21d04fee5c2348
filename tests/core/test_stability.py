"""The one stability predicate and its one error, as every entry point of the core uses them."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk
from hankelid._stability import check_margin, is_stable, stable_poles

UNSTABLE_D = hk.StateSpace(np.diag([0.5, -1.25]), np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
UNSTABLE_C = hk.StateSpace(np.diag([-1.0, 0.25]), np.ones((2, 1)), np.ones((1, 2)))


@pytest.mark.parametrize(
    ("call", "sys"),
    [
        (lambda s: hk.gramian(s, "c"), UNSTABLE_D),
        (lambda s: hk.gramian(s, "o"), UNSTABLE_C),
        (hk.gramian_factors, UNSTABLE_D),
        (hk.h2_norm, UNSTABLE_C),
        (hk.hinf_norm, UNSTABLE_D),
        (lambda s: hk.empirical_gramian(s, "c", length=50), UNSTABLE_D),
        (lambda s: hk.modal_realization(*s.matrices[:3]), UNSTABLE_D),
    ],
)
def test_every_entry_point_raises_the_one_error_naming_the_worst_pole(call, sys) -> None:
    worst = "-1.25" if sys.is_discrete else "0.25"
    with pytest.raises(hk.UnstableSystemError, match=rf"is not stable: it has a pole {worst}"):
        call(sys)


def test_the_predicate_agrees_with_the_eigenvalues_on_both_sides_of_the_boundary() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        A = rng.standard_normal((4, 4))
        ev = np.linalg.eigvals(A)  # independent of the Schur route the solvers use
        for dt in (None, 1.0):
            sys = hk.StateSpace(A, np.ones((4, 1)), np.ones((1, 4)), dt=dt)
            want = np.max(np.abs(ev)) < 1 if dt else np.max(ev.real) < 0
            assert sys.is_stable() == want == is_stable(ev, dt is not None)
    assert list(stable_poles([0.999, 1.0, 1j], discrete=True)) == [True, False, False]
    assert list(stable_poles([0.999], discrete=True, margin=0.01)) == [False]


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), True, "1e-8"])
def test_margin_validation(bad) -> None:
    with pytest.raises(ValueError, match="offset"):
        check_margin(bad)
    with pytest.raises(ValueError, match="offset"):
        hk.hsv(hk.random_stable(3, seed=0), offset=bad)
