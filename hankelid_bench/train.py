"""Training and evaluation of one adapted model on one task (single process or DDP).

The optimiser is AdamW over the trainable parameters only, with linear warm-up over the first
`warmup` fraction of the steps and cosine decay to zero, and gradient-norm clipping. Gates (the
HRM gate alpha of each adapter, parameters named `...gate`) form their own parameter group with
their own learning rate `gate_lr` (default: `lr`) and **no weight decay**, as in the HRM paper's
code; `train(..., only="gate")` trains the gates alone (gate-only fine-tuning). The learning-rate
grids `lr_grid` / `gate_lr_grid` are not used here: [`selection`][hankelid_bench.selection]
runs one training per candidate and keeps the best on the validation split. Losses are
the causal-LM cross entropy on the scored positions only (the answer for DFA / parity, every
position after the first for character LM). On CUDA the forward pass runs under bf16 autocast by
default (`precision="auto"`); HRM scans upcast to float32 internally.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .base_model import ByteCodec
from .ddp import Dist, all_reduce_sum
from .metrics import bits_per_char
from .tasks import IGNORE, Task

__all__ = [
    "TrainConfig",
    "adapter_gates",
    "evaluate",
    "is_gate",
    "optimizer_groups",
    "resolve_device",
    "train",
]


@dataclass(frozen=True)
class TrainConfig:
    """Per-cell training budget, identical for every method.

    Examples
    --------
    >>> TrainConfig(steps=10).batch_size
    16
    """

    steps: int = 200
    batch_size: int = 16
    lr: float = 3e-3
    gate_lr: float | None = None
    lr_grid: tuple[float, ...] = ()
    gate_lr_grid: tuple[float, ...] = ()
    val_samples: int = 512
    lr_select: str = "per_run"
    weight_decay: float = 0.0
    warmup: float = 0.1
    grad_clip: float = 1.0
    eval_samples: int = 256
    eval_batch_size: int = 64
    log_every: int = 10
    precision: str = "auto"

    def __post_init__(self) -> None:
        # TOML and JSON give lists; a frozen config keeps tuples (hashable, immutable).
        for name in ("lr_grid", "gate_lr_grid"):
            grid = tuple(float(v) for v in getattr(self, name))
            if any(not (v > 0 and math.isfinite(v)) for v in grid) or len(set(grid)) != len(grid):
                raise ValueError(f"{name} must hold distinct positive finite rates, got {list(grid)}")
            object.__setattr__(self, name, grid)
        if self.gate_lr is not None and not (self.gate_lr > 0 and math.isfinite(self.gate_lr)):
            raise ValueError(f"gate_lr must be positive and finite (or None = lr), got {self.gate_lr}")
        for name in ("batch_size", "eval_samples", "eval_batch_size", "log_every", "val_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.lr_select not in ("per_run", "first_seed"):
            raise ValueError(f"lr_select must be 'per_run' or 'first_seed', got {self.lr_select!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")


def resolve_device(device: str = "auto") -> str:
    """`auto` -> `cuda` if available, else `mps`, else `cpu`; other names are checked.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda[:i] or mps, got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    return device


