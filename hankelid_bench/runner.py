"""Run a grid of (task, method, seed) cells, resumably, writing one JSON line per finished cell.

Output directory layout::

    results.jsonl   one record per finished cell (schema below); cells already present are skipped
    config.json     the ExperimentConfig and the command line of the latest invocation

Record fields (``schema`` 1): ``task``, ``family``, ``task_params``, ``T``, ``metric``,
``higher_is_better``, ``method``, ``method_name``, ``method_options``, ``seed``, ``protocol``,
``base``, ``trainable_params``, ``reference_params``, ``param_gap``, ``adapter_config``, ``steps``,
``batch_size`` (global), ``value`` (test metric after training), ``value_before`` (before training),
``nll``, ``history`` (step, loss, gates), ``analysis`` (per-layer HRM analysis or ``[]``),
``reduced`` (two-phase results or null), ``diverged`` (null, or why training stopped: then
``value`` is null), ``wall_s``, ``device``, ``world_size``.
Non-finite floats are written as null.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .analysis import analyze_adapters
from .base_model import ByteCodec, build_model, load_base_model
from .config import ExperimentConfig, parse_spec
from .ddp import Dist, init_distributed
from .methods import apply_method, count_trainable
from .tasks import make_task
from .train import batch_tensors, evaluate, resolve_device, train

__all__ = ["RESULTS_FILE", "SCHEMA", "cell_key", "read_records", "run_experiment"]

RESULTS_FILE = "results.jsonl"
SCHEMA = 1


def cell_key(record: dict[str, Any]) -> tuple[str, str, int, str]:
    """The identity of a cell: (task label, method spec, seed, protocol)."""
    return record["task"], record["method"], int(record["seed"]), record["protocol"]


def _task(spec: str):
    name, params = parse_spec(spec)
    return make_task(name, **params)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """All records in ``out_dir/results.jsonl`` (``[]`` if absent); a torn last line is ignored.

    Examples
    --------
    >>> read_records("/nonexistent-dir")
    []
    """
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            # A run killed mid-write leaves a partial last line; that cell simply reruns.
            continue
    return records


def _append(out_dir: Path, record: dict[str, Any]) -> None:
    path = out_dir / RESULTS_FILE
    # A run killed mid-write leaves a torn last line: start on a fresh line so it stays isolated.
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with path.open("a") as fh:
        fh.write(("\n" if torn else "") + json.dumps(_clean(record), allow_nan=False) + "\n")


def _test_eval_options(cfg: Any, device: Any, dist: Any) -> dict[str, Any]:
    """The keyword arguments of every test-set evaluation of one experiment."""
    return dict(
        split="test",
        n=cfg.train.eval_samples,
        batch_size=cfg.train.eval_batch_size,
        device=device,
        precision=cfg.train.precision,
        dist=dist,
    )


def _two_phase(model, task, codec, cfg, options, *, seed, device, dist, progress) -> dict[str, Any]:
    from hankelid_torch import reduce_adapters

    order = int(options["reduce_to"])
    reduce_adapters(model, order=order, gramians=options.get("reduce_gramians", "exact"))
    ev = _test_eval_options(cfg, device, dist)
    out: dict[str, Any] = {
        "order": order,
        "trainable_params": count_trainable(model),
        "value": evaluate(model, task, codec, **ev)["value"],
    }
    steps = int(options.get("finetune_steps", 0))
    if steps:
        train(
            model,
            task,
            codec,
            cfg.train,
            seed=seed + 1000,
            steps=steps,
            device=device,
            dist=dist,
            progress=progress,
            desc="fine-tune reduced",
        )
        out["finetune_steps"] = steps
        out["finetuned_value"] = evaluate(model, task, codec, **ev)["value"]
    out["analysis"] = analyze_adapters(model)
    return out


def _task_data_init(model, task, codec, options: dict[str, Any], *, seed: int, device: str) -> None:
    """``hankel_inputs=task``: redo the Hankel init with the data Gramian of training sequences."""
    from hankelid_torch import hankel_init_from_data

    if options["hankel_inputs"] != "task":
        raise ValueError(
            f"hankel_inputs must be 'task' (Gaussian inputs are the default), "
            f"got {options['hankel_inputs']!r}"
        )
    if options.get("init") != "hankel":
        raise ValueError("hankel_inputs=task needs an HRM method with init=hankel")
    n = int(options.get("hankel_samples", 64))
    # Its own stream: the training batches (drawn from `seed`) are the same as without it.
    batch = task.train_batch(np.random.default_rng([seed, 2]), n)
    ids, _ = batch_tensors(batch, codec, device)
    hankel_init_from_data(model, [ids], max_sequences=n)


def _run_cell(cfg, base, codec, base_name, spec, *, device, dist, progress, log) -> dict[str, Any]:
    task_spec, method_spec, seed = spec
    task = _task(task_spec)
    name, options = parse_spec(method_spec)
    scratch = cfg.protocol == "scratch"
    if scratch:
        # The paper's synthetic protocol: a fresh model per seed, every parameter trainable.
        base = build_model(dataclasses.replace(cfg.base, seed=seed))
    model, info = apply_method(
        base, name, options, reference_rank=cfg.reference_rank, seed=seed, all_trainable=scratch
    )
    model.to(device)
    if "hankel_inputs" in options:
        _task_data_init(model, task, codec, options, seed=seed, device=device)
    log(
        f"{task.label:<22} {method_spec:<24} seed {seed}: {info['trainable_params']:,} trainable "
        f"(reference {info['reference_params']:,}, gap {info['param_gap']:+.2%})"
    )
    ev = _test_eval_options(cfg, device, dist)
    start = time.perf_counter()
    before = evaluate(model, task, codec, **ev)
    diverged = None
    try:
        history = train(
            model,
            task,
            codec,
            cfg.train,
            seed=seed,
            device=device,
            dist=dist,
            progress=progress,
            desc=f"{task.label} {method_spec} s{seed}",
        )
        after = evaluate(model, task, codec, **ev)
    except FloatingPointError as exc:
        # A diverged run is a result (recorded, counted in the report), not a reason to stop the grid.
        diverged, history, after = str(exc), [], {"value": math.nan, "nll": math.nan}
    record = {
        "schema": SCHEMA,
        "experiment": cfg.name,
        "task": task.label,
        "family": task.name,
        "task_params": task.params(),
        "T": task.T,
        "metric": task.metric,
        "higher_is_better": task.higher_is_better,
        "method": method_spec,
        "method_name": name,
        "method_options": options,
        "seed": seed,
        "protocol": cfg.protocol,
        "base": base_name,
        "trainable_params": info["trainable_params"],
        "reference_params": info["reference_params"],
        "param_gap": info["param_gap"],
        "adapter_config": info["config"],
        "steps": cfg.train.steps,
        "batch_size": cfg.train.batch_size * dist.world_size,
        "value": after["value"],
        "value_before": before["value"],
        "nll": after["nll"],
        "history": history,
        "analysis": analyze_adapters(model),
        "reduced": None,
        "diverged": diverged,
    }
    if "reduce_to" in options and diverged is None:
        record["reduced"] = _two_phase(
            model, task, codec, cfg, options, seed=seed, device=device, dist=dist, progress=progress
        )
    record.update(wall_s=time.perf_counter() - start, device=device, world_size=dist.world_size)
    log(
        f"{'':<22} -> {task.metric} {after['value']:.4f} (before {before['value']:.4f}), "
        f"{record['wall_s']:.0f} s"
    )
    return record


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every unfinished cell of ``cfg``; return all records in ``out_dir``.

    Parameters
    ----------
    cfg : ExperimentConfig
    out_dir : str or Path
        Where ``results.jsonl`` and ``config.json`` live; finished cells found there are skipped.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps`` (under DDP on CUDA each rank uses ``cuda:LOCAL_RANK``).
    cache_dir : str or Path, optional
        Where the pre-trained base model is cached (default :func:`.base_model.default_cache_dir`).
    progress : bool
        Show tqdm progress bars.
    log : callable
        Receives one line per event (only called on rank 0).
    """
    from tqdm.auto import tqdm

    dist: Dist = init_distributed(device)
    device = resolve_device(device)
    if dist.enabled and device == "cuda":
        device = f"cuda:{dist.local_rank}"
    say = log if dist.is_main else (lambda _msg: None)
    out = Path(out_dir)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"config": cfg.to_dict(), "argv": sys.argv, "torch": torch.__version__}
        (out / "config.json").write_text(json.dumps(meta, indent=1, default=str))
    done = {cell_key(r) for r in read_records(out)}
    todo = [c for c in cfg.cells() if (_task(c[0]).label, c[1], c[2], cfg.protocol) not in done]
    say(f"{len(cfg.cells()) - len(todo)} of {len(cfg.cells())} cells already done in {out}")
    base, codec, base_name = None, ByteCodec.identity(), "scratch"
    if todo and cfg.protocol == "adapt":
        # Rank 0 pre-trains and caches the base model; the others load it after the barrier.
        if dist.is_main:
            base, codec, base_name = load_base_model(
                cfg.base, path=cfg.base_path, cache_dir=cache_dir, device=device, progress=progress
            )
        dist.barrier()
        if not dist.is_main:
            base, codec, base_name = load_base_model(
                cfg.base, path=cfg.base_path, cache_dir=cache_dir, progress=False
            )
    for spec in tqdm(todo, desc="cells", disable=not progress or not dist.is_main):
        record = _run_cell(
            cfg, base, codec, base_name, spec, device=device, dist=dist, progress=progress, log=say
        )
        if dist.is_main:
            _append(out, record)
    dist.barrier()
    return read_records(out)
