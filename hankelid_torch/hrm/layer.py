"""`HRMLayer`: a block (MLP or self-attention) with HRM adapters beside it."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from .._peft_glue import block_input
from .config import HRM_ADAPTER_ATTR
from .context import HRMContext

__all__ = ["MERGE_MESSAGE", "HRMLayer", "HRMMergeError", "block_features", "model_hidden_size"]

MERGE_MESSAGE = (
    "HRM adapters cannot be merged into the base weights: the SSM mixes information along the sequence, "
    "which no change of the block's weights can express. Keep the PEFT model (or save the adapter), or use "
    "unload() to get the base model back without the adapters."
)


class HRMMergeError(ValueError):
    """Raised by every attempt to merge HRM adapters into the base weights."""


def _linear_features(module: nn.Module) -> tuple[int, int] | None:
    """(input, output) widths of a single projection: `nn.Linear` or transformers' `Conv1D`."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    # transformers' Conv1D (GPT-2) stores its weight as (in, out); matched by name so that torch-only
    # installs do not import transformers here
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return int(weight.shape[0]), int(weight.shape[1])
    return None


def _config_hidden_size(config: Any) -> int | None:
    hidden = getattr(config, "hidden_size", None)
    if hidden is None and hasattr(config, "get_text_config"):
        hidden = getattr(config.get_text_config(), "hidden_size", None)
    return int(hidden) if isinstance(hidden, int) and not isinstance(hidden, bool) else None


def model_hidden_size(model: nn.Module, key: str = "") -> int | None:
    """The hidden size of the (sub-)model that holds block `key`, or `None`.

    The deepest module on the path to `key` that carries a `config` decides, so that a block of
    a vision tower inside a multimodal model gets the tower's width, not the language model's.
    """
    hidden = _config_hidden_size(getattr(model, "config", None))
    module = model
    for part in [p for p in key.split(".") if p][:-1]:
        module = getattr(module, part, None)
        if module is None:
            break
        found = _config_hidden_size(getattr(module, "config", None))
        hidden = found if found is not None else hidden
    return hidden


def block_features(module: nn.Module, hidden_size: int | None = None) -> tuple[int, int]:
    """(input, output) widths of a block an HRM adapter sits beside.

    A projection (`nn.Linear`, GPT-2's `Conv1D`) has its own widths.  Any other block (an MLP,
    a mixture-of-experts block, a self-attention block) maps the residual stream to itself, so both
    widths are the model's `hidden_size` -- read from the model configuration, never from the
    order in which the block registers its sub-layers (Phi-3's attention registers `o_proj`
    before `qkv_proj`; a Qwen-MoE block ends with a 1-wide shared-expert gate).

    Parameters
    ----------
    module : nn.Module
        The block.
    hidden_size : int, optional
        The model's hidden size (default: the block's own `hidden_size` or `config.hidden_size`).

    Returns
    -------
    tuple of int
        `(in_features, out_features)`.

    Raises
    ------
    ValueError
        If no hidden size is known, or the block has parameters none of which has a dimension of
        that size (it does not act on the residual stream).

    Examples
    --------
    >>> from torch import nn
    >>> attn = nn.Module()
    >>> attn.o_proj, attn.qkv_proj = nn.Linear(8, 8), nn.Linear(8, 24)   # Phi-3's order
    >>> block_features(attn, hidden_size=8)
    (8, 8)
    >>> block_features(nn.Linear(8, 3))
    (8, 3)
    """
    features = _linear_features(module)
    if features is not None:
        return features
    if hidden_size is None:
        config = getattr(module, "config", None)
        hidden_size = getattr(module, "hidden_size", None) or getattr(config, "hidden_size", None)
    if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size < 1:
        raise ValueError(
            f"cannot tell the width of {type(module).__name__}: the model has no config.hidden_size; target "
            "nn.Linear layers instead, or a block of a transformers model"
        )
    # Widths the block visibly works with: its projections' declared sizes (quantized layers keep
    # in_features/out_features while their weights are packed) and its parameters' dimensions.
    widths = {dim for p in module.parameters() for dim in p.shape}
    for sub in module.modules():
        widths.update(
            v
            for v in (getattr(sub, "in_features", None), getattr(sub, "out_features", None))
            if isinstance(v, int)
        )
        features = _linear_features(sub)
        widths.update(features or ())
    if any(True for _ in module.parameters()) and hidden_size not in widths:
        raise ValueError(
            f"{type(module).__name__} does not act on the hidden states of width {hidden_size} (no parameter "
            "has that size): target the MLP or self-attention block of a decoder layer (site='mlp' or "
            "site='attention') or nn.Linear layers"
        )
    return int(hidden_size), int(hidden_size)


