"""Shortcut baselines and the shortcut-free tasks, against brute force and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hankelid_bench.baselines import chance_level, shortcut_baselines, suffix_posterior
from hankelid_bench.tasks import DFATask, LagTask, PermTask, make_task, run_dfa, transpositions


def _brute_posterior(table: np.ndarray, symbols: np.ndarray, last: int) -> np.ndarray:
    """Law of the final state given the suffix, by enumerating every prefix (uniform symbols)."""
    k, m = table.shape
    T = symbols.size
    counts = np.zeros(k)
    for prefix in itertools.product(range(m), repeat=T - last):
        word = list(prefix) + list(symbols[T - last :])
        s = 0
        for c in word:
            s = table[s, c]
        counts[s] += 1
    return counts / counts.sum()


@pytest.mark.parametrize("k,m,T", [(3, 2, 6), (4, 3, 4), (2, 2, 7)])
def test_suffix_posterior_matches_enumeration(k, m, T):
    rng = np.random.default_rng(k * 100 + m * 10 + T)
    tables = rng.integers(0, k, size=(5, k, m))
    symbols = rng.integers(0, m, size=(5, T))
    for last in range(T + 1):
        got = suffix_posterior(tables, symbols, last)
        for i in range(5):
            np.testing.assert_allclose(got[i], _brute_posterior(tables[i], symbols[i], last), atol=1e-12)


def test_perm_table_only_closed_form():
    # Random transpositions move a tracked item like a lazy walk: P = a I + b (J - I) with
    # a = (n-2)/n; its non-trivial eigenvalue is (n-3)/(n-1), so P^T[0, 0] = 1/n + (1 - 1/n) lam^T.
    for n, T in [(5, 3), (5, 10), (4, 7), (3, 5)]:
        table = transpositions(n)[None]
        lam = (n - 3) / (n - 1)
        q = suffix_posterior(table, np.zeros((1, T), dtype=int), 0)[0]
        assert q[0] == pytest.approx(1 / n + (1 - 1 / n) * lam**T, abs=1e-12)
        assert q.sum() == pytest.approx(1.0)


def test_perm_answers_match_explicit_swaps():
    task = PermTask(T=9, n=5)
    batch = task.train_batch(np.random.default_rng(3), 20)
    pairs = [(p, q) for p in range(5) for q in range(p + 1, 5)]
    for row, target in zip(batch.tokens, batch.targets[:, -1]):
        items = list("ABCDE")  # items[position] = item there
        for c in row[3 : 3 + 9]:
            p, q = pairs[c - ord("a")]
            items[p], items[q] = items[q], items[p]
        assert chr(target) == "ABCDE"[items.index("A")]


def test_perm_and_lag_have_no_shortcut_but_dfa_has():
    n = 2000
    perm = shortcut_baselines(make_task("perm", n=5, T=64), n)
    assert perm["chance"] == pytest.approx(0.2)
    for j, v in perm["suffix"].items():
        assert v["expected"] == pytest.approx(0.2, abs=1e-6), j  # exactly chance up to 0.5^56
        assert abs(v["accuracy"] - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    dfa = shortcut_baselines(make_task("dfa", k=4, T=64), n)
    assert dfa["suffix"][0]["accuracy"] > 0.5 > 0.25  # the table alone beats chance by far
    assert dfa["suffix"][8]["accuracy"] > dfa["suffix"][0]["accuracy"]
    assert shortcut_baselines(make_task("lag", lag=3, T=8), 10) is None  # not an automaton task
    assert chance_level(make_task("lag", lag=3, T=8, m=5)) == pytest.approx(0.2)


def test_automaton_readback_reproduces_answers():
    for task in (DFATask(T=7, k=3, m=3), PermTask(T=7, n=4)):
        batch = next(task.eval_batches("test", 50, 50))
        table, symbols = task.automaton(batch.tokens)
        assert (ord("A") + run_dfa(table, symbols) == batch.targets[:, -1]).all()
        # the full word is known: the Bayes predictor is exact
        assert shortcut_baselines(task, 50, lasts=(7,))["suffix"][7]["accuracy"] == 1.0


def test_lag_answer_and_format():
    task = LagTask(T=10, lag=4, m=3)
    batch = task.train_batch(np.random.default_rng(0), 30)
    assert batch.tokens.shape == (30, task.seq_len)
    assert (batch.targets[:, -1] == batch.tokens[:, 2 + 10 - 4]).all()
    assert set(np.unique(batch.tokens[:, 2:12])) <= {ord("a"), ord("b"), ord("c")}
    assert task.label == "lag(m=3,lag=4,T=10)"


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("lag", {"T": 4, "lag": 5}, "lag"),
        ("lag", {"T": 4, "lag": 0}, "lag"),
        ("perm", {"T": 4, "n": 1}, "n"),
        ("perm", {"T": 4, "n": 10}, "n"),
    ],
)
def test_bad_new_task_parameters(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_task(name, **params)


def test_suffix_posterior_bad_input():
    with pytest.raises(ValueError, match="last"):
        suffix_posterior(np.zeros((1, 2, 2), dtype=int), np.zeros((1, 3), dtype=int), 4)
    with pytest.raises(ValueError, match="table"):
        suffix_posterior(np.zeros((2, 2), dtype=int), np.zeros((1, 3), dtype=int), 0)
