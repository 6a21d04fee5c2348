"""Tiny random Mistral models (built offline, seeded) shared by the torch tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

#: hidden 32, 2 layers, 4 heads, 2 KV heads (grouped-query attention), MLP 64, vocabulary 64.
#: A large initializer range makes the logits peaked, so greedy/beam decisions are not ties that
#: float rounding could flip between two equivalent computations.
TINY_MISTRAL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 64,
    "max_position_embeddings": 256,
    "initializer_range": 0.3,
    # no padding_idx: a pad token with a zero embedding would keep padded hidden states at exactly zero
    # and hide any leak of padding into the SSM state
    "pad_token_id": None,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "sliding_window": None,
}

CUDA = torch.cuda.is_available()
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="needs a CUDA device")]
    ),
]


def build_tiny_mistral(seed: int = 0, dtype=None, device: str = "cpu", **overrides):
    """A ``MistralForCausalLM`` with :data:`TINY_MISTRAL` (plus ``overrides``), eval mode, seeded."""
    attn_implementation = overrides.pop("attn_implementation", "sdpa")
    config = transformers.MistralConfig(**{**TINY_MISTRAL, **overrides})
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model = transformers.MistralForCausalLM(config).eval()
    if dtype is not None:
        model = model.to(dtype)
    return model.to(device)


@pytest.fixture
def tiny_config():
    """The :data:`TINY_MISTRAL` configuration."""
    return transformers.MistralConfig(**TINY_MISTRAL)


@pytest.fixture
def make_mistral() -> Callable[..., object]:
    """Factory ``make_mistral(seed=0, dtype=None, device="cpu", **config_overrides)``."""
    return build_tiny_mistral


@pytest.fixture
def tiny_mistral():
    """A fresh tiny Mistral (seed 0, float32, CPU, eval mode)."""
    return build_tiny_mistral()


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each available device: CPU always, CUDA when present (marked ``cuda``)."""
    return request.param


@pytest.fixture
def token_batch() -> Callable[..., object]:
    """Factory ``token_batch(lengths, seed=0)``: one random token row (ids 3..63) per length."""

    def make(lengths, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        return [torch.randint(3, TINY_MISTRAL["vocab_size"], (n,), generator=gen) for n in lengths]

    return make
