"""HRM beside the blocks of seven model families: widths from the model config, not registration order.

Tiny random models are built from transformers configs (no downloads).  Each family is adapted at
both sites; the check is against an independent float64 recurrence of the adapter's state-space
system (``hankelid.simulate``), not against the FFT scan itself.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hankelid_torch import HRMConfig, match_parameters, to_state_space  # noqa: E402
from hankelid_torch.hrm.layer import HRMLayer, block_features  # noqa: E402

HIDDEN = 32
COMMON = {
    "hidden_size": HIDDEN,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 64,
    "pad_token_id": None,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

#: family -> (config class, model class, extra config, {site: target regex})
DECODER = {"mlp": r"(.*\.)?layers\.\d+\.mlp", "attention": r"(.*\.)?layers\.\d+\.self_attn"}
FAMILIES = {
    "mistral": ("MistralConfig", "MistralForCausalLM", {"sliding_window": None}, DECODER),
    "llama": ("LlamaConfig", "LlamaForCausalLM", {}, DECODER),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {}, DECODER),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", {"head_dim": 8}, DECODER),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", {}, DECODER),
    "mixtral": (
        "MixtralConfig",
        "MixtralForCausalLM",
        {"num_local_experts": 4, "num_experts_per_tok": 2},
        DECODER,
    ),
    "qwen2_moe": (
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        {
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 16,
            "shared_expert_intermediate_size": 24,
        },
        DECODER,
    ),
}


def build(family: str, seed: int = 0):
    config_name, model_name, extra, _ = FAMILIES[family]
    config = getattr(transformers, config_name)(**{**COMMON, **extra})
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return getattr(transformers, model_name)(config).eval()


def build_gpt2(seed: int = 0):
    config = transformers.GPT2Config(
        n_embd=HIDDEN,
        n_layer=2,
        n_head=4,
        vocab_size=64,
        bos_token_id=1,
        eos_token_id=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    torch.manual_seed(seed)
    return transformers.GPT2LMHeadModel(config).eval()


def recurrence(A: np.ndarray, B: np.ndarray, C: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The adapter's map by a plain float64 loop over time (the reference)."""
    s = np.zeros(A.shape[0])
    out = []
    for u_t in u:
        s = A @ s + B @ u_t
        out.append(C @ s)
    return np.array(out)


def check_exact_contributions(model, ids: torch.Tensor) -> int:
    """Every HRM layer's output minus its block's output equals a float64 recurrence of the adapter."""
    seen = []

    def hook(layer, args, kwargs, output):
        u = args[0] if args else kwargs["hidden_states"]
        out = output[0] if isinstance(output, tuple) else output
        with torch.no_grad():
            base = layer.base_layer(*args, **kwargs)
        base = base[0] if isinstance(base, tuple) else base
        seen.append((layer, u.detach(), (out - base).detach()))

    handles = [
        m.register_forward_hook(hook, with_kwargs=True) for m in model.modules() if isinstance(m, HRMLayer)
    ]
    try:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)  # the hook calls each block twice
    finally:
        for h in handles:
            h.remove()
    for layer, u, delta in seen:
        A, B, C, _ = to_state_space(layer).matrices  # s_t = A s_{t-1} + B u_t, y_t = (alpha C) s_t
        for b in range(u.shape[0]):
            np.testing.assert_allclose(
                delta[b].double().numpy(), recurrence(A, B, C, u[b].double().numpy()), rtol=1e-4, atol=1e-5
            )
    return len(seen)


