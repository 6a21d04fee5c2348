"""SSMLoRA baseline (Yu et al., arXiv:2502.04958, NAACL 2025) as a native PEFT method.

SSMLoRA adds a small linear recurrence (the *Time Module*) inside the low-rank path of LoRA
and inserts it sparsely: ``q_proj`` on even decoder layers, ``v_proj`` on odd ones.

For one targeted ``nn.Linear`` (input x of width ``in``, output width ``out``, rank r)::

    x'_t = x_t W_a                                   W_a: in x r   (the LoRA down-projection)
    h_t  = h_{t-1} W_c + x'_t W_d + h_{t-1}          W_c, W_d: r x r, h_0 = 0
    ĥ_t  = (h_t - min h_t) / (max h_t - min h_t + eps)   min/max over the r state entries
    y_t  = base(x_t) + (alpha / r) · (x'_t + act(dropout(ĥ_t))) W_b      W_b: r x out

``W_b``, ``W_c`` and ``W_d`` start at zero, so a fresh adapter is an exact no-op. Trainable
parameters per targeted module: ``r·(in + out) + 2·r²``.

Use it like any PEFT method::

    from peft import get_peft_model
    from hankelid_torch import SSMLoRAConfig
    model = get_peft_model(base, SSMLoRAConfig(r=8, lora_alpha=16))
    # default target: q_proj on even layers, v_proj on odd layers (``interval_order``)

``save_pretrained`` / ``PeftModel.from_pretrained`` / ``disable_adapter`` / multiple adapters work
as for LoRA (the PEFT type ``"SSMLORA"`` and the prefix ``"ssmlora_"`` are registered on import).
``merge_and_unload`` raises: a sequence-mixing adapter has no weight-space equivalent.

What the published code does (github.com/yuhkalhic/SSMLoRA, ``src/models/``, ``src/main.py``)
---------------------------------------------------------------------------------------------
* The "time" axis is **not** the token axis. Each adapted module keeps a state tensor of shape
  ``(12, L, r)`` (batch size 12 hard-coded) in a global ``TimeAxis`` dictionary. At every call the
  module reads the state stored by the *previous call* (the previous training batch or decoding
  step), applies ``h ← h W_c + x' W_d + h`` position by position, stores the **normalized**
  result **detached** for the next call and uses it for the output. The recurrence therefore
  runs across optimisation steps, never along the sequence, and no gradient flows through it.
  One ``TimeAxis`` is created in ``main.py`` and never reset, so the state left by the training
  batches flows on into validation and test batches.
* When the stored state does not fit the current batch, rows are padded with the constant 0.5 or
  randomly subsampled (``randperm``), and positions are zero-padded or randomly subsampled: the
  output depends on the previous batch and on random index draws, also at evaluation time.
* The normalized state is fed back (a nonlinear recurrence); dropout 0.1 is applied to ĥ before a
  leaky-ReLU; the output is scaled by ``alpha`` (not ``alpha / r``); ``W_a`` is drawn from
  ``N(0, 1/r)``; the attention mask reaches the model (``LlamaForSequenceClassification``) but
  not the adapters, so pad tokens enter the state.
* The "query" and "value" layer keys are per layer, but the MLP and output-projection options
  share a single key across all layers (one state for every layer).

What this implementation does
-----------------------------
* The recurrence runs **along the sequence**, from ``h_0 = 0`` at every forward call, with full
  gradients (backpropagation through the whole recurrence). It is linear and time-invariant,
  ``h_t = h_{t-1} M + z_t`` with ``M = I + W_c`` and ``z_t = x'_t W_d``, so it is evaluated in
  parallel as a causal matrix convolution ``h_t = Σ_{s≤t} z_s M^{t-s}``: the powers ``M^k`` are
  built by repeated squaring (``log2 L`` batched matmuls) and the convolution is done with one
  rfft/irfft pair in float32 (autocast disabled). :func:`time_module_scan` exposes both this
  parallel form and the sequential reference loop; they agree to fp32 rounding.
* Min–max normalization is applied to the read-out only (the state itself stays linear), per
  token over the r state entries, with ``eps = 1e-8`` as published.
* Padded positions never enter the state: the raw 2-D ``attention_mask`` passed to the model's
  ``forward`` is captured by a forward pre-hook and multiplies ``z``. With a zero state and zero
  input the state stays zero through left padding, and causality makes right padding harmless, so
  left- and right-padded batches match unpadded runs on real tokens.
* ``alpha / r`` scaling (the PEFT convention; to reproduce the published ``alpha`` scaling pass
  ``lora_alpha = alpha_published · r``); ``init_weights=True`` draws ``W_a`` from ``N(0, 1/r)`` as
  published, ``init_weights="lora"`` uses PEFT-LoRA's Kaiming-uniform init instead.
* Interval-sparse insertion generalizes the published rule: a targeted module whose name is
  ``interval_order[j]`` is kept only on decoder layers with ``index % len(interval_order) == j``.

Limits
------
* No recurrent state is carried between forward calls. In cached generation (``use_cache=True``)
  each decoding step restarts the time module from zero (a warning is emitted once); generate
  with ``use_cache=False`` for outputs consistent with training.
* ``M = I + W_c`` is unconstrained: if training pushes its spectral radius above 1 the state
  grows geometrically along the sequence (the read-out normalization is scale-invariant, but very
  long sequences can overflow float32). The FFT convolution's error is relative to the largest
  state entry, so tiny entries next to huge ones lose relative precision.
* Only ``torch.nn.Linear`` targets are supported; padding in the middle of a sequence still
  applies ``M`` at the padded steps.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from peft.config import PeftConfig
from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer, check_target_module_exists
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING, register_peft_method
from torch import nn

from .hrm.context import CACHE_ARGUMENTS
from .peft_method import ensure_peft_type
from .scan import fft_size, sequential_scan, ssm_kernel

__all__ = [
    "SSMLoRAConfig",
    "SSMLoRALayer",
    "SSMLoRALinear",
    "SSMLoRAModel",
    "ssmlora_parameter_count",
    "time_module_scan",
]

_PEFT_NAME = "SSMLORA"
_PREFIX = "ssmlora_"
_EPS = 1e-8


SSMLORA = ensure_peft_type(_PEFT_NAME)


# --------------------------------------------------------------------------------------------
# The Time Module recurrence
# --------------------------------------------------------------------------------------------


def time_module_scan(
    z: torch.Tensor,
    transition: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    method: str = "fft",
) -> torch.Tensor:
    """States of ``h_t = h_{t-1} @ transition + z_t`` (``h_0 = 0``) for every ``t``.

    Parameters
    ----------
    z : Tensor, shape (B, L, r)
        Input to the state at each position (row-vector convention).
    transition : Tensor, shape (r, r)
        The state transition ``M`` (``I + W_c`` for SSMLoRA), right-multiplied.
    mask : Tensor of shape (B, L), optional
        1 for real tokens, 0 for padding; padded positions contribute no input.
    method : {"fft", "sequential"}
        ``"fft"``: parallel form ``h_t = Σ_{s≤t} z_s M^{t-s}``, powers by repeated squaring
        (:func:`hankelid_torch.scan.ssm_kernel`, dense ``A``) and
        one causal rfft/irfft matrix convolution (float32, autocast off). ``"sequential"``: the
        reference Python loop over time.

    Returns
    -------
    Tensor, shape (B, L, r), dtype float32 (float64 if the inputs are float64).

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(2, 9, 3, dtype=torch.float64)
    >>> M = torch.eye(3, dtype=torch.float64) + 0.1 * torch.randn(3, 3, dtype=torch.float64)
    >>> a = time_module_scan(z, M, method="fft")
    >>> b = time_module_scan(z, M, method="sequential")
    >>> bool(torch.allclose(a, b))
    True
    """
    if z.dim() != 3 or transition.shape != (z.shape[-1], z.shape[-1]):
        raise ValueError(
            f"expected z (B, L, r) and transition (r, r), got {tuple(z.shape)}, {tuple(transition.shape)}"
        )
    dtype = (
        torch.float64 if (z.dtype == torch.float64 or transition.dtype == torch.float64) else torch.float32
    )
    device_type = z.device.type if z.device.type in ("cuda", "cpu", "xpu", "mps") else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):
        z = z.to(dtype)
        M = transition.to(dtype)
        if mask is not None:
            z = z * mask.to(dtype).unsqueeze(-1)
        B, L, r = z.shape
        if method not in ("fft", "sequential"):
            raise ValueError(f"method must be 'fft' or 'sequential', got {method!r}")
        if L == 0:
            return z.new_zeros(B, 0, r)
        eye = torch.eye(r, dtype=dtype, device=z.device)
        if method == "sequential":  # reference: a Python loop over time (column form, A = M^T)
            return sequential_scan(M.transpose(0, 1), eye, eye, z)[0]
        if L == 1:
            return z.clone()
        # column form h_t^T = Σ (M^T)^(t-s) z_s^T: the dense-A kernel with B = C = I is (M^T)^k,
        # built by repeated squaring (log2 L batched matmuls)
        powers = ssm_kernel(M.transpose(0, 1), eye, eye, L)  # (L, r, r): powers[k] = (M^T)^k
        n = fft_size(L)
        zf = torch.fft.rfft(z, n=n, dim=1)  # (B, F, r)
        pf = torch.fft.rfft(powers, n=n, dim=0)  # (F, r, r)
        hf = torch.einsum("bfi,fji->bfj", zf, pf)
        return torch.fft.irfft(hf, n=n, dim=1)[:, :L]


def _minmax(h: torch.Tensor) -> torch.Tensor:
    lo = h.amin(dim=-1, keepdim=True)
    hi = h.amax(dim=-1, keepdim=True)
    return (h - lo) / (hi - lo + _EPS)


_ACTIVATIONS = {
    "leaky_relu": F.leaky_relu,
    "relu": F.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------


@dataclass
class SSMLoRAConfig(PeftConfig):
    """Configuration of the SSMLoRA baseline (a :class:`peft.PeftConfig`).

    Parameters
    ----------
    r : int
        Rank of the low-rank path and size of the Time Module's state.
    lora_alpha : float
        Output scaling ``lora_alpha / r``.
    state_dropout : float
        Dropout on the normalized state before the activation (0.1 in the published code).
    activation : str
        ``"leaky_relu"`` (published), ``"relu"``, ``"gelu"``, ``"silu"``, ``"tanh"``, ``"identity"``.
    target_modules : list of str or str, optional
        Modules to adapt; default from PEFT's LoRA mapping (``q_proj``, ``v_proj`` for Mistral/Llama).
    interval_sparse : bool
        Apply the interval-sparse insertion rule (see ``interval_order``).
    interval_order : list of str
        ``interval_order[j]`` is kept only on layers with ``index % len(interval_order) == j``;
        targeted modules not named here are adapted on every layer. Default ``["q_proj", "v_proj"]``:
        q on even layers, v on odd layers, as published.
    init_weights : bool or str
        ``True``: ``W_a ~ N(0, 1/r)`` (published), ``W_b = W_c = W_d = 0``; ``"lora"``: Kaiming-uniform
        ``W_a`` (as PEFT LoRA), zeros elsewhere; ``False``: every matrix random (not a no-op; tests).
    layers_to_transform, layers_pattern, exclude_modules, modules_to_save :
        As in :class:`peft.LoraConfig`.

    Raises
    ------
    ValueError
        For a non-positive ``r``, a ``state_dropout`` outside ``[0, 1)``, an unknown ``activation`` or
        ``init_weights``, or inconsistent layer options.

    Examples
    --------
    >>> import peft, transformers
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
        self.peft_type = SSMLORA
        if isinstance(self.target_modules, list):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, list):
            self.exclude_modules = set(self.exclude_modules)
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ValueError(f"r must be a positive integer, got {self.r!r}")
        if not 0.0 <= self.state_dropout < 1.0:
            raise ValueError(f"state_dropout must be in [0, 1), got {self.state_dropout}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
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
    """Trainable parameters of one SSMLoRA module: ``r·(in + out) + 2·r²``."""
    return r * (in_features + out_features) + 2 * r * r


# --------------------------------------------------------------------------------------------
# Layer
# --------------------------------------------------------------------------------------------


class _MaskContext:
    """Shared between the tuner and its layers: the last raw 2-D attention mask given to the model."""

    def __init__(self) -> None:
        self.mask: torch.Tensor | None = None
        self.warned_cache = False


class SSMLoRALayer(BaseTunerLayer):
    """SSMLoRA adapter state of one wrapped ``nn.Linear``: ``W_a`` (in x r), ``W_b`` (r x out),
    ``W_c``, ``W_d`` (r x r) per adapter name in ``ssmlora_A/B/C/D`` (PEFT's ParameterDict layout,
    so save/load, disable, multiple adapters and deletion come from PEFT)."""

    adapter_layer_names = ("ssmlora_A", "ssmlora_B", "ssmlora_C", "ssmlora_D")
    other_param_names = ("r", "scaling", "ssmlora_dropout_p", "ssmlora_activation")

    def __init__(self, base_layer: nn.Module, **kwargs: Any) -> None:
        self.base_layer = base_layer
        self.r: dict[str, int] = {}
        self.scaling: dict[str, float] = {}
        self.ssmlora_dropout_p: dict[str, float] = {}
        self.ssmlora_activation: dict[str, str] = {}
        self.ssmlora_A = nn.ParameterDict({})
        self.ssmlora_B = nn.ParameterDict({})
        self.ssmlora_C = nn.ParameterDict({})
        self.ssmlora_D = nn.ParameterDict({})
        self._disable_adapters = False
        self.merged_adapters = []
        self.kwargs = kwargs
        self._mask_context: _MaskContext | None = kwargs.get("mask_context")
        base = self.get_base_layer()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"SSMLoRA supports torch.nn.Linear targets only, got {type(base).__name__}")
        self.in_features, self.out_features = base.in_features, base.out_features

    def update_layer(self, adapter_name: str, config: SSMLoRAConfig, **kwargs: Any) -> None:
        r = int(config.r)
        self.r[adapter_name] = r
        self.scaling[adapter_name] = config.lora_alpha / r
        self.ssmlora_dropout_p[adapter_name] = float(config.state_dropout)
        self.ssmlora_activation[adapter_name] = config.activation
        self.ssmlora_A[adapter_name] = nn.Parameter(torch.empty(self.in_features, r))
        self.ssmlora_B[adapter_name] = nn.Parameter(torch.empty(r, self.out_features))
        self.ssmlora_C[adapter_name] = nn.Parameter(torch.empty(r, r))
        self.ssmlora_D[adapter_name] = nn.Parameter(torch.empty(r, r))
        self.reset_parameters(adapter_name, config.init_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    @torch.no_grad()
    def reset_parameters(self, adapter_name: str, init_weights: bool | str = True) -> None:
        if adapter_name not in self.ssmlora_A:
            return
        r = self.r[adapter_name]
        A, B, C, D = (
            p[adapter_name] for p in (self.ssmlora_A, self.ssmlora_B, self.ssmlora_C, self.ssmlora_D)
        )
        if A.device.type == "meta":
            return
        if init_weights == "lora":
            bound = 1.0 / math.sqrt(self.in_features)  # kaiming_uniform_(a=sqrt(5)) on an (r, in) weight
            nn.init.uniform_(A, -bound, bound)
        else:
            nn.init.normal_(A, std=1.0 / math.sqrt(r))
        if init_weights is False:
            nn.init.normal_(B, std=1.0 / math.sqrt(r))
            nn.init.normal_(C, std=0.1 / math.sqrt(r))
            nn.init.normal_(D, std=1.0 / math.sqrt(r))
        else:
            for p in (B, C, D):
                nn.init.zeros_(p)

    # The time module on an input x of shape (..., L, in): returns the additive output, float32.
    def _adapter_delta(self, x: torch.Tensor, adapter: str) -> torch.Tensor:
        A = self.ssmlora_A[adapter]
        B = self.ssmlora_B[adapter]
        C = self.ssmlora_C[adapter]
        D = self.ssmlora_D[adapter]
        shape = x.shape
        x3 = x.reshape(-1, shape[-2], shape[-1]) if x.dim() >= 2 else x.reshape(1, 1, -1)
        xa = self._cast_input_dtype(x3, A.dtype) @ A  # (B, L, r)
        mask = self._current_mask(xa.shape[0], xa.shape[1], xa.device)
        device_type = xa.device.type if xa.device.type in ("cuda", "cpu", "xpu", "mps") else "cpu"
        with torch.autocast(device_type=device_type, enabled=False):
            xa32 = xa.float()
            z = xa32 @ D.float()
            M = torch.eye(C.shape[0], dtype=torch.float32, device=C.device) + C.float()
            h = time_module_scan(z, M, mask=mask, method="fft")
            h = _minmax(h)
            h = F.dropout(h, p=self.ssmlora_dropout_p[adapter], training=self.training)
            h = _ACTIVATIONS[self.ssmlora_activation[adapter]](h)
            out = ((xa32 + h) @ B.float()) * self.scaling[adapter]
        return out.reshape(*shape[:-1], out.shape[-1])

    def _current_mask(self, batch: int, length: int, device: torch.device) -> torch.Tensor | None:
        ctx = self._mask_context
        mask = None if ctx is None else ctx.mask
        if mask is None or mask.dim() != 2 or mask.shape[0] != batch or mask.shape[1] < length:
            return None
        return mask[:, mask.shape[1] - length :].to(device)


class SSMLoRALinear(nn.Module, SSMLoRALayer):
    """An ``nn.Linear`` with one or more SSMLoRA adapters."""

    def __init__(
        self, base_layer: nn.Module, adapter_name: str, config: SSMLoRAConfig, **kwargs: Any
    ) -> None:
        super().__init__()
        SSMLoRALayer.__init__(self, base_layer, **kwargs)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise ValueError(
            "SSMLoRA adapters cannot be merged: the Time Module mixes information along the sequence, "
            "so it has no equivalent weight update."
        )

    def unmerge(self) -> None:
        return None

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        result = self.base_layer(x, *args, **kwargs)
        if self.disable_adapters:
            return result
        delta = None
        for adapter in self.active_adapters:
            if adapter not in self.ssmlora_A:
                continue
            d = self._adapter_delta(x, adapter)
            delta = d if delta is None else delta + d
        return result if delta is None else result + delta.to(result.dtype)

    def __repr__(self) -> str:
        return "ssmlora." + super().__repr__()


# --------------------------------------------------------------------------------------------
# Tuner
# --------------------------------------------------------------------------------------------

_LAYER_INDEX = re.compile(r".*?\.[^.]*\.(?P<idx>\d+)\.")


def _layer_index(key: str, layers_pattern: list[str] | str | None) -> int | None:
    match = None
    if layers_pattern:
        for pattern in [layers_pattern] if isinstance(layers_pattern, str) else layers_pattern:
            match = re.match(rf"(?:^|.*?\.){pattern}\.(?P<idx>\d+)\.", key)
            if match is not None:
                break
    else:
        match = _LAYER_INDEX.match(key)
    return None if match is None else int(match.group("idx"))


class SSMLoRAModel(BaseTuner):
    """The PEFT tuner for :class:`SSMLoRAConfig` (created by ``peft.get_peft_model``)."""

    prefix: str = _PREFIX
    tuner_layer_cls = SSMLoRALayer
    target_module_mapping = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    def __init__(self, model, peft_config, adapter_name, low_cpu_mem_usage: bool = False, **kwargs) -> None:
        super().__init__(model, peft_config, adapter_name, low_cpu_mem_usage=low_cpu_mem_usage, **kwargs)
        self._hook_handle = self.model.register_forward_pre_hook(self._capture_mask, with_kwargs=True)

    @property
    def _ctx(self) -> _MaskContext:
        ctx = self.__dict__.get("_ssmlora_mask_context")
        if ctx is None:
            ctx = _MaskContext()
            self.__dict__["_ssmlora_mask_context"] = ctx
        return ctx

    def _capture_mask(self, module, args, kwargs):
        ctx = self._ctx
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1 and isinstance(args[1], torch.Tensor):
            mask = args[1]
        ctx.mask = mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None
        past = next((kwargs[k] for k in CACHE_ARGUMENTS if kwargs.get(k) is not None), None)
        if past is not None and not ctx.warned_cache:
            get_len = getattr(past, "get_seq_length", None)
            if get_len is not None and get_len() > 0:
                ctx.warned_cache = True
                warnings.warn(
                    "SSMLoRA restarts its Time Module from a zero state at every forward call; cached "
                    "decoding steps do not see earlier tokens through it (generate with use_cache=False "
                    "for outputs consistent with training).",
                    stacklevel=2,
                )
        return None

    @staticmethod
    def _check_target_module_exists(peft_config: SSMLoRAConfig, key: str):
        found = check_target_module_exists(peft_config, key)
        if not found or not getattr(peft_config, "interval_sparse", False):
            return found  # also PEFT's (falsy) excluded-module marker
        order = list(peft_config.interval_order or [])
        name = key.rsplit(".", 1)[-1]
        if name not in order:
            return found
        idx = _layer_index(key, peft_config.layers_pattern)
        if idx is None:
            return found
        return found if idx % len(order) == order.index(name) else False

    def _create_and_replace(
        self, peft_config, adapter_name, target, target_name, parent, current_key, **optional_kwargs
    ) -> None:
        if isinstance(target, SSMLoRALayer):
            target.update_layer(adapter_name, peft_config)
            return
        new_module = SSMLoRALinear(target, adapter_name, peft_config, mask_context=self._ctx)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def _check_merge_allowed(self):
        raise ValueError(
            "SSMLoRA adapters cannot be merged into the base weights (the Time Module mixes the sequence); "
            "use unload() to remove them."
        )


register_peft_method(
    name=_PEFT_NAME.lower(), config_cls=SSMLoRAConfig, model_cls=SSMLoRAModel, prefix=_PREFIX
)
