"""Long-context loaders on tiny fixtures, and scoring with stub models whose answers are known."""

from __future__ import annotations

import json

import pytest
import torch

from hankelid_bench.base_model import ByteCodec
from hankelid_bench.longctx import evaluate_longctx, load_longctx


class _Favour(torch.nn.Module):
    """A stub causal LM that always prefers one byte, then a newline after ``stop_after`` tokens."""

    def __init__(self, byte: int, stop_after: int = 10_000):
        super().__init__()
        self.byte, self.stop_after = byte, stop_after

    def forward(self, input_ids):
        out = torch.zeros(*input_ids.shape, 256)
        out[..., self.byte] = 5.0
        if input_ids.shape[1] >= self.stop_after:
            out[:, -1, ord("\n")] = 10.0
        return type("Out", (), {"logits": out})()


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_quality_accuracy(tmp_path):
    rows = [
        {
            "article": "long text " * 50,
            "questions": [
                {"question": "Which?", "options": ["aaa", "bbbb", "ab"], "gold_label": 2},
                {"question": "Which again?", "options": ["bbb", "aaa"], "gold_label": 2},
            ],
        }
    ]
    examples = load_longctx(_write(tmp_path, "q.jsonl", rows), "quality")
    assert [e.gold for e in examples] == [1, 1]
    # A model that favours "b" picks the all-b option: right on the first question, wrong on the second.
    scores = evaluate_longctx(_Favour(ord("b")), examples, ByteCodec.identity(), max_length=64)
    assert scores == {"accuracy": 0.5, "n": 2.0}


def test_qmsum_and_narrativeqa_generation(tmp_path):
    qmsum = [
        {
            "meeting_transcripts": [{"speaker": "A", "content": "hello"}, {"speaker": "B", "content": "bye"}],
            "general_query_list": [{"query": "Summarise", "answer": "yyyy"}],
            "specific_query_list": [{"query": "Who?", "answer": "zzz", "relevant_text_span": [["0", "1"]]}],
        }
    ]
    examples = load_longctx(_write(tmp_path, "m.jsonl", qmsum), "qmsum")
    assert examples[0].context == "A: hello\nB: bye" and len(examples) == 2
    prompt_len = len(f"{examples[0].context}\nQuestion: Summarise\nAnswer:".encode())
    # Generates exactly "yyyy" (4 bytes) and stops with a newline.
    model = _Favour(ord("y"), stop_after=prompt_len + 4)
    scores = evaluate_longctx(model, examples[:1], ByteCodec.identity(), max_length=512)
    assert scores["rouge1"] == scores["rougeL"] == scores["token_f1"] == 1.0
    assert scores["rouge2"] == 0.0  # one token: no bigrams

    nqa = [{"document": {"text": "story"}, "question": {"text": "Q?"}, "answers": [{"text": "no"}, "yyyy"]}]
    examples = load_longctx(_write(tmp_path, "n.json", nqa).rename(tmp_path / "n.json"), "narrativeqa")
    assert examples[0].references == ("no", "yyyy")


def test_bad_longctx_files(tmp_path):
    with pytest.raises(ValueError, match="format"):
        load_longctx(tmp_path / "x", "squad")
    with pytest.raises(ValueError, match="does not exist"):
        load_longctx(tmp_path / "x", "quality")
    bad = _write(tmp_path, "b.jsonl", [{"article": "x", "questions": [{"question": "q"}]}])
    with pytest.raises(ValueError, match="not a valid quality file"):
        load_longctx(bad, "quality")
    out_of_range = _write(
        tmp_path,
        "c.jsonl",
        [{"article": "x", "questions": [{"question": "q", "options": ["a"], "gold_label": 3}]}],
    )
    with pytest.raises(ValueError, match="out of range"):
        load_longctx(out_of_range, "quality")
    with pytest.raises(ValueError, match="no examples"):
        evaluate_longctx(_Favour(1), [], ByteCodec.identity())
