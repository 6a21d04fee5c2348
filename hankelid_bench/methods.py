"""Adaptation methods at matched trainable-parameter counts.

The *reference tier* is LoRA of rank `reference_rank` on `q_proj` and `v_proj`. Every other
method is sized to the same number of trainable parameters: HRM through
[`hankelid_torch.match_parameters`][hankelid_torch.params.match_parameters] (within 0.1 % where shapes allow),
LoRA on the MLP, DoRA and SSMLoRA by choosing the rank whose count is closest. The achieved count and its
relative gap are returned and recorded with every run.

==========  ============================================================================
name        what is trained
==========  ============================================================================
hrm         HRM adapters beside the MLP blocks (options go to `HRMConfig`: init, ...;
            an explicit `d_state` skips the matching)
hrm_attn    HRM adapters at the attention sites (`site="attention"`)
lora        LoRA on q_proj, v_proj (the reference tier)
lora_mlp    LoRA on gate_proj, up_proj, down_proj
dora        DoRA (weight-decomposed LoRA) on q_proj, v_proj
dora_mlp    DoRA on gate_proj, up_proj, down_proj
ssmlora     SSMLoRA (interval-sparse q/v insertion, as published)
none        nothing (zero-shot base in `adapt`; the plain transformer in `scratch`)
full        every base parameter (full fine-tuning)
==========  ============================================================================

Harness options, valid for every method and not passed on: `rank` (overrides matching for the
LoRA family), `reduce_to` / `reduce_gramians` / `finetune_steps` (two-phase HRM, see
[`runner`][hankelid_bench.runner]), `hankel_inputs=task` with `hankel_samples` (HRM with
`init=hankel`: redo the Hankel init with the data Gramian of `hankel_samples` training
sequences, default 64, recorded through the frozen model;
[`hankel_init_from_data`][hankelid_torch.data_init.hankel_init_from_data]), and:

- `lr_scale`: multiplies the method's learning rates (and every candidate of a learning-rate grid);
- `b_std` (HRM): rescale the input matrix `B` to entries of standard deviation `b_std`
  (the adapters draw `B ~ N(0, 1/D_in)`; the HRM paper uses `N(0, 1)`);
- `reduce_hsv_ratio` (HRM): two-phase reduction keeping, per adapter, the states whose Hankel
  singular value is at least this fraction of the largest (instead of a fixed `reduce_to`);
- `finetune` = `full` (default) or `gate`: what the fine-tuning after reduction trains;
- `equal_steps`: the two phases share the cell's step budget (`steps - finetune_steps` before
  the reduction), and the reported value is the final, reduced and fine-tuned model's;
- `recipe=paper` (HRM): the HRM paper's recipe, expanded by
  [`expand_recipe`][hankelid_bench.methods.expand_recipe] — a full-order S4D adapter
  (`d_state=32`, `init=s4d`, `parametrization=s4d`, `dt_min=1e-4`, `b_std=1`,
  `gate_init=0.01`, learning rate x 2.5), balanced truncation at HSV / sigma_1 >= 0.01, then
  gate-only fine-tuning, at equal total steps. Explicit options override the recipe's (e.g.
  `hrm:recipe=paper,finetune=full`). Its trainable count is the full-order one: it is not
  iso-parameter, and the record says so (`param_gap`).

The `parametrization` option of HRM (`s4d` or `modal`) is independent of `init` wherever
both exist (`init=hankel` needs `modal`): `hrm:init=s4d,parametrization=modal` starts from the
same system as `hrm:init=s4d` and differs only in how training moves it.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = [
    "HARNESS_OPTIONS",
    "METHODS",
    "PAPER_RECIPE",
    "apply_method",
    "check_method",
    "count_trainable",
    "expand_recipe",
    "quiet_peft",
    "reference_lora_config",
]

HARNESS_OPTIONS = (
    "rank",
    "reduce_to",
    "reduce_gramians",
    "finetune_steps",
    "hankel_inputs",
    "hankel_samples",
    "recipe",
    "lr_scale",
    "b_std",
    "reduce_hsv_ratio",
    "finetune",
    "equal_steps",
)

#: The HRM paper's recipe (method option ``recipe=paper``); ``finetune_steps`` defaults to a fifth
#: of the cell's steps (resolved by the runner).
PAPER_RECIPE: dict[str, Any] = {
    "d_state": 32,
    "init": "s4d",
    "parametrization": "s4d",
    "dt_min": 1e-4,
    "gate_init": 0.01,
    "b_std": 1.0,
    "lr_scale": 2.5,
    "reduce_hsv_ratio": 0.01,
    "finetune": "gate",
    "equal_steps": True,
}
_QV = ["q_proj", "v_proj"]
_MLP = ["gate_proj", "up_proj", "down_proj"]


def expand_recipe(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options with `recipe=...` expanded (explicit options win); other options unchanged.

    Examples
    --------
    >>> opts = expand_recipe("hrm", {"recipe": "paper", "finetune": "full"})
    >>> opts["d_state"], opts["finetune"], opts["lr_scale"]
    (32, 'full', 2.5)
    >>> expand_recipe("lora", {"recipe": "paper"})
    Traceback (most recent call last):
    ...
    ValueError: recipe='paper' is an HRM recipe; method 'lora' has none
    """
    if "recipe" not in options:
        return dict(options)
    if options["recipe"] != "paper":
        raise ValueError(f"unknown recipe {options['recipe']!r}; the only recipe is 'paper'")
    if not name.startswith("hrm"):
        raise ValueError(f"recipe='paper' is an HRM recipe; method {name!r} has none")
    return {**PAPER_RECIPE, **options}


