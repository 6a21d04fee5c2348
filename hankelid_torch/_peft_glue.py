"""What the PEFT methods of this package share: PEFT-type registration, layer indices, block inputs,
and reading the attention mask and the KV cache from a model's forward arguments.

Both methods (`hankelid_torch.hrm` and `hankelid_torch.ssmlora`) mix tokens along the sequence
beside blocks whose forward never sees the attention mask, so both capture it with a forward
pre-hook on the model and hand the right-aligned slice of the current chunk to their layers.
"""

from __future__ import annotations

import enum
import inspect
import re
from typing import Any

import torch
from peft.utils import PeftType
from torch import nn

__all__ = [
    "CACHE_ARGUMENTS",
    "block_input",
    "cache_argument",
    "chunk_mask",
    "ensure_peft_type",
    "forward_argument",
    "forward_cache",
    "layer_index",
    "positional_names",
    "real_token_mask",
    "sequence_length",
]

# The names under which a forward receives the KV cache, newest first: transformers 5.24 renamed
# `past_key_values` to `cache` (and still accepts the old name as an alias). Reading only one name
# made every decoding step restart the adapters from a zero state without an error.
CACHE_ARGUMENTS = ("cache", "past_key_values")


def ensure_peft_type(name: str) -> PeftType:
    """Return `PeftType[name]`, adding the member to PEFT's str-Enum when it is missing.

    `peft.register_peft_method` only accepts methods whose type is a member of
    `peft.PeftType`; an out-of-tree method has to extend the enum. The new member is a real
    `PeftType`: `PeftType(name)`, `PeftType[name]`, `list(PeftType)`, pickling and equality
    with the plain string all work, so configs saved as JSON load back.

    Parameters
    ----------
    name : str
        The member's name and value (upper case, e.g. `"HRM"`).

    Returns
    -------
    PeftType
        The (possibly new) member.

    Raises
    ------
    ValueError
        If `name` is not an upper-case identifier.

    Examples
    --------
    >>> from peft.utils import PeftType
    >>> ensure_peft_type("HRM") is PeftType("HRM") is PeftType.HRM
    True
    >>> PeftType.HRM == "HRM"
    True
    """
    if not (name.isidentifier() and name.isupper()):
        raise ValueError(f"PEFT type names are upper-case identifiers, got {name!r}")
    if name in PeftType.__members__:
        return PeftType[name]
    member = str.__new__(PeftType, name)
    member._name_ = name
    member._value_ = name
    member.__objclass__ = PeftType
    if hasattr(next(iter(PeftType)), "_sort_order_"):
        member._sort_order_ = len(PeftType._member_names_)
    add_member = getattr(PeftType, "_add_member_", None)  # Python >= 3.13 keeps its own bookkeeping
    if add_member is not None:
        add_member(name, member)
    else:
        PeftType._member_map_[name] = member
        PeftType._member_names_.append(name)
        # EnumType.__setattr__ refuses to (re)bind members; the class attribute is set underneath it.
        type.__setattr__(PeftType, name, member)
    PeftType._value2member_map_[name] = member
    if not isinstance(PeftType(name), enum.Enum):  # pragma: no cover - guards a future enum rewrite
        raise RuntimeError(f"could not add {name!r} to peft.PeftType")
    return member


def layer_index(key: str, layers_pattern: str | list[str] | None = None) -> int | None:
    r"""The decoder-layer index in a module name, or `None`.

    Without `layers_pattern`, the first all-digit segment of the dotted name (the index into
    the layer list, not a later expert or head number); with it, the segment right after a
    container named by the pattern (taken literally).

    Examples
    --------
    >>> layer_index("model.layers.3.block_sparse_moe.experts.5.w1")
    3
    >>> layer_index("layers.12"), layer_index("model.h.7.attn", "h"), layer_index("lm_head")
    (12, 7, None)
    """
    patterns = [layers_pattern] if isinstance(layers_pattern, str) else (layers_pattern or [])
    regexes = [rf"(?:^|\.){re.escape(p)}\.(\d+)(?:\.|$)" for p in patterns] or [r"(?:^|\.)(\d+)(?:\.|$)"]
    for regex in regexes:
        match = re.search(regex, key)
        if match:
            return int(match.group(1))
    return None


