"""Statistics across seeds: mean ± sample std and paired comparisons (sign test, Wilcoxon)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Summary", "compare_paired", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof = 1; 0 for one value) and count."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}"


def _values(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def summarize(values: Sequence[float]) -> Summary:
    """Mean ± sample standard deviation of per-seed results.

    Examples
    --------
    >>> s = summarize([1.0, 2.0, 3.0])
    >>> (s.mean, s.std, s.n), str(s)
    ((2.0, 1.0, 3), '2.0000 ± 1.0000')
    """
    arr = _values(values, "values")
    return Summary(float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0, int(arr.size))


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of method A against method B over matched runs (same task and seed).

    ``wins`` counts pairs where A is better (respecting the metric's direction); the p-values are
    two-sided: the exact binomial sign test over non-tied pairs and the Wilcoxon signed-rank test
    (``nan`` when every difference is zero).
    """

    n: int
    wins: int
    losses: int
    ties: int
    mean_diff: float
    sign_p: float
    wilcoxon_p: float


def compare_paired(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> Comparison:
    """Compare paired results ``a[i]`` vs ``b[i]``.

    Parameters
    ----------
    a, b : sequence of float
        Results of two methods on the same (task, seed) cells, in the same order.
    higher_is_better : bool
        ``False`` for metrics such as bits per character.

    Returns
    -------
    Comparison
        ``mean_diff`` is ``mean(a - b)`` in the metric's own units.

    Examples
    --------
    >>> c = compare_paired([0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.5, 0.9])
    >>> c.wins, c.losses, c.sign_p   # 3 of 4: two-sided binomial p = 2 * 5/16
    (3, 1, 0.625)
    """
    from scipy import stats

    x, y = _values(a, "a"), _values(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must be paired (same length), got {x.size} and {y.size}")
    diff = (x - y) if higher_is_better else (y - x)
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    sign_p = float(stats.binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0
    wilcoxon_p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else math.nan
    return Comparison(x.size, wins, losses, x.size - wins - losses, float((x - y).mean()), sign_p, wilcoxon_p)
