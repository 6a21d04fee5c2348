"""Training and evaluation of one adapted model on one task (single process or DDP).

The optimiser is AdamW over the trainable parameters only, with linear warm-up over the first
``warmup`` fraction of the steps and cosine decay to zero, and gradient-norm clipping. Losses are
the causal-LM cross entropy on the scored positions only (the answer for DFA / parity, every
position after the first for character LM). On CUDA the forward pass runs under bf16 autocast by
default (``precision="auto"``); HRM scans upcast to float32 internally.
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

__all__ = ["TrainConfig", "adapter_gates", "evaluate", "resolve_device", "train"]


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
    weight_decay: float = 0.0
    warmup: float = 0.1
    grad_clip: float = 1.0
    eval_samples: int = 256
    eval_batch_size: int = 64
    log_every: int = 10
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_samples", "eval_batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``; other names are checked.

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
    """A task batch as ``(input_ids, targets)`` tensors on ``device`` (tokens encoded by ``codec``)."""
    ids = torch.from_numpy(codec.encode(batch.tokens)).to(device)
    return ids, torch.from_numpy(codec.encode(batch.targets)).to(device)


def adapter_gates(model: torch.nn.Module) -> list[float]:
    """The gate alpha of every HRM adapter layer (mean if a gate is not scalar); ``[]`` if none.

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
) -> list[dict[str, Any]]:
    """Train ``model`` in place; return the logged history.

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
        Overrides ``config.steps`` (used for fine-tuning after reduction).

    Returns
    -------
    list of dict
        Every ``log_every`` steps and at the end: ``step``, ``loss`` and ``gates`` (HRM gate alphas).

    Examples
    --------
    >>> from hankelid_bench.tasks import ParityTask
    >>> net = torch.nn.Sequential()   # no trainable parameters: nothing to do
    >>> train(net, ParityTask(T=4), ByteCodec.identity(), TrainConfig(steps=3))
    []
    """
    from tqdm.auto import tqdm

    dist = dist or Dist()
    total = config.steps if steps is None else steps
    params = [p for p in model.parameters() if p.requires_grad]
    if not params or total == 0:
        return []
    model.train()
    net: torch.nn.Module = model
    if dist.enabled:
        ids = [dist.local_rank] if device.startswith("cuda") else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
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
    """Evaluate on the fixed ``split`` set of ``task``.

    Accuracy takes the argmax over the task's candidate tokens at each scored position; bits per
    character is the mean NLL over scored positions in bits.

    Returns
    -------
    dict
        ``value`` (the task metric), ``nll`` (mean NLL per scored token, nats) and ``n_scored``.

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
            correct += float((cand[scored[:, cand].argmax(dim=1)] == gold).sum())
        count += float(mask.sum())
    nll, correct, count = all_reduce_sum([nll, correct, count], dist, device)
    model.train(was_training)
    value = correct / count if task.metric == "accuracy" else bits_per_char(nll, int(count))
    return {"value": value, "nll": nll / count, "n_scored": count}
