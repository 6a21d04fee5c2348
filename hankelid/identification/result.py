"""The result of identifying a model from measured data: the model and what the method learned.

Every data-driven method of `hankelid.identification` (subspace, OKID, Loewner, ...) returns an
[`Identification`][hankelid.identification.result.Identification]. It wraps the identified
discrete- or continuous-time [`StateSpace`][hankelid.StateSpace] in `.system`, so that the
functions that take a system (`hk.simulate`, `hk.hsv`, `hk.balanced_truncation`, `hk.compare`,
...) accept the result itself: identify high, then reduce with a bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..systems import StateSpace

__all__ = ["Identification"]


@dataclass(frozen=True, eq=False)
class Identification:
    """An identified model with its noise model, order evidence and fit.

    Parameters
    ----------
    system : StateSpace
        The identified model (innovation form without its noise input: `x⁺ = A x + B u + K e`,
        `y = C x + D u + e`, of which `system` holds `(A, B, C, D)`).
    order : int
        The state dimension of `system`.
    singular_values : ndarray
        The singular values the order was read from (weighted block-Hankel singular values for
        subspace methods and ERA, Loewner-pencil singular values for frequency-domain data);
        plot them with `hk.plot.order_selection`.
    method : str
        The method that produced the model (`"n4sid"`, `"moesp"`, `"cva"`, `"okid"`,
        `"loewner"`, ...).
    K : ndarray or None
        Innovation (Kalman / observer) gain, shape `(n, p)`, where the method estimates one.
    noise_cov : ndarray or None
        Innovation covariance, shape `(p, p)`, where the method estimates one.
    x0 : ndarray or None
        Initial state(s) of the estimation data: shape `(n,)` for one experiment, `(E, n)` for
        `E` experiments.
    fit : ndarray or None
        Fit in percent per output on the estimation data, `100 (1 - ‖y - ŷ‖ / ‖y - ȳ‖)`.
    info : dict
        Method-specific details (horizon, chosen criterion values, timings, ...).

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> from hankelid.identification.result import Identification
    >>> sys = hk.random_stable(3, dt=1.0, seed=0)
    >>> ident = Identification(system=sys, order=3, singular_values=hk.hsv(sys), method="manual")
    >>> bool(np.allclose(hk.hsv(ident), hk.hsv(sys)))     # functions taking a system accept it
    True
    """

    system: StateSpace
    order: int
    singular_values: np.ndarray
    method: str = ""
    K: np.ndarray | None = None
    noise_cov: np.ndarray | None = None
    x0: np.ndarray | None = None
    fit: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.system, StateSpace):
            raise TypeError(f"system must be a hankelid.StateSpace, got {type(self.system).__name__}")
        if self.order != self.system.n:
            raise ValueError(
                f"order {self.order} does not match the system's state dimension {self.system.n}"
            )

    # The model's own attributes, so that code written for a StateSpace reads naturally.
    @property
    def A(self) -> np.ndarray:
        return self.system.A

    @property
    def B(self) -> np.ndarray:
        return self.system.B

    @property
    def C(self) -> np.ndarray:
        return self.system.C

    @property
    def D(self) -> np.ndarray:
        return self.system.D

    @property
    def dt(self) -> float | None:
        return self.system.dt

    def __repr__(self) -> str:
        fit = "" if self.fit is None else f", fit={np.round(np.asarray(self.fit), 1).tolist()}%"
        return (
            f"Identification(method={self.method!r}, order={self.order}, "
            f"m={self.system.m}, p={self.system.p}, dt={self.system.dt}{fit})"
        )
