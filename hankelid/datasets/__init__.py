"""Measured input/output records shipped with hankelid, for examples, tests and notebooks.

Each loader returns [`IOData`][hankelid.IOData] objects with channel names. The data files
live beside this module with their licence notices (see `buck/LICENSE` and `buck/README.md`).
"""

from __future__ import annotations

from importlib import resources

from ..identification.data import IOData

__all__ = ["buck"]


def buck() -> tuple[IOData, IOData]:
    """A DC-DC buck converter: estimation and validation records, one input, one output.

    Two consecutive records (1001 and 999 samples) sampled every 10 µs (`dt = 1e-5` s), from
    the MIT-licensed SysIdentPy data repository (copyright (c) 2024 Wilson Rocha; Lacerda
    Junior et al., *SysIdentPy*, JOSS 5(54) 2384, 2020). The output is quantized in steps of
    0.1 and the converter is mildly nonlinear, so no linear model fits it perfectly. The
    source does not state physical units; the channels are named `input` and `y` as there.

    Returns
    -------
    (IOData, IOData)
        `(estimation, validation)`.

    Examples
    --------
    >>> import hankelid as hk
    >>> est, val = hk.datasets.buck()
    >>> est.n_samples, val.n_samples, est.dt, est.input_names, est.output_names
    ((1001,), (999,), 1e-05, ('input',), ('y',))
    """
    folder = resources.files(__name__) / "buck"
    out = []
    for name in ("buck_id.csv", "buck_valid.csv"):
        with resources.as_file(folder / name) as path:
            out.append(IOData.from_csv(path, inputs=["input"], outputs=["y"], time_column="sampling_time"))
    return out[0], out[1]
