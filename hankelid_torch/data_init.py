r"""Hankel init from task data: Gramians of the inputs the adapters will actually see.

The default Hankel init weights the full system's state directions by how much *white noise*
excites them.  The inputs of an adapter beside a block of a pre-trained model are nothing like
white noise: they are that block's input activations on the task, strongly anisotropic across
channels and correlated in time.  [`hankel_init_from_data`][hankelid_torch.data_init.hankel_init_from_data]
records them with the frozen model (adapters disabled) on a few batches of task data and redoes every
adapter's balanced truncation with their *data Gramian* on the controllability side
([`SSMAdapter.hankel_init_from_data`][hankelid_torch.adapter.SSMAdapter.hankel_init_from_data],
[`hankelid.empirical_gramian`][hankelid.empirical.empirical_gramian] with an input array), so that the states
kept are the ones the task excites.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from ._peft_glue import block_input
from .adapter import SSMAdapter
from .bridge import adapter_layers
from .hrm.config import HRM_ADAPTER_ATTR
from .init import HankelInit

__all__ = ["capture_adapter_inputs", "hankel_init_from_data"]


def _as_model_inputs(batch: Any) -> dict[str, torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        return {"input_ids": batch}
    if isinstance(batch, Mapping) and isinstance(batch.get("input_ids"), torch.Tensor):
        return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    raise TypeError(
        "batches must yield input_ids tensors of shape (B, L) or mappings with an 'input_ids' tensor, "
        f"got {type(batch).__name__}"
    )


@torch.no_grad()
def capture_adapter_inputs(
    model: nn.Module, batches: Iterable[Any], *, max_sequences: int | None = 256
) -> dict[str, torch.Tensor]:
    """The inputs of every HRM adapter layer on `batches`, recorded with the adapters disabled.

    Parameters
    ----------
    model : torch.nn.Module
        A model with HRM adapter layers (a PEFT model from `get_peft_model(..., HRMConfig(...))`).
    batches : iterable
        `input_ids` tensors `(B, L)` or mappings with `input_ids` and optionally
        `attention_mask`; padded positions are recorded as zero input (no drive).
    max_sequences : int, optional
        Stop after this many sequences (default 256; `None`: all of `batches`).

    Returns
    -------
    dict
        Layer name to a float64 CPU tensor `(K, L, D_in)` (batches of different `L` are
        cut to the shortest).

    Raises
    ------
    ValueError
        If the model has no HRM adapter layer, or `batches` is empty.
    """
    layers = [(name, layer) for name, layer in adapter_layers(model) if not isinstance(layer, SSMAdapter)]
    if not layers:
        raise ValueError("the model has no HRM adapter layers to record inputs for")
    if max_sequences is not None and max_sequences < 1:
        raise ValueError(f"max_sequences must be a positive integer or None, got {max_sequences!r}")
    records: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}
    mask_now: list[torch.Tensor | None] = [None]

    def recorder(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            u = block_input(args, kwargs).detach()
            mask = mask_now[0]
            if mask is not None and mask.shape == u.shape[:2]:
                u = u * mask[..., None].to(u.dtype)
            records[name].append(u.to(device="cpu", dtype=torch.float64))

        return hook

    was_training = model.training
    model.eval()
    seen = 0
    with ExitStack() as stack:
        for name, layer in layers:
            handle = layer.register_forward_pre_hook(recorder(name), with_kwargs=True)
            stack.callback(handle.remove)
            previous = layer._disable_adapters
            layer._disable_adapters = True  # the frozen model's activations: no adapter upstream
            stack.callback(setattr, layer, "_disable_adapters", previous)
        device = next(model.parameters()).device
        for batch in batches:
            inputs = {k: v.to(device) for k, v in _as_model_inputs(batch).items()}
            if max_sequences is not None:
                inputs = {k: v[: max_sequences - seen] for k, v in inputs.items()}
            mask_now[0] = inputs.get("attention_mask")
            model(**inputs)
            seen += inputs["input_ids"].shape[0]
            if max_sequences is not None and seen >= max_sequences:
                break
    model.train(was_training)
    if seen == 0:
        raise ValueError("batches yielded no sequences")
    out = {}
    for name, parts in records.items():
        length = min(p.shape[1] for p in parts)
        out[name] = torch.cat([p[:, :length] for p in parts])
    return out


def hankel_init_from_data(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    adapter_name: str | None = None,
    gramians: str | None = None,
    max_sequences: int | None = 256,
) -> dict[str, HankelInit]:
    r"""Redo the Hankel init of every HRM adapter with the data Gramian of its recorded inputs.

    Records each adapter layer's input on `batches` with the adapters disabled
    ([`capture_adapter_inputs`][hankelid_torch.data_init.capture_adapter_inputs]), then calls
    [`SSMAdapter.hankel_init_from_data`][hankelid_torch.adapter.SSMAdapter.hankel_init_from_data] on each
    Hankel-initialized adapter: the same full system, balance-truncated with the controllability Gramian of
    the task's own inputs.  Gates are kept; parameters are replaced, so call it right after `get_peft_model`
    and before building the optimizer.

    Parameters
    ----------
    model : torch.nn.Module
        A model with HRM adapters created with `init="hankel"` in this process.
    batches : iterable
        As [`capture_adapter_inputs`][hankelid_torch.data_init.capture_adapter_inputs] (a few batches of
        training data).
    adapter_name : str, optional
        Only this adapter (default: every Hankel-initialized adapter of each layer).
    gramians : "exact" | "empirical", optional
        Observability side (`None`, the default: the one each adapter's Hankel init used).
    max_sequences : int, optional
        Sequences recorded (default 256).

    Returns
    -------
    dict
        `"layer_name[adapter]"` to the [`HankelInit`][hankelid_torch.init.HankelInit] of the new reduction.

    Raises
    ------
    ValueError
        If no adapter was Hankel-initialized in this process, or as
        [`capture_adapter_inputs`][hankelid_torch.data_init.capture_adapter_inputs].

    Examples
    --------
    >>> import torch
    >>> from peft import get_peft_model
    >>> from transformers import MistralConfig, MistralForCausalLM
    >>> from hankelid_torch import HRMConfig, hankel_init_from_data
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cfg = MistralConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
    ...                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    >>> hrm = HRMConfig(d_state=4, init="hankel", hankel_gramians="exact")
    >>> model = get_peft_model(MistralForCausalLM(cfg), hrm)
    >>> inits = hankel_init_from_data(model, [torch.randint(0, 64, (8, 32))])
    >>> len(inits), sorted({info.options["inputs"] for info in inits.values()})
    (2, ['data (8, 32, 16)'])
    """
    recorded = capture_adapter_inputs(model, batches, max_sequences=max_sequences)
    layers = dict(adapter_layers(model))
    out: dict[str, HankelInit] = {}
    for name, inputs in recorded.items():
        for key, adapter in getattr(layers[name], HRM_ADAPTER_ATTR).items():
            if (adapter_name is None or key == adapter_name) and adapter.hankel_info is not None:
                out[f"{name}[{key}]"] = adapter.hankel_init_from_data(inputs, gramians=gramians)
    if not out:
        raise ValueError(
            "no Hankel-initialized adapter to re-initialize (create the adapters with init='hankel' "
            "in this process" + (f", adapter_name={adapter_name!r})" if adapter_name else ")")
        )
    return out
