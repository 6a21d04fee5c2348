"""Input checking shared by the whole core.

Every public function validates before it computes, so bad input raises a `ValueError`
that names the problem and nothing is half-done or mutated.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "as_array",
    "as_real_matrix",
    "check_count",
    "check_dt",
    "check_order",
    "check_positive",
]


def as_array(value: Any, name: str) -> np.ndarray:
    """`np.asarray(value)` with a `ValueError` that names `name` (e.g. for ragged nested lists)."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to an array (ragged nested lists?): {exc}") from None


def as_real_matrix(value: Any, name: str, *, ndim: int = 2) -> np.ndarray:
    """Return `value` as a finite float64 array with `ndim` dimensions (a private copy).

    Raises
    ------
    ValueError
        If the array is complex, not numeric, has the wrong number of dimensions, or holds
        NaN / inf entries.
    """
    try:
        arr = np.array(value, copy=True)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array, got dtype object")
    if np.iscomplexobj(arr):
        if np.any(np.imag(arr) != 0):
            raise ValueError(f"{name} must be real, got complex entries (dtype {arr.dtype})")
        arr = np.real(arr)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)  # already a private copy: no second one
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.any(np.isnan(arr)) else "inf"
        raise ValueError(f"{name} contains {bad} entries")
    return arr


def check_dt(dt: Any) -> float | None:
    """Validate a sampling time: `None` (continuous) or a positive finite float."""
    if dt is None:
        return None
    if isinstance(dt, bool) or not isinstance(dt, numbers.Real):
        raise ValueError(f"dt must be None (continuous time) or a positive float (sampling time), got {dt!r}")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite sampling time, got {dt!r}")
    return dt


def check_count(value: Any, name: str) -> int:
    """Validate a positive integer (a count: rows, lengths, trajectories, orders)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_auto_order(order: Any) -> int | None:
    """Validate an identification order: a positive integer, or `None` / `"auto"` (chosen from data)."""
    if isinstance(order, str):
        if order != "auto":
            raise ValueError(f"order must be a positive integer, None or 'auto', got {order!r}")
        return None
    return None if order is None else check_count(order, "order")


def check_order(order: Any, n: int, *, name: str = "order") -> int:
    """Validate a model order `1 <= order <= n`."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {order!r}")
    order = int(order)
    if order < 1 or order > n:
        raise ValueError(f"{name} must be between 1 and {n} (the system order), got {order}")
    return order


def check_positive(value: Any, *, name: str) -> float:
    """Validate a positive finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value
