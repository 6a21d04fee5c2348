"""Per-method learning-rate selection on the validation split.

Every method gets the same candidate rates (`TrainConfig.lr_grid`; the method option
`lr_scale` multiplies them), and methods with gates (HRM) also a grid of gate rates
(`gate_lr_grid`), crossed with the first. Each candidate trains the same initial model on the
same batch stream; the candidate with the best validation metric is kept and only it is scored on
the test split, so the test set never takes part in the choice. A diverged candidate is recorded
and skipped. Without grids the single candidate is `(lr, gate_lr)` and no validation pass runs.

`TrainConfig.lr_select = "first_seed"` runs the selection only in the first seed of each (task,
method, base seed) and trains the other seeds at the rate it chose (their records say so): a grid
of K candidates then costs K - 1 extra trainings per group instead of per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .train import TrainConfig

__all__ = ["Candidate", "Selection", "lr_candidates", "select_best"]


@dataclass(frozen=True)
class Candidate:
    """One learning-rate setting: the rate of the method's parameters and of its gates (or None)."""

    lr: float
    gate_lr: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"lr": self.lr, "gate_lr": self.gate_lr}


def lr_candidates(config: TrainConfig, *, has_gate: bool, scale: float = 1.0) -> list[Candidate]:
    """The candidates of one cell.

    Parameters
    ----------
    config : TrainConfig
        `lr_grid` (empty: `[lr]`) and `gate_lr_grid` (empty: `[gate_lr]`, where `None`
        means "same as lr").
    has_gate : bool
        Whether the method has gate parameters; without, `gate_lr` is None.
    scale : float
        The method's `lr_scale` (applied to both rates).

    Examples
    --------
    >>> cfg = TrainConfig(lr_grid=(1e-3, 1e-2), gate_lr_grid=(3e-2,))
    >>> [c.as_dict() for c in lr_candidates(cfg, has_gate=True)]
    [{'lr': 0.001, 'gate_lr': 0.03}, {'lr': 0.01, 'gate_lr': 0.03}]
    >>> [c.lr for c in lr_candidates(cfg, has_gate=False, scale=2.5)]
    [0.0025, 0.025]
    """
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"lr_scale must be a positive finite number, got {scale!r}")
    lrs = config.lr_grid or (config.lr,)
    gates: tuple[float | None, ...] = (None,)
    if has_gate:
        gates = config.gate_lr_grid or (config.gate_lr,)
    return [
        Candidate(lr * scale, None if g is None else g * scale) if has_gate else Candidate(lr * scale)
        for lr in lrs
        for g in gates
    ]


@dataclass
class Selection:
    """Outcome of [`select_best`][hankelid_bench.selection.select_best]: the chosen candidate, its
    result and every candidate's score."""

    best: Candidate | None
    result: Any
    trials: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "split": "val",
            "selected": None if self.best is None else self.best.as_dict(),
            "candidates": self.trials,
        }


def select_best(
    candidates: list[Candidate],
    fit: Callable[[Candidate], tuple[Any, float]],
    *,
    higher_is_better: bool,
) -> Selection:
    """Run `fit` on every candidate and keep the best validation score.

    `fit(candidate)` returns `(result, val_score)` or raises `FloatingPointError` when
    training diverged. Ties keep the earlier candidate (the grid's order); a non-finite score never
    beats a finite one. `best` is None only when every candidate diverged.

    Examples
    --------
    >>> sel = select_best([Candidate(0.1), Candidate(0.2)], lambda c: (c.lr, -abs(c.lr - 0.2)),
    ...                   higher_is_better=True)
    >>> sel.best.lr, sel.result
    (0.2, 0.2)
    """
    if not candidates:
        raise ValueError("no learning-rate candidates")
    best, result, score, trials = None, None, None, []
    for cand in candidates:
        try:
            out, val = fit(cand)
        except FloatingPointError as exc:
            trials.append({**cand.as_dict(), "val": None, "diverged": str(exc)})
            continue
        trials.append({**cand.as_dict(), "val": val, "diverged": None})
        finite = math.isfinite(val)
        # The first finished candidate is the fallback (a single candidate needs no score); a
        # finite score then replaces it only if strictly better.
        better = finite and (score is None or (val > score if higher_is_better else val < score))
        if best is None or better:
            best, result, score = cand, out, (val if finite else None)
    return Selection(best, result, trials)
