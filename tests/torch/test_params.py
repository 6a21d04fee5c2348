"""Iso-parameter matching: LoRA/DoRA counts from shapes vs PEFT, HRM matching on tiny and 7B shapes."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.tuners_utils import BaseTunerLayer
from transformers import MistralConfig, MistralForCausalLM

from hankelid_torch import HRMConfig, match_parameters
from hankelid_torch.adapter import SSMAdapter
from hankelid_torch.params import _search, lora_trainable_count

MISTRAL_7B = dict(
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
)


def _tiny(seed: int = 0) -> MistralForCausalLM:
    torch.manual_seed(seed)
    cfg = MistralConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=56,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return MistralForCausalLM(cfg)


@pytest.fixture(scope="module")
def mistral_7b_meta() -> MistralForCausalLM:
    with torch.device("meta"):
        return MistralForCausalLM(MistralConfig(**MISTRAL_7B))


LORA_CASES = [
    LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
    LoraConfig(r=4, target_modules=["q_proj", "v_proj"], use_dora=True),
    LoraConfig(r=2, target_modules=["gate_proj", "up_proj", "down_proj"], layers_to_transform=[0, 3]),
    LoraConfig(r=2, target_modules="all-linear", rank_pattern={"o_proj": 5, r"layers\.1\.mlp\.up_proj": 3}),
    LoraConfig(r=3, target_modules=["k_proj", "down_proj"], exclude_modules=["model.layers.2.mlp.down_proj"]),
    LoraConfig(r=2, target_modules=None, modules_to_save=["lm_head"]),
]


@pytest.mark.parametrize(
    "config",
    LORA_CASES,
    ids=["lora-qv", "dora-qv", "mlp-layers", "all-linear-pattern", "exclude", "default-mts"],
)
def test_lora_count_agrees_with_peft_on_a_tiny_model(config):
    count, n_modules = lora_trainable_count(_tiny(), config)
    peft_model = get_peft_model(_tiny(), config)
    trainable, _ = peft_model.get_nb_trainable_parameters()
    assert count == trainable
    assert n_modules == len(peft_model.base_model.targeted_module_names)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LoraConfig(r=16, target_modules=["q_proj", "v_proj"]), 6_815_744),
        (LoraConfig(r=16, target_modules=["q_proj", "v_proj"], use_dora=True), 6_979_584),
        (LoraConfig(r=4, target_modules=["gate_proj", "up_proj", "down_proj"]), 7_077_888),
    ],
)
def test_lora_count_on_mistral_7b_meta_shapes(mistral_7b_meta, config, expected):
    count, n_modules = lora_trainable_count(mistral_7b_meta, config)
    assert count == expected
    assert n_modules == 32 * len(config.target_modules)
    assert all(p.device.type == "meta" for p in mistral_7b_meta.parameters())  # not modified


def test_lora_count_rejects_bad_input():
    with pytest.raises(ValueError, match="LoraConfig"):
        lora_trainable_count(_tiny(), {"r": 4})
    with pytest.raises(ValueError, match="matches no module"):
        lora_trainable_count(_tiny(), LoraConfig(r=4, target_modules=["nonexistent"]))
    with pytest.raises(ValueError, match="not a Linear"):
        lora_trainable_count(_tiny(), LoraConfig(r=4, target_modules=["mlp"]))


@pytest.mark.parametrize(
    ("target", "slopes"),
    [(6_815_744, [8194] * 32), (6_979_584, [8194] * 32), (1_000, [30, 30, 50]), (10, [7, 7])],
)
def test_search_is_optimal_among_one_step_moves(target, slopes):
    intercepts = [1] * len(slopes)
    ds = _search(target, 0, slopes, intercepts)
    total = sum(a * d + b for a, d, b in zip(slopes, ds, intercepts))
    assert min(ds) >= 1 and max(ds) - min(ds) <= 1
    # no single ±1 move of one site brings the total closer to the target
    for a, d in zip(slopes, ds):
        for step in (-1, 1):
            if d + step >= 1:
                assert abs(total + step * a - target) >= abs(total - target)


# ------------------------------------------------------------------------------------------- HRM side


def _site_states(peft_model) -> dict[str, int]:
    """Adapter site (the wrapped block's name in the base model) -> its SSM's state size."""
    out = {}
    for name, module in peft_model.named_modules():
        if isinstance(module, BaseTunerLayer):
            (adapter,) = [m for m in module.modules() if isinstance(m, SSMAdapter)]
            out[name.removeprefix("base_model.model.")] = adapter.d_state
    return out


@pytest.mark.parametrize(
    ("lora", "expected"),
    [
        (LoraConfig(r=16, target_modules=["q_proj", "v_proj"]), 6_815_744),
        (LoraConfig(r=16, target_modules=["q_proj", "v_proj"], use_dora=True), 6_979_584),
        (LoraConfig(r=4, target_modules=["gate_proj", "up_proj", "down_proj"]), 7_077_888),
    ],
    ids=["lora-r16-qv", "dora-r16-qv", "lora-r4-mlp"],
)
def test_match_on_mistral_7b_meta_shapes_within_0_1_percent(mistral_7b_meta, lora, expected):
    config, report = match_parameters(mistral_7b_meta, lora, return_report=True)
    assert isinstance(config, HRMConfig) and config.parameter_match is report
    assert report.target == expected
    assert report.within_tolerance and abs(report.achieved - expected) <= 1e-3 * expected
    assert report.deviation == pytest.approx((report.achieved - expected) / expected)
    # independent cross-check with the adapter's closed form 2·D·d + 2·d + 1 per MLP site
    ds = [config.d_state_pattern.get(f"model.layers.{i}.mlp", config.d_state) for i in range(32)]
    assert report.achieved == sum(SSMAdapter.count_parameters(4096, d) for d in ds)
    assert max(ds) - min(ds) <= 1
    assert all(p.device.type == "meta" for p in mistral_7b_meta.parameters())


def test_match_on_a_tiny_model_agrees_with_peft_counts():
    base = _tiny()
    lora = LoraConfig(r=8, target_modules="all-linear")
    target = get_peft_model(_tiny(), lora).get_nb_trainable_parameters()[0]
    # 15,616 LoRA parameters vs a granularity of 66 per state: 0.1% is out of reach, and said so
    with pytest.warns(UserWarning, match="granularity"):
        config, report = match_parameters(base, lora, return_report=True, seed=0)
    assert report.target == target and not report.within_tolerance
    hrm = get_peft_model(_tiny(), config)
    assert hrm.get_nb_trainable_parameters()[0] == report.achieved
    # the per-state granularity of one site is 2·D + 2; nothing closer exists
    assert report.granularity == 2 * 32 + 2
    assert abs(report.achieved - target) <= report.granularity // 2
    assert _site_states(hrm) == {
        f"model.layers.{i}.mlp": config.d_state_pattern.get(f"model.layers.{i}.mlp", config.d_state)
        for i in range(4)
    }
    assert not any(isinstance(m, BaseTunerLayer) for m in base.modules())  # base untouched


def test_match_reports_when_the_shapes_do_not_allow_the_tolerance():
    lora = LoraConfig(r=1, target_modules=["v_proj"], layers_to_transform=[0])  # 48 parameters
    with pytest.warns(UserWarning, match="granularity"):
        config, report = match_parameters(_tiny(), lora, return_report=True, site="attention")
    assert not report.within_tolerance and report.target == 48
    assert report.d_state == 1 and report.achieved == 4 * SSMAdapter.count_parameters(32, 1)
    assert config.target_modules == HRMConfig(site="attention").target_modules


def test_match_passes_hrm_options_through_and_rejects_chosen_ones():
    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
    config, report = match_parameters(
        _tiny(), lora, tolerance=0.01, return_report=True, layers_to_transform=[1, 2], gate_init=0.1
    )
    assert report.within_tolerance and abs(report.deviation) <= 0.01
    assert report.hrm_sites == 2 and config.gate_init == 0.1 and config.layers_to_transform == [1, 2]
    with pytest.raises(ValueError, match="d_state is chosen"):
        match_parameters(_tiny(), lora, d_state=4)
    with pytest.raises(ValueError, match=r"not found|no adapter site"):
        match_parameters(_tiny(), lora, target_modules=["nonexistent"])
