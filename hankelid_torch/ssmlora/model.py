"""`SSMLoRAModel`: the PEFT tuner that injects SSMLoRA adapters into a model."""

from __future__ import annotations

import warnings

from peft.tuners.tuners_utils import BaseTuner, check_target_module_exists
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

from .._peft_glue import forward_argument, forward_cache, layer_index, real_token_mask, sequence_length
from .config import SSMLORA_PREFIX, SSMLoRAConfig
from .layer import SSMLoRALayer, SSMLoRALinear, SSMLoRAMask

__all__ = ["SSMLoRAModel"]


class SSMLoRAModel(BaseTuner):
    """The PEFT tuner for [`SSMLoRAConfig`][hankelid_torch.ssmlora.config.SSMLoRAConfig] (created by
    `peft.get_peft_model`)."""

    prefix: str = SSMLORA_PREFIX
    tuner_layer_cls = SSMLoRALayer
    target_module_mapping = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    def __init__(self, model, peft_config, adapter_name, low_cpu_mem_usage: bool = False, **kwargs) -> None:
        super().__init__(model, peft_config, adapter_name, low_cpu_mem_usage=low_cpu_mem_usage, **kwargs)
        self._hook_handle = self.model.register_forward_pre_hook(self._capture_mask, with_kwargs=True)

    @property
    def _ctx(self) -> SSMLoRAMask:
        ctx = self.__dict__.get("_ssmlora_mask_context")
        if ctx is None:
            ctx = SSMLoRAMask()
            self.__dict__["_ssmlora_mask_context"] = ctx
        return ctx

    def _capture_mask(self, module, args, kwargs):
        ctx = self._ctx
        past = forward_cache(module, args, kwargs)
        get_len = getattr(past, "get_seq_length", None)
        past_len = int(get_len()) if get_len is not None else 0
        mask = forward_argument(module, args, kwargs, "attention_mask")
        ctx.mask = real_token_mask(mask, sequence_length(module, args, kwargs), past_len)
        if past_len > 0 and not ctx.warned_cache:
            ctx.warned_cache = True
            warnings.warn(
                "SSMLoRA restarts its Time Module from a zero state at every forward call; cached "
                "decoding steps do not see earlier tokens through it (generate with use_cache=False "
                "for outputs consistent with training).",
                stacklevel=2,
            )
        return None

    @staticmethod
    def _check_target_module_exists(peft_config: SSMLoRAConfig, key: str):
        found = check_target_module_exists(peft_config, key)
        if not found or not getattr(peft_config, "interval_sparse", False):
            return found  # also PEFT's (falsy) excluded-module marker
        order = list(peft_config.interval_order or [])
        name = key.rsplit(".", 1)[-1]
        if name not in order:
            return found
        idx = layer_index(key, peft_config.layers_pattern)
        if idx is None:
            return found
        return found if idx % len(order) == order.index(name) else False

    def _create_and_replace(
        self, peft_config, adapter_name, target, target_name, parent, current_key, **optional_kwargs
    ) -> None:
        if isinstance(target, SSMLoRALayer):
            target.update_layer(adapter_name, peft_config)
            return
        new_module = SSMLoRALinear(target, adapter_name, peft_config, mask_context=self._ctx)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def _check_merge_allowed(self):
        raise ValueError(
            "SSMLoRA adapters cannot be merged into the base weights (the Time Module mixes the sequence); "
            "use unload() to remove them."
        )
