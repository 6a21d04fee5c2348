"""Iso-parameter matching: an HRM configuration with as many trainable parameters as a LoRA/DoRA one.

The LoRA/DoRA side is counted from the model's real module shapes (`r·(in + out)` per targeted
`Linear`, plus the DoRA magnitude vector of length `out`; `rank_pattern`, `target_modules`
including `"all-linear"`, `exclude_modules`, `layers_to_transform`, `bias` and
`modules_to_save` are respected). The HRM side is counted by *instantiating* the HRM PEFT model
on a `meta`-device copy of the model (no memory, no weights), so the count follows the adapter
module as it is, not a formula (the expensive `init="hankel"` is counted with the S4D init of the
same parametrization: initializations do not change shapes). Everything works on a model built
under `torch.device("meta")`, which is how the full Mistral-7B shapes are checked without weights.

Matching: every HRM site's count is affine in its state size (`2·D·d + 2·d + 1` for the s4d
parametrization: B̄ d×D, C D×d, log_a, log_dt, gate); the slope and intercept of each site are
read from two instantiations, a uniform `d_state` is chosen, and single sites are then moved by
±1 state (`d_state_pattern`, like LoRA's `rank_pattern`) until the total is as close to the
target as the granularity `2·D + 2` allows. The final configuration is instantiated once more
and its real count is reported.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.tuners_utils import (
    BaseTunerLayer,
    _maybe_include_all_linear_layers,
    check_target_module_exists,
)
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from peft.utils.other import get_pattern_key
from torch import nn

from .hrm import HRMConfig

__all__ = ["ParameterMatch", "hrm_trainable_count", "lora_trainable_count", "match_parameters"]

logger = logging.getLogger(__name__)


@dataclass
class ParameterMatch:
    """The outcome of [`match_parameters`][hankelid_torch.params.match_parameters].

    Attributes
    ----------
    target : int
        Trainable parameters of the LoRA/DoRA configuration on this model.
    achieved : int
        Trainable parameters of the returned HRM configuration (counted by instantiation).
    deviation : float
        `(achieved - target) / target`.
    tolerance : float
        The relative tolerance asked for.
    within_tolerance : bool
        `abs(deviation) <= tolerance`.
    d_state : int
        The HRM state size used on most sites.
    d_state_pattern : dict
        Per-site overrides (site name -> state size).
    lora_modules : int
        Number of modules LoRA/DoRA targets.
    hrm_sites : int
        Number of HRM adapter sites.
    granularity : int
        The smallest change in the HRM count that one more state on one site makes.
    method : str
        `"lora"` or `"dora"`.
    """

    target: int
    achieved: int
    deviation: float
    tolerance: float
    within_tolerance: bool
    d_state: int
    d_state_pattern: dict[str, int] = field(default_factory=dict)
    lora_modules: int = 0
    hrm_sites: int = 0
    granularity: int = 0
    method: str = "lora"

    def __str__(self) -> str:
        return (
            f"{self.method.upper()} target {self.target:,} vs HRM {self.achieved:,} trainable parameters "
            f"({self.deviation:+.4%}; d_state={self.d_state}, {len(self.d_state_pattern)} of "
            f"{self.hrm_sites} sites overridden)"
        )


# --------------------------------------------------------------------------------------------
# LoRA / DoRA side: from the shapes
# --------------------------------------------------------------------------------------------


def _in_out(module: nn.Module) -> tuple[int, int] | None:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if type(module).__name__ == "Conv1D" and hasattr(module, "weight"):  # transformers' GPT-2 style layer
        fan_in, fan_out = module.weight.shape
        return int(fan_in), int(fan_out)
    return None


def _resolved_lora_config(model: nn.Module, lora_config: LoraConfig) -> LoraConfig:
    cfg = copy.deepcopy(lora_config)
    if cfg.target_modules is None:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        mapped = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
        if mapped is None:
            raise ValueError(
                f"lora_config.target_modules is None and model type {model_type!r} has no default"
            )
        cfg.target_modules = set(mapped) if not isinstance(mapped, str) else mapped
    return _maybe_include_all_linear_layers(cfg, model)


def _count_modules_to_save(model: nn.Module, names: list[str] | None) -> int:
    if not names:
        return 0
    total = 0
    for key, module in model.named_modules():
        if any(key == n or key.endswith(f".{n}") for n in names):
            total += sum(p.numel() for p in module.parameters())
    return total


def lora_trainable_count(model: nn.Module, lora_config: LoraConfig) -> tuple[int, int]:
    """Trainable parameters that `get_peft_model(model, lora_config)` would create, from shapes.

    Parameters
    ----------
    model : nn.Module
        The base model (any device, `meta` included); it is not modified.
    lora_config : peft.LoraConfig
        LoRA or DoRA (`use_dora=True`) configuration.

    Returns
    -------
    (count, n_modules) : tuple of int
        The trainable count and the number of targeted modules.

    Raises
    ------
    ValueError
        If `lora_config` is not a `LoraConfig`, nothing is targeted, or a targeted module is not
        a `Linear`/`Conv1D`/`Embedding`.

    Examples
    --------
    >>> import torch
    >>> from peft import LoraConfig
    >>> net = torch.nn.Sequential()
    >>> net.add_module("proj", torch.nn.Linear(8, 4))
    >>> lora_trainable_count(net, LoraConfig(r=2, target_modules=["proj"]))
    (24, 1)
    >>> lora_trainable_count(net, LoraConfig(r=2, target_modules=["proj"], use_dora=True))
    (28, 1)
    """
    if not isinstance(lora_config, LoraConfig):
        raise ValueError(f"lora_config must be a peft.LoraConfig, got {type(lora_config).__name__}")
    if getattr(lora_config, "target_parameters", None):
        raise ValueError("lora_config.target_parameters is not supported by match_parameters")
    cfg = _resolved_lora_config(model, lora_config)
    total, n_modules = 0, 0
    bias = getattr(cfg, "bias", "none")
    for key, module in model.named_modules():
        if not key or not check_target_module_exists(cfg, key):
            continue
        r_key = get_pattern_key(cfg.rank_pattern.keys(), key) if cfg.rank_pattern else key
        r = int((cfg.rank_pattern or {}).get(r_key, cfg.r))
        shape = _in_out(module)
        if shape is not None:
            fan_in, fan_out = shape
            total += r * (fan_in + fan_out) + (fan_out if cfg.use_dora else 0)
        elif isinstance(module, nn.Embedding):
            total += r * (module.num_embeddings + module.embedding_dim)
            total += module.embedding_dim if cfg.use_dora else 0
        else:
            kind = type(module).__name__
            raise ValueError(f"LoRA target {key!r} is a {kind}, not a Linear/Conv1D/Embedding")
        if bias == "lora_only" and getattr(module, "bias", None) is not None:
            total += module.bias.numel()
        n_modules += 1
    if n_modules == 0:
        raise ValueError(f"lora_config.target_modules={lora_config.target_modules!r} matches no module")
    if bias == "all":
        total += sum(p.numel() for n, p in model.named_parameters() if n.endswith("bias"))
    total += _count_modules_to_save(model, cfg.modules_to_save)
    return total, n_modules


# --------------------------------------------------------------------------------------------
# HRM side: by instantiation on a meta copy
# --------------------------------------------------------------------------------------------


def _meta_copy(model: nn.Module) -> nn.Module:
    """A weightless copy of `model` on the `meta` device (cheap for any size)."""
    if all(p.device.type == "meta" for p in model.parameters()):
        return copy.deepcopy(model)
    config = getattr(model, "config", None)
    if config is not None and hasattr(type(model), "_from_config"):
        with torch.device("meta"):
            rebuilt = type(model)(copy.deepcopy(config))
        # a model edited after construction is not what its config rebuilds: copy it then
        if _shapes(rebuilt) == _shapes(model):
            return rebuilt
    return copy.deepcopy(model).to("meta")


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def _site_counts(peft_model: nn.Module) -> dict[str, int]:
    """Trainable parameters per adapter site, keyed by the site's name in the base model."""
    counts: dict[str, int] = {}
    for name, module in peft_model.named_modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        key = name.removeprefix("base_model.model.")
        counts[key] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return counts


