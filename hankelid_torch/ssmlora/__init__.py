"""SSMLoRA baseline (Yu et al., arXiv:2502.04958, NAACL 2025) as a native PEFT method.

SSMLoRA adds a small linear recurrence (the *Time Module*) inside the low-rank path of LoRA
and inserts it sparsely: `q_proj` on even decoder layers, `v_proj` on odd ones.

For one targeted `nn.Linear` (input x of width `in`, output width `out`, rank r):

```text
x'_t = x_t W_a                                   W_a: in x r   (the LoRA down-projection)
h_t  = h_{t-1} W_c + x'_t W_d + h_{t-1}          W_c, W_d: r x r, h_0 = 0
ĥ_t  = (h_t - min h_t) / (max h_t - min h_t + eps)   min/max over the r state entries
y_t  = base(x_t) + (alpha / r) · (x'_t + act(dropout(ĥ_t))) W_b      W_b: r x out
```

`W_b`, `W_c` and `W_d` start at zero, so a fresh adapter is an exact no-op. Trainable
parameters per targeted module: `r·(in + out) + 2·r²`.

Use it like any PEFT method:

```text
from peft import get_peft_model
from hankelid_torch import SSMLoRAConfig
model = get_peft_model(base, SSMLoRAConfig(r=8, lora_alpha=16))
# default target: q_proj on even layers, v_proj on odd layers (``interval_order``)
```

`save_pretrained` / `PeftModel.from_pretrained` / `disable_adapter` / multiple adapters work
as for LoRA (the PEFT type `"SSMLORA"` and the prefix `"ssmlora_"` are registered on import).
`merge_and_unload` raises: a sequence-mixing adapter has no weight-space equivalent.

What the published code does (github.com/yuhkalhic/SSMLoRA, `src/models/`, `src/main.py`)
---------------------------------------------------------------------------------------------
* The "time" axis is **not** the token axis. Each adapted module keeps a state tensor of shape
  `(12, L, r)` (batch size 12 hard-coded) in a global `TimeAxis` dictionary. At every call the
  module reads the state stored by the *previous call* (the previous training batch or decoding
  step), applies `h ← h W_c + x' W_d + h` position by position, stores the **normalized**
  result **detached** for the next call and uses it for the output. The recurrence therefore
  runs across optimisation steps, never along the sequence, and no gradient flows through it.
  One `TimeAxis` is created in `main.py` and never reset, so the state left by the training
  batches flows on into validation and test batches.
* When the stored state does not fit the current batch, rows are padded with the constant 0.5 or
  randomly subsampled (`randperm`), and positions are zero-padded or randomly subsampled: the
  output depends on the previous batch and on random index draws, also at evaluation time.
* The normalized state is fed back (a nonlinear recurrence); dropout 0.1 is applied to ĥ before a
  leaky-ReLU; the output is scaled by `alpha` (not `alpha / r`); `W_a` is drawn from
  `N(0, 1/r)`; the attention mask reaches the model (`LlamaForSequenceClassification`) but
  not the adapters, so pad tokens enter the state.
* The "query" and "value" layer keys are per layer, but the MLP and output-projection options
  share a single key across all layers (one state for every layer).

What this implementation does
-----------------------------
* The recurrence runs **along the sequence**, from `h_0 = 0` at every forward call, with full
  gradients (backpropagation through the whole recurrence). It is linear and time-invariant,
  `h_t = h_{t-1} M + z_t` with `M = I + W_c` and `z_t = x'_t W_d`, so it is evaluated in
  parallel as a causal matrix convolution `h_t = Σ_{s≤t} z_s M^{t-s}`: the powers `M^k` are
  built by repeated squaring (`log2 L` batched matmuls) and the convolution is done with one
  rfft/irfft pair in float32 (autocast disabled).
  [`time_module_scan`][hankelid_torch.ssmlora.layer.time_module_scan] exposes both this parallel form and the
  sequential reference loop; they agree to fp32 rounding.
* Min–max normalization is applied to the read-out only (the state itself stays linear), per
  token over the r state entries, with `eps = 1e-8` as published.
* Padded positions never enter the state: the raw 2-D `attention_mask` passed to the model's
  `forward` is captured by a forward pre-hook and multiplies `z`. With a zero state and zero
  input the state stays zero through left padding, and causality makes right padding harmless, so
  left- and right-padded batches match unpadded runs on real tokens.
* `alpha / r` scaling (the PEFT convention; to reproduce the published `alpha` scaling pass
  `lora_alpha = alpha_published · r`); `init_weights=True` draws `W_a` from `N(0, 1/r)` as
  published, `init_weights="lora"` uses PEFT-LoRA's Kaiming-uniform init instead.
* Interval-sparse insertion generalizes the published rule: a targeted module whose name is
  `interval_order[j]` is kept only on decoder layers with `index % len(interval_order) == j`.

Limits
------
* No recurrent state is carried between forward calls. In cached generation (`use_cache=True`)
  each decoding step restarts the time module from zero (a warning is emitted once); generate
  with `use_cache=False` for outputs consistent with training.
* `M = I + W_c` is unconstrained: if training pushes its spectral radius above 1 the state
  grows geometrically along the sequence (the read-out normalization is scale-invariant, but very
  long sequences can overflow float32). The FFT convolution's error is relative to the largest
  state entry, so tiny entries next to huge ones lose relative precision.
* Only `torch.nn.Linear` targets are supported; padding in the middle of a sequence still
  applies `M` at the padded steps.
"""

from __future__ import annotations

from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.utils import register_peft_method

from .config import ACTIVATIONS, SSMLORA_PEFT_TYPE, SSMLORA_PREFIX, SSMLoRAConfig, ssmlora_parameter_count
from .layer import SSMLoRALayer, SSMLoRALinear, time_module_scan
from .model import SSMLoRAModel

__all__ = [
    "ACTIVATIONS",
    "SSMLORA_PEFT_TYPE",
    "SSMLORA_PREFIX",
    "SSMLoRAConfig",
    "SSMLoRALayer",
    "SSMLoRALinear",
    "SSMLoRAModel",
    "ssmlora_parameter_count",
    "time_module_scan",
]

if SSMLORA_PEFT_TYPE not in PEFT_TYPE_TO_TUNER_MAPPING:  # idempotent under importlib.reload
    register_peft_method(
        name=SSMLORA_PEFT_TYPE.lower(),
        config_cls=SSMLoRAConfig,
        model_cls=SSMLoRAModel,
        prefix=SSMLORA_PREFIX,
    )
