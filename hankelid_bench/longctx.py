"""Long-context QA / summarisation evaluation on user-supplied local files (never downloaded).

Accepted formats (JSON Lines, one object per line; `.json` files holding a list also work):

QuALITY (`quality`)
:   `{"article": str, "questions": [{"question": str, "options": [str, ...], "gold_label": int}]}`
    with `gold_label` 1-based, as in the official release. Metric: accuracy, choosing the option
    with the highest mean per-byte log-likelihood given article and question.

QMSum (`qmsum`)
:   `{"meeting_transcripts": [{"speaker": str, "content": str}], "general_query_list": [{"query",
    "answer"}], "specific_query_list": [{"query", "answer", ...}]}`. Metrics: ROUGE-1/2/L of a
    greedy continuation.

NarrativeQA (`narrativeqa`)
:   `{"document": str | {"text"|"summary": ...}, "question": str | {"text": str},
    "answers": [str | {"text": str}]}` (the flattened HF layout). Metrics: token F1 and ROUGE-L
    against the best reference.

Contexts are truncated from the left to fit `max_length` bytes with the question and answer,
because the question must stay in view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base_model import ByteCodec
from .metrics import best_over_references, rouge_l, rouge_n, token_f1

__all__ = ["FORMATS", "LongContextExample", "evaluate_longctx", "load_longctx"]

FORMATS = ("quality", "qmsum", "narrativeqa")


@dataclass(frozen=True)
class LongContextExample:
    """One question over a long context: multiple choice (`options`/`gold`) or free-form."""

    context: str
    question: str
    references: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    gold: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("text", "summary"):
            if key in value:
                return _text(value[key])
    if not isinstance(value, str):
        raise ValueError(f"expected a string (or a dict with 'text'), got {type(value).__name__}")
    return value


def _rows(path: Path) -> list[dict[str, Any]]:
    raw = path.read_text()
    if raw.lstrip().startswith("["):
        return json.loads(raw)
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def load_longctx(path: str | Path, fmt: str) -> list[LongContextExample]:
    """Read a local QuALITY / QMSum / NarrativeQA file into `LongContextExample` objects.

    Raises
    ------
    ValueError
        If the file is missing, the format unknown, or a record lacks a required field.

    Examples
    --------
    >>> import tempfile, os
    >>> row = {"article": "Sky is blue.", "questions": [
    ...     {"question": "Colour?", "options": ["red", "blue"], "gold_label": 2}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
    ...     _ = fh.write(json.dumps(row) + "\\n")
    >>> ex = load_longctx(fh.name, "quality"); os.unlink(fh.name)
    >>> ex[0].gold, ex[0].options
    (1, ('red', 'blue'))
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    examples = []
    try:
        for i, row in enumerate(_rows(path)):
            if fmt == "quality":
                for q in row["questions"]:
                    options = tuple(_text(o) for o in q["options"])
                    gold = int(q["gold_label"]) - 1
                    if not 0 <= gold < len(options):
                        raise ValueError(f"record {i}: gold_label {q['gold_label']} out of range")
                    examples.append(
                        LongContextExample(row["article"], q["question"], options=options, gold=gold)
                    )
            elif fmt == "qmsum":
                context = "\n".join(f"{t['speaker']}: {t['content']}" for t in row["meeting_transcripts"])
                for q in row.get("general_query_list", []) + row.get("specific_query_list", []):
                    examples.append(LongContextExample(context, q["query"], references=(q["answer"],)))
            else:
                answers = tuple(_text(a) for a in row["answers"])
                if not answers:
                    raise ValueError(f"record {i}: no answers")
                examples.append(LongContextExample(_text(row["document"]), _text(row["question"]), answers))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a valid {fmt} file ({type(exc).__name__}: {exc})") from None
    return examples


def _prompt(example: LongContextExample, budget: int) -> bytes:
    tail = f"\nQuestion: {example.question}\nAnswer:".encode()
    context = example.context.encode()[-max(0, budget - len(tail)) :] if budget > len(tail) else b""
    return context + tail


def _ids(data: bytes, codec: ByteCodec, device: str) -> torch.Tensor:
    # Byte 0 is padding; map any NUL in user text to a space.
    arr = np.frombuffer(data.replace(b"\x00", b" "), dtype=np.uint8).astype(np.int64)
    return torch.from_numpy(codec.encode(arr))[None].to(device)


@torch.no_grad()
def _option_score(model, prompt: bytes, option: str, codec: ByteCodec, device: str) -> float:
    answer = (" " + option).encode()
    ids = _ids(prompt + answer, codec, device)
    logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    n = len(answer)
    gold = ids[0, -n:]
    return float(logp[-n:].gather(1, gold[:, None]).mean())


@torch.no_grad()
def _generate(model, prompt: bytes, codec: ByteCodec, device: str, max_new: int) -> str:
    ids = _ids(prompt, codec, device)
    inverse = {int(t): b for b, t in enumerate(codec.table)}
    out = bytearray()
    for _ in range(max_new):
        logits = model(input_ids=ids).logits[0, -1].float()
        allowed = torch.as_tensor(codec.table[1:], device=logits.device)
        token = int(allowed[logits[allowed].argmax()])
        byte = inverse[token]
        if byte == ord("\n"):
            break
        out.append(byte)
        ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
    return out.decode("utf-8", errors="replace").strip()


def evaluate_longctx(
    model: torch.nn.Module,
    examples: list[LongContextExample],
    codec: ByteCodec,
    *,
    max_length: int = 2048,
    max_new: int = 64,
    device: str = "cpu",
) -> dict[str, float]:
    """Score a byte-level causal LM on long-context examples.

    Returns
    -------
    dict
        `accuracy` for multiple-choice examples; `rouge1`, `rouge2`, `rougeL` and
        `token_f1` (best over references) for free-form ones; `n` examples.
    """
    if not examples:
        raise ValueError("no examples to evaluate")
    model.eval()
    scores: dict[str, list[float]] = {}
    for ex in examples:
        if ex.options:
            budget = max_length - max(len(o.encode()) for o in ex.options) - 1
            prompt = _prompt(ex, budget)
            best = int(np.argmax([_option_score(model, prompt, o, codec, device) for o in ex.options]))
            scores.setdefault("accuracy", []).append(float(best == ex.gold))
        else:
            pred = _generate(model, _prompt(ex, max_length - max_new), codec, device, max_new)
            for name, fn in (
                ("rouge1", lambda p, r: rouge_n(p, r, 1)),
                ("rouge2", lambda p, r: rouge_n(p, r, 2)),
                ("rougeL", rouge_l),
                ("token_f1", token_f1),
            ):
                scores.setdefault(name, []).append(best_over_references(fn, pred, ex.references))
    return {**{k: float(np.mean(v)) for k, v in scores.items()}, "n": float(len(examples))}
