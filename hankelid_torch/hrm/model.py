"""`HRMModel`: the PEFT tuner that injects HRM adapters into a model."""

from __future__ import annotations

import zlib
from typing import Any, ClassVar

from peft.tuners.tuners_utils import (
    BaseTuner,
    _remove_adapter_name_from_state_dict_key,
    check_target_module_exists,
)
from peft.utils.other import _get_submodules, get_pattern_key
from torch import nn

from .._peft_glue import layer_index
from .config import HRM_ADAPTER_ATTR, HRM_PREFIX, SITE_TARGETS, HRMConfig
from .context import install_context, uninstall_context
from .layer import MERGE_MESSAGE, HRMLayer, HRMMergeError, model_hidden_size

__all__ = ["HRMModel"]


def _resolve_pattern(pattern: dict, key: str, layers_pattern: Any, default: Any) -> Any:
    """The value for block `key` in a per-block pattern: by name, regex or layer index, else `default`."""
    if not pattern:
        return default
    if key in pattern:
        return pattern[key]
    regex_keys = [k for k in pattern if not k.isdigit()]
    matched = get_pattern_key(regex_keys, key)  # LoRA's rank_pattern rule: regex on the name's end
    if matched != key:
        return pattern[matched]
    index = layer_index(key, layers_pattern)
    if index is not None and str(index) in pattern:
        return pattern[str(index)]
    return default


def resolve_d_state(config: HRMConfig, key: str) -> int:
    """State size of block `key`: `d_state_pattern` by name, regex or layer index, else `d_state`."""
    return _resolve_pattern(config.d_state_pattern, key, config.layers_pattern, config.d_state)


def block_parametrization(config: HRMConfig, key: str) -> str | None:
    """Parametrization of block `key`: `parametrization_pattern` by name, regex or layer index,
    else `parametrization` (`None`: the adapter's default for the config's `init`)."""
    pattern = getattr(config, "parametrization_pattern", None) or {}
    return _resolve_pattern(pattern, key, config.layers_pattern, config.parametrization)


def _block_seed(seed: int | None, key: str) -> int | None:
    # Derived from the block's name, not from the order of creation, so that adding adapters elsewhere or
    # changing layers_to_transform does not change this block's initialization.
    return None if seed is None else (int(seed) * 1_000_003 + zlib.crc32(key.encode())) % (2**63 - 1)


