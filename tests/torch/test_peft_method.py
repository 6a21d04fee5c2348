"""HRM as a native PEFT method: registration, injection, save/load, adapters API, padding, dtypes."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from packaging.version import Version  # noqa: E402
from peft import PeftConfig, PeftModel, get_peft_model  # noqa: E402
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_PREFIX_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING  # noqa: E402
from peft.utils import PeftType  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from hankelid_torch import HRMConfig  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402
from hankelid_torch.hrm import HRMLayer, HRMMergeError, HRMModel  # noqa: E402

from ._training import adam_losses  # noqa: E402


def hrm(model, **kwargs):
    """``get_peft_model`` with a seeded HRM config (open gate unless given)."""
    kwargs = {"d_state": 4, "seed": 0, "gate_init": 0.7, **kwargs}
    return get_peft_model(model, HRMConfig(**kwargs))


def hrm_layers(model) -> dict[str, HRMLayer]:
    return {name: m for name, m in model.named_modules() if isinstance(m, HRMLayer)}


def pad(rows, side: str, pad_id: int = 0):
    """Stack token rows into (ids, mask) padded on ``side`` ("left" or "right")."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(width - len(r), width) if side == "left" else slice(0, len(r))
        ids[i, sl], mask[i, sl] = r, 1
    return ids, mask


# ---------------------------------------------------------------------------------------- registration
def test_registered_with_peft_and_matching_transformers_prefix():
    assert PeftType("HRM") is PeftType.HRM and PeftType.HRM == "HRM"
    assert "HRM" in list(PeftType)
    assert PEFT_TYPE_TO_CONFIG_MAPPING["HRM"] is HRMConfig
    assert PEFT_TYPE_TO_TUNER_MAPPING[PeftType.HRM] is HRMModel
    # transformers' load_adapter/delete_adapter derive the prefix from the type's value
    assert PEFT_TYPE_TO_PREFIX_MAPPING[PeftType.HRM] == PeftType.HRM.value.lower() + "_" == HRMModel.prefix


@pytest.mark.parametrize(
    "kwargs",
    [
        {"d_state": 0},
        {"d_state": 2.5},
        {"site": "ffn"},
        {"init": "hippo"},
        {"parametrization": "dense"},
        {"init": "hankel", "parametrization": "s4d"},
        {"dt_min": 0.1, "dt_max": 0.01},
        {"hankel_gramians": "approximate"},
        {"d_state_pattern": {"layers.0.mlp": 0}},
        {"d_state_pattern": [4]},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        HRMConfig(**kwargs)


def test_config_json_round_trip(tmp_path):
    config = HRMConfig(
        d_state=6,
        site="attention",
        d_state_pattern={"3": 2},
        layers_to_transform=[1, 0],
        seed=5,
        gate_init=0.25,
    )
    config.save_pretrained(tmp_path)
    loaded = PeftConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, HRMConfig)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.peft_type is PeftType.HRM


# ---------------------------------------------------------------------------------------- injection
def test_default_targets_every_mlp_block(tiny_mistral):
    model = hrm(tiny_mistral)
    layers = hrm_layers(model)
    assert sorted(layers) == [f"base_model.model.model.layers.{i}.mlp" for i in range(2)]
    for layer in layers.values():
        assert type(layer.base_layer).__name__ == "MistralMLP"
        assert isinstance(layer.hrm_ssm["default"], SSMAdapter)
        assert layer.hrm_ssm["default"].d_state == 4


def test_attention_site_and_layer_selection(tiny_mistral):
    model = hrm(tiny_mistral, site="attention", layers_to_transform=[1])
    layers = hrm_layers(model)
    assert list(layers) == ["base_model.model.model.layers.1.self_attn"]
    assert layers["base_model.model.model.layers.1.self_attn"].layer_idx == 1  # attributes reach the block


def test_linear_targets_get_rectangular_adapters(tiny_mistral, token_batch):
    # v_proj maps hidden 32 -> 16 under grouped-query attention: the adapter must map 32 -> 16 too
    model = hrm(tiny_mistral, target_modules=["v_proj"])
    layers = hrm_layers(model)
    assert sorted(layers) == [f"base_model.model.model.layers.{i}.self_attn.v_proj" for i in range(2)]
    adapter = layers["base_model.model.model.layers.0.self_attn.v_proj"].hrm_ssm["default"]
    assert (adapter.in_features, adapter.out_features) == (32, 16)
    ids, mask = pad(token_batch([6, 3]), "left")
    assert torch.isfinite(model(input_ids=ids, attention_mask=mask).logits).all()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"model.layers.1.mlp": 7}, [4, 7]),  # full name
        ({r"layers\.0\.mlp": 3}, [3, 4]),  # regex on the name's end, LoRA's rank_pattern rule
        ({"1": 5}, [4, 5]),  # layer index
    ],
)
def test_d_state_pattern_overrides_per_block(tiny_mistral, pattern, expected):
    model = hrm(tiny_mistral, d_state_pattern=pattern)
    layers = hrm_layers(model)
    got = [layers[f"base_model.model.model.layers.{i}.mlp"].hrm_ssm["default"].d_state for i in range(2)]
    assert got == expected