def hrm_trainable_count(model: nn.Module, hrm_config: HRMConfig) -> tuple[int, dict[str, int]]:
    """Trainable parameters of `get_peft_model(model, hrm_config)`, counted on a meta copy.

    Parameters
    ----------
    model : nn.Module
        The base model; it is not modified (a weightless copy is adapted).
    hrm_config : HRMConfig
        The HRM configuration.

    Returns
    -------
    (total, per_site) : tuple
        PEFT's trainable count and the trainable parameters of each adapter site.

    Examples
    --------
    >>> import torch, transformers
    >>> from hankelid_torch import HRMConfig
    >>> with torch.device("meta"):
    ...     model = transformers.MistralForCausalLM(transformers.MistralConfig(hidden_size=64,
    ...         intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    ...         num_key_value_heads=2, vocab_size=50))
    >>> hrm_trainable_count(model, HRMConfig(d_state=4))  # 2·64·4 + 2·4 + 1 per MLP
    (1042, {'model.layers.0.mlp': 521, 'model.layers.1.mlp': 521})
    """
    peft_model = get_peft_model(_meta_copy(model), copy.deepcopy(hrm_config))
    total, _ = peft_model.get_nb_trainable_parameters()
    return int(total), _site_counts(peft_model)


def _counting_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """HRM options for counting: the Hankel initialization (a balanced truncation per site) is
    swapped for the S4D one of the same parametrization; the count does not depend on the init."""
    if kwargs.get("init") != "hankel":
        return kwargs
    return {**kwargs, "init": "s4d", "parametrization": kwargs.get("parametrization") or "modal"}