def _rescale_input_matrices(model: torch.nn.Module, b_std: float) -> None:
    from hankelid_torch import adapter_layers
    from hankelid_torch.bridge import get_adapter

    if not (isinstance(b_std, (int, float)) and b_std > 0):
        raise ValueError(f"b_std must be a positive number, got {b_std!r}")
    with torch.no_grad():
        for _, layer in adapter_layers(model):
            ad = get_adapter(layer)
            # The adapters draw B ~ N(0, 1 / D_in) (the modal form stores B over its per-mode
            # normalization, which is a fixed factor per mode): one common factor gives std b_std.
            ad.B.mul_(b_std * ad.in_features**0.5)


def count_trainable(model: torch.nn.Module) -> int:
    """Number of trainable parameters (`requires_grad`).

    Examples
    --------
    >>> count_trainable(torch.nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def reference_lora_config(rank: int) -> Any:
    """The reference tier: LoRA of `rank` on q_proj and v_proj, alpha = 2 * rank, no dropout.

    Examples
    --------
    >>> reference_lora_config(4).r
    4
    """
    from peft import LoraConfig

    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"reference rank must be a positive integer, got {rank!r}")
    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(_QV))


def _skeleton(model: torch.nn.Module) -> torch.nn.Module:
    # Same architecture without memory (meta tensors): counting a candidate config is then free
    # even for a 7B checkpoint.
    with torch.device("meta"):
        return type(model)(copy.deepcopy(model.config))


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence transformers' `is_gradient_checkpointing` FutureWarning inside the block.

    transformers 5 deprecates the property PEFT still reads when it wraps a model: one warning per
    wrapped model (dozens per cell while matching parameter counts), noise in every grid log.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _peft_count(model: torch.nn.Module, config: Any) -> int:
    from peft import get_peft_model

    with quiet_peft():
        return count_trainable(get_peft_model(_skeleton(model), copy.deepcopy(config)))


def _closest_rank(
    model: torch.nn.Module, make: Callable[[int], Any], target: int, max_rank: int = 512
) -> Any:
    # Counts grow monotonically with the rank: stop at the first rank past the target.
    best, best_gap = None, None
    for rank in range(1, max_rank + 1):
        config = make(rank)
        count = _peft_count(model, config)
        gap = abs(count - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = config, gap
        if count >= target:
            break
    return best


def _lora_family(targets: list[str], dora: bool) -> Callable[[torch.nn.Module, int, dict], Any]:
    from peft import LoraConfig

    def build(model: torch.nn.Module, reference: int, options: dict) -> Any:
        def make(rank: int) -> Any:
            return LoraConfig(
                r=rank,
                lora_alpha=2 * rank,
                lora_dropout=0.0,
                target_modules=list(targets),
                use_dora=dora,
                **options,
            )

        if "rank" in options:
            return make(int(options.pop("rank")))
        return _closest_rank(model, make, reference)

    return build


def _hrm(site: str) -> Callable[[torch.nn.Module, int, dict], Any]:
    def build(model: torch.nn.Module, reference: int, options: dict) -> Any:
        from hankelid_torch import HRMConfig, match_parameters

        rank = int(options.pop("reference_rank"))
        if "d_state" in options:
            # An explicit state size (order ablations) is taken as given; the gap is recorded.
            return HRMConfig(site=site, **options)
        with warnings.catch_warnings():
            # "tolerance not reachable" warnings: the achieved gap is recorded and printed anyway.
            warnings.simplefilter("ignore", UserWarning)
            return match_parameters(model, reference_lora_config(rank), site=site, **options)

    return build


def _ssmlora(model: torch.nn.Module, reference: int, options: dict) -> Any:
    from hankelid_torch import SSMLoRAConfig

    def make(rank: int) -> Any:
        return SSMLoRAConfig(r=rank, lora_alpha=2 * rank, **options)

    if "rank" in options:
        return make(int(options.pop("rank")))
    return _closest_rank(model, make, reference)


METHODS: dict[str, Callable[[torch.nn.Module, int, dict], Any] | None] = {
    "hrm": _hrm("mlp"),
    "hrm_attn": _hrm("attention"),
    "lora": _lora_family(_QV, dora=False),
    "lora_mlp": _lora_family(_MLP, dora=False),
    "dora": _lora_family(_QV, dora=True),
    "dora_mlp": _lora_family(_MLP, dora=True),
    "ssmlora": _ssmlora,
    "none": None,
    "full": None,
}


def _config_class(name: str) -> Any:
    if name.startswith("hrm"):
        from hankelid_torch import HRMConfig

        return HRMConfig
    if name == "ssmlora":
        from hankelid_torch import SSMLoRAConfig

        return SSMLoRAConfig
    from peft import LoraConfig

    return LoraConfig


def check_method(name: str, options: dict[str, Any] | None = None) -> None:
    """Validate a method spec before anything runs: known method, known options, valid values.

    Parameters
    ----------
    name : str
        A key of `METHODS`.
    options : dict, optional
        The spec's options (`hrm:d_state=8` gives `{"d_state": 8}`).

    Raises
    ------
    ValueError
        Naming the unknown method, the unknown option (with the accepted ones) or the bad value.

    Examples
    --------
    >>> check_method("hrm", {"d_state": 4})
    >>> check_method("hrm", {"d": 0})
    Traceback (most recent call last):
    ...
    ValueError: method 'hrm': option 'd' is not accepted; ...
    """
    import dataclasses

    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    options = {k: v for k, v in (options or {}).items() if k not in HARNESS_OPTIONS}
    if METHODS[name] is None:
        if options:
            raise ValueError(f"method {name!r} takes no options, got {sorted(options)}")
        return
    cls = _config_class(name)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    # set by the harness, or PEFT bookkeeping rather than method options
    fixed = {
        "site",
        "seed",
        "lora_dropout",
        "target_modules",
        "use_dora",
        "r",
        "lora_alpha",
        "peft_type",
        "task_type",
        "auto_mapping",
        "base_model_name_or_path",
        "revision",
        "peft_version",
        "inference_mode",
        "how_to_load",
    }
    for key in options:
        if key not in fields or key in fixed:
            accepted = sorted((fields - fixed) | set(HARNESS_OPTIONS))
            raise ValueError(
                f"method {name!r}: option {key!r} is not accepted; accepted: {', '.join(accepted)}"
            )
    probe = {"r": 1} if not name.startswith("hrm") else {}
    try:
        cls(**probe, **options)  # the config's own checks name the bad value
    except (TypeError, ValueError) as exc:
        raise ValueError(f"method {name!r}: {exc}") from None


def apply_method(
    base: torch.nn.Module,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    reference_rank: int = 4,
    seed: int = 0,
    all_trainable: bool = False,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Attach method `name` to a copy of `base`, sized to the reference tier.

    Parameters
    ----------
    base : torch.nn.Module
        The (frozen) base causal LM; it is deep-copied, never modified.
    name : str
        A key of `METHODS`.
    options : dict, optional
        Method options; harness options (`HARNESS_OPTIONS`) other than `rank` are ignored here.
    reference_rank : int
        Rank of the reference LoRA tier on q_proj, v_proj.
    seed : int
        Seeds the adapter initialisation (`torch.manual_seed`; HRM also receives `seed`).
    all_trainable : bool
        The `scratch` protocol: every parameter trainable, adapters included.

    Returns
    -------
    (model, info)
        `info` holds `trainable_params`, `reference_params`, `param_gap` (relative) and
        `config` (the adapter config's repr, or None).

    Raises
    ------
    ValueError
        If the method is unknown, or an option does not apply to it (`b_std` without HRM).

    Examples
    --------
    >>> from hankelid_bench.base_model import BaseModelSpec, build_model
    >>> base = build_model(BaseModelSpec.tiny())
    >>> model, info = apply_method(base, "lora_mlp", reference_rank=2)
    >>> info["reference_params"], abs(info["trainable_params"] - 96) <= 56   # q,v: 2 * (16+16 + 16+8)
    (112, True)
    """
    from peft import get_peft_model

    check_method(name, options)
    options = expand_recipe(name, options or {})
    b_std = options.get("b_std")
    if b_std is not None and not name.startswith("hrm"):
        raise ValueError(f"b_std applies to HRM adapters only, not to method {name!r}")
    options = {k: v for k, v in options.items() if k not in HARNESS_OPTIONS or k == "rank"}
    reference = _peft_count(base, reference_lora_config(reference_rank))
    torch.manual_seed(seed)
    model = copy.deepcopy(base).requires_grad_(False)
    builder = METHODS[name]
    config = None
    if builder is not None:
        if name.startswith("hrm"):
            options = {"reference_rank": reference_rank, "seed": seed, **options}
        with quiet_peft():
            config = builder(model, reference, dict(options))
            model = get_peft_model(model, config)
        if b_std is not None:
            _rescale_input_matrices(model, float(b_std))
    elif options:
        raise ValueError(f"method {name!r} takes no options, got {sorted(options)}")
    if name == "full" or all_trainable:
        model.requires_grad_(True)
    trainable = count_trainable(model)
    info = {
        "trainable_params": trainable,
        "reference_params": reference,
        "param_gap": (trainable - reference) / reference,
        "config": None if config is None else repr(config),
    }
    return model, info
