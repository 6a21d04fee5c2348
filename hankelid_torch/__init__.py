"""hankelid_torch: Hankel-initialized SSM adapters (HRM) for PyTorch, transformers and PEFT.

Reduced linear state-space models become trainable adapters that run as an exact causal
FFT convolution beside the MLP blocks of Mistral-class models, as a native PEFT method.
"""

from __future__ import annotations

from .adapter import SSMAdapter
from .bridge import adapter_layers, from_state_space, reduce_adapters, to_state_space
from .data_init import capture_adapter_inputs, hankel_init_from_data
from .hrm import HRM_ADAPTER_ATTR, HRMConfig, HRMLayer, HRMMergeError, HRMModel
from .options import HankelInitOptions
from .params import ParameterMatch, hrm_trainable_count, lora_trainable_count, match_parameters
from .scan import fft_scan, ssm_kernel
from .ssmlora import SSMLoRAConfig

__all__ = [
    "HRM_ADAPTER_ATTR",
    "HRMConfig",
    "HRMLayer",
    "HRMMergeError",
    "HRMModel",
    "HankelInitOptions",
    "ParameterMatch",
    "SSMAdapter",
    "SSMLoRAConfig",
    "adapter_layers",
    "capture_adapter_inputs",
    "fft_scan",
    "from_state_space",
    "hankel_init_from_data",
    "hrm_trainable_count",
    "lora_trainable_count",
    "match_parameters",
    "reduce_adapters",
    "ssm_kernel",
    "to_state_space",
]