def _spread_order(n: int) -> list[int]:
    """Indices 0..n-1 in van der Corput order, so that any prefix is spread over the layers."""

    def radical_inverse(i: int) -> float:
        x, f = 0.0, 0.5
        while i:
            x += f * (i & 1)
            i >>= 1
            f /= 2
        return x

    return sorted(range(n), key=lambda i: (radical_inverse(i), i))


def _search(target: int, extra: int, slopes: list[int], intercepts: list[int]) -> list[int]:
    """Per-site state sizes (>= 1) whose affine count `extra + Σ(a_i d_i + b_i)` is closest to target."""
    n = len(slopes)
    base = extra + sum(intercepts)
    total_slope = sum(slopes)
    guess = max(1, round((target - base) / total_slope))
    d0 = min((max(1, guess + k) for k in (-1, 0, 1)), key=lambda d: abs(base + total_slope * d - target))
    ds = [d0] * n
    residual = target - (base + total_slope * d0)
    moved: set[int] = set()
    order = _spread_order(n)
    while True:
        step = 1 if residual > 0 else -1
        best, best_err = None, abs(residual)
        for i in order:
            if i in moved or ds[i] + step < 1:
                continue
            err = abs(residual - step * slopes[i])
            if err < best_err:
                best, best_err = i, err
        if best is None:
            return ds
        ds[best] += step
        residual -= step * slopes[best]
        moved.add(best)


