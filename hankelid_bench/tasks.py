"""Deterministic task generators and loaders: DFA / permutation state tracking, lag recall, parity,
character-level LM.

Every task works on **bytes** (ids 0..255, id 0 never occurs in data and serves as padding), so one
byte-level base model serves all tasks; [`base_model`][hankelid_bench.base_model] maps bytes to the ids of a
foreign tokenizer when a local checkpoint is used. A task hands out [`Batch`][hankelid_bench.tasks.Batch]
objects: `tokens` and `targets` of shape `(B, L)` in the HuggingFace convention (`targets[:, t]` is the token
at position `t`; the model shifts internally; `-100` = not scored).

Formats
-------
DFA (`dfa`): a fresh random DFA per sample with `k` states `A, B, ...` and an alphabet of
`m` symbols `a, b, ...` (start state `A`, next states uniform at random). The prompt lists
the transition table as space-separated triplets `<state><symbol><next>`, then `|`, the `T`
input symbols, `=` and the final state, e.g. `AaB AbA BaA BbB|abba=B` (k=2, m=2, T=4). Only
the final state is scored; accuracy takes the argmax over the `k` state letters.

Permutation automaton (`perm`): the word problem of the symmetric group S_n acting on n
items, tracked for one item. The alphabet is fixed (no table in the prompt): symbol number `i`
(`a, b, ...`) is the `i`-th transposition `(p q)`, `p < q`, in lexicographic order; the
state is the position (`A, B, ...`) of the item that starts at `A`, and a transposition
`(p q)` moves it from `p` to `q` or back. Prompt `S<n>|`, the `T` symbols, `=` and
the final position, e.g. `S3|abc=C`. Transpositions generate S_n (non-solvable for n >= 5), and
the final position is close to uniform: knowing the alphabet, or any short suffix, predicts it no
better than chance 1/n ([`baselines`][hankelid_bench.baselines] computes this exactly).

Lag recall (`lag`): `L|`, `T` symbols from an alphabet of `m` letters, `=` and the symbol
`lag` positions before the end (`lag = 1`: the last one), e.g. `L|abcd=c` (T=4, lag=2).
Chance is 1/m. A linear recurrence can carry the symbol for `lag` steps; attention cannot when
`lag` exceeds the base model's receptive field (layers x `sliding_window`, see
[`BaseModelSpec`][hankelid_bench.base_model.BaseModelSpec]).

Parity (`parity`): `P|` then `T` bits `0/1` then `=` and the parity of the *whole*
sequence (number of ones mod 2), predicted once at the end, e.g. `P|1101=1`.

Character LM (`charlm`): windows of `T` bytes of a text; every position after the first is
scored, and the metric is bits per character (mean NLL in nats / ln 2). Splits are contiguous:
the first 90 % / next 5 % / last 5 % of the text (exactly 90M/5M/5M for the 100 MB enwik8 file).
The default text is the embedded corpus [`pydoc_corpus`][hankelid_bench.tasks.pydoc_corpus] ("task" half);
evaluation uses evenly spaced windows over the split.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IGNORE",
    "SPLITS",
    "TASK_FAMILIES",
    "Batch",
    "CharLMTask",
    "DFATask",
    "LagTask",
    "ParityTask",
    "PermTask",
    "Task",
    "make_task",
    "pydoc_corpus",
    "run_dfa",
    "transpositions",
]

IGNORE = -100
SPLITS = ("train", "val", "test")
# Salt for the fixed evaluation sets, so they never coincide with a training stream.
_EVAL_SALT = 0x5EED


@dataclass(frozen=True)
class Batch:
    """One batch of byte sequences.

    Attributes
    ----------
    tokens : ndarray of int64, shape (B, L)
        Byte ids (0..255).
    targets : ndarray of int64, shape (B, L)
        Byte id to predict at each position, or `IGNORE` (-100) where nothing is scored.
    candidates : tuple of int or None
        For classification tasks the byte ids among which accuracy takes its argmax.
    """

    tokens: np.ndarray
    targets: np.ndarray
    candidates: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Task:
    """Base class: a named task with a metric and train / evaluation batches.

    Attributes
    ----------
    name : str
        Short family name (`dfa`, `parity`, `charlm`).
    T : int
        Sequence parameter (number of input symbols, or window length for `charlm`).
    data_seed : int
        Seed of the fixed evaluation sets.
    """

    T: int
    data_seed: int = 0
    name: str = field(default="task", init=False)

    metric: str = field(default="accuracy", init=False)

    @property
    def higher_is_better(self) -> bool:
        """Whether larger metric values are better (accuracy) or worse (bits per character)."""
        return self.metric != "bpc"

    @property
    def label(self) -> str:
        """A unique, readable identifier such as `dfa(k=4,T=64)`."""
        return f"{self.name}({','.join(f'{k}={v}' for k, v in self.params().items())})"

    def params(self) -> dict[str, Any]:
        """The parameters that define the task (used in records and labels)."""
        return {"T": self.T}

    @property
    def seq_len(self) -> int:
        """Length of every sequence this task produces."""
        raise NotImplementedError

    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """Draw a fresh training batch from `rng`."""
        raise NotImplementedError

    def eval_batches(self, split: str, n: int, batch_size: int) -> Iterator[Batch]:
        """Yield the fixed evaluation set of `split` (`val` or `test`), `n` sequences in all."""
        raise NotImplementedError


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _check_split(split: str, allowed: tuple[str, ...] = ("val", "test")) -> int:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")
    return SPLITS.index(split)


def _chunks(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    _check_int(n, "n", 1)
    _check_int(batch_size, "batch_size", 1)
    for start in range(0, n, batch_size):
        yield start, min(n, start + batch_size)


def run_dfa(table: np.ndarray, symbols: np.ndarray, start: int = 0) -> np.ndarray:
    """Final states of a batch of DFAs.

    Parameters
    ----------
    table : ndarray of int, shape (n, k, m)
        `table[i, s, c]` is the next state of DFA `i` from state `s` on symbol `c`.
    symbols : ndarray of int, shape (n, T)
        Input symbols.
    start : int
        Start state of every DFA.

    Returns
    -------
    ndarray of int64, shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> flip = np.array([[[1, 0], [0, 1]]])   # symbol 0 toggles the state, symbol 1 keeps it
    >>> run_dfa(flip, np.array([[0, 1, 0, 0]])).tolist()
    [1]
    """
    table = np.asarray(table)
    symbols = np.asarray(symbols)
    if table.ndim != 3 or symbols.ndim != 2 or symbols.shape[0] != table.shape[0]:
        raise ValueError(f"table must be (n, k, m) and symbols (n, T); got {table.shape}, {symbols.shape}")
    state = np.full(table.shape[0], start, dtype=np.int64)
    rows = np.arange(table.shape[0])
    for t in range(symbols.shape[1]):
        state = table[rows, state, symbols[:, t]]
    return state


@dataclass(frozen=True)
class _GeneratedTask(Task):
    """A task with generated samples (`_sample`).

    Training batches come from the caller's `rng`; each split's evaluation set is fixed by a
    seed derived from the split and `data_seed`.
    """

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        raise NotImplementedError

    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        return self._sample(rng, _check_int(batch_size, "batch_size", 1))

    def eval_batches(self, split: str, n: int, batch_size: int) -> Iterator[Batch]:
        full = self._sample(np.random.default_rng([_EVAL_SALT, _check_split(split), self.data_seed]), n)
        for a, b in _chunks(n, batch_size):
            yield Batch(full.tokens[a:b], full.targets[a:b], full.candidates)


@dataclass(frozen=True)
class DFATask(_GeneratedTask):
    """Random-DFA state tracking (see the module docstring for the format).

    Examples
    --------
    >>> task = DFATask(T=8, k=3)
    >>> batch = task.train_batch(np.random.default_rng(0), 2)
    >>> batch.tokens.shape == (2, task.seq_len), bytes(batch.tokens[0, :2].astype(np.uint8))
    (True, b'Aa')
    >>> int((batch.targets != -100).sum())
    2
    """

    k: int = 4
    m: int = 2
    name: str = field(default="dfa", init=False)

    def __post_init__(self) -> None:
        _check_int(self.T, "T", 1)
        _check_int(self.k, "k (number of states)", 2, 26)
        _check_int(self.m, "m (alphabet size)", 1, 26)

    def params(self) -> dict[str, Any]:
        extra = {"m": self.m} if self.m != 2 else {}
        return {"k": self.k, **extra, "T": self.T}

    @property
    def seq_len(self) -> int:
        return 4 * self.k * self.m + self.T + 2

    @property
    def _state_ids(self) -> np.ndarray:
        return ord("A") + np.arange(self.k)

    def _encode(self, table: np.ndarray, symbols: np.ndarray) -> Batch:
        n, k, m = table.shape
        states, letters = self._state_ids, ord("a") + np.arange(m)
        src = np.broadcast_to(states[:, None], (k, m))
        sym = np.broadcast_to(letters[None, :], (k, m))
        # One triplet + separator per (state, symbol) in row-major order; the last separator is "|".
        triplets = np.stack(
            [
                np.broadcast_to(src, (n, k, m)),
                np.broadcast_to(sym, (n, k, m)),
                states[table],
                np.full((n, k, m), ord(" ")),
            ],
            axis=-1,
        ).reshape(n, 4 * k * m)
        triplets[:, -1] = ord("|")
        answer = states[run_dfa(table, symbols)]
        tokens = np.concatenate(
            [triplets, letters[symbols], np.full((n, 1), ord("=")), answer[:, None]], axis=1
        ).astype(np.int64)
        targets = np.full_like(tokens, IGNORE)
        targets[:, -1] = answer
        return Batch(tokens, targets, tuple(int(s) for s in states))

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        table = rng.integers(0, self.k, size=(n, self.k, self.m))
        return self._encode(table, rng.integers(0, self.m, size=(n, self.T)))

    def automaton(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read `(table (n, k, m), symbols (n, T))` back from prompts (the start state is 0).

        Examples
        --------
        >>> task = DFATask(T=5, k=3)
        >>> batch = task.train_batch(np.random.default_rng(0), 4)
        >>> table, symbols = task.automaton(batch.tokens)
        >>> bool((ord("A") + run_dfa(table, symbols) == batch.targets[:, -1]).all())
        True
        """
        tokens = np.asarray(tokens)
        km = self.k * self.m
        table = (tokens[:, 2 : 4 * km : 4] - ord("A")).reshape(-1, self.k, self.m)
        return table, tokens[:, 4 * km : 4 * km + self.T] - ord("a")


