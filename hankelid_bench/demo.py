"""`hankelid-bench demo` (`make demo`): HRM vs iso-parameter LoRA on the embedded defaults.

Pre-trains (once, cached) the small byte-level Mistral base model at 128 tokens, then adapts it
with HRM (Hankel init, MLP site) and with LoRA on q,v at the same trainable-parameter count, on DFA
state tracking (k = 4, short T) and on the embedded character-level corpus at T = 128 (the
pre-training length), 2 seeds each. Each run picks its learning rate from a small grid on the
validation split. Prints the results table — selected rates, constant predictors flagged — with
the exact shortcut baselines of the DFA task beside it, and writes `report.md` with figures.
About five minutes on two CPU cores.

The two methods adapt different sites (MLP vs attention): the demo shows the harness, not a
site-controlled comparison — the `sites` and `main` grids are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .base_model import BaseModelSpec
from .config import ExperimentConfig
from .report import constant_note, shortcut_table, write_report
from .runner import run_experiment
from .stats import summarize
from .train import TrainConfig

__all__ = ["demo_config", "run_demo", "summary_table"]


def demo_config() -> ExperimentConfig:
    """The demo grid: 2 tasks x 2 methods x 2 seeds at a CPU-sized budget.

    Examples
    --------
    >>> len(demo_config().cells())
    8
    """
    return ExperimentConfig(
        name="demo",
        tasks=["dfa:k=4,T=32", "charlm:T=128"],
        methods=["hrm:init=hankel", "lora"],
        seeds=[0, 1],
        reference_rank=4,
        train=TrainConfig(
            steps=200, batch_size=16, lr=3e-3, lr_grid=(3e-3, 1e-2), eval_samples=256, val_samples=256
        ),
        base=BaseModelSpec(steps=400),
    )


def summary_table(records: list[dict]) -> str:
    """Plain-text table: task, method, trainable parameters, metric mean ± std over seeds.

    Selected learning rates follow the seed count; a constant predictor is flagged.

    Examples
    --------
    >>> rec = dict(task="t", method="m", trainable_params=5, metric="bpc", value=1.0, lr=0.01)
    >>> print(summary_table([rec, {**rec, "value": 2.0}]).splitlines()[-1])
    t                       m                     5  bpc       1.5000 ± 0.7071  (2 seeds)  lr 0.01, 0.01
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["method"]), []).append(r)
    lines = [f"{'task':<24}{'method':<18}{'trainable':>10}  {'metric':<9} mean ± std"]
    for (task, method), rs in groups.items():
        values = [r["value"] for r in rs if r["value"] is not None]
        if not values:
            lines.append(f"{task:<24}{method:<18}{rs[0]['trainable_params']:>10,}  diverged")
            continue
        s = summarize(values)
        rates = ", ".join(f"{r['lr']:g}" for r in rs if r.get("lr") is not None)
        note = constant_note(rs)
        lines.append(
            f"{task:<24}{method:<18}{rs[0]['trainable_params']:>10,}  {rs[0]['metric']:<9} "
            f"{s.mean:.4f} ± {s.std:.4f}  ({s.n} seeds)"
            + (f"  lr {rates}" if rates else "")
            + (f"  {note}" if note else "")
        )
    return "\n".join(lines)


def run_demo(
    out_dir: str | Path = "runs/demo",
    *,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    config: ExperimentConfig | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo grid (resumable) and write its report; return the report path."""
    cfg = config or demo_config()
    records = run_experiment(cfg, out_dir, device=device, cache_dir=cache_dir, progress=progress, log=log)
    report = write_report(out_dir, command="hankelid-bench demo")
    log("")
    log(summary_table(records))
    shortcuts = shortcut_table(records, cfg.train.eval_samples)
    if shortcuts:
        log("\nWithout tracking state, on the same test set (exact; see report.md):")
        log(shortcuts)
    log(f"\nreport: {report}")
    return report
