"""Experiment harness: tasks, training, statistics, reports and the hankelid-bench CLI.

Modules: :mod:`.tasks` (DFA, parity, character LM), :mod:`.longctx` (QuALITY / QMSum /
NarrativeQA evaluation), :mod:`.metrics`, :mod:`.stats`, :mod:`.base_model` (the cached frozen
base), :mod:`.methods` (iso-parameter HRM / LoRA / DoRA / SSMLoRA), :mod:`.train`,
:mod:`.analysis`, :mod:`.config`, :mod:`.runner` (resumable grids), :mod:`.report`, :mod:`.ddp`,
:mod:`.demo` and :mod:`.cli`.
"""

from __future__ import annotations

from .config import ExperimentConfig, load_config
from .report import write_report
from .runner import read_records, run_experiment
from .tasks import make_task

__all__ = ["ExperimentConfig", "load_config", "make_task", "read_records", "run_experiment", "write_report"]