def test_trainable_parameters_are_the_adapters_and_counts_agree(tiny_mistral, capsys):
    model = hrm(tiny_mistral, d_state_pattern={"1": 6})
    trainable, _ = model.get_nb_trainable_parameters()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".hrm_ssm.default." in n for n in names)
    hidden = tiny_mistral.config.hidden_size
    assert trainable == SSMAdapter.count_parameters(hidden, 4) + SSMAdapter.count_parameters(hidden, 6)
    assert trainable == sum(
        p.numel() for layer in hrm_layers(model).values() for p in layer.hrm_ssm.parameters()
    )
    model.print_trainable_parameters()
    assert f"trainable params: {trainable:,}" in capsys.readouterr().out


def test_same_seed_same_adapters_different_seed_different(make_mistral):
    a, b, c = (hrm(make_mistral(), seed=s) for s in (3, 3, 4))
    sa, sb, sc = (peft.get_peft_model_state_dict(m) for m in (a, b, c))
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# ---------------------------------------------------------------------------------------- no-op, disable
def test_zero_gate_is_an_exact_no_op(tiny_mistral, token_batch):
    ids = torch.stack(token_batch([9, 9]))
    ref = tiny_mistral(ids).logits
    model = hrm(tiny_mistral, gate_init=0.0)
    assert torch.equal(model(ids).logits, ref)


def test_disable_adapter_equals_base(tiny_mistral, token_batch):
    ids = torch.stack(token_batch([9, 9]))
    ref = tiny_mistral(ids).logits
    model = hrm(tiny_mistral)
    out = model(ids).logits
    assert (out - ref).abs().max() > 1e-2  # the open gate changes the model
    with model.disable_adapter():
        assert torch.equal(model(ids).logits, ref)
    assert torch.equal(model(ids).logits, out)


# ---------------------------------------------------------------------------------------- save / load
@pytest.mark.parametrize(
    ("init", "parametrization"), [("random", "s4d"), ("random", "modal"), ("hankel", None)]
)
def test_save_and_peft_from_pretrained_are_bit_identical(
    make_mistral, token_batch, tmp_path, init, parametrization
):
    ids, mask = pad(token_batch([7, 4]), "left")
    model = hrm(make_mistral(), init=init, parametrization=parametrization, hankel_gramians="exact")
    with torch.no_grad():  # move away from the initialization so that loading has to restore it
        for layer in hrm_layers(model).values():
            layer.hrm_ssm["default"].C.mul_(1.5)
    out = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").is_file()
    keys = load_file(tmp_path / "adapter_model.safetensors").keys()
    assert keys and all(".hrm_ssm." in k and ".default." not in k for k in keys)

    loaded = PeftModel.from_pretrained(make_mistral(), tmp_path, adapter_name="other")
    assert torch.equal(loaded(input_ids=ids, attention_mask=mask).logits, out)
    assert not any(p.requires_grad for p in loaded.parameters())  # loaded for inference by default
    lazy = PeftModel.from_pretrained(make_mistral(), tmp_path, low_cpu_mem_usage=True, is_trainable=True)
    assert torch.equal(lazy(input_ids=ids, attention_mask=mask).logits, out)
    assert all(p.requires_grad for n, p in lazy.named_parameters() if ".hrm_ssm." in n)


