"""Evaluation metrics: accuracy, bits per character, token F1 and ROUGE-1/2/L.

Text metrics follow the usual conventions: answers are normalised SQuAD-style (lower case, no
punctuation, no articles `a/an/the`, single spaces) before tokenising on whitespace; token F1
is the harmonic mean of bag-of-tokens precision and recall (Rajpurkar et al., 2016); ROUGE-N is
the F1 of clipped n-gram overlap and ROUGE-L the F1 of the longest common subsequence (Lin, 2004),
both without stemming. Against several references, the best score counts.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

__all__ = [
    "best_over_references",
    "bits_per_char",
    "normalize_answer",
    "rouge_l",
    "rouge_n",
    "token_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def bits_per_char(nll_nats: float, n_chars: int) -> float:
    """Bits per character from a summed negative log-likelihood in nats.

    Examples
    --------
    >>> bits_per_char(8 * math.log(2), 4)
    2.0
    """
    if n_chars <= 0:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    if not math.isfinite(nll_nats) or nll_nats < 0:
        raise ValueError(f"nll_nats must be finite and non-negative, got {nll_nats}")
    return nll_nats / n_chars / math.log(2)


def normalize_answer(text: str) -> list[str]:
    """Lower-case, strip punctuation and articles, and split on whitespace.

    Examples
    --------
    >>> normalize_answer("The cat, a Hat!")
    ['cat', 'hat']
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split()


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    precision, recall = overlap / n_pred, overlap / n_ref
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, reference: str) -> float:
    """Bag-of-tokens F1 between normalised answers (1.0 when both are empty).

    Examples
    --------
    >>> token_f1("the big red dog", "red dog barks")   # overlap 2, P = 2/3, R = 2/3
    0.666...
    """
    pred, ref = normalize_answer(prediction), normalize_answer(reference)
    if not pred and not ref:
        return 1.0
    overlap = sum((Counter(pred) & Counter(ref)).values())
    return _f1(overlap, len(pred), len(ref))


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(prediction: str, reference: str, n: int = 1) -> float:
    """ROUGE-N F1: clipped n-gram overlap between normalised texts.

    Examples
    --------
    >>> rouge_n("cat sat on mat", "cat sat on the mat", 2)   # 3 of 3 bigrams vs 3 of 3
    1.0
    >>> rouge_n("cat sat", "dog sat", 1)
    0.5
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    pred, ref = _ngrams(normalize_answer(prediction), n), _ngrams(normalize_answer(reference), n)
    return _f1(sum((pred & ref).values()), sum(pred.values()), sum(ref.values()))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    # One-row dynamic programme: O(len(a) * len(b)) time, O(len(b)) memory.
    row = [0] * (len(b) + 1)
    for x in a:
        diag = 0
        for j, y in enumerate(b, start=1):
            diag, row[j] = row[j], diag + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of normalised tokens.

    Examples
    --------
    >>> rouge_l("police killed the gunman", "police kill the gunman")   # LCS 2 of 3 tokens each
    0.666...
    """
    pred, ref = normalize_answer(prediction), normalize_answer(reference)
    return _f1(_lcs_length(pred, ref), len(pred), len(ref))


def best_over_references(
    metric: Callable[[str, str], float], prediction: str, references: Sequence[str]
) -> float:
    """The best `metric(prediction, reference)` over several references.

    Examples
    --------
    >>> best_over_references(token_f1, "blue", ["red", "Blue."])
    1.0
    """
    if isinstance(references, str) or len(references) == 0:
        raise ValueError("references must be a non-empty sequence of strings")
    return max(metric(prediction, ref) for ref in references)
