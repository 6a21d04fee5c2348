"""HRM adapters as a native PEFT method (re-exports :mod:`hankelid_torch.hrm`).

Importing ``hankelid_torch`` registers the method, after which the whole PEFT and transformers adapter
API works with it:

>>> import torch, peft, transformers
>>> from hankelid_torch import HRMConfig
>>> cfg = transformers.MistralConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
...     num_attention_heads=2, num_key_value_heads=1, vocab_size=32)
>>> _ = torch.manual_seed(0)
>>> model = peft.get_peft_model(transformers.MistralForCausalLM(cfg), HRMConfig(d_state=4, seed=0))
>>> [name for name, _ in model.named_modules() if name.endswith("mlp")]
['base_model.model.model.layers.0.mlp', 'base_model.model.model.layers.1.mlp']
>>> model.merge_and_unload()
Traceback (most recent call last):
...
hankelid_torch.hrm.layer.HRMMergeError: HRM adapters cannot be merged into the base weights: ...
"""

from __future__ import annotations

# The public list lives once, in hankelid_torch.hrm; this module mirrors it.
from .hrm import *  # noqa: F403
from .hrm import __all__ as __all__
