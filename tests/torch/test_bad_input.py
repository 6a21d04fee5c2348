"""Bad input to hankelid_torch: a typed error that names the problem and changes nothing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from safetensors.torch import load_file, save_file  # noqa: E402

from hankelid_torch import HRMConfig, adapter_layers, fft_scan, reduce_adapters, ssm_kernel  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402

from .conftest import build_tiny_mistral  # noqa: E402


def hrm_model(**kwargs):
    cfg = {"d_state": 6, "seed": 0, "gate_init": 0.7, "init": "random", **kwargs}
    return peft.get_peft_model(build_tiny_mistral(), HRMConfig(**cfg))


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if ".hrm_ssm." in k}


def unchanged(model, before) -> bool:
    after = snapshot(model)
    return after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


# ------------------------------------------------------------------------------- partial reduction
@pytest.mark.parametrize("parametrization", ["s4d", "modal"])
def test_partial_reduction_saves_and_loads_back_exactly(tmp_path, parametrization):
    model = hrm_model(parametrization=parametrization).eval()
    ids = torch.randint(3, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    report = reduce_adapters(model, order={"base_model.model.model.layers.0.mlp": 2})
    assert [(r.order_before, r.order_after) for r in report] == [(6, 2)]
    with torch.no_grad():
        out = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    cfg = peft.PeftConfig.from_pretrained(tmp_path)
    assert cfg.d_state_pattern == {"model.layers.0.mlp": 2}
    if parametrization == "s4d":
        assert cfg.parametrization_pattern == {"model.layers.0.mlp": "modal"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = peft.PeftModel.from_pretrained(build_tiny_mistral(), tmp_path).eval()
    assert not [
        w for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()
    ]
    sizes = {name: layer.hrm_ssm["default"].d_state for name, layer in adapter_layers(loaded)}
    kinds = {name: layer.hrm_ssm["default"].parametrization for name, layer in adapter_layers(loaded)}
    assert sorted(sizes.values()) == [2, 6]
    assert kinds["base_model.model.model.layers.0.mlp"] == "modal"
    assert kinds["base_model.model.model.layers.1.mlp"] == parametrization
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, out)


# ------------------------------------------------------------------------------- non-finite weights
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_adapter_parameters_are_refused_on_load(tmp_path, value):
    hrm_model().save_pretrained(tmp_path)
    weights = load_file(tmp_path / "adapter_model.safetensors")
    key = next(k for k in weights if k.endswith(".gate"))
    weights[key] = torch.tensor(value)
    save_file(weights, tmp_path / "adapter_model.safetensors")
    with pytest.raises(ValueError, match=r"refusing to load .*gate.*(NaN|inf)"):
        peft.PeftModel.from_pretrained(build_tiny_mistral(), tmp_path)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_gate_init_is_refused(value):
    with pytest.raises(ValueError, match="gate_init must be finite"):
        HRMConfig(gate_init=value)
    with pytest.raises(ValueError, match="gate_init must be finite"):
        SSMAdapter(4, 2, gate_init=value)


# ------------------------------------------------------------------------------------------ scans
def test_fft_scan_promotes_integer_input():
    k = torch.full((4, 1), 0.5)
    y = fft_scan(torch.tensor([[[1], [1], [1], [1]]]), k)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y[0, :, 0], torch.tensor([0.5, 1.0, 1.5, 2.0]))
    assert fft_scan(torch.ones(1, 3, 1, dtype=torch.bool), k.double()).dtype == torch.float64


@pytest.mark.parametrize(
    ("u", "kernel", "message"),
    [
        ([[1.0], [2.0]], torch.ones(2, 1), "u must be a torch.Tensor, got list"),
        (torch.ones(2, 1), np.ones((2, 1)), "kernel must be a torch.Tensor, got ndarray"),
        (torch.ones(1, 3, 1, dtype=torch.complex64), torch.ones(3, 1), "u is torch.complex64"),
        (torch.ones(1, 3, 1), torch.ones(3, 1, dtype=torch.complex128), "kernel is torch.complex128"),
    ],
)
def test_fft_scan_refuses_non_tensors_and_complex(u, kernel, message):
    with pytest.raises(TypeError, match=message):
        fft_scan(u, kernel)


def test_ssm_kernel_refuses_a_0d_A():
    with pytest.raises(ValueError, match=r"A must be 1-D \(diagonal\) or square 2-D, got shape \(\)"):
        ssm_kernel(torch.tensor(0.5), torch.ones(1, 1), torch.ones(1, 1), 3)
    with pytest.raises(TypeError, match=r"A must be a torch\.Tensor, got list"):
        ssm_kernel([0.5], torch.ones(1, 1), torch.ones(1, 1), 3)


# ------------------------------------------------------------------------------------ reductions
def test_reduce_adapters_on_a_model_without_adapters():
    with pytest.raises(ValueError, match="holds no HRM adapters"):
        reduce_adapters(build_tiny_mistral(), order=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"order": 2.5}, TypeError, "order must be an integer state count, got 2.5"),
        ({"order": math.nan}, TypeError, "order must be an integer state count, got nan"),
        ({"order": True}, TypeError, "order must be an integer"),
        ({"order": 0}, ValueError, "order must be >= 1, got 0"),
        ({"order": {"base_model.model.model.layers.0.mlp": 2.0}}, TypeError, "order\\['base_model"),
        ({"order": {"model.layers.7.mlp": 2}}, KeyError, "model.layers.7.mlp"),
        ({"tol": math.nan}, ValueError, "tol must be a positive finite number"),
        ({"tol": -1.0}, ValueError, "tol must be a positive finite number"),
        ({"order": 2, "adapter_name": "other"}, ValueError, "no HRM adapter named 'other'.*default"),
        ({}, ValueError, "give an order or a tol"),
    ],
)
def test_reduce_adapters_bad_requests_change_nothing(kwargs, error, message):
    model = hrm_model()
    before = snapshot(model)
    with pytest.raises(error, match=message):
        reduce_adapters(model, **kwargs)
    assert unchanged(model, before)
    assert model.peft_config["default"].d_state_pattern == {}
