"""The committed re-runs of issue 17 (`docs/results/*_v2`) are complete grids of what they say they are.

Each directory's `config.json` is the grid that produced it. These tests check that every cell of
that grid has exactly one finished record, that the settings are those of the preset (or of the
`grid.toml` committed beside the results, for the grids cut to fit one CPU session), and that the
report quotes the commands. They read files only; nothing is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hankelid_bench.cli import _find_config
from hankelid_bench.config import ExperimentConfig, load_config
from hankelid_bench.merge import settings
from hankelid_bench.runner import cell_key, grid_cell_keys, read_records

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
RERUNS = sorted(p for p in RESULTS.glob("*_v2") if (p / "config.json").is_file() and p.name != "demo_v2")
# Which grid each re-run is: a preset run in full, or the grid.toml committed beside it.
PRESETS = {"main_v2": "main", "sites_v2": "sites"}


def _grid(run_dir: Path) -> ExperimentConfig:
    if run_dir.name in PRESETS:
        return load_config(_find_config(PRESETS[run_dir.name]))
    return load_config(run_dir / "grid.toml")


def test_every_rerun_is_there():
    assert {p.name for p in RERUNS} >= {"main_v2", "sites_v2", "init_v2", "order_v2", "scratch_v2"}


@pytest.mark.parametrize("run_dir", RERUNS, ids=lambda p: p.name)
def test_rerun_is_the_complete_grid_it_names(run_dir):
    grid = _grid(run_dir)
    recorded = json.loads((run_dir / "config.json").read_text())["config"]
    assert settings(recorded) == settings(grid.to_dict())
    records = read_records(run_dir)
    keys = [cell_key(r) for r in records]
    assert len(keys) == len(set(keys)), "a cell is recorded twice"
    assert set(keys) == set(grid_cell_keys(grid))
    for record in records:
        # A finished cell has a test value, or says why training stopped.
        assert record["value"] is not None or record["diverged"]
        assert record["eval_samples"] == grid.train.eval_samples
    report = (run_dir / "report.md").read_text()
    assert "hankelid-bench" in report.split("## ")[0]  # the producing command(s) lead the report
