"""`hankelid-bench merge`: split grids and shared cells merge only when they are the same experiment."""

from __future__ import annotations

import json

import pytest

from hankelid_bench.cli import main
from hankelid_bench.config import ExperimentConfig, load_config
from hankelid_bench.merge import merge_runs
from hankelid_bench.runner import BASE_FILE, RESULTS_FILE, grid_cell_keys, read_records

from .test_cli import TINY


def _fake_run(path, cfg: ExperimentConfig, *, value=0.5, argv=("hankelid-bench", "run", "X")):
    """A run directory as `hankelid-bench run` writes it, without training anything."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "argv": list(argv)}))
    lines = []
    for task, method, seed, _protocol, base_seed in grid_cell_keys(cfg):
        record = {
            "task": task,
            "method": method,
            "seed": seed,
            "base_seed": base_seed,
            "protocol": cfg.protocol,
            "base": f"base-{base_seed}",
            "value": value + seed / 100,
            "value_before": 0.1,
            "lr": 1e-3,
            "gate_lr": None,
            "trainable_params": 10,
        }
        lines.append(json.dumps(record) + "\n")
    (path / RESULTS_FILE).write_text("".join(lines))
    rows = [
        {"base": f"base-{b}", "base_seed": b, "bpc": {"8": 3.0}, "history": []} for b in cfg.base_seed_list
    ]
    (path / BASE_FILE).write_text(json.dumps(rows))


CFG = ExperimentConfig(
    name="g", tasks=("parity:T=8",), methods=("lora", "hrm"), seeds=(0, 1), base_seeds=(0,)
)


def test_split_grid_merges_into_the_union(tmp_path):
    _fake_run(tmp_path / "a", CFG, argv=("hankelid-bench", "run", "--base-seeds", "0"))
    argv = ("hankelid-bench", "run", "--base-seeds", "1")
    _fake_run(tmp_path / "b", CFG.replace(base_seeds=(1,)), argv=argv)
    summary = merge_runs(tmp_path / "m", [tmp_path / "a", tmp_path / "b"])
    records = read_records(tmp_path / "m")
    assert summary["cells"] == summary["added"] == len(records) == 8
    assert sorted({r["base_seed"] for r in records}) == [0, 1]
    assert summary["config"]["base_seeds"] == [0, 1]
    bases = json.loads((tmp_path / "m" / BASE_FILE).read_text())
    assert sorted(b["base"] for b in bases) == ["base-0", "base-1"]
    # Merging the same sources again changes nothing: identical cells are one cell.
    assert merge_runs(tmp_path / "m", [tmp_path / "a", tmp_path / "b"])["added"] == 0
    assert len(read_records(tmp_path / "m")) == 8


def test_other_settings_are_refused_by_name_and_nothing_is_written(tmp_path):
    _fake_run(tmp_path / "a", CFG)
    _fake_run(tmp_path / "b", CFG.replace(train_steps=7, base_seeds=(1,)))
    with pytest.raises(ValueError, match=r"other settings .*train\.steps \(200 vs 7\)"):
        merge_runs(tmp_path / "m", [tmp_path / "a", tmp_path / "b"])
    assert not (tmp_path / "m").exists()


def test_one_cell_with_two_results_is_an_error(tmp_path):
    _fake_run(tmp_path / "a", CFG)
    _fake_run(tmp_path / "b", CFG, value=0.9)
    with pytest.raises(ValueError, match="different results in two sources"):
        merge_runs(tmp_path / "m", [tmp_path / "a", tmp_path / "b"])
    assert not (tmp_path / "m").exists()


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["merge", str(tmp_path / "m"), str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_config_keeps_its_cells_and_run_trains_only_the_rest(tmp_path, capsys):
    """The sites/init pattern: take shared cells from a bigger run, then `run` adds the missing ones."""
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(TINY.replace('methods = ["lora"]', 'methods = ["lora", "none"]'))
    small = tmp_path / "small.toml"
    small_text = TINY.replace('name = "tiny"', 'name = "small"')
    small.write_text(small_text.replace('methods = ["lora"]', 'methods = ["lora", "dora"]'))
    common = ["--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--no-progress", "--no-report"]
    assert main(["run", "--config", str(tiny), "--out", str(tmp_path / "big"), *common]) == 0
    assert main(["merge", str(tmp_path / "small"), str(tmp_path / "big"), "--config", str(small)]) == 0
    assert "1 outside the 'small' grid left out" in capsys.readouterr().out
    shared = read_records(tmp_path / "small")
    assert [r["method"] for r in shared] == ["lora"]
    assert main(["run", "--config", str(small), "--out", str(tmp_path / "small"), *common]) == 0
    assert "1 of 2 cells already done" in capsys.readouterr().out
    records = read_records(tmp_path / "small")
    assert sorted(r["method"] for r in records) == ["dora", "lora"]
    assert records[0] == shared[0]  # the reused cell is kept as it was, not retrained
    assert main(["report", str(tmp_path / "small")]) == 0
    report = (tmp_path / "small" / "report.md").read_text()
    assert "merged with `hankelid-bench merge`" in report
    assert report.count("\n- `") == 2  # the run that made the shared cell, then the completing run
    meta = json.loads((tmp_path / "small" / "config.json").read_text())
    assert [m["dir"] for m in meta["merged_from"]] == [str(tmp_path / "big")]
    # A grid with other training settings does not take the cells.
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("steps = 3", "steps = 4", 1))
    assert load_config(other).train.steps == 4
    assert main(["merge", str(tmp_path / "o"), str(tmp_path / "big"), "--config", str(other)]) == 2
    assert "train.steps (4 vs 3)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "is not valid JSON"), ('{"argv": []}', "has no 'config' entry")],
)
def test_a_broken_config_json_is_named(tmp_path, text, message):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        merge_runs(tmp_path / "m", [tmp_path / "a"])
    assert not (tmp_path / "m").exists()
