"""The hankelid-bench command line, including a 2-process DDP (gloo) run under torchrun."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from hankelid_bench.cli import main
from hankelid_bench.runner import read_records

TINY = """
name = "tiny"
seeds = [0]
reference_rank = 2
tasks = ["parity:T=4"]
methods = ["lora"]
[train]
steps = 3
batch_size = 4
eval_samples = 16
eval_batch_size = 4
[base]
hidden_size = 16
intermediate_size = 32
layers = 1
heads = 2
kv_heads = 1
steps = 2
seq_len = 48
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_run_report_list(tmp_path, tiny_config, capsys):
    out = tmp_path / "out"
    common = ["--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--no-progress"]
    assert main(["run", "--config", str(tiny_config), "--seeds", "0", "1", *common]) == 0
    records = read_records(out)
    assert [(r["seed"], r["steps"]) for r in records] == [(0, 3), (1, 3)]
    assert (out / "report.md").is_file()
    # Flags override the file; finished cells are skipped on a rerun.
    assert main(["run", "--config", str(tiny_config), "--seeds", "0", "1", "--steps", "3", *common]) == 0
    assert len(read_records(out)) == 2
    assert main(["report", str(out), "--command-line", "X"]) == 0
    assert "Command: `X`" in (out / "report.md").read_text()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "config:  main" in listing and "ssmlora" in listing


def test_errors_exit_2(tmp_path, capsys):
    assert main(["run", "--config", "no-such-preset"]) == 2
    assert main(["report", str(tmp_path)]) == 2
    assert "no results" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hrm:d=0", "method 'hrm': option 'd' is not accepted; accepted: .*d_state"),
        ("hrm:d_state=0", "method 'hrm': d_state must be a positive integer, got 0"),
        ("lora:lora_dropout=0.1", "method 'lora': option 'lora_dropout' is not accepted"),
        ("hrm:gate_init=nan", "method 'hrm': gate_init must be finite"),
        ("none:rank_x=1", "method 'none' takes no options"),
        ("nope", "unknown method 'nope'"),
    ],
)
def test_bad_method_spec_exits_2_before_anything_runs(tmp_path, tiny_config, capsys, spec, message):
    out = tmp_path / "out"
    status = main(
        ["run", "--config", str(tiny_config), "--methods", spec, "--out", str(out), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert re.search(message, err), err
    assert "Traceback" not in err and not out.exists()  # nothing ran, nothing was written


def test_ctrl_c_exits_130_with_a_short_message(tmp_path, tiny_config, capsys, monkeypatch):
    import hankelid_bench.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_experiment", interrupted)
    status = main(["run", "--config", str(tiny_config), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 130
    assert err.strip() == "hankelid-bench: interrupted"


@pytest.mark.slow  # a fresh interpreter importing torch: ~15 s on the shared machine
def test_ctrl_c_in_a_real_process(tmp_path, tiny_config):
    """SIGINT while the command runs: exit status 130, one line on stderr, no traceback."""
    script = (
        "import sys, signal, threading, os\n"
        "import hankelid_bench.runner as runner\n"
        "def slow(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    threading.Event().wait(30)\n"
        "runner.run_experiment = slow\n"
        "from hankelid_bench.cli import main\n"
        f"args = ['run', '--config', {str(tiny_config)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
        "sys.exit(main(args))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "hankelid-bench: interrupted"


def test_ddp_two_processes_gloo(tmp_path, tiny_config):
    """torchrun, 2 CPU processes: one record written once, sharded evaluation equals a single process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = [
        "--config",
        str(tiny_config),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--device",
        "cpu",
        "--no-progress",
        "--no-report",
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "hankelid_bench.cli",
        "run",
        "--out",
        str(tmp_path / "ddp"),
        *common,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (tmp_path / "ddp" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1
    ddp = json.loads(lines[0])
    assert (ddp["world_size"], ddp["batch_size"]) == (2, 8)
    assert main(["run", "--out", str(tmp_path / "single"), *common]) == 0
    single = read_records(tmp_path / "single")[0]
    # Same cached base, same adapter init: the evaluation before training is identical.
    assert ddp["value_before"] == pytest.approx(single["value_before"])
    assert ddp["trainable_params"] == single["trainable_params"]


def test_demo_prints_table_and_writes_report(tmp_path, tiny_config, capsys):
    from hankelid_bench.config import load_config
    from hankelid_bench.demo import demo_config, run_demo

    shipped = demo_config()
    assert shipped.seeds == [0, 1] and any(m.startswith("hrm") for m in shipped.methods)
    assert "lora" in shipped.methods and any(t.startswith("dfa:k=4") for t in shipped.tasks)
    cfg = load_config(tiny_config).replace(methods=["lora", "dora"], seeds=[0, 1])
    report = run_demo(
        tmp_path / "demo", device="cpu", cache_dir=tmp_path / "cache", config=cfg, progress=False
    )
    out = capsys.readouterr().out
    assert report.is_file() and "Command: `hankelid-bench demo`" in report.read_text()
    rows = [line.split() for line in out.splitlines() if "seeds)" in line]
    assert [(r[0], r[1], r[r.index("seeds)") - 1]) for r in rows] == [
        ("parity(T=4)", "lora", "(2"),
        ("parity(T=4)", "dora", "(2"),
    ]
    # the rates used are printed, and the chance / shortcut table follows the results
    assert all("lr" in r for r in rows) and "Without tracking state" in out
    assert shipped.train.lr_grid and len(shipped.train.lr_grid) <= 3  # a small grid keeps it short
