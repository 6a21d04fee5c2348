"""Stability: the one predicate, its margin and its one error.

A continuous-time pole is stable when `Re(s) < -margin`, a discrete-time one when
`|z| < 1 - margin`.  The Gramians, norms, Hankel singular values, balanced truncation, the
stable/unstable split, the empirical estimators, the modal realization and the torch
adapters all ask this question here, so that they agree on the boundary and raise the same
[`UnstableSystemError`][hankelid.UnstableSystemError] with the same message.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MARGIN",
    "UnstableSystemError",
    "absolute_margin",
    "check_margin",
    "is_stable",
    "require_stable",
    "stable_poles",
    "unstable_error",
]

#: Margin used where poles are *classified* (stable part vs. unstable part): ``hsv``,
#: ``balanced_truncation`` and ``stable_unstable_split``.  Where a stable system is
#: *required* (a Gramian or a norm exists), the margin is 0.
DEFAULT_MARGIN = 1e-8

_SPLIT_HINT = (
    "use hsv()/balanced_truncation(), which split off the unstable part, or "
    "hankelid.decomposition.stable_unstable_split()"
)


class UnstableSystemError(ValueError):
    """Raised where a stable system is required (a Gramian or norm does not exist)."""


def check_margin(offset: Any) -> float:
    """Validate a stability margin (the `offset` argument): a finite real number `>= 0`."""
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or not np.isfinite(offset):
        raise ValueError(f"offset must be a finite real number >= 0, got {offset!r}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset!r}")
    return float(offset)


def absolute_margin(poles: Any, discrete: bool, offset: float) -> float:
    """The classification margin `offset` in absolute terms.

    Discrete time: `offset` itself (the unit circle sets the scale).  Continuous time:
    `offset` times the spectral radius, so that rescaling time (`A -> c A`) does not
    change which poles count as stable -- an absolute 1e-8 would call every pole of
    `1e-100 * A` unstable.

    Examples
    --------
    >>> from hankelid._stability import absolute_margin
    >>> absolute_margin([-1e-100, -2e-100], discrete=False, offset=1e-8)
    2e-108
    >>> absolute_margin([0.5], discrete=True, offset=1e-8)
    1e-08
    """
    poles = np.asarray(poles)
    if discrete or poles.size == 0:
        return float(offset)
    return float(offset) * float(np.max(np.abs(poles)))


def stable_poles(poles: Any, discrete: bool, margin: float = 0.0) -> np.ndarray:
    """Elementwise: which of `poles` lie strictly inside the stability region (less `margin`).

    Examples
    --------
    >>> from hankelid._stability import stable_poles
    >>> stable_poles([-1.0, 0.0, 1j], discrete=False)
    array([ True, False, False])
    >>> stable_poles([0.5, 1.0, -0.999], discrete=True, margin=0.01)
    array([ True, False, False])
    """
    poles = np.asarray(poles)
    if discrete:
        return np.abs(poles) < 1.0 - margin
    return np.real(poles) < -margin


def is_stable(poles: Any, discrete: bool, margin: float = 0.0) -> bool:
    """`True` when every pole is stable (see [`stable_poles`][hankelid._stability.stable_poles]).

    Examples
    --------
    >>> from hankelid._stability import is_stable
    >>> is_stable([0.5, -0.9], discrete=True), is_stable([-1.0, 1e-3], discrete=False)
    (True, False)
    """
    return bool(np.all(stable_poles(poles, discrete, margin)))


def unstable_error(
    what: str, poles: Any, *, discrete: bool, n: int | None = None, hint: str | None = None
) -> UnstableSystemError:
    """The error for `what` needing a stable system: names the worst pole and what to do.

    Parameters
    ----------
    what : str
        The operation that needs stability (`"gramian"`, `"h2_norm"` ...).
    poles : array_like
        The system's poles (or, in discrete time, their moduli).
    discrete : bool
        Time domain of the poles.
    n : int, optional
        State dimension, quoted in the message.
    hint : str, optional
        What the caller can do instead (default: split off the unstable part).

    Examples
    --------
    >>> from hankelid._stability import unstable_error
    >>> print(unstable_error("gramian", [0.5, 1.5], discrete=True, n=2))
    gramian needs a stable system (all poles inside the unit circle |z| < 1), but this
    discrete-time system (n=2) is not stable: it has a pole 1.5 of modulus |z| = 1.5 >= 1; ...
    """
    poles = np.asarray(poles)
    if discrete:
        worst = poles[np.argmax(np.abs(poles))]
        where = f"a pole {worst:.4g} of modulus |z| = {abs(worst):.4g} >= 1"
        region = "inside the unit circle |z| < 1"
    else:
        worst = poles[np.argmax(np.real(poles))]
        where = f"a pole {worst:.4g} with Re(s) = {np.real(worst):.4g} >= 0"
        region = "in the open left half-plane Re(s) < 0"
    domain = "discrete" if discrete else "continuous"
    size = "" if n is None else f" (n={n})"
    return UnstableSystemError(
        f"{what} needs a stable system (all poles {region}), but this {domain}-time system{size} "
        f"is not stable: it has {where}; {hint or _SPLIT_HINT}"
    )


def require_stable(
    what: str, poles: Any, *, discrete: bool, n: int | None = None, hint: str | None = None
) -> None:
    """Raise [`unstable_error`][hankelid._stability.unstable_error] unless every pole is stable.

    Examples
    --------
    >>> from hankelid._stability import require_stable
    >>> require_stable("h2_norm", [-1.0, -2.0], discrete=False)
    >>> require_stable("h2_norm", [-1.0, 2.0], discrete=False)
    Traceback (most recent call last):
    ...
    hankelid._stability.UnstableSystemError: h2_norm needs a stable system ...
    """
    if not is_stable(poles, discrete):
        raise unstable_error(what, poles, discrete=discrete, n=n, hint=hint)
