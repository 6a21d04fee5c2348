"""Run a grid of (task, method, seed, base seed) cells, resumably, one JSON line per finished cell.

Output directory layout:

```text
results.jsonl       one record per finished cell (schema below); cells already present are skipped
config.json         the ExperimentConfig and the command line of the latest invocation (and,
                    under `merged_from`, the runs merged in by `hankelid-bench merge`)
base_quality.json   per base model: its pre-training length, its bits per character on the
                    character-LM test split at that length and at every evaluated T, and its
                    pre-training loss curve
```

Record fields (`schema` 2): `task`, `family`, `task_params`, `T`, `metric`,
`higher_is_better`, `method`, `method_name`, `method_options` (as written in the spec),
`resolved_options` (with `recipe=...` expanded), `seed`, `base_seed`, `protocol`,
`base`, `trainable_params`, `reference_params`, `param_gap`, `adapter_config`, `steps`,
`batch_size` (global), `lr` and `gate_lr` (the rates used: selected ones under a grid),
`lr_selection` (null without a grid; else `split`, `selected` and every candidate's
`lr`, `gate_lr`, validation score `val` and `diverged`; under `lr_select =
"first_seed"` the later seeds hold `lr`, `gate_lr` and `selected_on_seed` instead),
`value` (test metric after training at the selected rate), `value_before` (before training),
`nll`, `eval_samples`,
`constant_predictor` (classification: the model gives one class for every test sample) and
`top_prediction_frac`, `history` (step, loss, gates), `analysis` (per-layer HRM analysis or
`[]`), `reduced` (two-phase results or null), `diverged` (null, or why training stopped:
then `value` is null), `wall_s`, `device`, `world_size`. Schema-1 records lack the
fields added in 2; readers treat a missing `base_seed` as 0.

Two-phase cells (`reduce_to` or `reduce_hsv_ratio`): `value` is the full-order model's test
value, and `reduced` holds the reduced and fine-tuned values — unless `equal_steps` (the paper
recipe), where the two phases share the step budget and `value` is the final model's.
Non-finite floats are written as null.
"""

from __future__ import annotations

import copy
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
from .base_model import ByteCodec, base_quality, build_model, load_base_model, pretrain_history
from .config import ExperimentConfig, parse_spec
from .ddp import Dist, init_distributed
from .methods import apply_method, count_trainable, expand_recipe
from .selection import Candidate, lr_candidates, select_best
from .tasks import make_task
from .train import adapter_gates, batch_tensors, evaluate, resolve_device, train

__all__ = [
    "BASE_FILE",
    "MERGED_KEY",
    "RESULTS_FILE",
    "SCHEMA",
    "cell_key",
    "grid_cell_keys",
    "hsv_ratio_orders",
    "read_base_quality",
    "read_records",
    "run_experiment",
]

RESULTS_FILE = "results.jsonl"
BASE_FILE = "base_quality.json"
MERGED_KEY = "merged_from"
"""Key of `config.json` listing the runs (directory, command) merged into a run directory."""
SCHEMA = 2


def cell_key(record: dict[str, Any]) -> tuple[str, str, int, str, int]:
    """The identity of a cell: (task label, method spec, seed, protocol, base seed).

    Records written before the base seed was an axis have `base_seed` 0 (the default spec's).
    """
    return (
        record["task"],
        record["method"],
        int(record["seed"]),
        record["protocol"],
        int(record.get("base_seed", 0)),
    )


def read_base_quality(out_dir: str | Path) -> list[dict[str, Any]]:
    """The base-model quality records of a run directory (`[]` if none): one per base model.

    Examples
    --------
    >>> read_base_quality("/nonexistent-dir")
    []
    """
    path = Path(out_dir) / BASE_FILE
    return json.loads(path.read_text()) if path.is_file() else []


def _write_base_quality(out_dir: Path, quality: dict[str, Any]) -> None:
    rows = [q for q in read_base_quality(out_dir) if q["base"] != quality["base"]]
    (out_dir / BASE_FILE).write_text(json.dumps(_clean([*rows, quality]), indent=1))


def _task(spec: str):
    name, params = parse_spec(spec)
    return make_task(name, **params)


