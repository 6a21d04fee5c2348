"""Measured input/output records: [`IOData`][hankelid.IOData].

An `IOData` holds one or several experiments (records of the same system, possibly of
different lengths), each an input array `(N_e, m)` and an output array `(N_e, p)` sampled at a
common `dt`, with channel names and units. It is immutable: slicing, splitting, detrending
and merging return new objects, and the arrays it hands out are read-only copies, so the
caller's arrays are never changed.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_dt

__all__ = ["IOData", "Trend"]


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _as_record(value: Any, name: str) -> np.ndarray:
    """One experiment's signal as a private float64 `(N, channels)` array, validated."""
    if isinstance(value, IOData):
        raise TypeError(f"{name} must be an array, got an IOData")
    try:
        arr = np.array(value, copy=True)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array, got dtype object (ragged or non-numeric entries)")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (N,) or 2-D (N, channels), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one channel, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        kind = "NaN" if np.isnan(arr[row, col]) else "inf"
        raise ValueError(f"{name} contains {kind} (first at sample {row}, channel {col})")
    return arr


def _as_experiments(value: Any, name: str) -> list[np.ndarray]:
    # A list/tuple of NumPy arrays means several experiments; nested Python lists are one array.
    if (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, np.ndarray) and v.ndim >= 1 for v in value)
    ):
        return [_as_record(v, f"{name}[{i}]") for i, v in enumerate(value)]
    return [_as_record(value, name)]


def _names(value: Any, count: int, default: str, what: str) -> tuple[str, ...]:
    if value is None:
        return tuple(f"{default}{i + 1}" for i in range(count))
    if isinstance(value, str):
        value = [value]
    names = tuple(str(v) for v in value)
    if len(names) != count:
        raise ValueError(f"{what} must have {count} entries (one per channel), got {len(names)}")
    return names


def _units(value: Any, count: int, what: str) -> tuple[str, ...]:
    if value is None:
        return ("",) * count
    if isinstance(value, str):
        value = [value] * count if count > 1 else [value]
    units = tuple(str(v) for v in value)
    if len(units) != count:
        raise ValueError(f"{what} must have {count} entries (one per channel), got {len(units)}")
    return units


@dataclass(frozen=True)
class Trend:
    """Trends removed by [`IOData.detrend`][hankelid.identification.data.IOData.detrend].

    One row per experiment.

    The trend of experiment `e` at its sample `k` (counted from the start of the data it
    belongs to) is `offset[e] + slope[e] * k`.

    Attributes
    ----------
    u_offset, u_slope : ndarray, shape (E, m)
    y_offset, y_slope : ndarray, shape (E, p)
    """

    u_offset: np.ndarray
    u_slope: np.ndarray
    y_offset: np.ndarray
    y_slope: np.ndarray

    def values(self, experiment: int, length: int, which: str = "y") -> np.ndarray:
        """The trend of one experiment's inputs (`which="u"`) or outputs (`"y"`), shape `(length, .)`."""
        if which not in ("u", "y"):
            raise ValueError(f"which must be 'u' or 'y', got {which!r}")
        off = self.u_offset if which == "u" else self.y_offset
        slope = self.u_slope if which == "u" else self.y_slope
        k = np.arange(length, dtype=np.float64)[:, None]
        return off[experiment][None, :] + slope[experiment][None, :] * k

    def _shifted(self, starts: Sequence[int]) -> Trend:
        s = np.asarray(starts, dtype=np.float64)[:, None]
        return Trend(
            _frozen(self.u_offset + self.u_slope * s),
            self.u_slope,
            _frozen(self.y_offset + self.y_slope * s),
            self.y_slope,
        )

    def _select(self, index: Sequence[int]) -> Trend:
        idx = list(index)
        return Trend(
            *(_frozen(np.asarray(a)[idx]) for a in (self.u_offset, self.u_slope, self.y_offset, self.y_slope))
        )


