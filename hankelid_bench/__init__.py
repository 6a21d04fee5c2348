"""Experiment harness: tasks, training, statistics, reports and the hankelid-bench CLI.

Modules: [`tasks`][hankelid_bench.tasks] (DFA, parity, character LM), `longctx` (QuALITY / QMSum /
NarrativeQA evaluation), [`metrics`][hankelid_bench.metrics], [`stats`][hankelid_bench.stats],
[`base_model`][hankelid_bench.base_model] (the cached frozen base), [`methods`][hankelid_bench.methods]
(iso-parameter HRM / LoRA / DoRA / SSMLoRA), [`train`][hankelid_bench.train], `analysis`, `config`,
[`runner`][hankelid_bench.runner] (resumable grids), [`report`][hankelid_bench.report], `ddp`, `demo` and
`cli`.
"""

from __future__ import annotations

from .config import ExperimentConfig, load_config
from .report import write_report
from .runner import read_records, run_experiment
from .tasks import make_task

__all__ = ["ExperimentConfig", "load_config", "make_task", "read_records", "run_experiment", "write_report"]