def match_parameters(
    model: nn.Module,
    lora_config: LoraConfig,
    *,
    tolerance: float = 1e-3,
    return_report: bool = False,
    **hrm_kwargs: Any,
):
    """An HRM configuration with the trainable-parameter count of a LoRA/DoRA configuration.

    Parameters
    ----------
    model : nn.Module
        The base model (e.g. a `MistralForCausalLM`; built under `torch.device("meta")` is fine).
        It is not modified.
    lora_config : peft.LoraConfig
        The reference configuration (`use_dora=True` for DoRA).
    tolerance : float, default 1e-3
        Relative tolerance; a warning is emitted when the shapes do not allow it.
    return_report : bool, default False
        Also return the [`ParameterMatch`][hankelid_torch.params.ParameterMatch].
    **hrm_kwargs
        Passed to `HRMConfig` (`target_modules`, `site`, `init`, `layers_to_transform` ...);
        `d_state` and `d_state_pattern` are chosen here.

    Returns
    -------
    HRMConfig or (HRMConfig, ParameterMatch)
        The report is also attached to the config as `config.parameter_match` (not serialized).

    Raises
    ------
    ValueError
        If `d_state`/`d_state_pattern` are given, the LoRA config targets nothing or an unsupported
        module, `model` is already a `PeftModel`, or the HRM config has no adapter site.

    Examples
    --------
    >>> import torch
    >>> from peft import LoraConfig
    >>> from transformers import MistralConfig, MistralForCausalLM
    >>> with torch.device("meta"):  # shapes only, no weights
    ...     model = MistralForCausalLM(MistralConfig(hidden_size=256, intermediate_size=512,
    ...         num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2, vocab_size=100))
    >>> lora = LoraConfig(r=16, target_modules=["q_proj", "v_proj"])
    >>> config, report = match_parameters(model, lora, return_report=True)
    >>> print(report)
    LORA target 114,688 vs HRM 114,630 trainable parameters (-0.0506%; d_state=28, 1 of 8 sites overridden)
    >>> config.d_state, config.d_state_pattern
    (28, {'model.layers.0.mlp': 27})
    """
    if isinstance(model, PeftModel):
        raise ValueError("pass the base model, not a PeftModel")
    for name in ("d_state", "d_state_pattern"):
        if name in hrm_kwargs:
            raise ValueError(f"{name} is chosen by match_parameters; do not pass it")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    target, n_lora = lora_trainable_count(model, lora_config)
    kwargs = dict(hrm_kwargs)
    if lora_config.modules_to_save and "modules_to_save" not in kwargs:
        kwargs["modules_to_save"] = list(lora_config.modules_to_save)  # counted on both sides alike

    counting = _counting_kwargs(kwargs)
    total1, sites1 = hrm_trainable_count(model, HRMConfig(d_state=1, **counting))
    total2, sites2 = hrm_trainable_count(model, HRMConfig(d_state=2, **counting))
    if not sites1 or sites1.keys() != sites2.keys():
        raise ValueError(f"the HRM configuration {hrm_kwargs!r} creates no adapter site on this model")
    names = list(sites1)
    slopes = [sites2[k] - sites1[k] for k in names]
    intercepts = [sites1[k] - s for k, s in zip(names, slopes)]
    extra = total1 - sum(sites1.values())
    if total2 - sum(sites2.values()) != extra:
        raise ValueError("trainable parameters outside the HRM adapter sites depend on d_state")
    if min(slopes) <= 0:
        raise ValueError("the HRM adapter's parameter count does not grow with d_state")
    ds = _search(target, extra, slopes, intercepts)
    d_state = max(set(ds), key=ds.count)
    pattern = {k: d for k, d in zip(names, ds) if d != d_state}
    config = HRMConfig(d_state=d_state, d_state_pattern=dict(pattern), **kwargs)
    achieved, _ = hrm_trainable_count(model, HRMConfig(d_state=d_state, d_state_pattern=pattern, **counting))
    deviation = (achieved - target) / target
    report = ParameterMatch(
        target=target,
        achieved=achieved,
        deviation=deviation,
        tolerance=tolerance,
        within_tolerance=abs(deviation) <= tolerance,
        d_state=d_state,
        d_state_pattern=pattern,
        lora_modules=n_lora,
        hrm_sites=len(names),
        granularity=min(slopes),
        method="dora" if lora_config.use_dora else "lora",
    )
    config.parameter_match = report
    logger.info("match_parameters: %s", report)
    if not report.within_tolerance:
        warnings.warn(
            f"match_parameters: closest HRM count is {report}; the per-state granularity "
            f"({report.granularity:,}) does not allow {tolerance:.2%}",
            stacklevel=2,
        )
    return (config, report) if return_report else config
