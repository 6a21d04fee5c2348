"""The frozen base model: a small byte-level `MistralForCausalLM` pre-trained once and cached.

Pre-training uses a *generic mixture*: windows of the `"pretrain"` half of the embedded English
corpus ([`tasks.pydoc_corpus`][hankelid_bench.tasks.pydoc_corpus]) and, in a fraction `synthetic_frac` of the
rows, DFA and parity strings whose answers are masked out of the loss. The base model thus knows the byte
inventory and the prompt formats — so adaptation measures state tracking, not vocabulary
learning — but it never sees a scored answer or a topic of the character-LM task.

The pre-training length `seq_len` should be the evaluation length of the character-LM task: a
base model evaluated beyond the positions it was trained on measures length extrapolation, which
favours methods that adapt attention. `sliding_window` (Mistral's windowed attention) bounds
what attention can see: `layers` x `sliding_window` positions back at most. `formats` names
the synthetic prompt formats mixed in (answers masked).
[`base_quality`][hankelid_bench.base_model.base_quality] measures the result.

Any local HuggingFace checkpoint can replace it (`--base-model PATH`); bytes are then mapped to
the tokenizer's byte-fallback tokens `<0x00>`..`<0xFF>` (as in Mistral / Llama tokenizers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .tasks import IGNORE, CharLMTask, DFATask, LagTask, ParityTask, PermTask, pydoc_corpus

__all__ = [
    "BaseModelSpec",
    "ByteCodec",
    "base_quality",
    "build_model",
    "default_cache_dir",
    "load_base_model",
    "pretrain",
    "pretrain_history",
]

#: Fields added after recipe 1 with the value that reproduces recipe 1: left out of the cache key
#: at that value, so models cached before they existed are still found.
_LEGACY_DEFAULTS = {"sliding_window": None, "formats": "dfa,parity"}
_FORMATS = ("dfa", "parity", "perm", "lag")

# Bumped when the pre-training recipe changes, so stale cached models are not reused.
_RECIPE_VERSION = 1


@dataclass(frozen=True)
class BaseModelSpec:
    """Architecture and pre-training budget of the harness's own base model.

    Examples
    --------
    >>> spec = BaseModelSpec(hidden_size=32, layers=1, steps=2)
    >>> len(spec.key())
    12
    """

    hidden_size: int = 64
    intermediate_size: int = 192
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 2048
    steps: int = 300
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 3e-3
    synthetic_frac: float = 0.3
    seed: int = 0
    sliding_window: int | None = None
    formats: str = "dfa,parity"

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size", "layers", "heads", "kv_heads", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            raise ValueError("hidden_size must be divisible by heads, and heads by kv_heads")
        if self.seq_len < 40:
            raise ValueError(f"seq_len must be >= 40 to hold a DFA prompt, got {self.seq_len}")
        if not 0.0 <= self.synthetic_frac <= 1.0:
            raise ValueError(f"synthetic_frac must be in [0, 1], got {self.synthetic_frac}")
        if self.sliding_window is not None and (
            isinstance(self.sliding_window, bool)
            or not isinstance(self.sliding_window, int)
            or self.sliding_window < 1
        ):
            raise ValueError(
                f"sliding_window must be a positive integer or None, got {self.sliding_window!r}"
            )
        names = self.format_list
        if not names or any(f not in _FORMATS for f in names):
            raise ValueError(f"formats must be a comma-separated subset of {_FORMATS}, got {self.formats!r}")

    @property
    def format_list(self) -> list[str]:
        """The synthetic formats as a list (`formats` is a comma-separated string)."""
        return [f.strip() for f in self.formats.split(",") if f.strip()]

    @classmethod
    def tiny(cls, **changes: Any) -> BaseModelSpec:
        """A minimal spec for tests and examples (one layer, width 16, no pre-training)."""
        fields = dict(hidden_size=16, intermediate_size=32, layers=1, heads=2, kv_heads=1, steps=0)
        return cls(**{**fields, **changes})

    def key(self) -> str:
        """Short hash identifying this spec (and the recipe version) in the cache."""
        fields = {
            k: v
            for k, v in dataclasses.asdict(self).items()
            if k not in _LEGACY_DEFAULTS or v != _LEGACY_DEFAULTS[k]
        }
        payload = json.dumps({**fields, "recipe": _RECIPE_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ByteCodec:
    """Maps byte ids (0..255, 0 = padding) to a model's token ids.

    Examples
    --------
    >>> codec = ByteCodec.identity()
    >>> codec.encode(np.array([[65, -100]])).tolist()
    [[65, -100]]
    """

    table: np.ndarray
    pad_id: int

    @classmethod
    def identity(cls) -> ByteCodec:
        """The codec of the harness's own byte-level models."""
        return cls(np.arange(256, dtype=np.int64), 0)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> ByteCodec:
        """Use a tokenizer's byte-fallback tokens `<0xNN>`; `ValueError` if it has none."""
        ids = tokenizer.convert_tokens_to_ids([f"<0x{b:02X}>" for b in range(256)])
        unk = getattr(tokenizer, "unk_token_id", None)
        if any(i is None or i == unk for i in ids):
            raise ValueError("the checkpoint's tokenizer has no byte-fallback tokens <0x00>..<0xFF>")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids[0]
        return cls(np.asarray(ids, dtype=np.int64), int(pad))

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Map byte ids to token ids, leaving `IGNORE` (-100) entries alone."""
        values = np.asarray(values, dtype=np.int64)
        out = self.table[np.where(values == IGNORE, 0, values)]
        return np.where(values == IGNORE, IGNORE, out)


def default_cache_dir() -> Path:
    """`$HANKELID_CACHE` or `~/.cache/hankelid`."""
    return Path(os.environ.get("HANKELID_CACHE", Path.home() / ".cache" / "hankelid"))


def build_model(spec: BaseModelSpec) -> torch.nn.Module:
    """A freshly initialised byte-level `MistralForCausalLM` (seeded by `spec.seed`).

    Examples
    --------
    >>> model = build_model(BaseModelSpec.tiny())
    >>> model.config.vocab_size, type(model).__name__
    (256, 'MistralForCausalLM')
    """
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(
        vocab_size=256,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.max_positions,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=True,
    )
    if spec.sliding_window is not None:
        config.sliding_window = spec.sliding_window
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return MistralForCausalLM(config)


def _pretrain_batch(
    spec: BaseModelSpec, rng: np.random.Generator, text: np.ndarray
) -> tuple[np.ndarray, ...]:
    length = spec.seq_len
    starts = rng.integers(0, len(text) - length, size=spec.batch_size)
    tokens = text[starts[:, None] + np.arange(length)].astype(np.int64)
    targets = tokens.copy()
    n_syn = int(rng.binomial(spec.batch_size, spec.synthetic_frac))
    makers = {
        "dfa": lambda: DFATask(T=length - 4 * 4 * 2 - 2, k=4),
        "parity": lambda: ParityTask(T=length - 4),
        "perm": lambda: PermTask(T=length - 5, n=5),
        "lag": lambda: LagTask(T=length - 4, lag=1),
    }
    generators = [makers[f]() for f in spec.format_list]
    for row in range(n_syn):
        batch = generators[row % len(generators)].train_batch(rng, 1)
        tokens[row] = batch.tokens[0]
        # Format only: the scored answer stays out of the pre-training loss.
        targets[row] = np.where(batch.targets[0] == IGNORE, batch.tokens[0], IGNORE)
    return tokens, targets


def pretrain(
    spec: BaseModelSpec, *, device: str = "cpu", progress: bool = True, history: list | None = None
) -> torch.nn.Module:
    """Pre-train a base model on the generic mixture (see the module docstring).

    `history`, if given, receives `{"step", "loss"}` every 10 steps (and at the end).
    """
    from tqdm.auto import tqdm

    model = build_model(spec).to(device)
    model.train()
    text = np.frombuffer(pydoc_corpus("pretrain"), dtype=np.uint8)
    rng = np.random.default_rng([spec.seed, 17])
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=max(spec.steps, 1))
    bar = tqdm(range(spec.steps), desc="pre-train base", disable=not progress, leave=False)
    for step in bar:
        tokens, targets = (torch.from_numpy(a).to(device) for a in _pretrain_batch(spec, rng, text))
        loss = model(input_ids=tokens, labels=targets).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if history is not None and ((step + 1) % 10 == 0 or step + 1 == spec.steps):
            history.append({"step": step + 1, "loss": loss.item()})
    return model.eval()


def load_base_model(
    spec: BaseModelSpec | None = None,
    *,
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[torch.nn.Module, ByteCodec, str]:
    """The base model: a local checkpoint given by `path`, or the cached pre-trained default.

    Parameters
    ----------
    spec : BaseModelSpec, optional
        Used when `path` is None; the model is pre-trained once and cached under
        `cache_dir/base-<spec.key()>`.
    path : str or Path, optional
        Any local HuggingFace causal-LM checkpoint (never downloaded).
    cache_dir : str or Path, optional
        Defaults to [`default_cache_dir`][hankelid_bench.base_model.default_cache_dir].

    Returns
    -------
    (model, codec, name)
        The model in eval mode with every parameter frozen, its byte codec and a short name.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if path is not None:
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"base model path {str(path)!r} is not a directory")
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        try:
            codec = ByteCodec.from_tokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
        except OSError:
            if model.config.vocab_size != 256:
                raise ValueError(f"{path} has no tokenizer and is not a byte-level model") from None
            codec = ByteCodec.identity()
        name = path.name
    else:
        spec = spec or BaseModelSpec()
        target = Path(cache_dir or default_cache_dir()) / f"base-{spec.key()}"
        name = target.name
        if (target / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(target, local_files_only=True)
        else:
            history: list = []
            model = pretrain(spec, device=device, progress=progress, history=history).cpu()
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            model.save_pretrained(tmp)
            (tmp / "spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=1))
            (tmp / "pretrain.json").write_text(json.dumps({"history": history}))
            # Atomic publish: a concurrent run (or DDP rank) never loads a half-written model.
            try:
                tmp.rename(target)
            except OSError:
                pass
        codec = ByteCodec.identity()
    model.requires_grad_(False)
    return model.eval(), codec, name


def pretrain_history(name: str, cache_dir: str | Path | None = None) -> list[dict[str, float]]:
    """The pre-training loss curve cached with base model `name` (`[]` if not recorded).

    Examples
    --------
    >>> pretrain_history("base-000000000000", cache_dir="/nonexistent")
    []
    """
    path = Path(cache_dir or default_cache_dir()) / name / "pretrain.json"
    return json.loads(path.read_text())["history"] if path.is_file() else []


@torch.no_grad()
def base_quality(
    model: torch.nn.Module,
    codec: ByteCodec,
    lengths: list[int],
    *,
    n: int = 256,
    device: str = "cpu",
    path: str | None = None,
) -> dict[int, float]:
    """Bits per character of the frozen base on the character-LM task's test split, per length.

    Parameters
    ----------
    model, codec
        The base model and its byte codec.
    lengths : list of int
        Window lengths `T` (the pre-training length and every evaluated `T`): a base that is
        much worse at the evaluation length than at its training length extrapolates.
    n : int
        Test windows per length.
    path : str, optional
        The character-LM text (default: the embedded corpus).

    Examples
    --------
    >>> model = build_model(BaseModelSpec.tiny())
    >>> q = base_quality(model, ByteCodec.identity(), [16], n=4)
    >>> list(q), 6.0 < q[16] < 10.0   # an untrained model: about log2(256) = 8 bits
    ([16], True)
    """
    from .train import evaluate

    out = {}
    for T in sorted(set(int(t) for t in lengths)):
        task = CharLMTask(T=T, path=path)
        out[T] = evaluate(model, task, codec, split="test", n=n, batch_size=32, device=device)["value"]
    return out
