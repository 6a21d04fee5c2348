"""Task generators: hand-checked labels, determinism, splits and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from hankelid_bench.tasks import (
    IGNORE,
    CharLMTask,
    DFATask,
    ParityTask,
    make_task,
    pydoc_corpus,
    run_dfa,
)


def _text(row: np.ndarray) -> str:
    return bytes(row.astype(np.uint8)).decode()


def _simulate_from_prompt(text: str) -> str:
    """Independent reference: parse the printed table and run the DFA character by character."""
    table_text, rest = text.split("|")
    symbols, answer = rest.split("=")
    delta = {(t[0], t[1]): t[2] for t in table_text.split(" ")}
    state = "A"
    for c in symbols:
        state = delta[(state, c)]
    assert len(answer) == 1
    return state


def test_run_dfa_hand_checked():
    # 3 states, symbol a: s -> s+1 mod 3, symbol b: stay. "aabab" has three a's: A -> A.
    table = np.array([[[1, 0], [2, 1], [0, 2]]])
    assert run_dfa(table, np.array([[0, 0, 1, 0, 1]])).tolist() == [0]
    assert run_dfa(table, np.array([[0, 1, 1, 0]])).tolist() == [2]


@pytest.mark.parametrize("k, m, T", [(4, 2, 16), (3, 3, 7), (2, 1, 5)])
def test_dfa_answer_matches_prompt(k, m, T):
    task = DFATask(T=T, k=k, m=m)
    batch = task.train_batch(np.random.default_rng(3), 20)
    assert batch.tokens.shape == (20, task.seq_len)
    for row, target in zip(batch.tokens, batch.targets):
        text = _text(row)
        assert text[-1] == _simulate_from_prompt(text)
        assert len(text.split("|")[1].split("=")[0]) == T
        # Only the answer position is scored, with the answer byte.
        assert (target[:-1] == IGNORE).all() and target[-1] == row[-1]
    assert batch.candidates == tuple(ord("A") + i for i in range(k))


def test_parity_answer_hand_checked():
    batch = ParityTask(T=9).train_batch(np.random.default_rng(5), 30)
    for row in batch.tokens:
        text = _text(row)
        bits = text[2:-2]
        assert text.startswith("P|") and text[-2] == "=" and len(bits) == 9
        assert int(text[-1]) == sum(b == "1" for b in bits) % 2


@pytest.mark.parametrize("task", [DFATask(T=12), ParityTask(T=12), CharLMTask(T=32)])
def test_eval_sets_are_fixed_and_splits_differ(task):
    first = np.concatenate([b.tokens for b in task.eval_batches("val", 10, 4)])
    again = np.concatenate([b.tokens for b in task.eval_batches("val", 10, 3)])
    test = np.concatenate([b.tokens for b in task.eval_batches("test", 10, 4)])
    np.testing.assert_array_equal(first, again)  # batching does not change the set
    assert first.shape == (10, task.seq_len)
    assert not np.array_equal(first, test)
    a = task.train_batch(np.random.default_rng(1), 4).tokens
    b = task.train_batch(np.random.default_rng(1), 4).tokens
    np.testing.assert_array_equal(a, b)


def test_dfa_data_seed_changes_eval_set():
    a = next(DFATask(T=8).eval_batches("test", 4, 4)).tokens
    b = next(DFATask(T=8, data_seed=1).eval_batches("test", 4, 4)).tokens
    assert not np.array_equal(a, b)


def test_charlm_splits_from_user_file(tmp_path):
    data = bytes(range(1, 201)) * 5  # 1000 bytes, no NUL
    path = tmp_path / "enwik_tiny"
    path.write_bytes(data)
    task = CharLMTask(T=10, path=str(path))
    sizes = [len(task.split(s)) for s in ("train", "val", "test")]
    assert sizes == [900, 50, 50]
    np.testing.assert_array_equal(task.split("val"), np.frombuffer(data[900:950], dtype=np.uint8))
    batch = task.train_batch(np.random.default_rng(0), 3)
    assert (batch.targets[:, 0] == IGNORE).all()
    np.testing.assert_array_equal(batch.targets[:, 1:], batch.tokens[:, 1:])
    # Consecutive bytes in the file stay consecutive in a window.
    assert ((np.diff(batch.tokens, axis=1) % 200) == 1).all()
    assert task.label == "charlm(corpus=enwik_tiny,T=10)"


def test_charlm_windows_cover_split():
    task = CharLMTask(T=64)
    starts = next(b.tokens for b in task.eval_batches("test", 5, 5))
    split = task.split("test")
    np.testing.assert_array_equal(starts[0], split[:64])
    np.testing.assert_array_equal(starts[-1], split[-64:])


def test_pydoc_corpus_is_english_and_halves_disjoint():
    task_half, pre_half = pydoc_corpus("task"), pydoc_corpus("pretrain")
    assert len(task_half) > 100_000 and len(pre_half) > 100_000
    assert b" the " in task_half
    assert task_half[:2000] not in pre_half


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("dfa", {"T": 0}, "T must be"),
        ("dfa", {"T": 4, "k": 1}, "k"),
        ("dfa", {"T": 4.5}, "integer"),
        ("parity", {}, "needs T"),
        ("maze", {"T": 4}, "unknown task"),
        ("dfa", {"T": 4, "bogus": 1}, "bad parameters"),
        ("charlm", {"T": 8, "path": "/nonexistent/enwik8"}, "not a file"),
    ],
)
def test_bad_task_parameters(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_task(name, **params)


def test_bad_split_and_nul_bytes(tmp_path):
    with pytest.raises(ValueError, match="split"):
        next(DFATask(T=4).eval_batches("train", 2, 2))
    path = tmp_path / "bad"
    path.write_bytes(b"abc\x00" * 100)
    with pytest.raises(ValueError, match="NUL"):
        CharLMTask(T=4, path=str(path)).split("train")


@pytest.mark.parametrize("lag", [8, 160])
def test_recall_at_a_lag_needs_an_lti_adapter_of_order_lag(lag):
    """Why `lag` is out of reach of a low-order adapter (docs/results/findings.md).

    The map from a symbol to its recall `lag` steps later is the delay z^-lag. Its minimal
    realization is a shift register whose `lag` Hankel singular values all equal 1, so every LTI
    system of order r < lag is at H-infinity distance >= sigma_{r+1} = 1 from it (the Hankel-norm
    lower bound): no order-12 adapter can approximate the delay, whatever its training.
    """
    import hankelid as hk

    a = np.eye(lag, k=-1)
    b = np.zeros((lag, 1))
    b[0, 0] = 1.0
    c = np.zeros((1, lag))
    c[0, -1] = 1.0
    delay = hk.StateSpace(a, b, c, np.zeros((1, 1)), dt=1.0)
    np.testing.assert_allclose(hk.hsv(delay), np.ones(lag), atol=1e-12)
    # Its impulse response is the unit pulse at `lag`: the system is the delay.
    h = hk.markov_parameters(delay, lag + 2)[:, 0, 0]
    np.testing.assert_allclose(h, np.eye(lag + 2)[lag], atol=1e-15)
