"""The adapter's option vocabulary, defined and checked once: initializations, parametrizations,
Gramian kinds, and `HankelInitOptions`, the Hankel initialization's settings.

`HankelInitOptions` travels unchanged from [`HRMConfig`][hankelid_torch.hrm.config.HRMConfig]
(`HRMConfig.hankel_options`) through `HRMLayer` and
[`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] to the Hankel-init glue
([`hankel_reduction`][hankelid_torch.init.hankel_reduction]), which hands its estimator
settings to [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation]. Its field
names are the core's (`n_trajectories` as in
[`hankelid.empirical_gramian`][hankelid.empirical.empirical_gramian]); the flat keyword names of
`HRMConfig` and `SSMAdapter` (`hankel_order`, `hankel_gramians`, `hankel_length`,
`hankel_trajectories`) map onto them through `HANKEL_KEYWORDS`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GRAMIANS",
    "HANKEL_KEYWORDS",
    "INITS",
    "PARAMETRIZATIONS",
    "HankelInitOptions",
    "check_choice",
    "check_gate_init",
    "check_positive_int",
    "check_step_range",
    "resolve_parametrization",
]

#: Initializations of an adapter (see `SSMAdapter`).
INITS = ("s4d", "random", "hankel")
#: Parametrizations of an adapter: real diagonal S4D, or real modal form with conjugate pairs.
PARAMETRIZATIONS = ("s4d", "modal")
#: Gramians of the Hankel initialization: closed-form finite-horizon (the default), infinite-horizon
#: Lyapunov, or estimated from random Gaussian inputs.
GRAMIANS = ("horizon", "exact", "empirical")

#: The flat keyword of `HRMConfig` / `SSMAdapter` for each field of `HankelInitOptions`.
HANKEL_KEYWORDS = {
    "hankel_order": "order",
    "hankel_gramians": "gramians",
    "hankel_length": "length",
    "hankel_trajectories": "n_trajectories",
}


def check_choice(name: str, value: object, allowed: tuple) -> None:
    """Raise `ValueError` naming `name` unless `value` is one of `allowed`.

    Examples
    --------
    >>> check_choice("init", "cubic", INITS)
    Traceback (most recent call last):
    ...
    ValueError: init must be one of ('s4d', 'random', 'hankel'), got 'cubic'
    """
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def check_positive_int(name: str, value: object) -> None:
    """Raise `ValueError` naming `name` unless `value` is a positive integer (not a bool).

    Examples
    --------
    >>> check_positive_int("d_state", 0)
    Traceback (most recent call last):
    ...
    ValueError: d_state must be a positive integer, got 0
    """
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_gate_init(value: object) -> None:
    """Raise `ValueError` unless `value` is a finite real number (not a bool): the initial gate.

    A NaN or infinite gate would make every output of the adapted block NaN with no error.

    Examples
    --------
    >>> check_gate_init(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: gate_init must be finite, got nan
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"gate_init must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"gate_init must be finite, got {value!r}")


def check_step_range(dt_min: float, dt_max: float) -> None:
    """Raise `ValueError` unless `0 < dt_min <= dt_max` (the S4D step range; equal bounds fix the step).

    Examples
    --------
    >>> check_step_range(0.2, 0.1)
    Traceback (most recent call last):
    ...
    ValueError: need 0 < dt_min <= dt_max, got dt_min=0.2, dt_max=0.1
    """
    if not 0 < dt_min <= dt_max:
        raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")


def resolve_parametrization(init: str, parametrization: str | None) -> str:
    """Check `init` and `parametrization` together and return the parametrization to use.

    The default is `"modal"` for `init="hankel"` (a balanced truncation has real and complex
    poles that only the modal form holds exactly), else `"s4d"`.

    Examples
    --------
    >>> resolve_parametrization("hankel", None), resolve_parametrization("random", None)
    ('modal', 's4d')
    >>> resolve_parametrization("hankel", "s4d")
    Traceback (most recent call last):
    ...
    ValueError: init='hankel' loads a balanced truncation (real and complex poles), which only ...
    """
    check_choice("init", init, INITS)
    check_choice("parametrization", parametrization, (None, *PARAMETRIZATIONS))
    if parametrization is None:
        return "modal" if init == "hankel" else "s4d"
    if init == "hankel" and parametrization != "modal":
        raise ValueError(
            "init='hankel' loads a balanced truncation (real and complex poles), which only "
            "parametrization='modal' holds exactly"
        )
    return parametrization


@dataclass(frozen=True)
class HankelInitOptions:
    """Settings of the Hankel initialization (frozen: one object is shared by every adapter of a config).

    Parameters
    ----------
    order : int, optional
        Order `N` of the richer system that is reduced (default `4 d_state`).
    gramians : {"horizon", "exact", "empirical"}
        `"horizon"` (default): the Gramians of the richer system over the finite horizon `length`
        in closed form (the mean of the `"empirical"` estimate, without its sampling noise);
        `"exact"`: its infinite-horizon Lyapunov Gramians; `"empirical"`: Gramians estimated
        from random Gaussian inputs.
    length : int
        The horizon of the `"horizon"` and `"empirical"` Gramians (the length of the empirical
        estimator's random input sequences).
    n_trajectories : int, optional
        Number of those sequences (default: the estimator's, `max(256, 2 N)`; `"empirical"` only).

    Raises
    ------
    ValueError
        For an unknown `gramians` or a non-positive size (named by its `HRMConfig` keyword).

    Examples
    --------
    >>> opts = HankelInitOptions.from_keywords(hankel_gramians="exact", hankel_trajectories=64)
    >>> opts
    HankelInitOptions(order=None, gramians='exact', length=1024, n_trajectories=64)
    >>> opts.estimator_options(seed=3)
    {}
    >>> HankelInitOptions().estimator_options(seed=3)
    {'length': 1024}
    >>> HankelInitOptions(gramians="empirical", n_trajectories=64).estimator_options(seed=3)
    {'inputs': 'gaussian', 'length': 1024, 'seed': 3, 'n_trajectories': 64}
    """

    order: int | None = None
    gramians: str = "horizon"
    length: int = 1024
    n_trajectories: int | None = None

    def __post_init__(self) -> None:
        check_choice("hankel_gramians", self.gramians, GRAMIANS)
        check_positive_int("hankel_length", self.length)
        for keyword, value in (("hankel_order", self.order), ("hankel_trajectories", self.n_trajectories)):
            if value is not None:
                check_positive_int(keyword, value)

    @classmethod
    def from_keywords(cls, **keywords: Any) -> HankelInitOptions:
        """The options named by the flat keywords of `HANKEL_KEYWORDS` (missing ones: defaults)."""
        unknown = set(keywords) - set(HANKEL_KEYWORDS)
        if unknown:
            raise TypeError(
                f"unknown Hankel-init keywords {sorted(unknown)}; known: {sorted(HANKEL_KEYWORDS)}"
            )
        return cls(**{HANKEL_KEYWORDS[k]: v for k, v in keywords.items()})

    def estimator_options(self, seed: int | None) -> dict[str, Any]:
        """The settings the Gramians are computed with: none for exact Gramians, the horizon for
        `"horizon"`, the empirical estimator's keyword arguments (with `seed`) for `"empirical"`."""
        if self.gramians == "exact":
            return {}
        if self.gramians == "horizon":
            return {"length": int(self.length)}
        options: dict[str, Any] = {"inputs": "gaussian", "length": int(self.length), "seed": int(seed)}
        if self.n_trajectories is not None:
            options["n_trajectories"] = int(self.n_trajectories)
        return options