def grid_cell_keys(cfg: ExperimentConfig) -> list[tuple[str, str, int, str, int]]:
    """The [`cell_key`][hankelid_bench.runner.cell_key] of every cell of `cfg`, in `cfg.cells()` order.

    Examples
    --------
    >>> grid_cell_keys(ExperimentConfig(tasks=["parity:T=8"], methods=["lora"], seeds=[0]))
    [('parity(T=8)', 'lora', 0, 'adapt', 0)]
    """
    labels = {t: _task(t).label for t in cfg.tasks}
    return [(labels[t], m, s, cfg.protocol, b) for t, m, s, b in cfg.cells()]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """All records in `out_dir/results.jsonl` (`[]` if absent); a torn last line is ignored.

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


def hsv_ratio_orders(model: torch.nn.Module, ratio: float) -> dict[str, int]:
    """Per HRM adapter layer: the number of Hankel singular values `>= ratio` x the largest.

    The orders of the paper's reduction rule (HSV / sigma_1 >= 0.01), for
    [`reduce_adapters`][hankelid_torch.bridge.reduce_adapters] (`order=` a mapping). At least 1 per layer.

    Examples
    --------
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> net = torch.nn.Sequential(SSMAdapter(4, 6, gate_init=0.5, seed=0))
    >>> orders = hsv_ratio_orders(net, 1e-12)
    >>> list(orders.values())   # every state is above a negligible threshold
    [6]
    """
    import hankelid as hk
    from hankelid_torch import adapter_layers, to_state_space

    if not 0.0 < ratio < 1.0:
        raise ValueError(f"reduce_hsv_ratio must be in (0, 1), got {ratio}")
    orders = {}
    for name, layer in adapter_layers(model):
        hsv = np.asarray(hk.hsv(to_state_space(layer)), dtype=float)
        orders[name] = max(1, int((hsv >= ratio * hsv[0]).sum())) if hsv.size and hsv[0] > 0 else 1
    return orders


def _two_phase(model, task, codec, cfg, options, *, seed, device, dist, progress, lr) -> dict[str, Any]:
    """Reduce the trained adapters by balanced truncation, score, fine-tune (`finetune_steps`)."""
    from hankelid_torch import reduce_adapters

    if "reduce_hsv_ratio" in options:
        order: Any = hsv_ratio_orders(model, float(options["reduce_hsv_ratio"]))
    else:
        order = int(options["reduce_to"])
    reduce_adapters(model, order=order, gramians=options.get("reduce_gramians", "exact"))
    ev = _test_eval_options(cfg, device, dist)
    out: dict[str, Any] = {
        "order": order,
        "trainable_params": count_trainable(model),
        "value": evaluate(model, task, codec, **ev)["value"],
    }
    steps = _finetune_steps(cfg, options)
    mode = options.get("finetune", "full")
    if mode not in ("full", "gate"):
        raise ValueError(f"finetune must be 'full' or 'gate', got {mode!r}")
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
            desc=f"fine-tune reduced ({mode})",
            lr=lr.lr,
            gate_lr=lr.gate_lr,
            only="gate" if mode == "gate" else None,
        )
        out["finetune_steps"] = steps
        out["finetune"] = mode
        out["finetuned_value"] = evaluate(model, task, codec, **ev)["value"]
    out["analysis"] = analyze_adapters(model)
    return out


def _finetune_steps(cfg: Any, options: dict[str, Any]) -> int:
    if "finetune_steps" in options:
        return int(options["finetune_steps"])
    # The paper recipe's default: a fifth of the budget for the reduced adapter.
    return max(1, cfg.train.steps // 5) if options.get("recipe") == "paper" else 0


def _task_data_init(model, task, codec, options: dict[str, Any], *, seed: int, device: str) -> None:
    """`hankel_inputs=task`: redo the Hankel init with the data Gramian of training sequences."""
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


def _is_constant(result: dict[str, Any]) -> bool | None:
    frac = result.get("top_prediction_frac")
    return None if frac is None else bool(frac >= 1.0)


def _fit(model, task, codec, cfg, options, cand, *, seed, device, dist, progress, desc, select):
    """Train one candidate (and run the two phases); return (outcome, validation score or nan)."""
    two_phase = "reduce_to" in options or "reduce_hsv_ratio" in options
    equal = bool(options.get("equal_steps", False)) and two_phase
    steps = cfg.train.steps - (_finetune_steps(cfg, options) if equal else 0)
    if steps < 1:
        raise ValueError(f"finetune_steps leaves no steps for the first phase of {cfg.train.steps}")
    history = train(
        model,
        task,
        codec,
        cfg.train,
        seed=seed,
        steps=steps,
        device=device,
        dist=dist,
        progress=progress,
        desc=desc,
        lr=cand.lr,
        gate_lr=cand.gate_lr,
    )
    val_ev = dict(
        split="val",
        n=cfg.train.val_samples,
        batch_size=cfg.train.eval_batch_size,
        device=device,
        precision=cfg.train.precision,
        dist=dist,
    )
    out: dict[str, Any] = {
        "model": model,
        "history": history,
        "reduced": None,
        "full_value": None,
        "full_eval": None,
    }
    val = math.nan
    if two_phase:
        out["full_eval"] = evaluate(model, task, codec, **_test_eval_options(cfg, device, dist))
        out["full_value"] = out["full_eval"]["value"]
        if select and not equal:
            val = evaluate(model, task, codec, **val_ev)["value"]
        out["reduced"] = _two_phase(
            model, task, codec, cfg, options, seed=seed, device=device, dist=dist, progress=progress, lr=cand
        )
        out["reduced"]["full_order_value"] = out["full_value"]
        out["reduced"]["steps_before_reduction"] = steps
    if select and (equal or not two_phase):
        val = evaluate(model, task, codec, **val_ev)["value"]
    return out, val


def _run_cell(cfg, bases, spec, *, device, dist, progress, log, chosen=None) -> dict[str, Any]:
    task_spec, method_spec, seed, base_seed = spec
    task = _task(task_spec)
    name, raw_options = parse_spec(method_spec)
    options = expand_recipe(name, raw_options)
    scratch = cfg.protocol == "scratch"
    if scratch:
        # The paper's synthetic protocol: a fresh model per seed, every parameter trainable.
        base, codec, base_name = (
            build_model(dataclasses.replace(cfg.base, seed=seed)),
            ByteCodec.identity(),
            "scratch",
        )
    else:
        base, codec, base_name = bases[base_seed]
    model, info = apply_method(
        base, name, options, reference_rank=cfg.reference_rank, seed=seed, all_trainable=scratch
    )
    model.to(device)
    if "hankel_inputs" in options:
        _task_data_init(model, task, codec, options, seed=seed, device=device)
    log(
        f"{task.label:<22} {method_spec:<24} seed {seed} base {base_seed}: {info['trainable_params']:,} "
        f"trainable (reference {info['reference_params']:,}, gap {info['param_gap']:+.2%})"
    )
    ev = _test_eval_options(cfg, device, dist)
    start = time.perf_counter()
    before = evaluate(model, task, codec, **ev)
    candidates = lr_candidates(
        cfg.train, has_gate=bool(adapter_gates(model)), scale=float(options.get("lr_scale", 1.0))
    )
    inherited = None
    if chosen is not None and len(candidates) > 1:
        # lr_select = "first_seed": the first seed of this (task, method, base) selected already.
        inherited = chosen
        candidates = [Candidate(chosen["lr"], chosen["gate_lr"])]
    select = len(candidates) > 1
    # Every candidate starts from the same initial adapter (a copy), on the same batch stream.
    initial = copy.deepcopy(model) if select else None

    def fit(cand):
        m = copy.deepcopy(initial) if select else model
        desc = f"{task.label} {method_spec} s{seed} lr={cand.lr:g}"
        return _fit(
            m,
            task,
            codec,
            cfg,
            options,
            cand,
            seed=seed,
            device=device,
            dist=dist,
            progress=progress,
            desc=desc,
            select=select,
        )

    selection = select_best(candidates, fit, higher_is_better=task.higher_is_better)
    diverged = None
    if selection.best is None:
        # Every candidate diverged: a result (recorded, counted in the report), not a reason to stop.
        diverged = "; ".join(t["diverged"] or "non-finite validation score" for t in selection.trials)
        history, after, reduced, lr = [], {"value": math.nan, "nll": math.nan}, None, candidates[0]
        final = model
    else:
        outcome, lr = selection.result, selection.best
        final, history, reduced = outcome["model"], outcome["history"], outcome["reduced"]
        if reduced is not None and not options.get("equal_steps", False):
            # Classic two-phase: the headline is the full-order model's, the reduction a side result.
            after = outcome["full_eval"]
        else:
            after = evaluate(final, task, codec, **ev)
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
        "method_options": raw_options,
        "resolved_options": options,
        "seed": seed,
        "base_seed": base_seed,
        "protocol": cfg.protocol,
        "base": base_name,
        "trainable_params": info["trainable_params"],
        "reference_params": info["reference_params"],
        "param_gap": info["param_gap"],
        "adapter_config": info["config"],
        "steps": cfg.train.steps,
        "batch_size": cfg.train.batch_size * dist.world_size,
        "lr": lr.lr,
        "gate_lr": lr.gate_lr,
        "lr_selection": selection.as_dict() if select else inherited,
        "value": after["value"],
        "value_before": before["value"],
        "nll": after["nll"],
        "eval_samples": cfg.train.eval_samples,
        "constant_predictor": _is_constant(after),
        "top_prediction_frac": after.get("top_prediction_frac"),
        "history": history,
        "analysis": analyze_adapters(final),
        "reduced": reduced,
        "diverged": diverged,
    }
    record.update(wall_s=time.perf_counter() - start, device=device, world_size=dist.world_size)
    rate = f", lr {lr.lr:g}" + (f" gate {lr.gate_lr:g}" if lr.gate_lr is not None else "") if select else ""
    log(
        f"{'':<22} -> {task.metric} {after['value']:.4f} (before {before['value']:.4f}{rate}), "
        f"{record['wall_s']:.0f} s"
    )
    return record


def _base_quality_record(cfg, base, codec, name, base_seed, *, device, cache_dir) -> dict[str, Any]:
    lengths = [cfg.base.seq_len] + [
        _task(t).T for t in cfg.tasks if parse_spec(t)[0] == "charlm" and "path" not in parse_spec(t)[1]
    ]
    quality = base_quality(base.to(device), codec, lengths, n=cfg.train.eval_samples, device=device)
    base.cpu()
    return {
        "base": name,
        "base_seed": base_seed,
        "pretrain_seq_len": cfg.base.seq_len if cfg.base_path is None else None,
        "sliding_window": cfg.base.sliding_window,
        "bpc": {str(k): v for k, v in quality.items()},
        "history": pretrain_history(name, cache_dir) if cfg.base_path is None else [],
    }


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every unfinished cell of `cfg`; return all records in `out_dir`.

    Parameters
    ----------
    cfg : ExperimentConfig
    out_dir : str or Path
        Where `results.jsonl` and `config.json` live; finished cells found there are skipped.
    device : str
        `auto`, `cpu`, `cuda` or `mps` (under DDP on CUDA each rank uses `cuda:LOCAL_RANK`).
    cache_dir : str or Path, optional
        Where the pre-trained base model is cached (default
        [`base_model.default_cache_dir`][hankelid_bench.base_model.default_cache_dir]).
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
        previous = out / "config.json"
        if previous.is_file():
            # Cells merged in from other runs keep their provenance after this run adds its own.
            merged = json.loads(previous.read_text()).get(MERGED_KEY)
            if merged:
                meta[MERGED_KEY] = merged
        (out / "config.json").write_text(json.dumps(meta, indent=1, default=str))
    done = {cell_key(r) for r in read_records(out)}
    todo = [c for c, key in zip(cfg.cells(), grid_cell_keys(cfg), strict=True) if key not in done]
    say(f"{len(cfg.cells()) - len(todo)} of {len(cfg.cells())} cells already done in {out}")
    bases: dict[int, tuple] = {}
    for base_seed in dict.fromkeys(c[3] for c in todo) if cfg.protocol == "adapt" else ():
        spec = dataclasses.replace(cfg.base, seed=base_seed)
        # Rank 0 pre-trains and caches the base model; the others load it after the barrier.
        if dist.is_main:
            bases[base_seed] = load_base_model(
                spec, path=cfg.base_path, cache_dir=cache_dir, device=device, progress=progress
            )
        dist.barrier()
        if not dist.is_main:
            bases[base_seed] = load_base_model(spec, path=cfg.base_path, cache_dir=cache_dir, progress=False)
        if dist.is_main:
            quality = _base_quality_record(
                cfg, *bases[base_seed], base_seed, device=device, cache_dir=cache_dir
            )
            _write_base_quality(out, quality)
            say(
                f"base {quality['base']} (seed {base_seed}): bpc "
                + ", ".join(f"T={k}: {v:.4f}" for k, v in quality["bpc"].items())
            )
    first_seed = cfg.seeds[0]
    selected = {
        (r["task"], r["method"], r.get("base_seed", 0)): r
        for r in read_records(out)
        if r["seed"] == first_seed and r.get("lr_selection") and "candidates" in r["lr_selection"]
    }
    for spec in tqdm(todo, desc="cells", disable=not progress or not dist.is_main):
        chosen = None
        if cfg.train.lr_select == "first_seed" and spec[2] != first_seed:
            prior = selected.get((_task(spec[0]).label, spec[1], spec[3]))
            if prior is not None:
                chosen = {"lr": prior["lr"], "gate_lr": prior["gate_lr"], "selected_on_seed": first_seed}
        record = _run_cell(
            cfg, bases, spec, device=device, dist=dist, progress=progress, log=say, chosen=chosen
        )
        if spec[2] == first_seed and record.get("lr_selection"):
            selected[(record["task"], record["method"], spec[3])] = record
        if dist.is_main:
            _append(out, record)
    dist.barrier()
    return read_records(out)
