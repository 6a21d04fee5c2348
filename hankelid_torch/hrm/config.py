"""`HRMConfig`: the PEFT configuration of HRM adapters, and the `PeftType.HRM` enum member."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peft.config import PeftConfig

from .._peft_glue import ensure_peft_type
from ..options import (
    HANKEL_KEYWORDS,
    PARAMETRIZATIONS,
    HankelInitOptions,
    check_choice,
    check_gate_init,
    check_positive_int,
    check_step_range,
    resolve_parametrization,
)

__all__ = [
    "HOW_TO_LOAD",
    "HRM_ADAPTER_ATTR",
    "HRM_PEFT_TYPE",
    "HRM_PREFIX",
    "SITE_TARGETS",
    "HRMConfig",
    "ensure_peft_type",
]

#: Parameter-name prefix of the method. transformers' ``load_adapter``/``delete_adapter`` derive it
#: from the type as ``peft_type.value.lower() + "_"``, so it must be exactly ``"hrm_"``.
HRM_PREFIX = "hrm_"

#: Name of the ``nn.ModuleDict`` attribute in which a PEFT layer holds its adapters (one
#: `SSMAdapter` per adapter name); it starts with ``HRM_PREFIX`` so that
#: PEFT marks exactly these parameters trainable and saves them.
HRM_ADAPTER_ATTR = HRM_PREFIX + "ssm"

#: Default ``target_modules`` (regular expressions, full match) for each injection site: the MLP block
#: or the self-attention block of every decoder layer of a Mistral/Llama-style model.
SITE_TARGETS = {
    "mlp": r"(.*\.)?layers\.\d+\.mlp",
    "attention": r"(.*\.)?layers\.\d+\.self_attn",
}

#: Saved in every ``adapter_config.json`` (``how_to_load``) and in the adapter's model card. Without the
#: import PEFT fails with ``KeyError: 'HRM'`` in ``PEFT_TYPE_TO_CONFIG_MAPPING[peft_type]``, a plain dict
#: lookup that happens before anything in the saved files is interpreted, so the files are the only
#: place where the instruction can reach the user.
HOW_TO_LOAD = (
    "import hankelid_torch before loading this adapter: it registers the HRM method with PEFT "
    "(PeftType.HRM); without it PEFT raises KeyError: 'HRM'. Then PeftModel.from_pretrained, "
    "AutoPeftModelForCausalLM.from_pretrained and transformers' model.load_adapter work as for LoRA."
)
_CARD_HEADING = "## Loading this HRM adapter"

_HANKEL_DEFAULTS = HankelInitOptions()
# The config fields every adapter is built from as they are (the Hankel-init ones travel as one
# HankelInitOptions, `hankel_options`).
_ADAPTER_FIELDS = ("init", "parametrization", "gate_init", "dt_min", "dt_max")


HRM_PEFT_TYPE = ensure_peft_type("HRM")


@dataclass
class HRMConfig(PeftConfig):
    r"""Configuration of HRM adapters: a trainable SSM beside each targeted block.

    Each targeted block `f` (by default the MLP of every decoder layer) becomes
    `f(u) + α·SSM(u)`, where the SSM
    ([`hankelid_torch.adapter.SSMAdapter`][hankelid_torch.adapter.SSMAdapter]) runs along the sequence as an
    exact causal FFT convolution, `α` is a learnable scalar gate and `u` is the block's input. With
    `gate_init=0` the adapted model starts exactly equal to the base model. The SSM mixes tokens, so an HRM
    adapter cannot be merged into the base weights.

    Parameters
    ----------
    d_state : int
        State size (order) of every adapter, unless overridden by `d_state_pattern`. Default 8.
    target_modules : str or list of str, optional
        Blocks to adapt. A string is a regular expression matched against the full module name; a
        list matches names exactly or by suffix (PEFT's rules). Default: derived from `site`.
    site : {"mlp", "attention"}
        Injection site used when `target_modules` is not given: beside the MLP block
        (`...layers.N.mlp`, the method of the paper) or beside the self-attention block
        (`...layers.N.self_attn`).
    exclude_modules : str or list of str, optional
        Blocks not to adapt (same matching rules as `target_modules`).
    init : {"s4d", "random", "hankel"}
        Initialization of the SSM (see [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter]).
    parametrization : "s4d" | "modal", optional
        Real diagonal S4D parametrization, or real modal form with complex-conjugate pairs (needed by
        `init="hankel"`, and what reduced adapters use). `None` (the default): `"modal"` for
        `init="hankel"`, else `"s4d"`.
    gate_init : float
        Initial value of the gate `α`; `0` makes the adapter an exact no-op at initialization.
    dt_min : float
        Lower end of the range of the discretization step `Δ`.
    dt_max : float
        Upper end of the range of `Δ`.
    hankel_order : int, optional
        Order `N` of the richer system reduced by `init="hankel"` (default: chosen by the adapter).
    hankel_gramians : {"horizon", "exact", "empirical"}
        Gramians used by `init="hankel"`: `"horizon"` (default) the exact Gramians over the
        horizon `hankel_length` in closed form (the mean of the `"empirical"` Gaussian-input
        estimate, without its noise, and far cheaper), `"exact"` the
        infinite-horizon Lyapunov Gramians, `"empirical"` the Monte-Carlo estimate.
    hankel_length : int, default 1024
        Horizon of the `"horizon"` and `"empirical"` Gramians (the length of the empirical
        estimator's random input sequences).
    hankel_trajectories : int, optional
        Number of random trajectories of the empirical Gramians. The four `hankel_*` fields reach
        every adapter as one frozen [`HankelInitOptions`][hankelid_torch.options.HankelInitOptions]
        ([`hankel_options`][hankelid_torch.hrm.config.HRMConfig.hankel_options], where this one is spelled
        `n_trajectories` as in the core).
    d_state_pattern : dict of str to int
        Per-block state sizes overriding `d_state`, like LoRA's `rank_pattern`. A key is a module
        name (`"model.layers.3.mlp"`), a regular expression matched against the end of the module
        name (`r"layers\.(0|1)\.mlp"`), or a layer index (`"3"`).
    parametrization_pattern : dict of str to str
        Per-block parametrizations overriding `parametrization` (same keys as
        `d_state_pattern`). [`reduce_adapters`][hankelid_torch.reduce_adapters] fills it when
        it reduces only some layers, so that the saved adapter loads back exactly.
    layers_to_transform : int or list of int, optional
        Only adapt blocks of these layer indices.
    layers_pattern : str or list of str, optional
        Name of the layer container (e.g. `"layers"`) used to read the layer index.
    seed : int, optional
        Seed of the adapters' random initialization (each block gets a seed derived from this one and
        its name, so results do not depend on the order of creation). `None` uses torch's global RNG.
    modules_to_save : list of str, optional
        Extra modules trained in full and saved with the adapter (e.g. a classification head).
    how_to_load : str, default HOW_TO_LOAD
        Set by the class (not an option): the instruction saved in `adapter_config.json` that
        `hankelid_torch` must be imported before the adapter is loaded.

    Examples
    --------
    >>> config = HRMConfig(d_state=4, site="attention")
    >>> config.peft_type
    <PeftType.HRM: 'HRM'>
    >>> config.target_modules
    '(.*\\.)?layers\\.\\d+\\.self_attn'
    >>> HRMConfig(init="cubic")
    Traceback (most recent call last):
    ...
    ValueError: init must be one of ('s4d', 'random', 'hankel'), got 'cubic'
    """

    d_state: int = field(default=8, metadata={"help": "State size of every adapter."})
    target_modules: list[str] | str | None = field(
        default=None,
        metadata={"help": "Modules to adapt (regex string or list of names/suffixes); default from `site`."},
    )
    site: str = field(default="mlp", metadata={"help": "Default injection site: 'mlp' or 'attention'."})
    exclude_modules: list[str] | str | None = field(default=None, metadata={"help": "Modules not to adapt."})
    init: str = field(default="s4d", metadata={"help": "SSM initialization: 's4d', 'random' or 'hankel'."})
    parametrization: str | None = field(
        default=None, metadata={"help": "'s4d' (real diagonal) or 'modal'; default from `init`."}
    )
    gate_init: float = field(default=0.0, metadata={"help": "Initial gate; 0 is an exact no-op."})
    dt_min: float = field(default=1e-3, metadata={"help": "Smallest discretization step."})
    dt_max: float = field(default=1e-1, metadata={"help": "Largest discretization step."})
    hankel_order: int | None = field(
        default=None, metadata={"help": "Order of the richer system reduced by the Hankel init."}
    )
    hankel_gramians: str = field(
        default=_HANKEL_DEFAULTS.gramians,
        metadata={"help": "Gramians of the Hankel init: 'horizon', 'exact' or 'empirical'."},
    )
    hankel_length: int = field(
        default=_HANKEL_DEFAULTS.length,
        metadata={"help": "Horizon of the 'horizon'/'empirical' Gramians (input length)."},
    )
    hankel_trajectories: int | None = field(
        default=None, metadata={"help": "Number of empirical-Gramian trajectories."}
    )
    d_state_pattern: dict = field(
        default_factory=dict, metadata={"help": "Per-module state sizes: {name | regex | layer index: d}."}
    )
    parametrization_pattern: dict = field(
        default_factory=dict,
        metadata={"help": "Per-module parametrizations: {name | regex | layer index: 's4d' | 'modal'}."},
    )
    layers_to_transform: list[int] | int | None = field(
        default=None, metadata={"help": "Only adapt these layer indices."}
    )
    layers_pattern: list[str] | str | None = field(
        default=None, metadata={"help": "Name of the layer container, e.g. 'layers'."}
    )
    seed: int | None = field(default=None, metadata={"help": "Seed of the adapters' initialization."})
    modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Extra modules trained in full and saved with the adapter."}
    )
    how_to_load: str = field(
        default=HOW_TO_LOAD, metadata={"help": "How to load a saved copy (written to adapter_config.json)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = HRM_PEFT_TYPE
        self.how_to_load = HOW_TO_LOAD  # a copy saved by an older version gets today's instruction
        check_positive_int("d_state", self.d_state)
        check_choice("site", self.site, tuple(SITE_TARGETS))
        resolve_parametrization(self.init, self.parametrization)
        check_gate_init(self.gate_init)
        check_step_range(self.dt_min, self.dt_max)
        _ = self.hankel_options  # validates the Hankel-init fields
        if not isinstance(self.d_state_pattern, dict):
            raise ValueError(f"d_state_pattern must be a dict, got {type(self.d_state_pattern).__name__}")
        self.d_state_pattern = {str(k): v for k, v in self.d_state_pattern.items()}
        for key, value in self.d_state_pattern.items():
            check_positive_int(f"d_state_pattern[{key!r}]", value)
        if not isinstance(self.parametrization_pattern, dict):
            raise ValueError(
                f"parametrization_pattern must be a dict, got {type(self.parametrization_pattern).__name__}"
            )
        self.parametrization_pattern = {str(k): v for k, v in self.parametrization_pattern.items()}
        for key, value in self.parametrization_pattern.items():
            check_choice(f"parametrization_pattern[{key!r}]", value, PARAMETRIZATIONS)
            try:
                resolve_parametrization(self.init, value)
            except ValueError as err:  # the same rule as for `parametrization`, naming the block
                raise ValueError(f"parametrization_pattern[{key!r}]: {err}") from None
        if self.target_modules is None:
            self.target_modules = SITE_TARGETS[self.site]
        elif isinstance(self.target_modules, (list, tuple)):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, (list, tuple)):
            self.exclude_modules = set(self.exclude_modules)
        if isinstance(self.layers_to_transform, (list, tuple, set)):
            self.layers_to_transform = sorted(int(i) for i in self.layers_to_transform)

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        """Save `adapter_config.json` and add a "Loading" section to the directory's model card.

        PEFT writes the model card (`README.md`) before the config; the section saying
        `import hankelid_torch` is added to it (or to a new card) once.
        """
        super().save_pretrained(save_directory, **kwargs)
        card = Path(save_directory) / "README.md"
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        if _CARD_HEADING not in text:
            section = (
                f"{_CARD_HEADING}\n\n"
                "This is an HRM adapter (a state-space model beside each block) from `hankelid_torch`. "
                "PEFT does not know the method until `hankelid_torch` is imported, so import it first "
                "(without it PEFT raises `KeyError: 'HRM'`):\n\n"
                "```python\n"
                "import hankelid_torch  # registers the HRM method with PEFT\n"
                "from peft import PeftModel\n\n"
                "model = PeftModel.from_pretrained(base_model, path)\n"
                "```\n"
            )
            card.write_text((text.rstrip() + "\n\n" if text.strip() else "") + section, encoding="utf-8")

    @property
    def hankel_options(self) -> HankelInitOptions:
        """The Hankel-init fields (`hankel_order`, `hankel_gramians`, `hankel_length`,
        `hankel_trajectories`) as the one [`HankelInitOptions`][hankelid_torch.options.HankelInitOptions] the
        adapters receive."""
        return HankelInitOptions.from_keywords(**{name: getattr(self, name) for name in HANKEL_KEYWORDS})

    def adapter_options(self) -> dict[str, Any]:
        """The keyword arguments every adapter of this config shares (see
        [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter]): initialization, parametrization, gate, step
        range and `hankel` (the [`hankel_options`][hankelid_torch.hrm.config.HRMConfig.hankel_options])."""
        return {**{name: getattr(self, name) for name in _ADAPTER_FIELDS}, "hankel": self.hankel_options}
