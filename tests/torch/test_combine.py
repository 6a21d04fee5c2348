"""add_weighted_adapter for HRM: the exact weighted parallel connection of the adapters' systems."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

import hankelid as hk  # noqa: E402
from hankelid_torch import HRMConfig, to_state_space  # noqa: E402
from hankelid_torch.combine import parallel_connection  # noqa: E402
from hankelid_torch.hrm.layer import HRMLayer  # noqa: E402

from .conftest import build_tiny_mistral  # noqa: E402


def two_adapters():
    model = peft.get_peft_model(
        build_tiny_mistral(), HRMConfig(d_state=4, seed=0, gate_init=0.7, init="random")
    )  # real diagonal (S4D) adapter
    model.add_adapter(
        "b", HRMConfig(d_state=3, seed=1, gate_init=-0.4, init="random", parametrization="modal")
    )
    return model.eval()


def layers(model) -> list[HRMLayer]:
    return [m for m in model.modules() if isinstance(m, HRMLayer)]


def test_combined_output_is_the_weighted_sum_of_the_outputs():
    model = two_adapters()
    report = model.add_weighted_adapter(["default", "b"], [0.8, -1.7], "mix")
    assert [(r.order_before, r.order_after, r.error_bound) for r in report] == [(7, 7, 0.0)] * 2
    u = torch.randn(3, 40, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 40, dtype=torch.long)
    mask[1, :5] = 0  # left padding
    mask[2, 30:] = 0  # right padding
    for layer in layers(model):
        ads = layer.hrm_ssm
        for m in (None, mask):
            ref = 0.8 * ads["default"](u, mask=m) - 1.7 * ads["b"](u, mask=m)
            torch.testing.assert_close(ads["mix"](u, mask=m), ref, rtol=1e-5, atol=1e-6)
        # and against the float64 reference: Markov parameters of the weighted sum
        sys = to_state_space(layer, "mix")
        ref64 = 0.8 * hk.markov_parameters(to_state_space(layer, "default"), 30) - 1.7 * hk.markov_parameters(
            to_state_space(layer, "b"), 30
        )
        np.testing.assert_allclose(hk.markov_parameters(sys, 30), ref64, rtol=1e-5, atol=1e-7)
    # not active until chosen; then the model runs with it, and it saves/loads back exactly
    assert model.active_adapters == ["default"]
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".mix." in n)


def test_combined_adapter_saves_and_loads(tmp_path):
    model = two_adapters()
    model.add_weighted_adapter(["default", "b"], [0.5, 2.0], "mix")
    model.set_adapter("mix")
    ids = torch.randint(3, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(input_ids=ids).logits
    model.save_pretrained(tmp_path, selected_adapters=["mix"])
    loaded = peft.PeftModel.from_pretrained(build_tiny_mistral(), tmp_path / "mix", adapter_name="mix").eval()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, out)


def test_balanced_truncation_of_the_sum_obeys_its_bound():
    model = two_adapters()
    report = model.add_weighted_adapter(["default", "b"], [1.0, 1.0], "mix3", order=3)
    for entry, layer in zip(report, layers(model)):
        assert (entry.order_before, entry.order_after) == (7, 3)
        full = parallel_connection([to_state_space(layer, "default"), to_state_space(layer, "b")], [1.0, 1.0])
        error = hk.hinf_norm(full - to_state_space(layer, "mix3"))
        assert entry.hsv[3] * (1 - 1e-4) <= error <= entry.error_bound * (1 + 1e-4) + 1e-7


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((["default", "zzz"], [1.0, 1.0], "m"), {}, r"unknown adapters \['zzz'\]"),
        ((["default", "b"], [1.0], "m"), {}, "one weight per adapter"),
        ((["default", "b"], [1.0, math.nan], "m"), {}, r"weights\[1\] must be a finite number"),
        ((["default", "b"], [1.0, 1.0], "b"), {}, "exists already"),
        ((["default", "b"], [1.0, 1.0], "m"), {"combination_type": "svd"}, "not supported.*'parallel'"),
        ((["default", "b"], [1.0, 1.0], "m"), {"svd_rank": 4}, "LoRA's SVD/TIES"),
        ((["default", "b"], [1.0, 1.0], "m"), {"order": 2.5}, "order must be a positive integer"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(args, kwargs, message):
    model = two_adapters()
    with pytest.raises(ValueError, match=message):
        model.add_weighted_adapter(*args, **kwargs)
    assert set(model.peft_config) == {"default", "b"}
    assert all(set(layer.hrm_ssm) == {"default", "b"} for layer in layers(model))


def test_adapters_at_different_blocks_are_refused():
    model = two_adapters()
    model.add_adapter("attn", HRMConfig(d_state=2, site="attention", seed=2))
    with pytest.raises(ValueError, match=r"holds \['(default|attn)'\] but not \['(attn|default)'\]"):
        model.add_weighted_adapter(["default", "attn"], [1.0, 1.0], "m")
    assert "m" not in model.peft_config