def _transformers_peft_requirement() -> str | None:
    """The minimum peft version the installed transformers' adapter API checks for (its own constant)."""
    try:
        from transformers.integrations import peft as integration
    except ImportError:  # pragma: no cover - transformers without the PEFT integration
        return None
    return getattr(integration, "MIN_PEFT_VERSION", None)


_PEFT_NEEDED = _transformers_peft_requirement()


@pytest.mark.skipif(
    _PEFT_NEEDED is not None and Version(peft.__version__) < Version(_PEFT_NEEDED),
    reason=(
        f"the installed transformers requires peft >= {_PEFT_NEEDED} for load_adapter/disable_adapters "
        f"(transformers.integrations.peft.MIN_PEFT_VERSION); installed peft is {peft.__version__}"
    ),
)
def test_transformers_load_adapter_is_bit_identical(make_mistral, token_batch, tmp_path):
    ids, mask = pad(token_batch([7, 4]), "left")
    model = hrm(make_mistral(), init="random", parametrization="modal")
    out = model(input_ids=ids, attention_mask=mask).logits
    model.save_pretrained(tmp_path)

    base = make_mistral()
    ref = base(input_ids=ids, attention_mask=mask).logits
    base.load_adapter(str(tmp_path))
    assert torch.equal(base(input_ids=ids, attention_mask=mask).logits, out)
    base.disable_adapters()
    assert torch.equal(base(input_ids=ids, attention_mask=mask).logits, ref)
    base.enable_adapters()

    # a second adapter through transformers' own API
    base.add_adapter(HRMConfig(d_state=3, seed=1, gate_init=0.7), adapter_name="b")
    base.set_adapter("b")
    only_b = hrm(make_mistral(), d_state=3, seed=1)(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(base(input_ids=ids, attention_mask=mask).logits, only_b)
    base.set_adapter("default")
    base.delete_adapter(["default", "b"])
    assert torch.equal(base(input_ids=ids, attention_mask=mask).logits, ref)


# ---------------------------------------------------------------------------------------- adapters API
def test_multiple_adapters_set_and_delete(make_mistral, token_batch):
    ids = torch.stack(token_batch([8, 8]))
    model = hrm(make_mistral(), seed=0)
    out_a = model(ids).logits
    model.add_adapter("b", HRMConfig(d_state=3, seed=1, gate_init=0.7))
    assert torch.equal(model(ids).logits, out_a)  # adding does not activate
    model.set_adapter("b")
    out_b = model(ids).logits
    assert torch.equal(out_b, hrm(make_mistral(), d_state=3, seed=1)(ids).logits)
    assert not torch.equal(out_b, out_a)

    # both active: each block adds both adapters' outputs
    model.base_model.set_adapter(["default", "b"])
    layer = hrm_layers(model)["base_model.model.model.layers.0.mlp"]
    u = torch.randn(2, 5, 32)
    expected = layer.base_layer(u) + layer.hrm_ssm["default"](u) + layer.hrm_ssm["b"](u)
    torch.testing.assert_close(layer(u), expected)

    model.set_adapter("default")
    model.delete_adapter("b")
    assert "b" not in model.peft_config and "b" not in layer.hrm_ssm and "b" not in layer.d_state
    assert torch.equal(model(ids).logits, out_a)


def test_merge_raises_and_unload_restores_the_base(tiny_mistral, token_batch):
    ids = torch.stack(token_batch([8, 8]))
    ref = tiny_mistral(ids).logits
    model = hrm(tiny_mistral)
    out = model(ids).logits
    for merge in (model.merge_and_unload, model.merge_adapter, model.base_model.merge_and_unload):
        with pytest.raises(HRMMergeError, match="cannot be merged"):
            merge()
    with pytest.raises(HRMMergeError):
        hrm_layers(model)["base_model.model.model.layers.0.mlp"].merge()
    assert torch.equal(model(ids).logits, out)  # nothing changed

    base = model.unload()
    assert not hrm_layers(base)
    assert not base._forward_pre_hooks and not base.model._forward_pre_hooks
    assert "_hrm_context" not in base.__dict__
    assert torch.equal(base(ids).logits, ref)


# ---------------------------------------------------------------------------------------- sequence semantics
@pytest.mark.parametrize("site", ["mlp", "attention"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_never_enters_the_state(make_mistral, token_batch, site, side):
    rows = token_batch([9, 5, 2], seed=1)
    model = hrm(make_mistral(), site=site, init="random")
    singles = [model(r[None]).logits[0] for r in rows]
    ids, mask = pad(rows, side)
    # explicit positions: the base model's rotary phases then match the unpadded runs exactly
    position_ids = (mask.cumsum(1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits
    for i in range(len(rows)):
        real = mask[i].bool()
        torch.testing.assert_close(logits[i, real], singles[i], atol=2e-5, rtol=1e-5)


def test_positional_arguments_reach_the_adapters(tiny_mistral, token_batch):
    ids, mask = pad(token_batch([6, 3]), "left")
    model = hrm(tiny_mistral)
    by_name = model.base_model.model(input_ids=ids, attention_mask=mask).logits
    by_position = model.base_model.model(ids, mask).logits
    assert torch.equal(by_name, by_position)


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(make_mistral, token_batch, reentrant):
    ids, mask = pad(token_batch([8, 5]), "left")
    labels = ids.masked_fill(mask == 0, -100)

    def grads(checkpointing: bool):
        model = hrm(make_mistral(), init="random")
        if checkpointing:
            kwargs = {"use_reentrant": reentrant}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers 5 renamed it
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:  # pragma: no cover - transformers 4
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            model.enable_input_require_grads()
        model.train()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}

    plain, checkpointed = grads(False), grads(True)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------- dtypes, devices
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward_backward(make_mistral, token_batch, dtype, device):
    ids, mask = pad(token_batch([8, 5]), "left")
    ids, mask = ids.to(device), mask.to(device)
    model = hrm(make_mistral(dtype=dtype, device=device), init="random")
    model = model.to(dtype)  # a later cast of the whole model must not lower the adapters' precision
    adapter_params = [p for n, p in model.named_parameters() if ".hrm_ssm." in n]
    assert all(p.dtype == torch.float32 and p.device.type == device for p in adapter_params)
    model.train()
    out = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100))
    assert out.logits.dtype == dtype
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in adapter_params)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_device_moves_every_adapter_tensor(make_mistral, token_batch):
    ids, mask = pad(token_batch([8, 5]), "left")
    model = hrm(make_mistral(), init="hankel", d_state=3)
    out = model(input_ids=ids, attention_mask=mask).logits
    model = model.to("cuda")
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    assert all(t.device.type == "cuda" for _, t in tensors)
    got = model(input_ids=ids.cuda(), attention_mask=mask.cuda()).logits.cpu()
    torch.testing.assert_close(got, out, atol=1e-4, rtol=1e-4)


def test_a_few_optimizer_steps_reduce_the_loss(make_mistral):
    # Toy task: copy the token seen three positions back -- needs sequence memory; only the adapters train.
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 64, (8, 16), generator=gen)
    ids[:, 3:] = ids[:, :-3].clone()
    labels = ids.clone()
    labels[:, :3] = -100
    model = hrm(make_mistral(), gate_init=0.0, init="random", d_state=8)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    losses = adam_losses(model, params, lr=0.1, steps=15, input_ids=ids, labels=labels)
    assert losses[-1] < 0.8 * losses[0]


def test_deep_copy_gets_its_own_context(tiny_mistral, token_batch):
    ids, mask = pad(token_batch([7, 3], seed=2), "left")
    model = hrm(tiny_mistral, init="random")
    twin = copy.deepcopy(model)
    contexts = {id(m._hrm_ctx) for m in twin.modules() if isinstance(m, HRMLayer)}
    assert contexts == {id(twin.base_model.model._hrm_context)}
    assert contexts.isdisjoint({id(m._hrm_ctx) for m in model.modules() if isinstance(m, HRMLayer)})
    out = model(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(twin(input_ids=ids, attention_mask=mask).logits, out)
