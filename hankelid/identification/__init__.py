"""System identification: from Markov parameters (ERA), input/output records and frequency responses.

Modules: `hankel` (block Hankel matrices and their singular values), `era` (the Eigensystem
Realization Algorithm), `result` (the [`Identification`][hankelid.Identification] every
data-driven method returns), and for frequency-response data `frequency_data` (`FRData`),
`spectral` (FRF estimation from time records), `loewner`, `aaa`, `vector_fitting` and `passivity`; for
input/output records `data` (`IOData`), `simulate`, `validation` (`compare`, `predict`,
`residuals`, `estimate_initial_state`), `impulse` (regularized impulse responses), `subspace`
(`n4sid`) and `okid`.
"""

from __future__ import annotations

from .aaa import aaa
from .data import IOData, Trend
from .era import ERAInfo, era
from .fitted import FittedModel
from .frequency_data import FRData, FrequencyComparison, frequency_compare
from .hankel import HankelOperator, hankel_hsv, hankel_matrix
from .impulse import ImpulseEstimate, impulse_estimate
from .loewner import loewner
from .okid import okid
from .passivity import PassivityResult, passivity
from .result import Identification
from .simulate import simulate
from .spectral import spectral_estimate
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
from .vector_fitting import vector_fit

__all__ = [
    "CompareResult",
    "ERAInfo",
    "FRData",
    "FittedModel",
    "FrequencyComparison",
    "HankelOperator",
    "IOData",
    "Identification",
    "ImpulseEstimate",
    "PassivityResult",
    "ResidualAnalysis",
    "Trend",
    "aaa",
    "compare",
    "era",
    "estimate_initial_state",
    "fit_percent",
    "frequency_compare",
    "hankel_hsv",
    "hankel_matrix",
    "impulse_estimate",
    "loewner",
    "n4sid",
    "okid",
    "passivity",
    "predict",
    "residuals",
    "simulate",
    "spectral_estimate",
    "vector_fit",
]
