"""hankelid: Hankel-based model reduction and identification in continuous and discrete time.

Exact and empirical Gramians, Hankel singular values, balanced truncation with error
bounds, ERA identification and system norms -- NumPy/SciPy only.

Examples
--------
>>> import hankelid as hk
>>> sys = hk.random_stable(8, dt=1.0, seed=0)
>>> red = hk.balanced_truncation(sys, order=3)
>>> red.system.n, bool(red.error_bound >= red.hsv[3])
(3, True)
"""

from __future__ import annotations

import importlib

from . import datasets
from ._stability import UnstableSystemError
from .decomposition import stable_unstable_split
from .empirical import Simulator, empirical_gramian, empirical_gramian_factors, empirical_hsv
from .gramians import gramian, gramian_factors, hsv
from .identification import (
    CompareResult,
    ERAInfo,
    FittedModel,
    FRData,
    FrequencyComparison,
    Identification,
    IOData,
    PassivityResult,
    ResidualAnalysis,
    aaa,
    compare,
    era,
    estimate_initial_state,
    frequency_compare,
    hankel_hsv,
    hankel_matrix,
    impulse_estimate,
    loewner,
    n4sid,
    okid,
    passivity,
    predict,
    residuals,
    simulate,
    spectral_estimate,
    vector_fit,
)
from .norms import h2_norm, hinf_norm
from .realization import ModalRealization, modal_realization
from .systems import (
    StateSpace,
    as_state_space,
    c2d,
    d2c,
    from_control,
    from_scipy,
    impulse,
    load,
    markov_parameters,
    random_stable,
)
from .truncation import Reduction, balanced_truncation

__version__ = "0.1.0"

__all__ = [
    "CompareResult",
    "ERAInfo",
    "FRData",
    "FittedModel",
    "FrequencyComparison",
    "IOData",
    "Identification",
    "ModalRealization",
    "PassivityResult",
    "Reduction",
    "ResidualAnalysis",
    "Simulator",
    "StateSpace",
    "UnstableSystemError",
    "aaa",
    "as_state_space",
    "balanced_truncation",
    "c2d",
    "compare",
    "d2c",
    "datasets",
    "empirical_gramian",
    "empirical_gramian_factors",
    "empirical_hsv",
    "era",
    "estimate_initial_state",
    "frequency_compare",
    "from_control",
    "from_scipy",
    "gramian",
    "gramian_factors",
    "h2_norm",
    "hankel_hsv",
    "hankel_matrix",
    "hinf_norm",
    "hsv",
    "impulse",
    "impulse_estimate",
    "load",
    "loewner",
    "markov_parameters",
    "modal_realization",
    "n4sid",
    "okid",
    "passivity",
    "plot",
    "predict",
    "random_stable",
    "residuals",
    "simulate",
    "spectral_estimate",
    "stable_unstable_split",
    "vector_fit",
]


def __getattr__(name: str):
    # matplotlib is optional: import the plotting module only when it is asked for.
    if name == "plot":
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'hankelid' has no attribute {name!r}")
