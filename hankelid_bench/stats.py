r"""Statistics across seeds: mean ± sample std and paired comparisons.

A paired comparison reports the mean difference with two 95 % confidence intervals — Student's t
on the paired differences and the percentile bootstrap (resampling pairs, fixed seed) — the
standardized effect size \( d_z = \bar{\Delta} / s_\Delta \) (Cohen's d for paired samples),
and the exact sign test and the Wilcoxon signed-rank test. With n = 5 pairs the smallest
two-sided sign-test p-value is 0.0625: a CI says more than "p < 0.05" can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Summary", "bootstrap_interval", "compare_paired", "summarize", "t_interval"]


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

    `wins` counts pairs where A is better (respecting the metric's direction); the p-values are
    two-sided: the exact binomial sign test over non-tied pairs and the Wilcoxon signed-rank test
    (`nan` when every difference is zero). `mean_diff`, `t_ci` and `boot_ci` are in the
    metric's units for `a - b` (95 %; `nan` for fewer than 2 pairs); `effect_size` is
    `mean(a - b) / std(a - b)` (`nan` when the differences do not vary).
    """

    n: int
    wins: int
    losses: int
    ties: int
    mean_diff: float
    sign_p: float
    wilcoxon_p: float
    t_ci: tuple[float, float] = (math.nan, math.nan)
    boot_ci: tuple[float, float] = (math.nan, math.nan)
    effect_size: float = math.nan


def t_interval(diff: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of `diff` (`nan` for fewer than 2 values).

    Examples
    --------
    >>> lo, hi = t_interval([1.0, 2.0, 3.0])   # mean 2, s = 1, t_{0.975, 2} = 4.303
    >>> round(lo, 3), round(hi, 3)
    (-0.484, 4.484)
    """
    from scipy import stats

    d = _values(diff, "diff")
    if d.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return float(d.mean() - half), float(d.mean() + half)


def bootstrap_interval(
    diff: Sequence[float], level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of `diff` (resampling with replacement).

    Examples
    --------
    >>> bootstrap_interval([0.5, 0.5, 0.5])   # no spread: a point
    (0.5, 0.5)
    """
    d = _values(diff, "diff")
    if d.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def compare_paired(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool = True) -> Comparison:
    """Compare paired results `a[i]` vs `b[i]`.

    Parameters
    ----------
    a, b : sequence of float
        Results of two methods on the same (task, seed) cells, in the same order.
    higher_is_better : bool
        `False` for metrics such as bits per character.

    Returns
    -------
    Comparison
        `mean_diff` is `mean(a - b)` in the metric's own units.

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
    raw = x - y
    sd = float(raw.std(ddof=1)) if raw.size > 1 else 0.0
    effect = float(raw.mean() / sd) if sd > 0 else math.nan
    return Comparison(
        x.size,
        wins,
        losses,
        x.size - wins - losses,
        float(raw.mean()),
        sign_p,
        wilcoxon_p,
        t_interval(raw),
        bootstrap_interval(raw),
        effect,
    )
