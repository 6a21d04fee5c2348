"""Sequence context of HRM adapters: the raw attention mask and the decoding state of each adapter.

An HRM adapter sits beside a block (the MLP) whose forward only sees the hidden states, yet it mixes
tokens along the sequence, so it needs two things the block never receives:

* the raw 2-D attention mask of the batch, so that padded positions never enter the SSM state;
* during cached decoding, the SSM state left by the previous forward of the same generation.

A forward pre-hook on the adapted model (and on its inner base model, in case that one is called
directly) records both in an [`HRMContext`][hankelid_torch.hrm.context.HRMContext] that the adapter layers
read. The states live in an [`SSMStateStore`][hankelid_torch.hrm.context.SSMStateStore] attached to the
transformers `Cache` object of the generation, so they are created, reordered (beam search), repeated,
selected, reset and dropped together with the KV cache: `reorder_cache`, `batch_repeat_interleave`,
`batch_select_indices`, `reset` and `crop` of that cache instance also update the store. A generation starts
when the cache is empty (`get_seq_length() == 0`); a forward with `n` cached tokens continues from the states
stored at length `n`.

Gradient checkpointing recomputes the adapted blocks during backward, after the model's forward has
returned, so in training mode the mask of the last forward is kept for that recomputation (which is
therefore idempotent) and no decoding state is read or written.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._peft_glue import (
    CACHE_ARGUMENTS,
    cache_argument,
    chunk_mask,
    forward_argument,
    forward_cache,
    positional_names,
    real_token_mask,
    sequence_length,
)

__all__ = [
    "CACHE_ARGUMENTS",
    "HRMContext",
    "SSMStateStore",
    "cache_argument",
    "install_context",
    "uninstall_context",
]

_CONTEXT_ATTR = "_hrm_context"
_STORE_ATTR = "_hrm_ssm_states"
# Number of lengths kept per adapter: the current one and one step back, so that a cache rolled back by
# one decoding step (transformers' deferred stop check crops one token) can still be continued.
_HISTORY = 2


class SSMStateStore:
    """SSM states of the HRM adapters of one generation, keyed by adapter and by sequence length.

    `states[key][n]` is the state of adapter `key` after the first `n` positions of every
    sequence of the batch (dimension 0 of every state tensor is the batch).
    """

    def __init__(self) -> None:
        self.states: dict[Any, dict[int, Any]] = {}

    def get(self, key: Any, length: int, who: str) -> Any:
        """The state of `key` after `length` positions; a clear error when there is none."""
        history = self.states.get(key, {})
        if length not in history:
            have = sorted(history) or "none"
            raise RuntimeError(
                f"HRM adapter {who}: the KV cache already holds {length} tokens but no SSM state was stored "
                f"at that length (stored lengths: {have}). The SSM state travels with the cache object of a "
                "generation: a cache filled while this adapter was inactive or disabled, built by another "
                "model, or cropped by more than one step cannot be continued. Start again from an empty "
                "cache (cache=None / past_key_values=None)."
            )
        return history[length]

    def put(self, key: Any, start: int, end: int, state: Any) -> None:
        """Store the state after `end` positions, computed from the state at `start`."""
        history = self.states.setdefault(key, {})
        for n in [n for n in history if n > start or start == 0]:
            del history[n]  # a new generation, or a continuation from an earlier point
        history[end] = state
        for n in sorted(history)[:-_HISTORY]:
            del history[n]

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Apply `fn` to every state tensor (batch reordering, repetition, selection)."""
        for history in self.states.values():
            for n, state in history.items():
                history[n] = _map_tensors(fn, state)

    def truncate(self, length: int) -> None:
        """Forget states beyond `length` positions (the cache was cropped)."""
        for history in self.states.values():
            for n in [n for n in history if n > length]:
                del history[n]

    def clear(self) -> None:
        self.states.clear()


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, (tuple, list)):
        return type(state)(_map_tensors(fn, s) for s in state)
    if isinstance(state, dict):
        return {k: _map_tensors(fn, v) for k, v in state.items()}
    return state


# Cache methods that change the batch or the length of the cache, wrapped on the cache instance so that
# the SSM states follow. Module-level functions bound with MethodType: a deep copy of the cache rebinds
# them to the copy and copies the store with it.
def _reorder_cache(self, beam_idx: torch.Tensor):
    out = type(self).reorder_cache(self, beam_idx)
    self.__dict__[_STORE_ATTR].map(lambda s: s.index_select(0, beam_idx.to(s.device)))
    return out


def _batch_repeat_interleave(self, repeats: int):
    out = type(self).batch_repeat_interleave(self, repeats)
    self.__dict__[_STORE_ATTR].map(lambda s: s.repeat_interleave(repeats, dim=0))
    return out


def _batch_select_indices(self, indices: torch.Tensor):
    out = type(self).batch_select_indices(self, indices)
    self.__dict__[_STORE_ATTR].map(lambda s: s[indices.to(s.device) if torch.is_tensor(indices) else indices])
    return out


def _reset(self):
    out = type(self).reset(self)
    self.__dict__[_STORE_ATTR].clear()
    return out


def _crop(self, tokens_to_remove: int):
    out = type(self).crop(self, tokens_to_remove)
    self.__dict__[_STORE_ATTR].truncate(self.get_seq_length())
    return out


_CACHE_WRAPPERS = {
    "reorder_cache": _reorder_cache,
    "batch_repeat_interleave": _batch_repeat_interleave,
    "batch_select_indices": _batch_select_indices,
    "reset": _reset,
    "crop": _crop,
}


