r"""Exact shortcut baselines of the automaton tasks: what can be predicted without tracking state.

A random DFA forgets its start state: after many uniformly random symbols the final state depends
mostly on the transition table and on the last few symbols. The *Bayes-optimal* predictor that
sees the table and the last `j` symbols (not the earlier ones) is computed exactly: with
\( P = \frac{1}{m} \sum_c \Pi_c \) the chain's transition matrix (\( \Pi_c \) the 0/1 matrix of
symbol \( c \)), the state before the suffix is distributed as \( \pi = e_{\mathrm{start}}^\top
P^{T-j} \); the suffix maps it deterministically, so the final state has the push-forward law
\( q \) of \( \pi \), and the predictor answers \( \arg\max q \). Its expected accuracy given the
table and suffix is \( \max q \). `j = 0` is the table-only predictor.

An adapted model that scores at or below these numbers has not shown state tracking. For the
permutation task ([`PermTask`][hankelid_bench.tasks.PermTask]) every such baseline sits at
chance 1/n (for large T).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .tasks import Task

__all__ = ["chance_level", "shortcut_baselines", "suffix_posterior"]


def suffix_posterior(table: np.ndarray, symbols: np.ndarray, last: int, start: int = 0) -> np.ndarray:
    """Law of the final state given the table and the last `last` symbols (uniform symbols before).

    Parameters
    ----------
    table : ndarray of int, shape (n, k, m)
        `table[i, s, c]`: next state of automaton `i` from `s` on symbol `c`.
    symbols : ndarray of int, shape (n, T)
    last : int
        Number of trailing symbols the predictor sees (`0 <= last <= T`).
    start : int
        Start state.

    Returns
    -------
    ndarray, shape (n, k)
        Rows sum to 1.

    Examples
    --------
    >>> flip = np.array([[[1, 0], [0, 1]]])   # symbol 0 toggles, symbol 1 keeps
    >>> suffix_posterior(flip, np.array([[0, 0, 1]]), last=0).round(3).tolist()
    [[0.5, 0.5]]
    >>> suffix_posterior(flip, np.array([[0, 0, 1]]), last=3).tolist()   # the whole word: exact
    [[1.0, 0.0]]
    """
    table, symbols = np.asarray(table), np.asarray(symbols)
    if table.ndim != 3 or symbols.ndim != 2 or table.shape[0] != symbols.shape[0]:
        raise ValueError(f"table must be (n, k, m) and symbols (n, T); got {table.shape}, {symbols.shape}")
    n, k, m = table.shape
    T = symbols.shape[1]
    if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or not 0 <= last <= T:
        raise ValueError(f"last must be an integer in [0, {T}], got {last!r}")
    rows = np.arange(n)
    # P[i, s, t] = (number of symbols c with table[i, s, c] = t) / m
    P = np.zeros((n, k, k))
    for c in range(m):
        P[rows[:, None], np.arange(k)[None, :], table[:, :, c]] += 1.0 / m
    pi = np.zeros((n, k))
    pi[:, start] = 1.0
    # Repeated squaring would be faster; T - last matrix-vector products are exact and cheap here.
    for _ in range(T - last):
        pi = np.einsum("is,ist->it", pi, P)
    # Push the law through the known suffix, one symbol at a time.
    for t in range(T - last, T):
        nxt = table[rows, :, symbols[:, t]]  # (n, k): where each state goes
        q = np.zeros_like(pi)
        np.add.at(q, (rows[:, None].repeat(k, 1), nxt), pi)
        pi = q
    return pi


def chance_level(task: Task) -> float | None:
    """Accuracy of guessing uniformly among the candidates (None for non-classification tasks).

    Examples
    --------
    >>> from hankelid_bench.tasks import make_task
    >>> chance_level(make_task("perm", n=5, T=8)), chance_level(make_task("charlm", T=8))
    (0.2, None)
    """
    if task.metric != "accuracy":
        return None
    batch = next(task.eval_batches("test", 1, 1))
    return 1.0 / len(batch.candidates)


def shortcut_baselines(
    task: Task, n: int, lasts: Sequence[int] = (0, 1, 2, 4, 8), split: str = "test"
) -> dict[str, Any] | None:
    """Exact shortcut baselines on the fixed `split` set of an automaton task.

    Parameters
    ----------
    task : Task
        A task with an `automaton(tokens)` method (`dfa`, `perm`); others give `None`.
    n : int
        Size of the evaluation set (the same samples the models are scored on).
    lasts : sequence of int
        Suffix lengths `j` (values above `T` are skipped).
    split : {"test", "val"}

    Returns
    -------
    dict or None
        `{j: {"accuracy": a, "expected": e}}` under key `"suffix"`: `accuracy` is the Bayes
        predictor's accuracy on the fixed set, `expected` the mean of \\( \\max q \\) (its
        exact expected accuracy given each sample's table and suffix); plus `"chance"`.

    Examples
    --------
    >>> from hankelid_bench.tasks import make_task
    >>> out = shortcut_baselines(make_task("dfa", k=4, T=64), 256, lasts=(0, 64))
    >>> out["suffix"][64]["accuracy"]   # the whole word: the exact answer
    1.0
    >>> 0.25 < out["suffix"][0]["expected"] < 1.0
    True
    """
    if not hasattr(task, "automaton"):
        return None
    tokens, gold = [], []
    for batch in task.eval_batches(split, n, 512):
        tokens.append(batch.tokens)
        gold.append(batch.targets[:, -1] - ord("A"))
    tokens_all, gold_all = np.concatenate(tokens), np.concatenate(gold)
    table, symbols = task.automaton(tokens_all)
    out: dict[int, dict[str, float]] = {}
    for j in lasts:
        if j > symbols.shape[1]:
            continue
        q = suffix_posterior(table, symbols, int(j))
        out[int(j)] = {
            "accuracy": float((q.argmax(axis=1) == gold_all).mean()),
            "expected": float(q.max(axis=1).mean()),
        }
    return {"chance": chance_level(task), "suffix": out}