class HRMModel(BaseTuner):
    """PEFT tuner of HRM adapters (created by `peft.get_peft_model(model, HRMConfig(...))`).

    Every module matched by `config.target_modules` is wrapped in an
    [`HRMLayer`][hankelid_torch.hrm.layer.HRMLayer]; the model gets forward hooks that hand the attention mask
    and the decoding state to those layers (see [`hankelid_torch.hrm.context`][hankelid_torch.hrm.context]).
    `merge_and_unload`/`merge_adapter` raise [`HRMMergeError`][hankelid_torch.hrm.layer.HRMMergeError];
    `unload` restores the base model, hooks included.
    """

    prefix: str = HRM_PREFIX
    tuner_layer_cls = HRMLayer
    target_module_mapping: ClassVar[dict[str, str]] = {
        model_type: SITE_TARGETS["mlp"] for model_type in ("mistral", "mixtral", "llama", "qwen2", "gemma")
    }

    def _prepare_adapter_config(self, peft_config: HRMConfig, model_config: dict) -> HRMConfig:
        if peft_config.target_modules is None:  # only for configs built around __post_init__
            peft_config.target_modules = SITE_TARGETS[peft_config.site]
        return peft_config

    @staticmethod
    def _check_target_module_exists(peft_config: HRMConfig, key: str) -> Any:
        found = check_target_module_exists(peft_config, key)
        # PEFT applies layers_to_transform to list targets only; HRM's default targets are a regex.
        wanted = peft_config.layers_to_transform
        if found and isinstance(peft_config.target_modules, str) and wanted is not None:
            wanted = [wanted] if isinstance(wanted, int) else wanted
            return layer_index(key, peft_config.layers_pattern) in wanted
        return found

    def _create_and_replace(
        self,
        peft_config: HRMConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        **optional_kwargs: Any,
    ) -> None:
        kwargs = {
            **peft_config.adapter_options(),
            "d_state": resolve_d_state(peft_config, current_key),
            "parametrization": block_parametrization(peft_config, current_key),
            "seed": _block_seed(peft_config.seed, current_key),
            "inference_mode": peft_config.inference_mode,
        }
        if isinstance(target, HRMLayer):
            target.update_layer(adapter_name, **kwargs)
            return
        new_module = HRMLayer(
            target,
            adapter_name,
            key=current_key,
            hidden_size=model_hidden_size(self.model, current_key),
            **kwargs,
        )
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def inject_adapter(self, model: nn.Module, adapter_name: str, *args: Any, **kwargs: Any) -> None:
        super().inject_adapter(model, adapter_name, *args, **kwargs)
        install_context(model, [m for m in model.modules() if isinstance(m, HRMLayer)])

    def add_weighted_adapter(
        self,
        adapters: list[str],
        weights: list[float],
        adapter_name: str,
        combination_type: str = "parallel",
        *,
        order: int | None = None,
        tol: float | None = None,
        **lora_options: Any,
    ) -> Any:
        r"""A new adapter whose output is exactly \( \sum_i w_i y_i \) (\( y_i \): adapter `adapters[i]`).

        Built at every block as the weighted parallel connection of the adapters' systems
        ([`parallel_connection`][hankelid_torch.combine.parallel_connection]: block-diagonal
        state, the weights on the outputs), loaded exactly in the modal parametrization with gate
        1.  With `order` or `tol` the sum is balance-truncated back, with the bound
        \( \|G - G_r\|_\infty \le 2 \sum_{j>r} \sigma_j \) reported per block.  The new adapter
        is not activated (`set_adapter(adapter_name)`); its config records the per-block state
        sizes, so it saves and loads back like any other.

        Parameters
        ----------
        adapters : list of str
            Existing adapters, present at the same blocks.
        weights : list of float
            One finite weight per adapter (any sign).
        adapter_name : str
            Name of the new adapter.
        combination_type : {"parallel", "cat", "linear"}
            All three mean the exact parallel connection (`"cat"`/`"linear"` accepted for
            LoRA-style calls); SVD/TIES/DARE merges are refused.
        order, tol : optional
            Balanced truncation of each block's sum to `order` states (clipped to the sum's
            order), or to the smallest order whose bound is `<= tol`.

        Returns
        -------
        ReductionReport
            One entry per block: order of the sum, order kept, HSVs and error bound (0 unreduced).

        Raises
        ------
        ValueError
            Unknown or misplaced adapters, a weight count mismatch or non-finite weight, an
            existing `adapter_name`, an unsupported `combination_type` or LoRA-only option.
        """
        if lora_options:
            raise ValueError(
                f"options {sorted(lora_options)} belong to LoRA's SVD/TIES merges; HRM adapters combine "
                "exactly by parallel connection (order= or tol= balance-truncate the sum)"
            )
        from ..combine import add_weighted_adapter

        return add_weighted_adapter(
            self, adapters, weights, adapter_name, combination_type=combination_type, order=order, tol=tol
        )

    # Merging: a sequence-mixing adapter has no weight-space equivalent.
    def _check_merge_allowed(self) -> None:
        raise HRMMergeError(MERGE_MESSAGE)

    def merge_and_unload(self, *args: Any, **kwargs: Any) -> nn.Module:
        """Always raises [`HRMMergeError`][hankelid_torch.hrm.layer.HRMMergeError] (use `unload`)."""
        raise HRMMergeError(MERGE_MESSAGE)

    def merge_adapter(self, *args: Any, **kwargs: Any) -> None:
        """Always raises [`HRMMergeError`][hankelid_torch.hrm.layer.HRMMergeError]."""
        raise HRMMergeError(MERGE_MESSAGE)

    def _unload_and_optionally_merge(self, merge: bool = True, *args: Any, **kwargs: Any) -> nn.Module:
        if merge:
            raise HRMMergeError(MERGE_MESSAGE)
        # PEFT's generic unloading copies `weight`/`bias` from the tuner layer, which a wrapped block
        # (an MLP) does not have: put the blocks back here, then let PEFT unload the rest
        # (modules_to_save wrappers) and drop the config.
        for key in [k for k, m in self.model.named_modules() if isinstance(m, HRMLayer)]:
            parent, target, name = _get_submodules(self.model, key)
            setattr(parent, name, target.get_base_layer())
        uninstall_context(self.model)
        return super()._unload_and_optionally_merge(False, *args, **kwargs)

    @classmethod
    def _remove_adapter_name_from_key(cls, key: str, adapter_name: str) -> str:
        # The adapter is a module with (possibly nested) parameters, so the name sits right after
        # `hrm_ssm`, not second to last: `...mlp.hrm_ssm.<name>.B.weight` -> `...mlp.hrm_ssm.B.weight`.
        marker = f"{HRM_ADAPTER_ATTR}.{adapter_name}."
        head, sep, tail = key.rpartition(marker)
        if sep and (head == "" or head.endswith(".")):
            return f"{head}{HRM_ADAPTER_ATTR}.{tail}"
        return _remove_adapter_name_from_state_dict_key(key, adapter_name)