def block_input(args: tuple, kwargs: dict) -> torch.Tensor:
    """The input tensor of a wrapped block's forward: the first positional tensor or a known keyword.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(1, 2, 3)
    >>> block_input((x,), {}) is x and block_input((), {"hidden_states": x}) is x
    True
    """
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    for name in ("hidden_states", "x", "input"):
        if isinstance(kwargs.get(name), torch.Tensor):
            return kwargs[name]
    raise ValueError("could not find the block's input tensor among its arguments")


_ARG_NAMES: dict[type, list[str]] = {}


def positional_names(module: nn.Module) -> list[str]:
    """Names of the parameters of `module.forward` that can be passed by position (cached per class)."""
    cls = type(module)
    if cls not in _ARG_NAMES:
        try:
            params = inspect.signature(module.forward).parameters.values()
            _ARG_NAMES[cls] = [
                p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            _ARG_NAMES[cls] = []
    return _ARG_NAMES[cls]


def forward_argument(module: nn.Module, args: tuple, kwargs: dict, name: str) -> Any:
    """The argument `name` of a call `module(*args, **kwargs)`, by keyword or by position; else `None`."""
    if name in kwargs:
        return kwargs[name]
    names = positional_names(module)
    if name in names and names.index(name) < len(args):
        return args[names.index(name)]
    return None


def cache_argument(names: list[str]) -> str | None:
    """The name under which a forward with positional parameters `names` takes the KV cache."""
    return next((name for name in CACHE_ARGUMENTS if name in names), None)


def forward_cache(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """The KV cache passed to `module`'s forward under any of `CACHE_ARGUMENTS`, or `None`."""
    found = (forward_argument(module, args, kwargs, name) for name in CACHE_ARGUMENTS)
    return next((c for c in found if c is not None), None)


def sequence_length(module: nn.Module, args: tuple, kwargs: dict) -> int:
    """Length of the chunk a model's forward processes (from `input_ids` or `inputs_embeds`; 0 if absent)."""
    tokens = forward_argument(module, args, kwargs, "input_ids")
    if tokens is None:
        tokens = forward_argument(module, args, kwargs, "inputs_embeds")
    return tokens.shape[1] if isinstance(tokens, torch.Tensor) and tokens.dim() >= 2 else 0


def real_token_mask(mask: Any, length: int, past_len: int) -> torch.Tensor | None:
    """Boolean mask of real tokens from a 2-D padding mask, or from the diagonal of a 4-D one."""
    if not isinstance(mask, torch.Tensor):
        return None  # None, or a per-layer-type dict of masks: nothing reliable to read
    if mask.dim() == 2:
        return mask.bool()
    if mask.dim() == 4 and mask.shape[-2] >= length and mask.shape[-1] >= past_len + length:
        # A query token always attends to itself unless it is padding: read the (i, past + i) entries.
        rows = torch.arange(length, device=mask.device)
        own = mask[:, 0, mask.shape[-2] - length + rows, past_len + rows]
        return own if own.dtype == torch.bool else own == 0
    return None


def chunk_mask(
    mask: torch.Tensor | None, batch: int, length: int, device: torch.device
) -> torch.Tensor | None:
    """The `(batch, length)` right-aligned slice of a captured `(batch, T)` mask, or `None` (no mask
    captured, or one that does not fit this chunk: all tokens are then real)."""
    if mask is None or mask.dim() != 2 or mask.shape[0] != batch or mask.shape[1] < length:
        return None
    return mask[:, mask.shape[1] - length :].to(device, non_blocking=True)
