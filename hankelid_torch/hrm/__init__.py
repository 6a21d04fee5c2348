"""HRM adapters as a native PEFT method: configuration, layer, tuner and sequence context.

Importing this package registers the method with PEFT (`PeftType.HRM`, prefix `"hrm_"`), so that
`peft.get_peft_model`, `PeftModel.from_pretrained` and transformers' `model.load_adapter` know it.

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

from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.utils import register_peft_method

from .config import HRM_ADAPTER_ATTR, HRM_PEFT_TYPE, HRM_PREFIX, SITE_TARGETS, HRMConfig, ensure_peft_type
from .context import HRMContext, SSMStateStore
from .layer import HRMLayer, HRMMergeError
from .model import HRMModel

__all__ = [
    "HRM_ADAPTER_ATTR",
    "HRM_PEFT_TYPE",
    "HRM_PREFIX",
    "SITE_TARGETS",
    "HRMConfig",
    "HRMContext",
    "HRMLayer",
    "HRMMergeError",
    "HRMModel",
    "SSMStateStore",
    "ensure_peft_type",
]

if HRM_PEFT_TYPE not in PEFT_TYPE_TO_TUNER_MAPPING:  # idempotent under importlib.reload
    register_peft_method(name="hrm", config_cls=HRMConfig, model_cls=HRMModel, prefix=HRM_PREFIX)
