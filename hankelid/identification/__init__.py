"""System identification: from Markov parameters (ERA), input/output records and frequency responses.

Modules: `hankel` (block Hankel matrices and their singular values), `era` (the Eigensystem
Realization Algorithm) and `result` (the [`Identification`][hankelid.Identification] every
data-driven method returns).
"""

from __future__ import annotations

from .data import IOData, Trend
from .era import ERAInfo, era
from .hankel import HankelOperator, hankel_hsv, hankel_matrix
from .result import Identification
from .simulate import simulate

__all__ = [
    "ERAInfo",
    "HankelOperator",
    "IOData",
    "Identification",
    "Trend",
    "era",
    "hankel_hsv",
    "hankel_matrix",
    "simulate",
]
