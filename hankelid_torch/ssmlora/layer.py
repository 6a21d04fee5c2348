"""`SSMLoRALinear`: an `nn.Linear` with SSMLoRA adapters, and the Time Module recurrence they run."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from .._peft_glue import chunk_mask
from ..scan import fft_size, no_autocast, sequential_scan, ssm_kernel
from .config import ACTIVATIONS, SSMLoRAConfig

__all__ = ["SSMLoRALayer", "SSMLoRALinear", "SSMLoRAMask", "time_module_scan"]

_EPS = 1e-8


def time_module_scan(
    z: torch.Tensor,
    transition: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    method: str = "fft",
) -> torch.Tensor:
    """States of `h_t = h_{t-1} @ transition + z_t` (`h_0 = 0`) for every `t`.

    Parameters
    ----------
    z : Tensor, shape (B, L, r)
        Input to the state at each position (row-vector convention).
    transition : Tensor, shape (r, r)
        The state transition `M` (`I + W_c` for SSMLoRA), right-multiplied.
    mask : Tensor of shape (B, L), optional
        1 for real tokens, 0 for padding; padded positions contribute no input.
    method : {"fft", "sequential"}
        `"fft"`: parallel form `h_t = Σ_{s≤t} z_s M^{t-s}`, powers by repeated squaring
        ([`hankelid_torch.scan.ssm_kernel`][hankelid_torch.scan.ssm_kernel], dense `A`) and
        one causal rfft/irfft matrix convolution (float32, autocast off). `"sequential"`: the
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
    with no_autocast(z.device):
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


class SSMLoRAMask:
    """Shared between the tuner and its layers: the real-token mask of the model's current forward
    (captured by the tuner's forward pre-hook, see `hankelid_torch._peft_glue`)."""

    def __init__(self) -> None:
        self.mask: torch.Tensor | None = None
        self.warned_cache = False


class SSMLoRALayer(BaseTunerLayer):
    """SSMLoRA adapter state of one wrapped `nn.Linear`: `W_a` (in x r), `W_b` (r x out),
    `W_c`, `W_d` (r x r) per adapter name in `ssmlora_A/B/C/D` (PEFT's ParameterDict layout,
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
        self._mask_context: SSMLoRAMask | None = kwargs.get("mask_context")
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
        with no_autocast(xa.device):
            xa32 = xa.float()
            z = xa32 @ D.float()
            M = torch.eye(C.shape[0], dtype=torch.float32, device=C.device) + C.float()
            h = time_module_scan(z, M, mask=mask, method="fft")
            h = _minmax(h)
            h = F.dropout(h, p=self.ssmlora_dropout_p[adapter], training=self.training)
            h = ACTIVATIONS[self.ssmlora_activation[adapter]](h)
            out = ((xa32 + h) @ B.float()) * self.scaling[adapter]
        return out.reshape(*shape[:-1], out.shape[-1])

    def _current_mask(self, batch: int, length: int, device: torch.device) -> torch.Tensor | None:
        ctx = self._mask_context
        return None if ctx is None else chunk_mask(ctx.mask, batch, length, device)


class SSMLoRALinear(nn.Module, SSMLoRALayer):
    """An `nn.Linear` with one or more SSMLoRA adapters."""

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
