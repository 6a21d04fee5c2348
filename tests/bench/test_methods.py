"""Methods at matched trainable-parameter counts."""

from __future__ import annotations

import pytest
import torch

from hankelid_bench.base_model import BaseModelSpec, build_model
from hankelid_bench.methods import apply_method, count_trainable

SPEC = BaseModelSpec.tiny(layers=2)  # width 16, MLP 32, kv width 8


@pytest.fixture(scope="module")
def base():
    return build_model(SPEC).requires_grad_(False)


def _lora_count(rank, shapes, dora=False):
    """Independent count: r * (in + out) per adapted Linear (+ out for DoRA's magnitude)."""
    return sum(rank * (i + o) + (o if dora else 0) for i, o in shapes)


QV = [(16, 16), (16, 8)] * 2
MLP = [(16, 32), (16, 32), (32, 16)] * 2


def test_reference_and_lora_family_counts(base):
    before = {k: v.clone() for k, v in base.state_dict().items()}
    _, info = apply_method(base, "lora", reference_rank=3)
    assert info["reference_params"] == _lora_count(3, QV) == info["trainable_params"]
    _, info = apply_method(base, "dora", reference_rank=3)
    candidates = [_lora_count(r, QV, dora=True) for r in range(1, 6)]
    best = min(candidates, key=lambda c: abs(c - _lora_count(3, QV)))
    assert info["trainable_params"] == best
    _, info = apply_method(base, "lora_mlp", reference_rank=3)
    target = _lora_count(3, QV)
    assert info["trainable_params"] == min(
        (_lora_count(r, MLP) for r in range(1, 4)), key=lambda c: abs(c - target)
    )
    assert info["param_gap"] == pytest.approx((info["trainable_params"] - target) / target)
    # The base model is never modified.
    for k, v in base.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_rank_option_and_full_and_none(base):
    _, info = apply_method(base, "lora", {"rank": 5}, reference_rank=2)
    assert info["trainable_params"] == _lora_count(5, QV)
    _, info = apply_method(base, "none")
    assert info["trainable_params"] == 0
    _, info = apply_method(base, "full")
    assert info["trainable_params"] == sum(p.numel() for p in base.parameters())
    scratch, info = apply_method(base, "lora", all_trainable=True)
    assert info["trainable_params"] == count_trainable(scratch) > sum(p.numel() for p in base.parameters())


def test_ssmlora_matched(base):
    from hankelid_torch.ssmlora import ssmlora_parameter_count

    _, info = apply_method(base, "ssmlora", reference_rank=3)
    # Interval-sparse: q_proj (16 -> 16) on layer 0, v_proj (16 -> 8) on layer 1.
    counts = [ssmlora_parameter_count(16, 16, r) + ssmlora_parameter_count(16, 8, r) for r in range(1, 8)]
    target = _lora_count(3, QV)
    assert info["trainable_params"] == min(counts, key=lambda c: abs(c - target))


@pytest.mark.parametrize("name", ["hrm", "hrm_attn"])
def test_hrm_matched_within_granularity(base, name):
    model, info = apply_method(base, name, {"init": "hankel"}, reference_rank=3, seed=1)
    # One state per site changes the count by 2 * width + 2 = 34 (ParameterMatch granularity).
    assert abs(info["trainable_params"] - info["reference_params"]) <= 34
    assert info["trainable_params"] == count_trainable(model) > 0


def test_bad_method(base):
    with pytest.raises(ValueError, match="unknown method"):
        apply_method(base, "prefix")
    with pytest.raises(ValueError, match="takes no options"):
        apply_method(base, "none", {"init": "x"})
    with pytest.raises(ValueError, match="reference rank"):
        apply_method(base, "lora", reference_rank=0)
