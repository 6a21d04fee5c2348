"""End-to-end runs of every method, resumption, the JSONL schema and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hankelid_bench.base_model import BaseModelSpec
from hankelid_bench.config import ExperimentConfig
from hankelid_bench.report import write_report
from hankelid_bench.runner import RESULTS_FILE, read_records, run_experiment
from hankelid_bench.train import TrainConfig

TINY_TRAIN = TrainConfig(steps=3, batch_size=4, eval_samples=8, eval_batch_size=8, log_every=1)
RECORD_KEYS = {
    "schema",
    "experiment",
    "task",
    "family",
    "task_params",
    "T",
    "metric",
    "higher_is_better",
    "method",
    "method_name",
    "method_options",
    "seed",
    "protocol",
    "base",
    "trainable_params",
    "reference_params",
    "param_gap",
    "adapter_config",
    "steps",
    "batch_size",
    "value",
    "value_before",
    "nll",
    "history",
    "analysis",
    "reduced",
    "wall_s",
    "diverged",
    "device",
    "world_size",
    "resolved_options",
    "base_seed",
    "lr",
    "gate_lr",
    "lr_selection",
    "eval_samples",
    "constant_predictor",
    "top_prediction_frac",
}


def _cfg(**kw) -> ExperimentConfig:
    defaults = dict(
        tasks=["dfa:k=2,T=4", "charlm:T=16"],
        methods=["lora"],
        seeds=[0],
        reference_rank=2,
        train=TINY_TRAIN,
        base=BaseModelSpec.tiny(steps=2, seq_len=48),
    )
    return ExperimentConfig(**{**defaults, **kw})


def _run(cfg, out, cache):
    return run_experiment(cfg, out, device="cpu", cache_dir=cache, progress=False, log=lambda _m: None)


def test_every_method_end_to_end(tmp_path):
    methods = [
        "lora",
        "lora_mlp",
        "dora",
        "ssmlora",
        "hrm:init=hankel",
        "hrm:init=s4d",
        "hrm_attn",
        "none",
        "full",
    ]
    records = _run(_cfg(methods=methods, tasks=["parity:T=4"]), tmp_path / "run", tmp_path / "cache")
    assert [r["method"] for r in records] == methods
    for r in records:
        assert set(r) == RECORD_KEYS
        assert 0.0 <= r["value"] <= 1.0 and r["metric"] == "accuracy"
        assert len(r["history"]) == (0 if r["method"] == "none" else 3)
    by = {r["method"]: r for r in records}
    assert by["none"]["value"] == by["none"]["value_before"]  # nothing trained
    assert by["hrm:init=hankel"]["analysis"], "trained HRM adapters are analysed"
    assert all(len(h["gates"]) == 1 for h in by["hrm:init=s4d"]["history"])  # one layer, one gate
    # The pre-trained base model is cached once.
    assert len(list((tmp_path / "cache").glob("base-*"))) == 1


def test_resume_skips_finished_cells(tmp_path):
    cfg, out = _cfg(seeds=[0, 1]), tmp_path / "run"
    first = _run(cfg, out, tmp_path / "cache")
    assert len(first) == 4
    lines = (out / RESULTS_FILE).read_text().splitlines()
    # Drop one finished cell and leave a torn line, as a killed run would.
    (out / RESULTS_FILE).write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    second = _run(cfg, out, tmp_path / "cache")
    assert len(second) == 4
    assert [json.loads(x)["seed"] for x in lines] == [r["seed"] for r in second]
    # The rerun cell reproduces the lost one exactly (same seeds, same data).
    assert second[-1]["value"] == pytest.approx(json.loads(lines[-1])["value"])
    assert second[-1]["history"][-1]["loss"] == pytest.approx(json.loads(lines[-1])["history"][-1]["loss"])
    third = _run(cfg.replace(seeds=[0, 1, 2]), out, tmp_path / "cache")
    assert len(third) == 6 and [r["seed"] for r in third[-2:]] == [2, 2]


def test_scratch_protocol_trains_everything(tmp_path):
    records = _run(
        _cfg(protocol="scratch", methods=["none", "lora"], tasks=["parity:T=4"]), tmp_path / "r", None
    )
    none, lora = records
    assert none["base"] == "scratch" and none["trainable_params"] > 0
    assert lora["trainable_params"] == none["trainable_params"] + lora["reference_params"]


def test_two_phase_reduction(tmp_path):
    records = _run(
        _cfg(methods=["hrm:init=s4d,d_state=4,reduce_to=2,finetune_steps=2"], tasks=["parity:T=4"]),
        tmp_path / "r",
        tmp_path / "cache",
    )
    reduced = records[0]["reduced"]
    assert reduced["order"] == 2 and 0.0 <= reduced["finetuned_value"] <= 1.0
    assert all(len(layer["hsv"]) <= 2 for layer in reduced["analysis"])


def test_report_schema_and_numbers(tmp_path):
    out = tmp_path / "run"
    records = _run(_cfg(methods=["lora", "dora"], seeds=[0, 1]), out, tmp_path / "cache")
    path = write_report(out, command="hankelid-bench run --test")
    text = path.read_text()
    assert "Command: `hankelid-bench run --test`" in text
    values = [r["value"] for r in records if r["method"] == "dora" and r["family"] == "charlm"]
    assert f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" in text
    assert "| charlm(T=16) | dora | 2 |" in text  # paired rows: two seeds
    assert "## Chance, majority class and shortcut baselines" in text and "| dfa(k=2,T=4) |" in text
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "metric_vs_T_adapt_charlm.png" in figures and any(f.startswith("loss_") for f in figures)
    for name in figures:
        assert f"figures/{name}" in text


def test_report_without_results(tmp_path):
    with pytest.raises(ValueError, match="no results"):
        write_report(tmp_path)
    assert read_records(tmp_path) == []


def test_majority_baseline_counts_labels():
    from collections import Counter

    from hankelid_bench.report import majority_baseline
    from hankelid_bench.tasks import DFATask

    tokens = np.concatenate([b.tokens for b in DFATask(T=6, k=3).eval_batches("test", 50, 7)])
    answers = Counter(bytes(row.astype(np.uint8)).decode()[-1] for row in tokens)
    assert majority_baseline("dfa", {"k": 3, "T": 6}, 50) == pytest.approx(max(answers.values()) / 50)


def test_diverged_cell_is_recorded_and_reported(tmp_path, monkeypatch):
    from hankelid_bench import runner

    real_train = runner.train

    def train_or_diverge(model, task, *args, **kwargs):
        if "dora" in kwargs.get("desc", "") and "s1" in kwargs.get("desc", ""):
            raise FloatingPointError("non-finite training loss at step 2 (test)")
        return real_train(model, task, *args, **kwargs)

    monkeypatch.setattr(runner, "train", train_or_diverge)
    out = tmp_path / "run"
    records = _run(_cfg(methods=["lora", "dora"], tasks=["parity:T=4"], seeds=[0, 1]), out, tmp_path / "c")
    bad = [r for r in records if r["diverged"]]
    assert [(r["method"], r["seed"], r["value"]) for r in bad] == [("dora", 1, None)]
    text = write_report(out).read_text()
    assert "| 1 (+1 diverged) |" in text
    assert "| parity(T=4) | dora | 1 |" in text  # the diverged seed has no pair


def test_task_data_hankel_init(tmp_path):
    """hankel_inputs=task: the same full system reduced with the task's data Gramian; training unchanged."""
    methods = [
        "hrm:init=hankel,hankel_gramians=exact",
        "hrm:init=hankel,hankel_gramians=exact,hankel_inputs=task",
    ]
    gauss, data = _run(_cfg(methods=methods, tasks=["parity:T=4"]), tmp_path / "r", tmp_path / "cache")
    assert data["method_options"]["hankel_inputs"] == "task"
    assert data["trainable_params"] == gauss["trainable_params"]
    assert data["value_before"] == pytest.approx(
        gauss["value_before"], abs=0.5
    )  # same frozen base, same task
    # a different initial adapter (behind a closed gate at step 0, so it shows from the first update on)
    assert data["history"][-1]["loss"] != gauss["history"][-1]["loss"]
    with pytest.raises(ValueError, match="needs an HRM method with init=hankel"):
        _run(_cfg(methods=["hrm:init=s4d,hankel_inputs=task"], tasks=["parity:T=4"]), tmp_path / "x", None)
