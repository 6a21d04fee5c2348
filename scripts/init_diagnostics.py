"""How much does the task-data Hankel init change the initial adapters of the `init` grid?

Usage::

    .venv/bin/python scripts/init_diagnostics.py            # seeds 0 1, both tasks of the grid

For each task and seed of the committed ``init`` grid (``docs/results/init/config.json``: the
preset ``hankelid_bench/grids/init.toml`` has since moved to the issue-17 design) this builds the
HRM adapters exactly as the
grid's ``hrm:init=hankel`` cell does (same cached base model, same seed), records them, then applies
``hankel_init_from_data`` on the 64 training sequences the ``hankel_inputs=task`` cell uses, and
prints per layer: the relative L2 difference of the two initial kernels over 256 lags (gate
excluded: the harness opens it from 0), the slowest pole moduli, and the first truncated Hankel
singular value relative to the first, ``sigma_{d+1} / sigma_1``, under white-noise and under
task-data weighting.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

import hankelid as hk
from hankelid_bench.base_model import BaseModelSpec, load_base_model
from hankelid_bench.config import ExperimentConfig, parse_spec
from hankelid_bench.methods import apply_method
from hankelid_bench.tasks import make_task
from hankelid_bench.train import TrainConfig, batch_tensors
from hankelid_torch import adapter_layers, hankel_init_from_data


def _ungated(layer) -> hk.StateSpace:
    A, B, C = (
        t.detach().double().numpy() for t in layer.hrm_ssm["default"].discrete_system(include_gate=False)
    )
    return hk.StateSpace(np.diag(A) if A.ndim == 1 else A, B, C, dt=1.0)


def _committed_config(path: Path) -> ExperimentConfig:
    """The configuration a committed run recorded (its config.json), as an ExperimentConfig."""
    data = json.loads(path.read_text())["config"]
    return ExperimentConfig(
        **{**data, "train": TrainConfig(**data["train"]), "base": BaseModelSpec(**data["base"])}
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, default=64, help="recorded training sequences")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    cfg = _committed_config(Path("docs/results/init/config.json"))
    base, codec, name = load_base_model(cfg.base, progress=False)
    print(f"base {name}; kernel difference over 256 lags, gate excluded")
    print(
        f"{'task':<14}{'seed':>5}{'layer':>7}{'rel diff':>10}  {'slowest |pole| gauss / data':<30}"
        f"{'sigma_d+1/sigma_1 gauss':>24}{'data':>8}"
    )
    for spec in cfg.tasks:
        task_name, params = parse_spec(spec)
        task = make_task(task_name, **params)
        for seed in args.seeds:
            model, _ = apply_method(
                base, "hrm", {"init": "hankel"}, reference_rank=cfg.reference_rank, seed=seed
            )
            layers = adapter_layers(model)
            before = [(_ungated(layer), layer.hrm_ssm["default"].hankel_info.hsv) for _, layer in layers]
            ids, _ = batch_tensors(
                task.train_batch(np.random.default_rng([seed, 2]), args.samples), codec, "cpu"
            )
            hankel_init_from_data(model, [ids], max_sequences=args.samples)
            for i, ((_, layer), (sys0, hsv0)) in enumerate(zip(layers, before)):
                sys1, hsv1 = _ungated(layer), layer.hrm_ssm["default"].hankel_info.hsv
                h0, h1 = (hk.markov_parameters(s, 257)[1:] for s in (sys0, sys1))
                rel = np.linalg.norm(h1 - h0) / np.linalg.norm(h0)
                slow = f"{np.abs(sys0.poles()).max():.4f} / {np.abs(sys1.poles()).max():.4f}"
                d = sys1.n
                print(
                    f"{task.label:<14}{seed:>5}{i:>7}{rel:>10.3f}  {slow:<30}"
                    f"{hsv0[d] / hsv0[0]:>24.3f}{hsv1[d] / hsv1[0]:>8.3f}"
                )


if __name__ == "__main__":
    main()
