"""Learning-rate selection, gate parameter groups and gate-only training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hankelid_bench.base_model import BaseModelSpec, ByteCodec, build_model
from hankelid_bench.config import ExperimentConfig
from hankelid_bench.methods import apply_method
from hankelid_bench.runner import run_experiment
from hankelid_bench.selection import Candidate, lr_candidates, select_best
from hankelid_bench.tasks import ParityTask
from hankelid_bench.train import TrainConfig, is_gate, optimizer_groups, train

TINY = dict(steps=3, batch_size=4, eval_samples=8, eval_batch_size=8, val_samples=8, log_every=1)


def test_candidates_cross_lr_and_gate_grids():
    cfg = TrainConfig(lr_grid=[1e-3, 1e-2], gate_lr_grid=[3e-2, 1e-1])
    assert cfg.lr_grid == (1e-3, 1e-2)  # TOML lists become tuples
    got = [(c.lr, c.gate_lr) for c in lr_candidates(cfg, has_gate=True)]
    assert got == [(1e-3, 3e-2), (1e-3, 1e-1), (1e-2, 3e-2), (1e-2, 1e-1)]
    assert [(c.lr, c.gate_lr) for c in lr_candidates(cfg, has_gate=False)] == [(1e-3, None), (1e-2, None)]
    # no grid: the configured rates; gate_lr None means "same as lr" inside train()
    assert lr_candidates(TrainConfig(lr=5e-3), has_gate=True) == [Candidate(5e-3, None)]
    scaled = lr_candidates(TrainConfig(lr=2e-3, gate_lr=4e-3), has_gate=True, scale=2.5)
    assert scaled[0].lr == pytest.approx(5e-3) and scaled[0].gate_lr == pytest.approx(1e-2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lr_grid": [1e-3, 1e-3]}, "lr_grid"),
        ({"lr_grid": [0.0]}, "lr_grid"),
        ({"gate_lr_grid": [float("nan")]}, "gate_lr_grid"),
        ({"gate_lr": -1.0}, "gate_lr"),
        ({"val_samples": 0}, "val_samples"),
    ],
)
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
    with pytest.raises(ValueError, match="lr_scale"):
        lr_candidates(TrainConfig(), has_gate=False, scale=0.0)


def test_select_best_direction_divergence_and_ties():
    cands = [Candidate(1.0), Candidate(2.0), Candidate(3.0), Candidate(4.0)]

    def fit(c):
        if c.lr == 3.0:
            raise FloatingPointError("boom")
        return f"model{c.lr:g}", {1.0: 0.5, 2.0: 0.2, 4.0: 0.2}[c.lr]

    low = select_best(cands, fit, higher_is_better=False)
    assert low.best.lr == 2.0 and low.result == "model2"  # tie with 4.0 keeps the earlier one
    assert [t["diverged"] is not None for t in low.trials] == [False, False, True, False]
    high = select_best(cands, fit, higher_is_better=True)
    assert high.best.lr == 1.0
    none = select_best(
        [Candidate(1.0)], lambda c: (_ for _ in ()).throw(FloatingPointError("x")), higher_is_better=True
    )
    assert none.best is None and none.result is None
    with pytest.raises(ValueError, match="no learning-rate"):
        select_best([], fit, higher_is_better=True)


def _hrm_model(**options):
    base = build_model(BaseModelSpec.tiny())
    model, _ = apply_method(base, "hrm", {"init": "s4d", "gate_init": 0.3, **options}, reference_rank=2)
    return model


def test_gate_group_has_own_rate_and_no_weight_decay():
    model = _hrm_model()
    groups = optimizer_groups(model, TrainConfig(weight_decay=0.2), 1e-3, 5e-2)
    names = {id(p): n for n, p in model.named_parameters()}
    rest, gates = groups
    assert rest["lr"] == 1e-3 and rest["weight_decay"] == 0.2
    assert gates["lr"] == 5e-2 and gates["weight_decay"] == 0.0
    assert all(is_gate(names[id(p)]) for p in gates["params"]) and len(gates["params"]) == 1
    assert not any(is_gate(names[id(p)]) for p in rest["params"])
    (only,) = optimizer_groups(model, TrainConfig(), 1e-3, 5e-2, only="gate")
    assert only["params"] == gates["params"]
    with pytest.raises(ValueError, match="only"):
        optimizer_groups(model, TrainConfig(), 1e-3, 5e-2, only="B")


def test_gate_only_training_moves_only_gates():
    model = _hrm_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    train(model, ParityTask(T=4), ByteCodec.identity(), TrainConfig(**TINY), only="gate", lr=1e-1)
    after = dict(model.named_parameters())
    moved = {n for n, v in before.items() if not torch.equal(v, after[n].detach())}
    assert moved and all(is_gate(n) for n in moved)
    # the frozen parameters are trainable again afterwards
    assert all(after[n].requires_grad for n in before)


def test_gate_rate_is_used():
    # Same model and batches; only the gate's rate differs: the non-gate parameters follow the same
    # path only until the gate differs, but the gate itself must move by different amounts.
    a, b = _hrm_model(), _hrm_model()
    cfg = TrainConfig(**{**TINY, "steps": 1, "warmup": 0.0})
    train(a, ParityTask(T=4), ByteCodec.identity(), cfg, lr=1e-3, gate_lr=1e-3)
    train(b, ParityTask(T=4), ByteCodec.identity(), cfg, lr=1e-3, gate_lr=1e-1)
    ga = next(p for n, p in a.named_parameters() if is_gate(n)).item()
    gb = next(p for n, p in b.named_parameters() if is_gate(n)).item()
    # Adam's first step moves each parameter by about its rate: |0.3 - g| ~ lr
    assert abs(ga - 0.3) == pytest.approx(1e-3, rel=0.05) and abs(gb - 0.3) == pytest.approx(1e-1, rel=0.05)


def _cfg(**kw):
    return ExperimentConfig(
        **{
            "tasks": ["parity:T=4"],
            "methods": ["lora"],
            "seeds": [0],
            "reference_rank": 2,
            "train": TrainConfig(**TINY),
            "base": BaseModelSpec.tiny(steps=2, seq_len=48),
            **kw,
        }
    )


def _run(cfg, out, cache):
    return run_experiment(cfg, out, device="cpu", cache_dir=cache, progress=False, log=lambda _m: None)


def test_selected_rate_is_recorded_and_reproduces_the_test_value(tmp_path):
    grid = TrainConfig(**TINY, lr_grid=(1e-3, 3e-1), gate_lr_grid=(1e-2, 1e-1))
    (lora, hrm) = _run(_cfg(methods=["lora", "hrm:init=s4d"], train=grid), tmp_path / "g", tmp_path / "c")
    assert len(lora["lr_selection"]["candidates"]) == 2 and lora["gate_lr"] is None
    assert len(hrm["lr_selection"]["candidates"]) == 4 and hrm["gate_lr"] in (1e-2, 1e-1)
    for rec in (lora, hrm):
        sel = rec["lr_selection"]
        vals = [c["val"] for c in sel["candidates"]]
        assert sel["selected"] == {"lr": rec["lr"], "gate_lr": rec["gate_lr"]}
        best = next(c for c in sel["candidates"] if c["lr"] == rec["lr"] and c["gate_lr"] == rec["gate_lr"])
        assert best["val"] == max(vals)  # accuracy: higher is better
    # Re-running without a grid at the selected rate gives the same test value: the test metric
    # is the selected candidate's, trained from the same initial adapter on the same batches.
    fixed = TrainConfig(**TINY, lr=hrm["lr"], gate_lr=hrm["gate_lr"])
    (again,) = _run(_cfg(methods=["hrm:init=s4d"], train=fixed), tmp_path / "f", tmp_path / "c")
    assert again["lr_selection"] is None
    assert again["value"] == pytest.approx(hrm["value"], abs=1e-9)


def test_base_seed_axis_and_base_quality(tmp_path):
    from hankelid_bench.report import write_report
    from hankelid_bench.runner import read_base_quality

    records = _run(_cfg(base_seeds=[0, 1], tasks=["charlm:T=16"]), tmp_path / "r", tmp_path / "c")
    assert sorted(r["base_seed"] for r in records) == [0, 1]
    assert records[0]["base"] != records[1]["base"]  # two pre-trained models
    quality = read_base_quality(tmp_path / "r")
    assert [q["base_seed"] for q in quality] == [0, 1]
    for q in quality:
        assert set(q["bpc"]) == {"48", "16"} and len(q["history"]) == 1
        assert all(math.isfinite(v) for v in q["bpc"].values())
    # the base's bpc at the task length is the adapted model's starting point (gate-free LoRA: B = 0)
    r0 = next(r for r in records if r["base_seed"] == 0)
    assert quality[0]["bpc"]["16"] == pytest.approx(r0["value_before"], rel=1e-5)
    text = write_report(tmp_path / "r").read_text()
    assert "## Base model" in text and "bpc T=16" in text
    # resuming with the same base seeds does nothing new
    assert len(_run(_cfg(base_seeds=[0, 1], tasks=["charlm:T=16"]), tmp_path / "r", tmp_path / "c")) == 2
    assert np.isfinite([r["value"] for r in records]).all()


def test_first_seed_selection_is_reused(tmp_path):
    grid = TrainConfig(**TINY, lr_grid=(1e-3, 3e-1), lr_select="first_seed")
    recs = _run(_cfg(seeds=[4, 5, 6], train=grid), tmp_path / "r", tmp_path / "c")
    first, *later = sorted(recs, key=lambda r: r["seed"])
    assert first["seed"] == 4 and len(first["lr_selection"]["candidates"]) == 2
    for r in later:
        assert r["lr_selection"] == {"lr": first["lr"], "gate_lr": None, "selected_on_seed": 4}
        assert r["lr"] == first["lr"]
    with pytest.raises(ValueError, match="lr_select"):
        TrainConfig(lr_select="best")