def _autocast(device: str, precision: str) -> contextlib.AbstractContextManager:
    use_bf16 = precision == "bf16" or (precision == "auto" and device.startswith("cuda"))
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def batch_tensors(batch: Any, codec: ByteCodec, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A task batch as `(input_ids, targets)` tensors on `device` (tokens encoded by `codec`)."""
    ids = torch.from_numpy(codec.encode(batch.tokens)).to(device)
    return ids, torch.from_numpy(codec.encode(batch.targets)).to(device)


def adapter_gates(model: torch.nn.Module) -> list[float]:
    """The gate alpha of every HRM adapter layer (mean if a gate is not scalar); `[]` if none.

    Examples
    --------
    >>> adapter_gates(torch.nn.Linear(2, 2))
    []
    """
    from hankelid_torch import adapter_layers
    from hankelid_torch.bridge import get_adapter

    try:
        layers = adapter_layers(model)
    except (NotImplementedError, TypeError, ValueError):
        return []
    # PEFT layers hold their SSMAdapter per adapter name; get_adapter picks the active one.
    return [float(get_adapter(layer).gate.detach().float().mean()) for _, layer in layers]


def is_gate(name: str) -> bool:
    """Whether a parameter name is an adapter gate (its own learning rate, no weight decay).

    Examples
    --------
    >>> is_gate("base_model.model.model.layers.0.mlp.hrm_ssm.default.gate"), is_gate("lora_A.weight")
    (True, False)
    """
    return name == "gate" or name.endswith(".gate")


def optimizer_groups(
    model: torch.nn.Module, config: TrainConfig, lr: float, gate_lr: float, only: str | None = None
) -> list[dict[str, Any]]:
    """AdamW parameter groups: the method's parameters, and the gates (own rate, no weight decay).

    Parameters
    ----------
    model : torch.nn.Module
    config : TrainConfig
        Its `weight_decay` applies to the non-gate group.
    lr, gate_lr : float
        The two learning rates.
    only : {None, "gate"}
        `"gate"`: the gate group alone.

    Returns
    -------
    list of dict
        `{"params", "lr", "weight_decay"}` per non-empty group, non-gate group first.

    Examples
    --------
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> groups = optimizer_groups(SSMAdapter(4, 2), TrainConfig(weight_decay=0.1), 1e-3, 3e-2)
    >>> [(len(g["params"]), g["lr"], g["weight_decay"]) for g in groups]
    [(4, 0.001, 0.1), (1, 0.03, 0.0)]
    """
    if only not in (None, "gate"):
        raise ValueError(f"only must be None or 'gate', got {only!r}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    gates = [p for n, p in named if is_gate(n)]
    rest = [] if only == "gate" else [p for n, p in named if not is_gate(n)]
    groups = []
    if rest:
        groups.append({"params": rest, "lr": lr, "weight_decay": config.weight_decay})
    if gates:
        groups.append({"params": gates, "lr": gate_lr, "weight_decay": 0.0})
    return groups


def _schedule(step: int, total: int, warmup: float) -> float:
    ramp = max(1, int(warmup * total))
    if step < ramp:
        return (step + 1) / ramp
    return 0.5 * (1.0 + math.cos(math.pi * (step - ramp) / max(1, total - ramp)))


def train(
    model: torch.nn.Module,
    task: Task,
    codec: ByteCodec,
    config: TrainConfig,
    *,
    seed: int = 0,
    steps: int | None = None,
    device: str = "cpu",
    dist: Dist | None = None,
    progress: bool = False,
    desc: str = "train",
    lr: float | None = None,
    gate_lr: float | None = None,
    only: str | None = None,
) -> list[dict[str, Any]]:
    """Train `model` in place; return the logged history.

    Parameters
    ----------
    model : torch.nn.Module
        A causal LM whose trainable parameters are the method's.
    task : Task
    codec : ByteCodec
        Maps task bytes to model token ids.
    config : TrainConfig
    seed : int
        Seeds the training batch stream (different streams per DDP rank).
    steps : int, optional
        Overrides `config.steps` (used for fine-tuning after reduction).
    lr, gate_lr : float, optional
        Override `config.lr` / `config.gate_lr` (learning-rate selection). `gate_lr` defaults
        to `config.gate_lr`, else to the (overridden) `lr`.
    only : {None, "gate"}
        `"gate"`: train only the gate parameters (the others keep `requires_grad` but get no
        updates and no gradients are accumulated for them).

    Returns
    -------
    list of dict
        Every `log_every` steps and at the end: `step`, `loss` and `gates` (HRM gate alphas).

    Examples
    --------
    >>> from hankelid_bench.tasks import ParityTask
    >>> net = torch.nn.Sequential()   # no trainable parameters: nothing to do
    >>> train(net, ParityTask(T=4), ByteCodec.identity(), TrainConfig(steps=3))
    []
    """
    dist = dist or Dist()
    total = config.steps if steps is None else steps
    lr = config.lr if lr is None else float(lr)
    gate_lr = gate_lr if gate_lr is not None else (config.gate_lr if config.gate_lr is not None else lr)
    groups = optimizer_groups(model, config, lr, float(gate_lr), only)
    params = [p for g in groups for p in g["params"]]
    if not params or total == 0:
        return []
    # Gate-only: the other parameters are frozen for the duration (restored even on divergence),
    # so no gradients are computed for them and DDP sees only the gates.
    chosen = {id(p) for p in params}
    frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        return _loop(model, task, codec, config, groups, params, total, seed, device, dist, progress, desc)
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _loop(model, task, codec, config, groups, params, total, seed, device, dist, progress, desc):
    from tqdm.auto import tqdm

    model.train()
    net: torch.nn.Module = model
    if dist.enabled:
        ids = [dist.local_rank] if device.startswith("cuda") else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    opt = torch.optim.AdamW(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, total, config.warmup))
    rng = np.random.default_rng([seed, dist.rank, 0x7A1])
    history: list[dict[str, Any]] = []
    bar = tqdm(range(total), desc=desc, disable=not progress or not dist.is_main, leave=False)
    for step in bar:
        ids, labels = batch_tensors(task.train_batch(rng, config.batch_size), codec, device)
        with _autocast(device, config.precision):
            loss = net(input_ids=ids, labels=labels).loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at step {step + 1} ({desc})")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % config.log_every == 0 or step + 1 == total:
            history.append({"step": step + 1, "loss": loss.item(), "gates": adapter_gates(model)})
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    model.eval()
    return history


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    task: Task,
    codec: ByteCodec,
    *,
    split: str = "test",
    n: int = 256,
    batch_size: int = 64,
    device: str = "cpu",
    precision: str = "auto",
    dist: Dist | None = None,
) -> dict[str, float]:
    """Evaluate on the fixed `split` set of `task`.

    Accuracy takes the argmax over the task's candidate tokens at each scored position; bits per
    character is the mean NLL over scored positions in bits.

    Returns
    -------
    dict
        `value` (the task metric), `nll` (mean NLL per scored token, nats) and `n_scored`;
        for classification tasks also `top_prediction_frac`, the share of the most frequent
        predicted class (1.0 flags a constant predictor).

    Examples
    --------
    >>> from hankelid_bench.base_model import BaseModelSpec, build_model
    >>> from hankelid_bench.tasks import ParityTask
    >>> model = build_model(BaseModelSpec.tiny())
    >>> out = evaluate(model, ParityTask(T=4), ByteCodec.identity(), n=8)
    >>> out["n_scored"], 0.0 <= out["value"] <= 1.0
    (8.0, True)
    """
    dist = dist or Dist()
    was_training = model.training
    model.eval()
    nll = correct = count = 0.0
    votes = None
    for i, batch in enumerate(task.eval_batches(split, n, batch_size)):
        if i % dist.world_size != dist.rank:
            continue
        ids, targets = batch_tensors(batch, codec, device)
        with _autocast(device, precision):
            logits = model(input_ids=ids).logits
        logits, targets = logits[:, :-1].float(), targets[:, 1:]
        mask = targets != IGNORE
        scored, gold = logits[mask], targets[mask]
        nll += float(-torch.log_softmax(scored, dim=-1).gather(1, gold[:, None]).sum())
        if batch.candidates is not None:
            cand = torch.as_tensor(codec.table[list(batch.candidates)], device=scored.device)
            pred = scored[:, cand].argmax(dim=1)
            correct += float((cand[pred] == gold).sum())
            hist = torch.bincount(pred, minlength=len(batch.candidates)).tolist()
            votes = hist if votes is None else [v + h for v, h in zip(votes, hist)]
        count += float(mask.sum())
    nll, correct, count = all_reduce_sum([nll, correct, count], dist, device)
    model.train(was_training)
    value = correct / count if task.metric == "accuracy" else bits_per_char(nll, int(count))
    out = {"value": value, "nll": nll / count, "n_scored": count}
    if task.metric == "accuracy" and dist.enabled and votes is None:
        # A rank without batches still joins the reduction (same length on every rank).
        votes = [0] * len(next(task.eval_batches(split, 1, 1)).candidates)
    if votes is not None:
        votes = all_reduce_sum([float(v) for v in votes], dist, device)
        # 1.0 = a constant predictor (the same class for every test sample): its accuracy is only
        # that class's frequency, whatever the input.
        out["top_prediction_frac"] = max(votes) / count
    return out