class HRMLayer(nn.Module, BaseTunerLayer):
    """A block `f` with HRM adapters: `f(u) + Σ_active α_a·SSM_a(u)`.

    `hrm_ssm` holds one [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] per adapter name. The adapters'
    parameters stay in float32 whatever the model's dtype (the adapter refuses casts to fp16/bf16 and
    only follows device moves); their output is cast back to the block's dtype. The attention mask and the
    decoding state come from the model-level [`HRMContext`][hankelid_torch.hrm.context.HRMContext].

    Parameters
    ----------
    base_layer : nn.Module
        The block to wrap, called with the original arguments.
    adapter_name : str
        Name of the first adapter.
    key : str
        The block's qualified name in the model (identifies its decoding state).
    hidden_size : int, optional
        The model's hidden size: the width of a block that is not a single projection (see
        [`block_features`][hankelid_torch.hrm.layer.block_features]).
    **adapter_kwargs
        Passed to [`update_layer`][hankelid_torch.hrm.layer.HRMLayer.update_layer].
    """

    adapter_layer_names = (HRM_ADAPTER_ATTR,)

    def __init__(
        self,
        base_layer: nn.Module,
        adapter_name: str,
        *,
        key: str = "",
        hidden_size: int | None = None,
        **adapter_kwargs: Any,
    ):
        super().__init__()
        self.base_layer = base_layer
        self.hrm_ssm = nn.ModuleDict()
        self._disable_adapters = False
        self.merged_adapters = []
        self._active_adapter = adapter_name
        self._hrm_key = key
        self._hrm_ctx: HRMContext | None = None
        self.in_features, self.out_features = block_features(base_layer, hidden_size)
        self.update_layer(adapter_name, **adapter_kwargs)

    def update_layer(
        self, adapter_name: str, d_state: int, *, inference_mode: bool = False, **ssm_kwargs: Any
    ) -> None:
        """Create the adapter `adapter_name` (an `SSMAdapter` of state size `d_state`)."""
        from ..adapter import SSMAdapter  # the adapter module pulls in the scan kernels and the core

        out_features = self.out_features if self.out_features != self.in_features else None
        adapter = SSMAdapter(self.in_features, d_state, out_features=out_features, **ssm_kwargs)
        device = next((p.device for p in self.base_layer.parameters()), None)
        # adapters created empty (PEFT's low_cpu_mem_usage) stay on meta until the checkpoint fills them
        empty = any(p.is_meta for p in adapter.parameters())
        if device is not None and device.type != "meta" and not empty:
            adapter = adapter.to(device)
        self.hrm_ssm[adapter_name] = adapter
        self.set_adapter(self.active_adapters, inference_mode=inference_mode)

    @property
    def d_state(self) -> dict[str, int]:
        """State size of each adapter (read from the adapters: a reduction changes it)."""
        return {name: adapter.d_state for name, adapter in self.hrm_ssm.items()}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        result = self.base_layer(*args, **kwargs)
        if self.disable_adapters:
            return result
        active = [name for name in self.active_adapters if name in self.hrm_ssm]
        if not active:
            return result
        u = block_input(args, kwargs)
        if isinstance(result, torch.Tensor):
            return self._add_adapters(u, active, result)
        if isinstance(result, tuple) and result and isinstance(result[0], torch.Tensor):
            return (self._add_adapters(u, active, result[0]), *result[1:])
        raise TypeError(f"HRMLayer: cannot add the adapter output to a {type(result).__name__} block output")

    def _add_adapters(self, u: torch.Tensor, active: list[str], out: torch.Tensor) -> torch.Tensor:
        """`out + sum_a alpha_a SSM_a(u)`, each term added inside the adapter's output product."""
        if u.dim() != 3:
            raise ValueError(
                "HRM adapters mix along the sequence and need (batch, seq_len, hidden) inputs, "
                f"got shape {tuple(u.shape)}"
            )
        ctx = self._hrm_ctx
        batch, length = u.shape[:2]
        mask = ctx.mask_for(batch, length, u.device) if ctx is not None else None
        store = ctx.store if ctx is not None else None
        for name in active:
            adapter = self.hrm_ssm[name]
            if store is None:
                out = adapter(u, mask=mask, base=out)
                continue
            key = (self._hrm_key, name)
            past = ctx.past_len
            state = store.get(key, past, f"{name!r} at {self._hrm_key!r}") if past > 0 else None
            if length == 1 and state is not None:  # a decoding step: the recurrence, O(d·D)
                y, new_state = adapter.step(u, state, mask=mask)
                out = out + y.to(out.dtype)
            else:  # prompt or chunk: the FFT scan from the stored state
                out, new_state = adapter(u, mask=mask, state=state, return_state=True, base=out)
            store.put(key, past, past + length, new_state)
        return out

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise HRMMergeError(MERGE_MESSAGE)

    def unmerge(self) -> None:
        warnings.warn("HRM adapters are never merged; nothing to unmerge.", stacklevel=2)

    def supports_lora_conversion(self, adapter_name: str = "default") -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            # Code around the block may read its attributes (e.g. `self_attn.layer_idx`): defer to it.
            base = self.__dict__.get("_modules", {}).get("base_layer")
            if base is None or name.startswith("_"):
                raise
            return getattr(base, name)

    @property
    def block_key(self) -> str:
        """The wrapped block's qualified name in the base model (keys its decoding state and its
        entry in `d_state_pattern`)."""
        return self._hrm_key

    def __repr__(self) -> str:
        return "hrm." + super().__repr__()
