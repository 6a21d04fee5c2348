"""The PEFT glue both methods share: layer indices, block inputs, mask and cache reading."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("peft")

from hankelid_torch import HRM_ADAPTER_ATTR, HRMLayer
from hankelid_torch._peft_glue import (
    block_input,
    chunk_mask,
    forward_argument,
    forward_cache,
    layer_index,
    real_token_mask,
    sequence_length,
)


@pytest.mark.parametrize(
    ("key", "pattern", "index"),
    [
        ("model.layers.3.mlp", None, 3),
        ("layers.3.mlp", None, 3),  # no container before the list (the old SSMLoRA regex missed it)
        ("model.layers.11", None, 11),  # the block itself, number last
        ("model.layers.3.block_sparse_moe.experts.5.w1", None, 3),  # the layer, not the expert
        ("transformer.h.7.attn.c_attn", "h", 7),
        ("transformer.h.7.attn.c_attn", ["blocks", "h"], 7),
        ("model.layers.2.mlp", "h", None),
        ("model.layers1.2.mlp", "layers", None),  # the pattern names a whole segment
        ("model.l.ayers.4.mlp", "l.ayers", 4),  # ... taken literally, not as a regex
        ("model.lxayers.4.mlp", "l.ayers", None),
        ("lm_head", None, None),
    ],
)
def test_layer_index(key, pattern, index):
    assert layer_index(key, pattern) == index


def test_block_input_and_its_error():
    x = torch.zeros(1, 2, 3)
    assert block_input((x, 5), {}) is x
    assert block_input((), {"x": x}) is x
    with pytest.raises(ValueError, match="input tensor"):
        block_input((), {"y": x})


class _Model(nn.Module):
    def forward(self, input_ids, attention_mask=None, past_key_values=None, cache=None):
        return input_ids


def test_arguments_are_read_by_keyword_or_position():
    m = _Model()
    ids, mask = torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 5)
    assert forward_argument(m, (ids, mask), {}, "attention_mask") is mask
    assert forward_argument(m, (ids,), {"attention_mask": mask}, "attention_mask") is mask
    assert forward_argument(m, (ids,), {}, "attention_mask") is None
    assert sequence_length(m, (ids,), {}) == 5
    assert forward_cache(m, (ids,), {"past_key_values": "old"}) == "old"
    assert forward_cache(m, (ids,), {"cache": "new", "past_key_values": None}) == "new"
    assert forward_cache(m, (ids, None, "positional"), {}) == "positional"


def test_real_token_masks_from_2d_and_4d_masks_and_their_chunks():
    pad = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    assert torch.equal(real_token_mask(pad, 4, 0), pad.bool())
    # a 4-D additive causal mask in which the padded query (0, 0) does not attend to itself
    big = torch.finfo(torch.float32).min
    four = torch.triu(torch.full((4, 4), big), diagonal=1).expand(2, 1, 4, 4).clone()
    four[0, 0, :, 0] = big
    assert torch.equal(real_token_mask(four, 4, 0), pad.bool())
    assert real_token_mask({"full_attention": pad}, 4, 0) is None
    assert torch.equal(chunk_mask(pad.bool(), 2, 1, torch.device("cpu")), pad[:, -1:].bool())
    assert chunk_mask(pad.bool(), 3, 1, torch.device("cpu")) is None  # another batch
    assert chunk_mask(None, 2, 1, torch.device("cpu")) is None


def test_the_adapter_attribute_is_the_layers_adapter_dict():
    layer = HRMLayer(nn.Linear(4, 4), "default", key="blk", d_state=2)
    assert HRMLayer.adapter_layer_names == (HRM_ADAPTER_ATTR,)
    assert isinstance(getattr(layer, HRM_ADAPTER_ATTR), nn.ModuleDict)
    assert layer.block_key == "blk"
