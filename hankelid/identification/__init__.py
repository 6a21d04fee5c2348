"""System identification: from Markov parameters (ERA), input/output records and frequency responses.

Modules: `hankel` (block Hankel matrices and their singular values), `era` (the Eigensystem
Realization Algorithm), `result` (the [`Identification`][hankelid.Identification] every
data-driven method returns), and for frequency-response data `frequency_data` (`FRData`),
`spectral` (FRF estimation from time records), `loewner`, `aaa` and `vector_fitting`.
"""

from __future__ import annotations

from .aaa import aaa
from .era import ERAInfo, era
from .fitted import FittedModel
from .frequency_data import FRData, FrequencyComparison, frequency_compare
from .hankel import HankelOperator, hankel_hsv, hankel_matrix
from .loewner import loewner
from .result import Identification
from .spectral import spectral_estimate
from .vector_fitting import vector_fit

__all__ = [
    "ERAInfo",
    "FRData",
    "FittedModel",
    "FrequencyComparison",
    "HankelOperator",
    "Identification",
    "aaa",
    "era",
    "frequency_compare",
    "hankel_hsv",
    "hankel_matrix",
    "loewner",
    "spectral_estimate",
    "vector_fit",
]
