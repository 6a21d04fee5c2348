"""The ``hankelid`` command line: output, files written, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import hankelid as hk
from hankelid.cli import main


@pytest.fixture
def files(tmp_path):
    cont = tmp_path / "cont.npz"
    disc = tmp_path / "disc.npz"
    hk.random_stable(8, 2, 1, seed=0).save(cont)
    hk.random_stable(7, 1, 1, dt=0.1, seed=1).save(disc)
    markov = tmp_path / "markov.npz"
    np.savez(markov, markov=hk.markov_parameters(hk.random_stable(4, 1, 2, dt=1.0, seed=2), 80))
    junk = tmp_path / "junk.npz"
    junk.write_text("not an archive")
    return {"cont": str(cont), "disc": str(disc), "markov": str(markov), "junk": str(junk), "dir": tmp_path}


def test_spectrum_prints_hsv_and_bounds(files, capsys) -> None:
    assert main(["spectrum", files["cont"]]) == 0
    out = capsys.readouterr().out
    sig = hk.hsv(hk.load(files["cont"]))
    assert "n=8, m=2, p=1, continuous" in out
    assert f"{sig[0]:.5e}" in out and f"{sig[-1]:.5e}" in out
    assert f"{2 * sig[1:].sum():.5e}" in out  # the bound at order 1


def test_spectrum_plot(files, capsys) -> None:
    pytest.importorskip("matplotlib")
    png = files["dir"] / "spectrum.png"
    assert main(["spectrum", files["disc"], "--plot", str(png)]) == 0
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_spectrum_empirical(files, capsys) -> None:
    assert main(["spectrum", files["disc"], "--empirical", "--inputs", "impulse", "--length", "400"]) == 0
    out = capsys.readouterr().out
    assert "empirical Gramians (impulse inputs, length 400)" in out
    sig = hk.hsv(hk.load(files["disc"]))
    assert f"{sig[0]:.4e}"[:5] in out
    assert (
        main(
            [
                "spectrum",
                files["disc"],
                "--empirical",
                "--inputs",
                "gaussian",
                "--length",
                "200",
                "--trajectories",
                "20",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert "20 trajectories" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra",
    [
        ["--order", "3"],
        ["--tol", "1e-3"],
        ["--order", "2", "--method", "bfsr"],
        ["--order", "3", "--match-dc"],
    ],
)
def test_reduce(files, capsys, extra) -> None:
    out_file = files["dir"] / "red.npz"
    assert main(["reduce", files["cont"], *extra, "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    red = hk.load(out_file)
    sys = hk.load(files["cont"])
    assert "kept" in out and "error bound" in out
    ref = hk.balanced_truncation(sys, **_kwargs(extra))
    assert red.n == ref.order
    w = np.array([0.0, 1.0, 5.0])
    assert np.allclose(red.frequency_response(w), ref.system.frequency_response(w))
    assert f"{ref.error_bound:.5e}" in out


def _kwargs(extra):
    kw = {}
    it = iter(extra)
    for flag in it:
        if flag == "--order":
            kw["order"] = int(next(it))
        elif flag == "--tol":
            kw["tol"] = float(next(it))
        elif flag == "--method":
            kw["method"] = next(it)
        elif flag == "--match-dc":
            kw["match_dc"] = True
    return kw


def test_identify(files, capsys) -> None:
    out_file = files["dir"] / "id.npz"
    assert main(["identify", files["markov"], "--order", "4", "--dt", "0.5", "-o", str(out_file)]) == 0
    sys = hk.load(out_file)
    assert sys.n == 4 and sys.dt == 0.5 and sys.shape == (2, 1)
    assert "ERA on 80 Markov parameters" in capsys.readouterr().out


def test_demo_command(tmp_path, capsys, monkeypatch) -> None:
    import hankelid.demo as demo

    calls = {}

    def fake(out_dir):
        calls["out"] = out_dir
        return {"all_bounds_hold": True}

    monkeypatch.setattr(demo, "run_demo", fake)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    assert calls["out"] == str(tmp_path / "d")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reduce", "{cont}", "--order", "20", "-o", "{dir}/x.npz"], "exceeds the system order"),
        (["reduce", "{dir}/missing.npz", "--order", "2", "-o", "{dir}/x.npz"], "no such file"),
        (["spectrum", "{junk}"], "not an .npz archive"),
        (["spectrum", "{dir}"], "directory"),
        (["identify", "{cont}", "-o", "{dir}/x.npz"], "no array 'markov'"),
        (["reduce", "{markov}", "--order", "2", "-o", "{dir}/x.npz"], "lacks the arrays"),
    ],
)
def test_user_errors_exit_2_without_traceback(files, capsys, argv, message) -> None:
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["reduce", "x.npz", "-o", "y.npz"],  # neither --order nor --tol
        ["reduce", "x.npz", "--order", "2", "--tol", "1e-3", "-o", "y.npz"],
        ["reduce", "x.npz", "--order", "0", "-o", "y.npz"],
        ["reduce", "x.npz", "--tol", "-1", "-o", "y.npz"],
        ["reduce", "x.npz", "--order", "2"],  # no output
        ["spectrum", "x.npz", "--inputs", "uniform"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_runs_as_module(files) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hankelid.cli", "spectrum", files["junk"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not an .npz archive" in proc.stderr
