"""Merge run directories: one grid split over processes, or cells shared between two grids.

A cell is one experiment only if everything that shapes it is the same: the protocol, the
reference tier, every training setting and the base model's architecture and pre-training
budget. `merge_runs` compares exactly these settings (from each run's `config.json`) and
refuses to merge runs that differ in any of them, naming the field. Cells found in several
sources must carry the same results; anything else is an error, not a silent choice.

With a target configuration, only the cells of its grid are taken, so a later
`hankelid-bench run --config NAME --out OUT` trains only what is missing. This is how
`docs/results/sites_v2` and `init_v2` reuse the cells they share with `main_v2`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ExperimentConfig
from .runner import (
    BASE_FILE,
    MERGED_KEY,
    RESULTS_FILE,
    cell_key,
    grid_cell_keys,
    read_base_quality,
    read_records,
)

__all__ = ["merge_runs", "settings"]

# Fields of the base spec that are a grid axis, not a setting: runs over different base seeds merge.
_AXES = ("seed",)


def settings(config: dict[str, Any]) -> dict[str, Any]:
    """What makes two cells with the same key the same experiment (from `ExperimentConfig.to_dict()`).

    Examples
    --------
    >>> a = settings(ExperimentConfig(seeds=(0,)).to_dict())
    >>> a == settings(ExperimentConfig(seeds=(1, 2), tasks=("parity:T=8",)).to_dict())
    True
    >>> a == settings(ExperimentConfig().replace(train_steps=7).to_dict())
    False
    """
    base = {k: v for k, v in config.get("base", {}).items() if k not in _AXES}
    train = dict(config.get("train", {}))
    for key in ("lr_grid", "gate_lr_grid"):
        if key in train:
            train[key] = [float(v) for v in train[key]]
    return {
        "protocol": config.get("protocol"),
        "reference_rank": config.get("reference_rank"),
        "base_path": config.get("base_path"),
        "train": train,
        "base": base,
    }


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key} ({va!r} vs {vb!r})")
    return out


def _read_meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run directory: {path} does not exist")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or "config" not in meta:
        raise ValueError(f"{path} has no 'config' entry: not written by hankelid-bench run")
    return meta


def _command(meta: dict[str, Any]) -> str | None:
    argv = meta.get("argv")
    return " ".join(["hankelid-bench", *argv[1:]]) if argv else None


def _same_result(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("value", "value_before", "lr", "gate_lr", "trainable_params", "base")
    return all(a.get(f) == b.get(f) for f in fields)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def merge_runs(
    out_dir: str | Path, sources: Sequence[str | Path], *, config: ExperimentConfig | None = None
) -> dict[str, Any]:
    """Merge the results of `sources` (run directories) into `out_dir`.

    Parameters
    ----------
    out_dir : str or Path
        The merged run directory. Results already there are kept and take part in the checks.
    sources : sequence of str or Path
        Run directories written by `hankelid-bench run` (each with `config.json`).
    config : ExperimentConfig, optional
        Keep only the cells of this grid, and require every source to have its settings. Without
        it, all runs must share one set of settings, and the merged grid is their union.

    Returns
    -------
    dict
        `cells` (records in `out_dir` now), `added` (new ones), `skipped` (records outside the
        target grid) and `config` (the merged configuration).

    Raises
    ------
    ValueError
        If a source is not a run directory, settings differ (the fields are named), or one cell
        has different results in two sources. Nothing is written then.

    Examples
    --------
    >>> merge_runs("/tmp/hankelid-merged", ["/nonexistent-run"])
    Traceback (most recent call last):
    ...
    ValueError: /nonexistent-run is not a run directory: /nonexistent-run/config.json does not exist
    """
    out = Path(out_dir)
    paths = [Path(s) for s in sources]
    if not paths:
        raise ValueError("merge needs at least one source run directory")
    metas = [_read_meta(p) for p in paths]
    if (out / "config.json").is_file():
        paths.insert(0, out)
        metas.insert(0, _read_meta(out))
    target = config.to_dict() if config is not None else metas[0]["config"]
    reference = settings(target)
    for path, meta in zip(paths, metas, strict=True):
        diff = _differences(reference, settings(meta["config"]))
        if diff:
            what = f"configuration {target.get('name')!r}" if config is not None else f"{paths[0]}"
            raise ValueError(f"{path} was run with other settings than {what}: " + "; ".join(diff))
    wanted = set(grid_cell_keys(config)) if config is not None else None
    merged: dict[tuple, dict[str, Any]] = {}
    skipped = before = 0
    for path in paths:
        for record in read_records(path):
            key = cell_key(record)
            if wanted is not None and key not in wanted:
                skipped += 1
                continue
            if key in merged and not _same_result(merged[key], record):
                raise ValueError(
                    f"cell {key} has different results in two sources (value {merged[key].get('value')} "
                    f"vs {record.get('value')} in {path}); refusing to choose one"
                )
            merged.setdefault(key, record)
        if path is out:
            before = len(merged)  # the output's own cells, read once: what this merge adds is the rest
    if config is None:
        target = dict(target)
        for axis in ("tasks", "methods", "seeds", "base_seeds"):
            values = [v for m in metas for v in (m["config"].get(axis) or [])]
            target[axis] = list(dict.fromkeys(values))
    bases: dict[str, dict[str, Any]] = {}
    for path in paths:
        for row in read_base_quality(path):
            bases.setdefault(row["base"], row)
    used = {r["base"] for r in merged.values()}
    sources_meta = []
    for path, meta in zip(paths, metas, strict=True):
        sources_meta += meta.get(MERGED_KEY) or [{"dir": str(path), "command": _command(meta)}]
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(
        out / RESULTS_FILE,
        "".join(json.dumps(r, allow_nan=False) + "\n" for r in merged.values()),
    )
    _atomic_write(out / BASE_FILE, json.dumps([b for k, b in bases.items() if k in used], indent=1))
    meta_out = {"config": target, "argv": None, MERGED_KEY: sources_meta}
    _atomic_write(out / "config.json", json.dumps(meta_out, indent=1, default=str))
    return {"cells": len(merged), "added": len(merged) - before, "skipped": skipped, "config": target}
