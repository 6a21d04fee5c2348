"""System identification: from Markov parameters (ERA), input/output records and frequency responses.

Modules: `hankel` (block Hankel matrices and their singular values), `era` (the Eigensystem
Realization Algorithm) and `result` (the [`Identification`][hankelid.Identification] every
data-driven method returns).
"""

from __future__ import annotations

from .data import IOData, Trend
from .era import ERAInfo, era
from .hankel import HankelOperator, hankel_hsv, hankel_matrix
from .impulse import ImpulseEstimate, impulse_estimate
from .okid import okid
from .result import Identification
from .simulate import simulate
from .subspace import n4sid
from .validation import (
    CompareResult,
    ResidualAnalysis,
    compare,
    estimate_initial_state,
    fit_percent,
    predict,
    residuals,
)

__all__ = [
    "CompareResult",
    "ERAInfo",
    "HankelOperator",
    "IOData",
    "Identification",
    "ImpulseEstimate",
    "ResidualAnalysis",
    "Trend",
    "compare",
    "era",
    "estimate_initial_state",
    "fit_percent",
    "hankel_hsv",
    "hankel_matrix",
    "impulse_estimate",
    "n4sid",
    "okid",
    "predict",
    "residuals",
    "simulate",
]