@pytest.mark.parametrize("site", ["mlp", "attention"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_site_forward_is_base_plus_exact_adapter(family, site):
    ids = torch.randint(3, 64, (2, 7), generator=torch.Generator().manual_seed(1))
    base = build(family)
    with torch.no_grad():
        ref = base(input_ids=ids).logits
    closed = peft.get_peft_model(copy.deepcopy(base), HRMConfig(d_state=3, site=site, seed=0))
    with torch.no_grad():
        torch.testing.assert_close(closed(input_ids=ids).logits, ref, rtol=0, atol=0)
    model = peft.get_peft_model(base, HRMConfig(d_state=3, site=site, seed=0, gate_init=0.5))
    layers = [m for m in model.modules() if isinstance(m, HRMLayer)]
    assert len(layers) == 2
    assert all((m.in_features, m.out_features) == (HIDDEN, HIDDEN) for m in layers)
    assert check_exact_contributions(model, ids) == 2


@pytest.mark.parametrize("target", ["mlp", "attn"])
def test_gpt2_conv1d_blocks(target):
    ids = torch.randint(3, 64, (2, 6), generator=torch.Generator().manual_seed(2))
    model = peft.get_peft_model(
        build_gpt2(), HRMConfig(d_state=3, target_modules=rf"transformer\.h\.\d+\.{target}", gate_init=0.5)
    )
    assert check_exact_contributions(model, ids) == 2


def test_gpt2_conv1d_projection_gets_its_own_widths():
    conv = build_gpt2().transformer.h[0].mlp.c_fc  # Conv1D(nf=4*32, nx=32): weight (32, 128)
    assert block_features(conv) == (HIDDEN, 4 * HIDDEN)


def test_block_that_is_not_on_the_residual_stream_is_refused_at_wrap_time():
    model = build("llama")
    model.model.layers[0].side = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"hidden states of width 32.*site='attention'"):
        peft.get_peft_model(model, HRMConfig(d_state=2, target_modules=["model.layers.0.side"]))
    assert isinstance(model.model.layers[0].side, torch.nn.Sequential)  # nothing was wrapped


@pytest.mark.filterwarnings("ignore:match_parameters")
@pytest.mark.parametrize("family", ["phi3", "qwen2_moe", "mixtral"])
def test_match_parameters_counts_hidden_width_adapters(family):
    with torch.device("meta"):
        model = build(family)
    lora = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"] if family != "phi3" else ["qkv_proj"])
    config, report = match_parameters(model, lora, return_report=True, site="attention")
    # every site is an adapter of widths (32, 32): 2 d + 2*32 d + 1 parameters
    per_state = 2 + 2 * HIDDEN
    assert report.granularity == per_state
    d = config.d_state
    sizes = [config.d_state_pattern.get(f"model.layers.{i}.self_attn", d) for i in range(2)]
    assert report.achieved == sum(per_state * s + 1 for s in sizes)


def test_packed_weights_are_judged_by_declared_widths():
    """A quantized projection keeps in/out_features while its weight is packed (as bitsandbytes does)."""

    class Packed(torch.nn.Module):
        def __init__(self, in_features: int, out_features: int):
            super().__init__()
            self.in_features, self.out_features = in_features, out_features
            self.weight = torch.nn.Parameter(
                torch.zeros(in_features * out_features // 2, 1), requires_grad=False
            )

    mlp = torch.nn.Module()
    mlp.gate_proj, mlp.down_proj = Packed(HIDDEN, 48), Packed(48, HIDDEN)
    assert block_features(mlp, hidden_size=HIDDEN) == (HIDDEN, HIDDEN)


def test_vision_tower_blocks_get_the_towers_width():
    """Llava: the default regex matches the CLIP tower's MLPs too; their width is the tower's hidden
    size (16), although the text model's (32) equals the tower's intermediate size."""
    vision = transformers.CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=8,
        patch_size=4,
    )
    text = transformers.LlamaConfig(
        hidden_size=32,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=64,
    )
    torch.manual_seed(0)
    base = transformers.LlavaForConditionalGeneration(
        transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=63)
    ).eval()
    model = peft.get_peft_model(base, HRMConfig(d_state=2, gate_init=0.5, seed=0))
    widths = {
        n.split(".")[-4]: (m.in_features, m.out_features)
        for n, m in model.named_modules()
        if isinstance(m, HRMLayer)
    }
    assert widths == {"encoder": (16, 16), "language_model": (32, 32)}
    ids = torch.cat(
        [torch.full((1, 4), 63), torch.randint(0, 60, (1, 5), generator=torch.Generator().manual_seed(0))], 1
    )
    with torch.no_grad():
        assert model(input_ids=ids, pixel_values=torch.randn(1, 3, 8, 8)).logits.shape == (1, 9, 64)
