"""A state-space model fitted to frequency-response data, carrying the fit's report.

[`aaa`][hankelid.aaa] and [`vector_fit`][hankelid.vector_fit] return a
[`FittedModel`][hankelid.identification.fitted.FittedModel]: a
[`StateSpace`][hankelid.StateSpace] (everything that takes a system takes it) with an `info`
dictionary holding what the method learned (poles, iterations, errors, the stability report).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ..systems import StateSpace

__all__ = ["FittedModel"]


class FittedModel(StateSpace):
    """A [`StateSpace`][hankelid.StateSpace] with the report of the fit that produced it.

    Parameters
    ----------
    system : StateSpace
        The fitted model.
    info : mapping
        The method's report (read-only).

    Examples
    --------
    >>> import hankelid as hk
    >>> from hankelid.identification.fitted import FittedModel
    >>> fit = FittedModel(hk.random_stable(2, seed=0), {"method": "manual"})
    >>> isinstance(fit, hk.StateSpace), fit.info["method"], fit.n
    (True, 'manual', 2)
    """

    __slots__ = ("_info",)

    def __init__(self, system: StateSpace, info: dict[str, Any]) -> None:
        super().__init__(system.A, system.B, system.C, system.D, system.dt)
        self._info = MappingProxyType(dict(info))

    @property
    def info(self) -> MappingProxyType:
        """What the method learned: poles, errors, iterations, `"stability"` report."""
        return self._info

    @property
    def system(self) -> StateSpace:
        """The model as a plain `StateSpace`."""
        return StateSpace(self.A, self.B, self.C, self.D, self.dt)

    def __repr__(self) -> str:
        method = self._info.get("method", "?")
        return f"FittedModel(method={method!r}, " + super().__repr__()[len("StateSpace(") :]
