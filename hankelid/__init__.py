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

from . import datasets
from ._validation import UnstableSystemError
from .decomposition import stable_unstable_split
from .empirical import Simulator, empirical_gramian, empirical_gramian_factors, empirical_hsv
from .gramians import gramian, gramian_factors, hsv
from .identification import (
    CompareResult,
    ERAInfo,
    Identification,
    IOData,
    ResidualAnalysis,
    compare,
    era,
    estimate_initial_state,
    hankel_hsv,
    hankel_matrix,
    impulse_estimate,
    n4sid,
    okid,
    predict,
    residuals,
    simulate,
)
from .norms import h2_norm, hinf_norm
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
    "IOData",
    "Identification",
    "Reduction",
    "ResidualAnalysis",
    "Simulator",
    "StateSpace",
    "UnstableSystemError",
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
    "markov_parameters",
    "n4sid",
    "okid",
    "plot",
    "predict",
    "random_stable",
    "residuals",
    "simulate",
    "stable_unstable_split",
]


def __getattr__(name: str):
    # matplotlib is optional: import the plotting module only when it is asked for.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'hankelid' has no attribute {name!r}")
