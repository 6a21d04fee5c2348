"""Seed statistics against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hankelid_bench.stats import compare_paired, summarize


def test_summarize_matches_definition():
    values = [0.3, 0.5, 0.9, 0.1]
    s = summarize(values)
    mean = sum(values) / 4
    assert s.mean == pytest.approx(mean)
    assert s.std == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in values) / 3))
    assert summarize([2.0]).std == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        summarize([])
    with pytest.raises(ValueError, match="NaN"):
        summarize([1.0, float("nan")])


def test_sign_test_closed_form():
    a = [1, 2, 3, 4, 5, 6, 0]
    b = [0, 0, 0, 0, 0, 0, 0]  # 6 wins, 1 tie
    c = compare_paired(a, b)
    # Two-sided exact binomial over the 6 non-tied pairs: 2 * (1/2)^6.
    assert (c.wins, c.losses, c.ties) == (6, 0, 1)
    assert c.sign_p == pytest.approx(2 * 0.5**6)
    # Wilcoxon exact, all 6 positive ranks: the most extreme of 2^6 sign patterns, two-sided.
    assert c.wilcoxon_p == pytest.approx(2 / 2**6)


def test_direction_for_lower_is_better():
    bpc_a, bpc_b = [1.0, 1.1, 1.2], [1.5, 1.5, 1.5]
    c = compare_paired(bpc_a, bpc_b, higher_is_better=False)
    assert (c.wins, c.losses) == (3, 0)
    assert c.mean_diff == pytest.approx(np.mean(np.subtract(bpc_a, bpc_b)))


def test_all_ties_and_bad_input():
    c = compare_paired([1.0, 2.0], [1.0, 2.0])
    assert c.ties == 2 and c.sign_p == 1.0 and math.isnan(c.wilcoxon_p)
    with pytest.raises(ValueError, match="paired"):
        compare_paired([1.0], [1.0, 2.0])
