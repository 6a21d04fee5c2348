"""Init x parametrization, the paper recipe (B scale, HSV-ratio reduction, equal steps)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

import hankelid as hk
from hankelid_bench.base_model import BaseModelSpec, build_model
from hankelid_bench.config import ExperimentConfig
from hankelid_bench.methods import PAPER_RECIPE, apply_method, expand_recipe
from hankelid_bench.runner import hsv_ratio_orders, run_experiment
from hankelid_bench.train import TrainConfig
from hankelid_torch import adapter_layers, to_state_space
from hankelid_torch.bridge import get_adapter

SPEC = BaseModelSpec.tiny(layers=2)


@pytest.fixture(scope="module")
def base():
    return build_model(SPEC).requires_grad_(False)


def _markov(model, length=40):
    return [hk.markov_parameters(to_state_space(layer), length) for _, layer in adapter_layers(model)]


def test_parametrization_does_not_change_the_initial_system(base):
    # The modal and the S4D forms of the s4d init hold the same discrete system: the init is
    # disentangled from the parametrization (they differ only in how training moves them).
    opts = {"init": "s4d", "d_state": 4, "gate_init": 0.5}
    s4d, _ = apply_method(base, "hrm", {**opts, "parametrization": "s4d"}, seed=3)
    modal, _ = apply_method(base, "hrm", {**opts, "parametrization": "modal"}, seed=3)
    assert {get_adapter(layer).parametrization for _, layer in adapter_layers(modal)} == {"modal"}
    assert {get_adapter(layer).parametrization for _, layer in adapter_layers(s4d)} == {"s4d"}
    for a, b in zip(_markov(s4d), _markov(modal)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # the random init exists in both forms too (the modal one adds rotation angles by design)
    for form in ("s4d", "modal"):
        model, _ = apply_method(base, "hrm", {"init": "random", "d_state": 4, "parametrization": form})
        assert {get_adapter(layer).parametrization for _, layer in adapter_layers(model)} == {form}


def test_hankel_init_needs_modal(base):
    with pytest.raises(ValueError, match="modal"):
        apply_method(base, "hrm", {"init": "hankel", "parametrization": "s4d"})


def test_b_std_rescales_input_matrix(base):
    plain, _ = apply_method(base, "hrm", {"init": "s4d", "d_state": 6}, seed=1)
    wide, _ = apply_method(base, "hrm", {"init": "s4d", "d_state": 6, "b_std": 1.0}, seed=1)
    for (_, p), (_, w) in zip(adapter_layers(plain), adapter_layers(wide)):
        bp, bw = get_adapter(p).B.detach(), get_adapter(w).B.detach()
        torch.testing.assert_close(bw, bp * SPEC.hidden_size**0.5)
    with pytest.raises(ValueError, match="b_std"):
        apply_method(base, "lora", {"b_std": 1.0})


def test_recipe_expansion_and_errors():
    opts = expand_recipe("hrm", {"recipe": "paper"})
    assert opts["d_state"] == 32 and opts["dt_min"] == 1e-4 and opts["gate_init"] == 0.01
    assert opts["lr_scale"] == 2.5 and opts["reduce_hsv_ratio"] == 0.01 and opts["finetune"] == "gate"
    assert expand_recipe("hrm_attn", {"recipe": "paper", "d_state": 8})["d_state"] == 8
    assert expand_recipe("lora", {"rank": 2}) == {"rank": 2}
    with pytest.raises(ValueError, match="recipe"):
        expand_recipe("hrm", {"recipe": "mine"})
    assert set(PAPER_RECIPE) >= {"init", "parametrization", "b_std", "equal_steps"}


def _scipy_hsv(sys: hk.StateSpace) -> np.ndarray:
    A, B, C = (np.asarray(M, dtype=float) for M in sys.matrices[:3])
    Wc = scipy.linalg.solve_discrete_lyapunov(A, B @ B.T)
    Wo = scipy.linalg.solve_discrete_lyapunov(A.T, C.T @ C)
    return np.sort(np.sqrt(np.abs(np.linalg.eigvals(Wc @ Wo))))[::-1]


@pytest.mark.parametrize("ratio", [0.3, 0.05, 0.01])
def test_hsv_ratio_orders_against_scipy_gramians(base, ratio):
    model, _ = apply_method(base, "hrm", {"init": "random", "d_state": 8, "gate_init": 0.7}, seed=5)
    orders = hsv_ratio_orders(model, ratio)
    for name, layer in adapter_layers(model):
        hsv = _scipy_hsv(to_state_space(layer))
        assert orders[name] == int((hsv >= ratio * hsv[0]).sum())
    with pytest.raises(ValueError, match="reduce_hsv_ratio"):
        hsv_ratio_orders(model, 1.5)


def _run(cfg, tmp_path):
    return run_experiment(
        cfg, tmp_path / "run", device="cpu", cache_dir=tmp_path / "cache", progress=False, log=lambda _m: None
    )


def test_paper_recipe_end_to_end(tmp_path):
    train = TrainConfig(steps=5, batch_size=4, eval_samples=8, eval_batch_size=8, val_samples=8, log_every=1)
    cfg = ExperimentConfig(
        tasks=["parity:T=4"],
        methods=["hrm:recipe=paper", "hrm:recipe=paper,finetune=full,finetune_steps=2"],
        seeds=[0],
        reference_rank=2,
        train=train,
        base=BaseModelSpec.tiny(steps=2, seq_len=48, layers=2),
    )
    gate_only, full = _run(cfg, tmp_path)
    D = 16
    # full order d = 32 at each of the 2 MLP sites: 2 d + 2 d D + 1 parameters each (not iso-parameter)
    assert gate_only["trainable_params"] == 2 * (2 * 32 + 2 * 32 * D + 1)
    assert gate_only["resolved_options"]["d_state"] == 32 and gate_only["lr"] == pytest.approx(2.5 * 3e-3)
    for rec, ft_steps, mode in ((gate_only, 1, "gate"), (full, 2, "full")):
        red = rec["reduced"]
        # equal total steps: phase 1 + fine-tuning = the cell's budget
        assert (
            red["steps_before_reduction"] + red["finetune_steps"] == 5 and red["finetune_steps"] == ft_steps
        )
        assert red["finetune"] == mode
        assert set(red["order"]) and all(1 <= r <= 32 for r in red["order"].values())
        # the headline value is the final (reduced, fine-tuned) model's
        assert rec["value"] == pytest.approx(red["finetuned_value"])
        assert [len(layer["hsv"]) for layer in red["analysis"]] == [min(r, 16) for r in red["order"].values()]
