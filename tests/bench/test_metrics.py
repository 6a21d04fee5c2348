"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from hankelid_bench.metrics import (
    best_over_references,
    bits_per_char,
    normalize_answer,
    rouge_l,
    rouge_n,
    token_f1,
)


def test_bits_per_char():
    assert bits_per_char(10 * math.log(2), 5) == pytest.approx(2.0)
    assert bits_per_char(0.0, 3) == 0.0
    with pytest.raises(ValueError, match="n_chars"):
        bits_per_char(1.0, 0)
    with pytest.raises(ValueError, match="finite"):
        bits_per_char(float("nan"), 2)


def test_normalize_answer():
    assert normalize_answer("  An Apple, the PIE!  ") == ["apple", "pie"]
    with pytest.raises(ValueError, match="str"):
        normalize_answer(3)


def test_token_f1_hand_computed():
    # pred: {john, smith, ate}; ref: {john, ate, pie, quickly}; overlap 2 -> P = 2/3, R = 2/4.
    assert token_f1("John Smith ate", "John ate the pie quickly") == pytest.approx(
        2 * (2 / 3) * 0.5 / (2 / 3 + 0.5)
    )
    assert token_f1("", "") == 1.0
    assert token_f1("x", "") == 0.0
    # Repeated tokens count with multiplicity: pred "a a b"->[b] after article removal; use words.
    assert token_f1("dog dog cat", "dog cat cat") == pytest.approx(2 / 3)


def test_rouge_hand_computed():
    pred, ref = "the cat sat on the mat", "the cat lay on the mat"
    # After normalisation: [cat, sat, on, mat] vs [cat, lay, on, mat].
    assert rouge_n(pred, ref, 1) == pytest.approx(3 / 4)
    # Bigrams: (cat,sat)(sat,on)(on,mat) vs (cat,lay)(lay,on)(on,mat): 1 of 3 each.
    assert rouge_n(pred, ref, 2) == pytest.approx(1 / 3)
    # LCS [cat, on, mat] = 3 of 4 each.
    assert rouge_l(pred, ref) == pytest.approx(3 / 4)
    # LCS is order-sensitive where unigram overlap is not.
    assert rouge_n("w b c d", "d c b w", 1) == 1.0
    assert rouge_l("w b c d", "d c b w") == pytest.approx(1 / 4)
    assert rouge_n("one", "one", 2) == 0.0  # no bigrams at all
    with pytest.raises(ValueError, match="n must"):
        rouge_n("a", "a", 0)


def test_best_over_references():
    assert best_over_references(rouge_l, "red car", ["blue bus", "a red car"]) == 1.0
    with pytest.raises(ValueError, match="references"):
        best_over_references(rouge_l, "x", "x")