def state_store(cache: Any) -> SSMStateStore:
    """The [`SSMStateStore`][hankelid_torch.hrm.context.SSMStateStore] attached to a transformers cache
    (created on first use)."""
    store = cache.__dict__.get(_STORE_ATTR)
    if store is None:
        store = SSMStateStore()
        cache.__dict__[_STORE_ATTR] = store
        for name, fn in _CACHE_WRAPPERS.items():
            if callable(getattr(type(cache), name, None)):
                setattr(cache, name, types.MethodType(fn, cache))
    return store


class HRMContext:
    """What the HRM layers of one model read during its forward (plain attributes, no tensors kept
    after the forward except the training-mode mask, see the module docstring).

    Attributes
    ----------
    mask : torch.Tensor or None
        Boolean `(batch, T)` mask of real tokens, right-aligned with the current chunk (`T` may
        include the cached past).
    store : SSMStateStore or None
        Decoding states of the current generation; `None` when the forward carries no cache.
    past_len : int
        Number of tokens already in the cache when the forward started.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.mask: torch.Tensor | None = None
        self.store: SSMStateStore | None = None
        self.past_len = 0
        self.keep_mask = False

    def mask_for(self, batch: int, length: int, device: torch.device) -> torch.Tensor | None:
        """The `(batch, length)` mask of the current chunk, or `None` (all tokens are real)."""
        return chunk_mask(self.mask, batch, length, device)


def _forward_pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
    ctx: HRMContext | None = module.__dict__.get(_CONTEXT_ATTR)
    if ctx is None:
        return None
    ctx.depth += 1
    if ctx.depth > 1:  # the inner base model of a model already being run: keep the outer reading
        return None
    length = sequence_length(module, args, kwargs)
    cache = forward_cache(module, args, kwargs)
    config = getattr(module, "config", None)
    use_cache = forward_argument(module, args, kwargs, "use_cache")
    if use_cache is None:
        use_cache = bool(getattr(config, "use_cache", False))
    training = module.training and torch.is_grad_enabled()
    if training and any(getattr(m, "gradient_checkpointing", False) is True for m in module.modules()):
        # transformers drops the cache of checkpointed layers; recomputation must not touch any state
        cache, use_cache = None, False
    modified = None
    cache_name = (
        _can_inject_cache(module, positional_names(module), len(args))
        if cache is None and use_cache
        else None
    )
    if cache_name is not None:
        # The model would create this cache itself; creating it here lets the states ride along.
        from transformers import DynamicCache

        cache = DynamicCache(config=config)
        kwargs = {**kwargs, cache_name: cache}
        modified = (args, kwargs)

    from transformers.cache_utils import Cache

    if isinstance(cache, Cache):
        ctx.store = state_store(cache)
        ctx.past_len = int(cache.get_seq_length())
    else:
        ctx.store, ctx.past_len = None, 0
    ctx.mask = real_token_mask(forward_argument(module, args, kwargs, "attention_mask"), length, ctx.past_len)
    ctx.keep_mask = training
    return modified


def _can_inject_cache(module: nn.Module, names: list[str], n_args: int) -> str | None:
    """The cache argument's name when a fresh cache may be passed to `module`, else `None`."""
    from transformers import PreTrainedModel

    name = cache_argument(names)
    if not isinstance(module, PreTrainedModel) or name is None:
        return None
    if getattr(module.config, "is_encoder_decoder", False):
        return None
    return name if names.index(name) >= n_args else None  # not passed positionally (as None)


def _forward_hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
    ctx: HRMContext | None = module.__dict__.get(_CONTEXT_ATTR)
    if ctx is None:
        return
    ctx.depth = max(ctx.depth - 1, 0)
    if ctx.depth == 0:
        ctx.store, ctx.past_len = None, 0
        if not ctx.keep_mask:
            ctx.mask = None


def _hooked_modules(model: nn.Module) -> list[nn.Module]:
    modules = [model]
    inner = getattr(model, "base_model", None)  # transformers: the bare decoder inside a *ForCausalLM
    if isinstance(inner, nn.Module) and inner is not model:
        modules.append(inner)
    return modules


def install_context(model: nn.Module, layers: list[nn.Module]) -> HRMContext:
    """Attach the shared context to `model` (hooks installed once) and point `layers` at it."""
    ctx = model.__dict__.get(_CONTEXT_ATTR)
    if ctx is None:
        ctx = HRMContext()
    for module in _hooked_modules(model):
        module.__dict__[_CONTEXT_ATTR] = ctx
        if _forward_pre_hook not in module._forward_pre_hooks.values():
            module.register_forward_pre_hook(_forward_pre_hook, with_kwargs=True)
            module.register_forward_hook(_forward_hook, with_kwargs=True, always_call=True)
    for layer in layers:
        layer._hrm_ctx = ctx
    return ctx


def uninstall_context(model: nn.Module) -> None:
    """Remove the hooks and the context installed by
    [`install_context`][hankelid_torch.hrm.context.install_context]."""
    for module in _hooked_modules(model):
        module.__dict__.pop(_CONTEXT_ATTR, None)
        pairs = ((module._forward_pre_hooks, _forward_pre_hook), (module._forward_hooks, _forward_hook))
        for hooks, fn in pairs:
            for handle_id in [i for i, h in hooks.items() if h is fn]:
                del hooks[handle_id]
                module._forward_pre_hooks_with_kwargs.pop(handle_id, None)
                module._forward_hooks_with_kwargs.pop(handle_id, None)
                module._forward_hooks_always_called.pop(handle_id, None)