@dataclass(frozen=True)
class ParityTask(_GeneratedTask):
    """Parity of the whole bit sequence, predicted once at the end (see the module docstring).

    Examples
    --------
    >>> batch = ParityTask(T=5).train_batch(np.random.default_rng(1), 3)
    >>> text = bytes(batch.tokens[0].astype(np.uint8)).decode()
    >>> text[:2], text[-2], int(text[-1]) == text[2:7].count("1") % 2
    ('P|', '=', True)
    """

    name: str = field(default="parity", init=False)

    def __post_init__(self) -> None:
        _check_int(self.T, "T", 1)

    @property
    def seq_len(self) -> int:
        return self.T + 4

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        bits = rng.integers(0, 2, size=(n, self.T))
        zero, one = ord("0"), ord("1")
        answer = zero + bits.sum(axis=1) % 2
        tokens = np.concatenate(
            [np.tile([ord("P"), ord("|")], (n, 1)), zero + bits, np.full((n, 1), ord("=")), answer[:, None]],
            axis=1,
        ).astype(np.int64)
        targets = np.full_like(tokens, IGNORE)
        targets[:, -1] = answer
        return Batch(tokens, targets, (zero, one))


def transpositions(n: int) -> np.ndarray:
    """The transition table `(n, n (n - 1) / 2)` of S_n's transpositions acting on positions.

    Column `i` is the `i`-th transposition `(p q)`, `p < q` in lexicographic order.

    Examples
    --------
    >>> transpositions(3).tolist()   # (0 1), (0 2), (1 2)
    [[1, 2, 0], [0, 1, 2], [2, 0, 1]]
    """
    n = _check_int(n, "n", 2, 12)
    pairs = [(p, q) for p in range(n) for q in range(p + 1, n)]
    table = np.tile(np.arange(n)[:, None], (1, len(pairs)))
    for i, (p, q) in enumerate(pairs):
        table[p, i], table[q, i] = q, p
    return table


