"""`HRMConfig`: the PEFT configuration of HRM adapters, and the ``PeftType.HRM`` enum member."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peft.config import PeftConfig

from .._peft_glue import ensure_peft_type
from ..options import (
    HANKEL_KEYWORDS,
    HankelInitOptions,
    check_choice,
    check_positive_int,
    check_step_range,
    resolve_parametrization,
)

__all__ = ["HRM_ADAPTER_ATTR", "HRM_PEFT_TYPE", "HRM_PREFIX", "SITE_TARGETS", "HRMConfig", "ensure_peft_type"]

#: Parameter-name prefix of the method. transformers' ``load_adapter``/``delete_adapter`` derive it
#: from the type as ``peft_type.value.lower() + "_"``, so it must be exactly ``"hrm_"``.
HRM_PREFIX = "hrm_"

#: Name of the ``nn.ModuleDict`` attribute in which a PEFT layer holds its adapters (one
#: :class:`~hankelid_torch.adapter.SSMAdapter` per adapter name); it starts with ``HRM_PREFIX`` so that
#: PEFT marks exactly these parameters trainable and saves them.
HRM_ADAPTER_ATTR = HRM_PREFIX + "ssm"

#: Default ``target_modules`` (regular expressions, full match) for each injection site: the MLP block
#: or the self-attention block of every decoder layer of a Mistral/Llama-style model.
SITE_TARGETS = {
    "mlp": r"(.*\.)?layers\.\d+\.mlp",
    "attention": r"(.*\.)?layers\.\d+\.self_attn",
}

_HANKEL_DEFAULTS = HankelInitOptions()
# The config fields every adapter is built from as they are (the Hankel-init ones travel as one
# HankelInitOptions, `hankel_options`).
_ADAPTER_FIELDS = ("init", "parametrization", "gate_init", "dt_min", "dt_max")


HRM_PEFT_TYPE = ensure_peft_type("HRM")


@dataclass
class HRMConfig(PeftConfig):
    r"""Configuration of HRM adapters: a trainable SSM beside each targeted block.

    Each targeted block ``f`` (by default the MLP of every decoder layer) becomes
    ``f(u) + α·SSM(u)``, where the SSM (:class:`hankelid_torch.adapter.SSMAdapter`) runs along the
    sequence as an exact causal FFT convolution, ``α`` is a learnable scalar gate and ``u`` is the
    block's input. With ``gate_init=0`` the adapted model starts exactly equal to the base model.
    The SSM mixes tokens, so an HRM adapter cannot be merged into the base weights.

    Parameters
    ----------
    d_state : int
        State size (order) of every adapter, unless overridden by ``d_state_pattern``. Default 8.
    target_modules : str or list of str, optional
        Blocks to adapt. A string is a regular expression matched against the full module name; a
        list matches names exactly or by suffix (PEFT's rules). Default: derived from ``site``.
    site : {"mlp", "attention"}
        Injection site used when ``target_modules`` is not given: beside the MLP block
        (``...layers.N.mlp``, the method of the paper) or beside the self-attention block
        (``...layers.N.self_attn``).
    exclude_modules : str or list of str, optional
        Blocks not to adapt (same matching rules as ``target_modules``).
    init : {"s4d", "random", "hankel"}
        Initialization of the SSM (see :class:`~hankelid_torch.adapter.SSMAdapter`).
    parametrization : {"s4d", "modal"}, optional
        Real diagonal S4D parametrization, or real modal form with complex-conjugate pairs (needed by
        ``init="hankel"``, and what reduced adapters use). Default: ``"modal"`` for ``init="hankel"``,
        else ``"s4d"``.
    gate_init : float
        Initial value of the gate ``α``; ``0`` makes the adapter an exact no-op at initialization.
    dt_min, dt_max : float
        Range of the discretization step ``Δ``.
    hankel_order : int, optional
        Order ``N`` of the richer system reduced by ``init="hankel"`` (default: chosen by the adapter).
    hankel_gramians : {"empirical", "exact"}
        Gramians used by ``init="hankel"``.
    hankel_length : int
        Length of the random input sequences of the empirical Gramians.
    hankel_trajectories : int, optional
        Number of random trajectories of the empirical Gramians. The four ``hankel_*`` fields reach
        every adapter as one frozen :class:`~hankelid_torch.options.HankelInitOptions`
        (:attr:`hankel_options`, where this one is spelled ``n_trajectories`` as in the core).
    d_state_pattern : dict of str to int
        Per-block state sizes overriding ``d_state``, like LoRA's ``rank_pattern``. A key is a module
        name (``"model.layers.3.mlp"``), a regular expression matched against the end of the module
        name (``r"layers\.(0|1)\.mlp"``), or a layer index (``"3"``).
    layers_to_transform : int or list of int, optional
        Only adapt blocks of these layer indices.
    layers_pattern : str or list of str, optional
        Name of the layer container (e.g. ``"layers"``) used to read the layer index.
    seed : int, optional
        Seed of the adapters' random initialization (each block gets a seed derived from this one and
        its name, so results do not depend on the order of creation). ``None`` uses torch's global RNG.
    modules_to_save : list of str, optional
        Extra modules trained in full and saved with the adapter (e.g. a classification head).

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
        metadata={"help": "Gramians of the Hankel init: 'empirical' or 'exact'."},
    )
    hankel_length: int = field(
        default=_HANKEL_DEFAULTS.length, metadata={"help": "Length of the empirical-Gramian inputs."}
    )
    hankel_trajectories: int | None = field(
        default=None, metadata={"help": "Number of empirical-Gramian trajectories."}
    )
    d_state_pattern: dict = field(
        default_factory=dict, metadata={"help": "Per-module state sizes: {name | regex | layer index: d}."}
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

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = HRM_PEFT_TYPE
        check_positive_int("d_state", self.d_state)
        check_choice("site", self.site, tuple(SITE_TARGETS))
        resolve_parametrization(self.init, self.parametrization)
        check_step_range(self.dt_min, self.dt_max)
        _ = self.hankel_options  # validates the Hankel-init fields
        if not isinstance(self.d_state_pattern, dict):
            raise ValueError(f"d_state_pattern must be a dict, got {type(self.d_state_pattern).__name__}")
        self.d_state_pattern = {str(k): v for k, v in self.d_state_pattern.items()}
        for key, value in self.d_state_pattern.items():
            check_positive_int(f"d_state_pattern[{key!r}]", value)
        if self.target_modules is None:
            self.target_modules = SITE_TARGETS[self.site]
        elif isinstance(self.target_modules, (list, tuple)):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, (list, tuple)):
            self.exclude_modules = set(self.exclude_modules)
        if isinstance(self.layers_to_transform, (list, tuple, set)):
            self.layers_to_transform = sorted(int(i) for i in self.layers_to_transform)

    @property
    def hankel_options(self) -> HankelInitOptions:
        """The Hankel-init fields (``hankel_order``, ``hankel_gramians``, ``hankel_length``,
        ``hankel_trajectories``) as the one :class:`~hankelid_torch.options.HankelInitOptions` the
        adapters receive."""
        return HankelInitOptions.from_keywords(**{name: getattr(self, name) for name in HANKEL_KEYWORDS})

    def adapter_options(self) -> dict[str, Any]:
        """The keyword arguments every adapter of this config shares (see
        :class:`~hankelid_torch.adapter.SSMAdapter`): initialization, parametrization, gate, step
        range and ``hankel`` (the :attr:`hankel_options`)."""
        return {**{name: getattr(self, name) for name in _ADAPTER_FIELDS}, "hankel": self.hankel_options}
