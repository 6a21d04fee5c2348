"""HRM adapters as a native PEFT method: configuration, layer, tuner and sequence context.

Importing this package registers the method with PEFT (``PeftType.HRM``, prefix ``"hrm_"``), so that
``peft.get_peft_model``, ``PeftModel.from_pretrained`` and transformers' ``model.load_adapter`` know it.
"""

from __future__ import annotations

from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.utils import register_peft_method

from .config import HRM_PEFT_TYPE, HRM_PREFIX, SITE_TARGETS, HRMConfig, ensure_peft_type
from .context import HRMContext, SSMStateStore
from .layer import HRMLayer, HRMMergeError
from .model import HRMModel

__all__ = [
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
