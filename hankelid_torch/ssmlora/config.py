"""`SSMLoRAConfig`: the PEFT configuration of the SSMLoRA baseline, and the `PeftType.SSMLORA` member."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from peft.config import PeftConfig

from .._peft_glue import ensure_peft_type

__all__ = ["ACTIVATIONS", "SSMLORA_PEFT_TYPE", "SSMLORA_PREFIX", "SSMLoRAConfig", "ssmlora_parameter_count"]

#: Parameter-name prefix of the method (``peft_type.value.lower() + "_"``, as transformers derives it).
SSMLORA_PREFIX = "ssmlora_"
SSMLORA_PEFT_TYPE = ensure_peft_type("SSMLORA")

#: The activations applied to the normalized state, by the name ``SSMLoRAConfig.activation`` takes.
ACTIVATIONS = {
    "leaky_relu": F.leaky_relu,
    "relu": F.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


@dataclass
class SSMLoRAConfig(PeftConfig):
    """Configuration of the SSMLoRA baseline (a `peft.PeftConfig`).

    Parameters
    ----------
    r : int
        Rank of the low-rank path and size of the Time Module's state.
    lora_alpha : float
        Output scaling `lora_alpha / r`.
    state_dropout : float
        Dropout on the normalized state before the activation (0.1 in the published code).
    activation : str
        `"leaky_relu"` (published), `"relu"`, `"gelu"`, `"silu"`, `"tanh"`, `"identity"`.
    target_modules : list of str or str, optional
        Modules to adapt; default from PEFT's LoRA mapping (`q_proj`, `v_proj` for Mistral/Llama).
    interval_sparse : bool
        Apply the interval-sparse insertion rule (see `interval_order`).
    interval_order : list of str
        `interval_order[j]` is kept only on layers with `index % len(interval_order) == j`;
        targeted modules not named here are adapted on every layer. Default `["q_proj", "v_proj"]`:
        q on even layers, v on odd layers, as published.
    init_weights : bool or str
        `True`: `W_a ~ N(0, 1/r)` (published), `W_b = W_c = W_d = 0`; `"lora"`: Kaiming-uniform
        `W_a` (as PEFT LoRA), zeros elsewhere; `False`: every matrix random (not a no-op; tests).
    layers_to_transform, layers_pattern, exclude_modules, modules_to_save :
        As in `peft.LoraConfig`.

    Raises
    ------
    ValueError
        For a non-positive `r`, a `state_dropout` outside `[0, 1)`, an unknown `activation` or
        `init_weights`, or inconsistent layer options.

    Examples
    --------
    >>> import peft, transformers
    >>> from hankelid_torch.ssmlora import SSMLoRALinear, ssmlora_parameter_count
    >>> cfg = transformers.MistralConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=4,
    ...     num_attention_heads=2, num_key_value_heads=1, vocab_size=32)
    >>> model = peft.get_peft_model(transformers.MistralForCausalLM(cfg), SSMLoRAConfig(r=2))
    >>> [n.split("layers.")[1] for n, m in model.named_modules() if isinstance(m, SSMLoRALinear)]
    ['0.self_attn.q_proj', '1.self_attn.v_proj', '2.self_attn.q_proj', '3.self_attn.v_proj']
    >>> model.get_nb_trainable_parameters()[0] == 2 * ssmlora_parameter_count(16, 16, 2) + 2 * (
    ...     ssmlora_parameter_count(16, 8, 2))
    True
    """

    r: int = field(default=8, metadata={"help": "rank and state size"})
    lora_alpha: float = field(default=16, metadata={"help": "scaling alpha / r"})
    state_dropout: float = field(default=0.1, metadata={"help": "dropout on the normalized state"})
    activation: str = field(default="leaky_relu", metadata={"help": "activation on the normalized state"})
    target_modules: list[str] | str | None = field(default=None, metadata={"help": "modules to adapt"})
    exclude_modules: list[str] | str | None = field(default=None, metadata={"help": "modules to exclude"})
    interval_sparse: bool = field(default=True, metadata={"help": "interval-sparse insertion"})
    interval_order: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"],
        metadata={"help": "module interval_order[j] goes on layers with index % len == j"},
    )
    init_weights: bool | str = field(default=True, metadata={"help": "True (published), 'lora' or False"})
    layers_to_transform: list[int] | int | None = field(default=None, metadata={"help": "layer indexes"})
    layers_pattern: list[str] | str | None = field(default=None, metadata={"help": "layer module-list name"})
    modules_to_save: list[str] | None = field(default=None, metadata={"help": "extra trainable modules"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = SSMLORA_PEFT_TYPE
        if isinstance(self.target_modules, list):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, list):
            self.exclude_modules = set(self.exclude_modules)
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ValueError(f"r must be a positive integer, got {self.r!r}")
        if not 0.0 <= self.state_dropout < 1.0:
            raise ValueError(f"state_dropout must be in [0, 1), got {self.state_dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.init_weights not in (True, False, "lora"):
            raise ValueError(f"init_weights must be True, False or 'lora', got {self.init_weights!r}")
        self.interval_order = list(self.interval_order)
        if isinstance(self.target_modules, str) and self.layers_to_transform is not None:
            raise ValueError("`layers_to_transform` cannot be used when `target_modules` is a str.")
        if self.layers_pattern and self.layers_to_transform is None:
            raise ValueError(
                "When `layers_pattern` is specified, `layers_to_transform` must also be specified."
            )


def ssmlora_parameter_count(in_features: int, out_features: int, r: int) -> int:
    """Trainable parameters of one SSMLoRA module: `r·(in + out) + 2·r²`."""
    return r * (in_features + out_features) + 2 * r * r