class IOData:
    r"""Sampled input/output records of one or several experiments.

    Parameters
    ----------
    u : array_like, shape (N, m) or (N,), or a list of such arrays
        Inputs. A 1-D array is one input channel. A list (or tuple) of NumPy arrays holds
        several experiments, which may differ in length but not in the number of channels
        (nested Python lists are read as one array).
    y : array_like, shape (N, p) or (N,), or a list of such arrays
        Outputs, matching `u` experiment by experiment (same lengths).
    dt : float
        Sampling time (positive), shared by all experiments.
    input_names, output_names : sequence of str, optional
        Channel names (default `u1, u2, ...` and `y1, y2, ...`).
    input_units, output_units : str or sequence of str, optional
        Channel units for labels (default empty).

    Raises
    ------
    ValueError
        If an array is not numeric, has NaN/inf entries (the message names the array and the
        first bad sample), has the wrong number of dimensions, if `u` and `y` differ in
        length or in the number of experiments, if the channel counts differ between
        experiments, or if `dt` is not positive.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> u = np.arange(10.0)
    >>> data = hk.IOData(u, 2 * u, dt=0.1, output_names=["v"], output_units=["V"])
    >>> data.m, data.p, data.n_samples, data.output_names
    (1, 1, (10,), ('v',))
    >>> est, val = data.split(0.7)
    >>> est.n_samples, val.n_samples
    ((7,), (3,))
    >>> data[2:5].y[0].ravel()
    array([4., 6., 8.])
    """

    __slots__ = ("_dt", "_in_names", "_in_units", "_out_names", "_out_units", "_trend", "_u", "_y")

    def __init__(
        self,
        u: Any,
        y: Any,
        dt: float = 1.0,
        *,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        input_units: str | Sequence[str] | None = None,
        output_units: str | Sequence[str] | None = None,
    ) -> None:
        us = _as_experiments(u, "u")
        ys = _as_experiments(y, "y")
        if len(us) != len(ys):
            raise ValueError(f"u has {len(us)} experiment(s) but y has {len(ys)}")
        multi = len(us) > 1
        for e, (ue, ye) in enumerate(zip(us, ys)):
            where = f" in experiment {e}" if multi else ""
            if ue.shape[0] != ye.shape[0]:
                raise ValueError(
                    f"u and y must have the same number of samples{where}: u has {ue.shape[0]}, "
                    f"y has {ye.shape[0]}"
                )
            if ue.shape[1] != us[0].shape[1]:
                raise ValueError(
                    f"all experiments must have the same number of inputs: experiment 0 has "
                    f"{us[0].shape[1]}, experiment {e} has {ue.shape[1]}"
                )
            if ye.shape[1] != ys[0].shape[1]:
                raise ValueError(
                    f"all experiments must have the same number of outputs: experiment 0 has "
                    f"{ys[0].shape[1]}, experiment {e} has {ye.shape[1]}"
                )
        if dt is None:
            raise ValueError("dt must be a positive sampling time; IOData holds sampled records")
        self._dt = check_dt(dt)
        m, p = us[0].shape[1], ys[0].shape[1]
        self._u = tuple(_frozen(a) for a in us)
        self._y = tuple(_frozen(a) for a in ys)
        self._in_names = _names(input_names, m, "u", "input_names")
        self._out_names = _names(output_names, p, "y", "output_names")
        self._in_units = _units(input_units, m, "input_units")
        self._out_units = _units(output_units, p, "output_units")
        self._trend: Trend | None = None

    # ------------------------------------------------------------------ construction helpers
    def _like(self, us: Sequence[np.ndarray], ys: Sequence[np.ndarray], trend: Trend | None) -> IOData:
        # Arrays here are already validated private copies: skip re-validation.
        new = object.__new__(IOData)
        new._u = tuple(_frozen(np.array(a, dtype=np.float64)) for a in us)
        new._y = tuple(_frozen(np.array(a, dtype=np.float64)) for a in ys)
        new._dt = self._dt
        new._in_names, new._out_names = self._in_names, self._out_names
        new._in_units, new._out_units = self._in_units, self._out_units
        new._trend = trend
        return new

    # ------------------------------------------------------------------ attributes
    @property
    def u(self) -> list[np.ndarray]:
        """Inputs: one read-only float64 array `(N_e, m)` per experiment."""
        return list(self._u)

    @property
    def y(self) -> list[np.ndarray]:
        """Outputs: one read-only float64 array `(N_e, p)` per experiment."""
        return list(self._y)

    @property
    def dt(self) -> float:
        """Sampling time."""
        return self._dt

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self._u[0].shape[1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self._y[0].shape[1]

    @property
    def n_experiments(self) -> int:
        """Number of experiments."""
        return len(self._u)

    @property
    def n_samples(self) -> tuple[int, ...]:
        """Number of samples of each experiment."""
        return tuple(a.shape[0] for a in self._u)

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._in_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._out_names

    @property
    def input_units(self) -> tuple[str, ...]:
        return self._in_units

    @property
    def output_units(self) -> tuple[str, ...]:
        return self._out_units

    @property
    def trend(self) -> Trend | None:
        """The trend removed by [`detrend`][hankelid.identification.data.IOData.detrend], or `None`."""
        return self._trend

    def time(self, experiment: int = 0) -> np.ndarray:
        """Sample times `k * dt` of one experiment.

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> hk.IOData(np.zeros(3), np.zeros(3), dt=0.5).time()
        array([0. , 0.5, 1. ])
        """
        return np.arange(self.n_samples[self._experiment_index(experiment)]) * self._dt

    def __repr__(self) -> str:
        n = self.n_samples
        samples = n[0] if len(n) == 1 else list(n)
        return (
            f"IOData(m={self.m}, p={self.p}, dt={self._dt!r}, n_experiments={self.n_experiments}, "
            f"n_samples={samples})"
        )

    def _experiment_index(self, e: Any) -> int:
        if isinstance(e, bool) or not isinstance(e, numbers.Integral):
            raise TypeError(f"experiment index must be an integer, got {e!r}")
        if not -self.n_experiments <= e < self.n_experiments:
            raise IndexError(f"experiment {e} out of range: the data hold {self.n_experiments}")
        return int(e) % self.n_experiments

    # ------------------------------------------------------------------ checks
    def check_length(self, required: int, what: str = "this operation") -> None:
        """Raise `ValueError` unless every experiment has at least `required` samples.

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> hk.IOData(np.zeros(40), np.zeros(40)).check_length(61, "n4sid with horizon 20")
        Traceback (most recent call last):
        ...
        ValueError: n4sid with horizon 20 needs at least 61 samples per experiment; experiment 0 has 40
        """
        for e, n in enumerate(self.n_samples):
            if n < required:
                raise ValueError(
                    f"{what} needs at least {required} samples per experiment; experiment {e} has {n}"
                )

    # ------------------------------------------------------------------ slicing and splitting
    def __getitem__(self, index: Any) -> IOData:
        """Slice in time (`data[a:b]`), applied to every experiment."""
        if not isinstance(index, slice):
            raise TypeError(
                "IOData is indexed by a time slice data[a:b]; use data.experiment(i) for one experiment"
            )
        if index.step not in (None, 1):
            raise ValueError(
                f"time slices must have step 1, got {index.step} (decimate with an anti-aliasing filter "
                "before building the IOData)"
            )
        starts, us, ys = [], [], []
        for ue, ye in zip(self._u, self._y):
            start, stop, _ = index.indices(ue.shape[0])
            if stop <= start:
                raise ValueError(f"the slice {index} leaves no samples of a record of {ue.shape[0]}")
            starts.append(start)
            us.append(ue[start:stop])
            ys.append(ye[start:stop])
        trend = None if self._trend is None else self._trend._shifted(starts)
        return self._like(us, ys, trend)

    def experiment(self, index: int) -> IOData:
        """A new `IOData` holding experiment `index` only.

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> data = hk.IOData([np.zeros(5), np.ones(3)], [np.zeros(5), np.ones(3)])
        >>> data.experiment(1).n_samples
        (3,)
        """
        e = self._experiment_index(index)
        trend = None if self._trend is None else self._trend._select([e])
        return self._like([self._u[e]], [self._y[e]], trend)

    def split(self, fraction: float = 0.5) -> tuple[IOData, IOData]:
        """Split every experiment in time: the first `fraction` for estimation, the rest for validation.

        Raises
        ------
        ValueError
            If `fraction` is not strictly between 0 and 1 or a part would be empty.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"fraction must be a number strictly between 0 and 1, got {fraction!r}")
        cuts = [int(np.floor(fraction * n)) for n in self.n_samples]
        for e, (c, n) in enumerate(zip(cuts, self.n_samples)):
            if c < 1 or c >= n:
                raise ValueError(f"split({fraction}) leaves an empty part of experiment {e} ({n} samples)")
        est = self._like(
            [u[:c] for u, c in zip(self._u, cuts)], [y[:c] for y, c in zip(self._y, cuts)], self._trend
        )
        val_trend = None if self._trend is None else self._trend._shifted(cuts)
        val = self._like(
            [u[c:] for u, c in zip(self._u, cuts)], [y[c:] for y, c in zip(self._y, cuts)], val_trend
        )
        return est, val

    # ------------------------------------------------------------------ detrending
    def detrend(self, kind: str = "constant") -> IOData:
        """Remove the mean (`"constant"`) or a least-squares line (`"linear"`) of each channel.

        The trend is fitted per experiment and kept in `.trend` of the result (added to any
        trend removed before), so that [`retrend`][hankelid.identification.data.IOData.retrend] restores the
        original signals and `trend.values(e, N)` re-adds it to predictions.

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> data = hk.IOData(np.arange(5.0), np.arange(5.0) + 3.0)
        >>> d = data.detrend("linear")
        >>> bool(np.allclose(d.y[0], 0)), d.trend.y_offset.ravel(), d.trend.y_slope.ravel()
        (True, array([3.]), array([1.]))
        >>> bool(np.allclose(d.retrend().y[0], data.y[0]))
        True
        """
        if kind not in ("constant", "linear"):
            raise ValueError(f"kind must be 'constant' or 'linear', got {kind!r}")
        uo, us_, yo, ys_ = [], [], [], []
        new_u, new_y = [], []
        for ue, ye in zip(self._u, self._y):
            out = []
            for sig in (ue, ye):
                n = sig.shape[0]
                if kind == "constant" or n < 2:
                    off, slope = sig.mean(axis=0), np.zeros(sig.shape[1])
                else:
                    k = np.arange(n, dtype=np.float64)
                    km = k.mean()
                    slope = ((k - km) @ (sig - sig.mean(axis=0))) / np.sum((k - km) ** 2)
                    off = sig.mean(axis=0) - slope * km
                kk = np.arange(n, dtype=np.float64)[:, None]
                out.append((sig - off - slope * kk, off, slope))
            new_u.append(out[0][0])
            new_y.append(out[1][0])
            uo.append(out[0][1])
            us_.append(out[0][2])
            yo.append(out[1][1])
            ys_.append(out[1][2])
        trend = Trend(*(_frozen(np.array(a)) for a in (uo, us_, yo, ys_)))
        if self._trend is not None:
            old = self._trend
            trend = Trend(
                _frozen(trend.u_offset + old.u_offset),
                _frozen(trend.u_slope + old.u_slope),
                _frozen(trend.y_offset + old.y_offset),
                _frozen(trend.y_slope + old.y_slope),
            )
        return self._like(new_u, new_y, trend)

    def retrend(self) -> IOData:
        """Add the removed trend back (undoes [`detrend`][hankelid.identification.data.IOData.detrend])."""
        if self._trend is None:
            return self
        t = self._trend
        us = [ue + t.values(e, ue.shape[0], "u") for e, ue in enumerate(self._u)]
        ys = [ye + t.values(e, ye.shape[0], "y") for e, ye in enumerate(self._y)]
        return self._like(us, ys, None)

    # ------------------------------------------------------------------ merging
    @staticmethod
    def merge(*datasets: IOData) -> IOData:
        """Merge the experiments of several `IOData` (same `dt`, inputs and outputs) into one.

        Names and units are taken from the first. Trends are kept when every part has one
        (a part without a trend contributes zeros when others have one).

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> a = hk.IOData(np.zeros(10), np.ones(10)); b = hk.IOData(np.zeros(6), np.ones(6))
        >>> hk.IOData.merge(a, b).n_samples
        (10, 6)
        """
        if len(datasets) == 1 and isinstance(datasets[0], (list, tuple)):
            datasets = tuple(datasets[0])
        if not datasets:
            raise ValueError("merge needs at least one IOData")
        for i, d in enumerate(datasets):
            if not isinstance(d, IOData):
                raise TypeError(f"merge takes IOData objects; argument {i} is {type(d).__name__}")
        first = datasets[0]
        for i, d in enumerate(datasets[1:], start=1):
            if d.dt != first.dt:
                raise ValueError(f"cannot merge data with different dt: {first.dt} and {d.dt} (argument {i})")
            if (d.m, d.p) != (first.m, first.p):
                raise ValueError(
                    f"cannot merge data with different channel counts: (m, p) = {(first.m, first.p)} "
                    f"and {(d.m, d.p)} (argument {i})"
                )
        us = [a for d in datasets for a in d._u]
        ys = [a for d in datasets for a in d._y]
        trend = None
        if any(d._trend is not None for d in datasets):
            parts = []
            for d in datasets:
                t = d._trend
                if t is None:
                    E = d.n_experiments
                    t = Trend(np.zeros((E, d.m)), np.zeros((E, d.m)), np.zeros((E, d.p)), np.zeros((E, d.p)))
                parts.append(t)
            trend = Trend(
                *(
                    _frozen(np.concatenate([getattr(t, f) for t in parts]))
                    for f in ("u_offset", "u_slope", "y_offset", "y_slope")
                )
            )
        return first._like(us, ys, trend)

    # ------------------------------------------------------------------ loaders
    @classmethod
    def from_dataframe(
        cls,
        df: Any,
        inputs: Sequence[str],
        outputs: Sequence[str],
        dt: float | None = None,
        time_column: str | None = None,
        **kwargs: Any,
    ) -> IOData:
        """Build from a pandas DataFrame (or any mapping of column name to 1-D array).

        `dt` is read from `time_column` (uniform spacing required) when not given, else 1.
        Further keyword arguments (`input_units`, ...) go to the constructor.

        Examples
        --------
        >>> import hankelid as hk
        >>> frame = {"t": [0.0, 0.1, 0.2], "force": [1.0, 0.0, 0.0], "x": [0.0, 0.5, 0.2]}
        >>> hk.IOData.from_dataframe(frame, inputs=["force"], outputs=["x"], time_column="t").dt
        0.1
        """
        columns = list(df.columns) if hasattr(df, "columns") else list(df.keys())
        return cls._from_columns(
            lambda c: np.asarray(df[c]), columns, inputs, outputs, dt, time_column, kwargs
        )

    @classmethod
    def _from_columns(cls, get, columns, inputs, outputs, dt, time_column, kwargs) -> IOData:
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        if not inputs or not outputs:
            raise ValueError("name at least one input and one output column")
        for c in [*inputs, *outputs, *([time_column] if time_column else [])]:
            if c not in columns:
                raise ValueError(f"column {c!r} not found; available: {list(columns)}")
        u = np.column_stack([get(c) for c in inputs])
        y = np.column_stack([get(c) for c in outputs])
        if dt is None:
            dt = _dt_from_time(np.asarray(get(time_column), dtype=np.float64)) if time_column else 1.0
        kwargs.setdefault("input_names", inputs)
        kwargs.setdefault("output_names", outputs)
        return cls(u, y, dt, **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        inputs: Sequence[str],
        outputs: Sequence[str],
        dt: float | None = None,
        time_column: str | None = None,
        *,
        delimiter: str = ",",
        **kwargs: Any,
    ) -> IOData:
        """Read a CSV file with a header row naming its columns.

        Parameters
        ----------
        path : path-like
        inputs, outputs : sequence of str
            Column names of the inputs and outputs.
        dt : float, optional
            Sampling time; by default read from `time_column` (uniform spacing required), else 1.
        time_column : str, optional
        delimiter : str
        **kwargs
            Passed to the constructor (`input_units`, ...).

        Examples
        --------
        >>> import io, hankelid as hk
        >>> text = io.StringIO("t,f,x\\n0,1,0\\n0.5,0,1\\n1.0,0,0.5\\n")
        >>> hk.IOData.from_csv(text, inputs=["f"], outputs=["x"], time_column="t")
        IOData(m=1, p=1, dt=0.5, n_experiments=1, n_samples=3)
        """
        table = np.genfromtxt(
            path,
            delimiter=delimiter,
            names=True,
            dtype=np.float64,
            encoding="utf-8",
            deletechars="",
            autostrip=True,
        )
        columns = table.dtype.names or ()
        return cls._from_columns(lambda c: table[c], columns, inputs, outputs, dt, time_column, kwargs)

    @classmethod
    def from_npz(
        cls,
        path: str | os.PathLike[str],
        u_key: str = "u",
        y_key: str = "y",
        dt: float | None = None,
        **kwargs: Any,
    ) -> IOData:
        """Read `u`, `y` (and `dt`, `input_names`, `output_names`, units when stored) from an `.npz` file.

        Several experiments are stored as `u_0, u_1, ...` and `y_0, y_1, ...`;
        [`save_npz`][hankelid.identification.data.IOData.save_npz] writes this layout.

        Examples
        --------
        >>> import os, tempfile, numpy as np, hankelid as hk
        >>> data = hk.IOData([np.zeros(5), np.ones(3)], [np.zeros(5), np.ones(3)], dt=0.2)
        >>> path = os.path.join(tempfile.mkdtemp(), "record.npz")
        >>> data.save_npz(path)
        >>> hk.IOData.from_npz(path)
        IOData(m=1, p=1, dt=0.2, n_experiments=2, n_samples=[5, 3])
        """
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if u_key in keys and y_key in keys:
                u, y = f[u_key], f[y_key]
            else:
                E = 0
                while f"{u_key}_{E}" in keys and f"{y_key}_{E}" in keys:
                    E += 1
                if E == 0:
                    raise ValueError(
                        f"{os.fspath(path)!r} holds neither {u_key!r}/{y_key!r} nor "
                        f"{u_key}_0/{y_key}_0; keys: {sorted(keys)}"
                    )
                u = [f[f"{u_key}_{e}"] for e in range(E)]
                y = [f[f"{y_key}_{e}"] for e in range(E)]
            if dt is None:
                dt = float(f["dt"]) if "dt" in keys else 1.0
            for key in ("input_names", "output_names", "input_units", "output_units"):
                if key in keys and key not in kwargs:
                    kwargs[key] = [str(s) for s in f[key]]
        return cls(u, y, dt, **kwargs)

    def save_npz(self, path: str | os.PathLike[str]) -> None:
        """Write to an `.npz` file; [`from_npz`][hankelid.identification.data.IOData.from_npz] reads it."""
        arrays: dict[str, Any] = {"dt": np.float64(self._dt)}
        for e, (ue, ye) in enumerate(zip(self._u, self._y)):
            arrays[f"u_{e}"] = ue
            arrays[f"y_{e}"] = ye
        arrays["input_names"] = np.array(self._in_names)
        arrays["output_names"] = np.array(self._out_names)
        arrays["input_units"] = np.array(self._in_units)
        arrays["output_units"] = np.array(self._out_units)
        np.savez(path, **arrays)


def _dt_from_time(t: np.ndarray) -> float:
    if t.ndim != 1 or t.size < 2:
        raise ValueError("the time column needs at least two samples to give dt")
    if not np.all(np.isfinite(t)):
        raise ValueError("the time column contains NaN or inf")
    steps = np.diff(t)
    dt = (t[-1] - t[0]) / (t.size - 1)
    if dt <= 0 or np.max(np.abs(steps - dt)) > 1e-6 * max(abs(dt), np.max(np.abs(t))) + 1e-3 * dt:
        raise ValueError(
            f"the time column is not uniformly increasing (steps from {steps.min():g} to {steps.max():g}); "
            "resample the record or pass dt"
        )
    # Time stamps printed in decimal carry representation noise: keep 12 significant digits, so
    # that records written with the same step get the same dt.
    return float(f"{dt:.12g}")
