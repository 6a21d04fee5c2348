r"""Measured frequency responses: the data the frequency-domain fitters start from.

[`FRData`][hankelid.FRData] holds samples \( G_k \approx G(\mathrm{j}\omega_k) \) (continuous
time) or \( G_k \approx G(e^{\mathrm{j}\omega_k \Delta t}) \) (discrete time, sampling time
\( \Delta t \)) of a real, linear time-invariant system with `p` outputs and `m` inputs, at
angular frequencies \( 0 \le \omega_1 < \dots < \omega_K \) in **rad/s** in both cases: a
discrete-time record sampled every `dt` seconds has its Nyquist frequency at \( \pi/\Delta t \)
rad/s (for `dt = 1` the frequencies are in rad/sample). This is the convention of
[`StateSpace.frequency_response`][hankelid.StateSpace.frequency_response].
[`FRData.compare`][hankelid.FRData.compare] measures how well models reproduce the data.
"""

from __future__ import annotations

import csv
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_real_matrix, check_dt
from ..systems import as_state_space
from ._rational import model_points, relative_rms

__all__ = ["FRData", "FrequencyComparison", "frequency_compare"]

_CSV_FORMATS = ("re-im", "db-deg", "mag-deg")


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _check_names(names: Any, count: int, what: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    names = tuple(str(x) for x in names)
    if len(names) != count:
        raise ValueError(f"{what} must name {count} channels, got {len(names)}")
    return names


class FRData:
    r"""Frequency-response samples of a real LTI system, shape `(K, p, m)`.

    Parameters
    ----------
    omega : array_like, shape (K,)
        Angular frequencies in rad/s, sorted strictly increasing, non-negative; in discrete
        time at most the Nyquist frequency \( \pi/\Delta t \).
    response : array_like, shape (K, p, m) or (K,)
        Complex samples: `response[k]` is \( G(\mathrm{j}\omega_k) \) (continuous) or
        \( G(e^{\mathrm{j}\omega_k \Delta t}) \) (discrete). A 1-D array is a SISO response.
    dt : float or None
        `None` for continuous-time data, the sampling time in seconds for discrete time.
    weights : array_like, shape (K,), optional
        Non-negative weights of the frequencies in fits and in
        [`compare`][hankelid.FRData.compare] (default: all one).
    input_names, output_names : sequence of str, optional
        Channel names.
    coherence : array_like, shape (K, p), optional
        Multiple coherence per output in `[0, 1]` (set by
        [`spectral_estimate`][hankelid.spectral_estimate]).

    Raises
    ------
    ValueError
        If the frequencies are not 1-D, finite, non-negative and strictly increasing (unsorted
        or duplicated), exceed the Nyquist frequency, if the response shape does not match,
        or if any entry is NaN or infinite.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(4, 2, 3, seed=0)
    >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 50))
    >>> frd.K, frd.p, frd.m, frd.is_discrete
    (50, 3, 2, False)
    >>> hk.FRData([2.0, 1.0], [1.0, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: omega must be strictly increasing (sorted, no duplicates): omega[1] = 1.0 <= omega[0] = 2.0
    """

    __slots__ = ("_coherence", "_dt", "_input_names", "_omega", "_output_names", "_response", "_weights")

    def __init__(
        self,
        omega: Any,
        response: Any,
        dt: float | None = None,
        *,
        weights: Any = None,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        coherence: Any = None,
    ) -> None:
        dt = check_dt(dt)
        omega = as_real_matrix(np.atleast_1d(omega) if np.ndim(omega) == 0 else omega, "omega", ndim=1)
        K = omega.size
        if K == 0:
            raise ValueError("omega is empty: at least one frequency is needed")
        if np.any(omega < 0):
            raise ValueError(f"omega must be non-negative (rad/s), got min {float(omega.min())!r}")
        bad = np.flatnonzero(np.diff(omega) <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                "omega must be strictly increasing (sorted, no duplicates): "
                f"omega[{i + 1}] = {float(omega[i + 1])!r} <= omega[{i}] = {float(omega[i])!r}"
            )
        if dt is not None and omega[-1] > np.pi / dt * (1 + 1e-12):
            raise ValueError(
                f"omega exceeds the Nyquist frequency pi/dt = {np.pi / dt!r} rad/s of discrete-time data "
                f"(max omega {float(omega[-1])!r}); frequencies are in rad/s, not rad/sample"
            )
        try:
            resp = np.array(response, dtype=complex)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"response could not be converted to a complex array: {exc}") from None
        if resp.ndim == 1:
            resp = resp.reshape(-1, 1, 1)
        if resp.ndim != 3:
            raise ValueError(f"response must have shape (K, p, m) or (K,), got shape {resp.shape}")
        if resp.shape[0] != K:
            raise ValueError(f"response has {resp.shape[0]} frequencies but omega has {K}")
        if resp.shape[1] == 0 or resp.shape[2] == 0:
            raise ValueError(f"response must have at least one output and one input, got shape {resp.shape}")
        if not np.all(np.isfinite(resp)):
            bad_k = int(np.flatnonzero(~np.all(np.isfinite(resp), axis=(1, 2)))[0])
            kind = "NaN" if np.any(np.isnan(resp)) else "inf"
            raise ValueError(f"response contains {kind} entries (first at frequency index {bad_k})")
        p, m = resp.shape[1:]
        if weights is not None:
            weights = as_real_matrix(weights, "weights", ndim=1)
            if weights.size != K:
                raise ValueError(f"weights must have one entry per frequency ({K}), got {weights.size}")
            if np.any(weights < 0) or not np.any(weights > 0):
                raise ValueError("weights must be non-negative with at least one positive entry")
        if coherence is not None:
            coherence = as_real_matrix(coherence, "coherence", ndim=2)
            if coherence.shape != (K, p):
                raise ValueError(f"coherence must have shape (K, p) = {(K, p)}, got {coherence.shape}")
        self._omega = _frozen(omega)
        self._response = _frozen(resp)
        self._dt = dt
        self._weights = None if weights is None else _frozen(weights)
        self._input_names = _check_names(input_names, m, "input_names")
        self._output_names = _check_names(output_names, p, "output_names")
        self._coherence = None if coherence is None else _frozen(coherence)

    # ------------------------------------------------------------------ attributes
    @property
    def omega(self) -> np.ndarray:
        """Angular frequencies in rad/s, shape `(K,)` (read-only)."""
        return self._omega

    @property
    def response(self) -> np.ndarray:
        """Complex samples, shape `(K, p, m)` (read-only)."""
        return self._response

    @property
    def dt(self) -> float | None:
        """Sampling time (`None`: continuous time)."""
        return self._dt

    @property
    def weights(self) -> np.ndarray | None:
        """Frequency weights, shape `(K,)`, or `None` (all one)."""
        return self._weights

    @property
    def coherence(self) -> np.ndarray | None:
        """Multiple coherence per output, shape `(K, p)`, where the data were estimated."""
        return self._coherence

    @property
    def input_names(self) -> tuple[str, ...] | None:
        return self._input_names

    @property
    def output_names(self) -> tuple[str, ...] | None:
        return self._output_names

    @property
    def K(self) -> int:
        """Number of frequencies."""
        return self._omega.size

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self._response.shape[1]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self._response.shape[2]

    @property
    def is_discrete(self) -> bool:
        return self._dt is not None

    def points(self) -> np.ndarray:
        r"""The complex sample points: \( \mathrm{j}\omega \) or \( e^{\mathrm{j}\omega\Delta t} \)."""
        return model_points(self._omega, self._dt)

    def __len__(self) -> int:
        return self.K

    def __repr__(self) -> str:
        return (
            f"FRData(K={self.K}, p={self.p}, m={self.m}, dt={self._dt}, "
            f"omega=[{self._omega[0]:.4g}, {self._omega[-1]:.4g}] rad/s)"
        )

    def __getitem__(self, index: Any) -> FRData:
        """A subset of the frequencies (a slice, boolean mask or sorted index array)."""
        idx = np.arange(self.K)[index]
        idx = np.atleast_1d(idx)
        return FRData(
            self._omega[idx],
            self._response[idx],
            self._dt,
            weights=None if self._weights is None else self._weights[idx],
            input_names=self._input_names,
            output_names=self._output_names,
            coherence=None if self._coherence is None else self._coherence[idx],
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_system(cls, sys: Any, omega: Any, **kwargs: Any) -> FRData:
        """Sample a model's frequency response at `omega` (rad/s) — exact data for tests and demos.

        Parameters
        ----------
        sys : StateSpace
            Any system the core accepts (python-control, scipy, an `Identification`).
        omega : array_like
            Frequencies in rad/s (discrete time: up to \\( \\pi/\\Delta t \\)).
        **kwargs
            Passed to [`FRData`][hankelid.FRData] (`weights`, channel names).

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> sys = hk.random_stable(3, dt=0.1, seed=1)
        >>> frd = hk.FRData.from_system(sys, np.linspace(0, np.pi / 0.1, 20))
        >>> bool(np.allclose(frd.response, sys.frequency_response(frd.omega)))
        True
        """
        sys = as_state_space(sys)
        omega_arr = np.asarray(omega, dtype=float)
        if omega_arr.ndim != 1:
            raise ValueError(f"omega must be 1-D, got shape {omega_arr.shape}")
        return cls(omega_arr, sys.frequency_response(omega_arr), sys.dt, **kwargs)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> FRData:
        """Load data written by [`save`][hankelid.FRData.save] to an `.npz` file.

        Examples
        --------
        >>> import numpy as np, hankelid as hk, tempfile, os
        >>> frd = hk.FRData([1.0, 2.0], [0.5 - 0.5j, 0.2 - 0.4j], dt=0.5)
        >>> path = os.path.join(tempfile.mkdtemp(), "frd.npz")
        >>> frd.save(path)
        >>> bool(np.array_equal(hk.FRData.from_npz(path).response, frd.response))
        True
        """
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            missing = {"omega", "response"} - keys
            if missing:
                raise ValueError(f"{os.fspath(path)} lacks the arrays {sorted(missing)}")
            dt = float(f["dt"]) if "dt" in keys and np.isfinite(f["dt"]) else None
            kwargs: dict[str, Any] = {}
            if "weights" in keys:
                kwargs["weights"] = f["weights"]
            if "coherence" in keys:
                kwargs["coherence"] = f["coherence"]
            for name in ("input_names", "output_names"):
                if name in keys:
                    kwargs[name] = [str(x) for x in f[name]]
            return cls(f["omega"], f["response"], dt, **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        p: int = 1,
        m: int = 1,
        dt: float | None = None,
        format: str = "re-im",
        frequency_unit: str = "rad/s",
        delimiter: str = ",",
    ) -> FRData:
        """Read a table with one row per frequency (a network analyser's export, say).

        The first column is the frequency; then two columns per entry, in row-major order
        (output 1 / input 1, output 1 / input 2, ...): real and imaginary part (`"re-im"`),
        magnitude in dB and phase in degrees (`"db-deg"`), or magnitude and phase in degrees
        (`"mag-deg"`). Lines whose first field is not a number (headers, comments) are skipped.

        Parameters
        ----------
        path : path-like
        p, m : int
            Outputs and inputs of the data.
        dt : float or None
            Sampling time of discrete-time data.
        format : {"re-im", "db-deg", "mag-deg"}
        frequency_unit : {"rad/s", "Hz"}
            Unit of the first column; Hz is converted to rad/s.
        delimiter : str

        Raises
        ------
        ValueError
            If the file has the wrong number of columns for `p`, `m`, an unknown format, or
            bad frequencies (see [`FRData`][hankelid.FRData]).

        Examples
        --------
        >>> import numpy as np, hankelid as hk, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "frf.csv")
        >>> _ = open(path, "w").write("freq_hz,mag_db,phase_deg\\n1.0,0.0,-90\\n2.0,-6.0206,-120\\n")
        >>> frd = hk.FRData.from_csv(path, format="db-deg", frequency_unit="Hz")
        >>> np.round(frd.omega, 4), np.round(abs(frd.response[:, 0, 0]), 4)
        (array([ 6.2832, 12.5664]), array([1. , 0.5]))
        """
        if format not in _CSV_FORMATS:
            raise ValueError(f"format must be one of {_CSV_FORMATS}, got {format!r}")
        if frequency_unit not in ("rad/s", "Hz"):
            raise ValueError(f"frequency_unit must be 'rad/s' or 'Hz', got {frequency_unit!r}")
        for name, val in (("p", p), ("m", m)):
            if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 1:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        rows = []
        with open(path, newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
                if not row or not row[0].strip():
                    continue
                try:
                    vals = [float(x) for x in row]
                except ValueError:
                    if rows:
                        where = f"line {lineno} of {os.fspath(path)}"
                        raise ValueError(f"{where} is not numeric: {row!r}") from None
                    continue  # a header line
                if len(vals) != 1 + 2 * p * m:
                    raise ValueError(
                        f"line {lineno} of {os.fspath(path)} has {len(vals)} columns; p={p}, m={m} needs "
                        f"1 + 2*p*m = {1 + 2 * p * m}"
                    )
                rows.append(vals)
        if not rows:
            raise ValueError(f"{os.fspath(path)} holds no numeric rows")
        table = np.asarray(rows)
        omega = table[:, 0] * (2 * np.pi if frequency_unit == "Hz" else 1.0)
        a, b = table[:, 1::2], table[:, 2::2]
        if format == "re-im":
            resp = a + 1j * b
        else:
            mag = 10.0 ** (a / 20.0) if format == "db-deg" else a
            resp = mag * np.exp(1j * np.deg2rad(b))
        return cls(omega, resp.reshape(-1, p, m), dt)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the data to `.npz` (everything) or `.csv` (frequency in rad/s, re/im columns).

        The CSV is the `"re-im"` layout that [`from_csv`][hankelid.FRData.from_csv] reads
        with the same `p`, `m` (and `dt`, which CSV does not store).
        """
        path_str = os.fspath(path)
        if path_str.endswith(".csv"):
            cols = [self._omega[:, None]]
            flat = self._response.reshape(self.K, -1)
            inter = np.empty((self.K, 2 * flat.shape[1]))
            inter[:, 0::2] = flat.real
            inter[:, 1::2] = flat.imag
            cols.append(inter)
            pairs = [(i, j) for i in range(self.p) for j in range(self.m)]
            header = ["omega_rad_s"] + [f"{c}_y{i + 1}_u{j + 1}" for i, j in pairs for c in ("re", "im")]
            with open(path_str, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(np.hstack(cols).tolist())
            return
        arrays: dict[str, Any] = {
            "omega": self._omega,
            "response": self._response,
            "dt": np.nan if self._dt is None else self._dt,
        }
        if self._weights is not None:
            arrays["weights"] = self._weights
        if self._coherence is not None:
            arrays["coherence"] = self._coherence
        if self._input_names is not None:
            arrays["input_names"] = np.asarray(self._input_names)
        if self._output_names is not None:
            arrays["output_names"] = np.asarray(self._output_names)
        np.savez(path_str, **arrays)

    # ------------------------------------------------------------------ validation
    def compare(self, *models: Any) -> FrequencyComparison:
        r"""Relative error of each model per frequency and overall (weighted RMS).

        Per frequency, \( e_k = \|G_k - \hat G(\omega_k)\|_F / \|G_k\|_F \); overall,
        $$ e = \sqrt{\frac{\sum_k w_k \|G_k - \hat G(\omega_k)\|_F^2}{\sum_k w_k \|G_k\|_F^2}} $$
        with the data's weights \( w_k \) (all one by default).

        Parameters
        ----------
        *models : StateSpace
            Models with the data's time domain (same `dt`) and shape `(p, m)`.

        Returns
        -------
        FrequencyComparison

        Raises
        ------
        ValueError
            If no model is given, or a model's shape or time domain differs from the data's.

        Examples
        --------
        >>> import numpy as np, hankelid as hk
        >>> sys = hk.random_stable(4, seed=0)
        >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 30))
        >>> cmp = frd.compare(sys, hk.balanced_truncation(sys, 2).system)
        >>> cmp.relative_error.shape, bool(cmp.rms[0] < 1e-12 < cmp.rms[1])
        ((2, 30), True)
        """
        if not models:
            raise ValueError("compare needs at least one model")
        H = self._response
        ref = np.linalg.norm(H, axis=(1, 2))
        ref = np.where(ref > 0, ref, 1.0)
        errors, rms = [], []
        for i, model in enumerate(models):
            sys = as_state_space(model)
            if sys.shape != (self.p, self.m):
                raise ValueError(f"model {i} has shape (p, m) = {sys.shape}, the data {(self.p, self.m)}")
            if sys.dt != self._dt:
                kind = lambda dt: "continuous time" if dt is None else f"discrete time (dt={dt})"  # noqa: E731
                raise ValueError(f"model {i} is in {kind(sys.dt)} but the data are in {kind(self._dt)}")
            G = sys.frequency_response(self._omega)
            errors.append(np.linalg.norm(H - G, axis=(1, 2)) / ref)
            rms.append(relative_rms(H, G, self._weights))
        return FrequencyComparison(np.asarray(errors), np.asarray(rms), self._omega.copy())


@dataclass(frozen=True)
class FrequencyComparison:
    """How well models match frequency-response data (see [`FRData.compare`][hankelid.FRData.compare]).

    Attributes
    ----------
    relative_error : ndarray, shape (n_models, K)
        \\( \\|G_k - \\hat G(\\omega_k)\\|_F / \\|G_k\\|_F \\) per model and frequency.
    rms : ndarray, shape (n_models,)
        Overall weighted relative RMS error per model.
    omega : ndarray, shape (K,)
        The frequencies (rad/s).
    """

    relative_error: np.ndarray
    rms: np.ndarray
    omega: np.ndarray

    @property
    def fit(self) -> np.ndarray:
        """Fit in percent per model, `100 (1 - rms)` (the time-domain `compare` convention)."""
        return 100.0 * (1.0 - self.rms)


def frequency_compare(frd: FRData, *models: Any) -> FrequencyComparison:
    """Compare models with frequency-response data: `frd.compare(*models)`.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(3, dt=1.0, seed=2)
    >>> frd = hk.FRData.from_system(sys, np.linspace(0.01, np.pi, 40))
    >>> float(hk.frequency_compare(frd, sys).fit[0])
    100.0
    """
    if not isinstance(frd, FRData):
        raise TypeError(f"frd must be a hankelid.FRData, got {type(frd).__name__}")
    return frd.compare(*models)