@dataclass(frozen=True)
class PermTask(_GeneratedTask):
    """Word problem of S_n tracked for one item (see the module docstring); chance is 1/n.

    Examples
    --------
    >>> task = PermTask(T=6, n=3)
    >>> batch = task.train_batch(np.random.default_rng(0), 2)
    >>> text = bytes(batch.tokens[0].astype(np.uint8)).decode()
    >>> text[:3], len(text) == task.seq_len, text[-2]
    ('S3|', True, '=')
    """

    n: int = 5
    name: str = field(default="perm", init=False)

    def __post_init__(self) -> None:
        _check_int(self.T, "T", 1)
        _check_int(self.n, "n (number of items)", 2, 9)

    def params(self) -> dict[str, Any]:
        return {"n": self.n, "T": self.T}

    @property
    def seq_len(self) -> int:
        return self.T + 5

    def automaton(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(table (n, k, m), symbols (n, T))` of prompts; the table is the fixed alphabet's."""
        tokens = np.asarray(tokens)
        table = np.broadcast_to(transpositions(self.n), (tokens.shape[0], *transpositions(self.n).shape))
        return table, tokens[:, 3 : 3 + self.T] - ord("a")

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        table = transpositions(self.n)
        symbols = rng.integers(0, table.shape[1], size=(n, self.T))
        states = ord("A") + np.arange(self.n)
        answer = states[run_dfa(np.broadcast_to(table, (n, *table.shape)), symbols)]
        head = np.tile([ord("S"), ord("0") + self.n, ord("|")], (n, 1))
        tokens = np.concatenate(
            [head, ord("a") + symbols, np.full((n, 1), ord("=")), answer[:, None]], axis=1
        ).astype(np.int64)
        targets = np.full_like(tokens, IGNORE)
        targets[:, -1] = answer
        return Batch(tokens, targets, tuple(int(s) for s in states))


@dataclass(frozen=True)
class LagTask(_GeneratedTask):
    """Recall the symbol `lag` positions before the end (see the module docstring); chance 1/m.

    Examples
    --------
    >>> task = LagTask(T=6, lag=2, m=3)
    >>> text = bytes(task.train_batch(np.random.default_rng(0), 1).tokens[0].astype(np.uint8)).decode()
    >>> text[:2], text[-1] == text[2 + 6 - 2]
    ('L|', True)
    """

    lag: int = 1
    m: int = 4
    name: str = field(default="lag", init=False)

    def __post_init__(self) -> None:
        _check_int(self.T, "T", 1)
        _check_int(self.m, "m (alphabet size)", 2, 26)
        _check_int(self.lag, "lag", 1, self.T)

    def params(self) -> dict[str, Any]:
        return {"m": self.m, "lag": self.lag, "T": self.T}

    @property
    def seq_len(self) -> int:
        return self.T + 4

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        letters = ord("a") + rng.integers(0, self.m, size=(n, self.T))
        answer = letters[:, self.T - self.lag]
        tokens = np.concatenate(
            [np.tile([ord("L"), ord("|")], (n, 1)), letters, np.full((n, 1), ord("=")), answer[:, None]],
            axis=1,
        ).astype(np.int64)
        targets = np.full_like(tokens, IGNORE)
        targets[:, -1] = answer
        return Batch(tokens, targets, tuple(ord("a") + i for i in range(self.m)))


def pydoc_corpus(part: str = "task") -> bytes:
    """The embedded English corpus: the standard library's `pydoc_data.topics` (about 465 kB).

    The topics, sorted by name, alternate between two halves: even positions form the
    `"pretrain"` half (used by the base model) and odd positions the `"task"` half (the
    character-LM adaptation task), so adaptation meets documentation topics never seen in
    pre-training. Non-ASCII characters are UTF-8 encoded.

    Parameters
    ----------
    part : {"task", "pretrain", "all"}

    Returns
    -------
    bytes

    Examples
    --------
    >>> len(pydoc_corpus("task")) + len(pydoc_corpus("pretrain")) == len(pydoc_corpus("all"))
    True
    """
    from pydoc_data.topics import topics

    keys = sorted(topics)
    if part == "all":
        chosen = keys
    elif part in ("pretrain", "task"):
        chosen = keys[part == "task" :: 2]
    else:
        raise ValueError(f"part must be 'task', 'pretrain' or 'all', got {part!r}")
    return b"".join(topics[key].encode("utf-8") for key in chosen)


@dataclass(frozen=True)
class CharLMTask(Task):
    """Character-level language modelling on windows of `T` bytes, scored in bits per character.

    Parameters
    ----------
    T : int
        Window length (the model sees `T` bytes and predicts the last `T - 1`).
    path : str or None
        A text file such as enwik8; `None` uses the embedded
        [`pydoc_corpus`][hankelid_bench.tasks.pydoc_corpus].

    Examples
    --------
    >>> task = CharLMTask(T=16)
    >>> batch = next(task.eval_batches("val", 3, 8))
    >>> batch.tokens.shape, bool((batch.targets[:, 1:] == batch.tokens[:, 1:]).all())
    ((3, 16), True)
    """

    path: str | None = None
    name: str = field(default="charlm", init=False)
    metric: str = field(default="bpc", init=False)

    def __post_init__(self) -> None:
        _check_int(self.T, "T", 2)
        if self.path is not None and not Path(self.path).is_file():
            raise ValueError(f"charlm path {self.path!r} is not a file")

    def params(self) -> dict[str, Any]:
        corpus = {"corpus": Path(self.path).name} if self.path else {}
        return {**corpus, "T": self.T}

    @property
    def seq_len(self) -> int:
        return self.T

    def split(self, split: str) -> np.ndarray:
        """The bytes of `split` (contiguous 90 / 5 / 5 % of the text) as an int64 array."""
        index = _check_split(split, SPLITS)
        data = _text_bytes(self.path)
        cuts = [0, len(data) * 90 // 100, len(data) * 95 // 100, len(data)]
        part = data[cuts[index] : cuts[index + 1]]
        if len(part) < self.T + 1:
            raise ValueError(f"the {split} split has {len(part)} bytes, fewer than T + 1 = {self.T + 1}")
        return part

    def _windows(self, data: np.ndarray, starts: np.ndarray) -> Batch:
        tokens = data[starts[:, None] + np.arange(self.T)].astype(np.int64)
        targets = tokens.copy()
        targets[:, 0] = IGNORE
        return Batch(tokens, targets)

    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        data = self.split("train")
        starts = rng.integers(0, len(data) - self.T + 1, size=_check_int(batch_size, "batch_size", 1))
        return self._windows(data, starts)

    def eval_batches(self, split: str, n: int, batch_size: int) -> Iterator[Batch]:
        _check_split(split)
        data = self.split(split)
        # Evenly spaced windows cover the whole split instead of its first few kilobytes.
        starts = np.linspace(0, len(data) - self.T, _check_int(n, "n", 1)).astype(np.int64)
        for a, b in _chunks(n, batch_size):
            yield self._windows(data, starts[a:b])


_TEXT_CACHE: dict[str | None, np.ndarray] = {}


def _text_bytes(path: str | None) -> np.ndarray:
    if path not in _TEXT_CACHE:
        raw = pydoc_corpus("task") if path is None else Path(path).read_bytes()
        data = np.frombuffer(raw, dtype=np.uint8)
        if data.size and data.min() == 0:
            # Byte 0 is the padding id; the standard corpora never contain it.
            raise ValueError(f"text {path!r} contains NUL bytes, which are reserved for padding")
        _TEXT_CACHE[path] = data
    return _TEXT_CACHE[path]


TASK_FAMILIES: dict[str, type[Task]] = {
    "dfa": DFATask,
    "perm": PermTask,
    "lag": LagTask,
    "parity": ParityTask,
    "charlm": CharLMTask,
}


def make_task(name: str, **params: Any) -> Task:
    """Build a task by family name.

    Parameters
    ----------
    name : "dfa" | "perm" | "lag" | "parity" | "charlm"
    **params
        Constructor arguments (`T`, `k`, `m`, `n`, `lag`, `path`, `data_seed`).

    Returns
    -------
    Task

    Raises
    ------
    ValueError
        If the family or a parameter is unknown or invalid.

    Examples
    --------
    >>> make_task("dfa", k=4, T=64).label
    'dfa(k=4,T=64)'
    >>> make_task("parity", T=3).seq_len
    7
    """
    if name not in TASK_FAMILIES:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASK_FAMILIES)}")
    if "T" not in params:
        raise ValueError(f"task {name!r} needs T")
    try:
        return TASK_FAMILIES[name](**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for task {name!r}: {exc}") from None
