"""``hankelid identify DATA`` and ``hankelid compare``: output, files written, exit codes, errors."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk
from hankelid.cli import main


@pytest.fixture
def files(tmp_path):
    true = hk.random_stable(4, 2, 1, dt=0.1, seed=3)
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1500, 2))
    y = hk.simulate(true, u) + 0.05 * rng.standard_normal((1500, 1))
    t = np.arange(1500) * 0.1
    csv = tmp_path / "rec.csv"
    np.savetxt(csv, np.c_[t, u, y], delimiter=",", header="time,u1,u2,y1", comments="")
    val = tmp_path / "val.csv"
    u2 = rng.standard_normal((600, 2))
    np.savetxt(
        val, np.c_[t[:600], u2, hk.simulate(true, u2)], delimiter=",", header="time,u1,u2,y1", comments=""
    )
    npz = tmp_path / "rec.npz"
    hk.IOData(u, y, dt=0.1).save_npz(npz)
    markov = tmp_path / "markov.npz"
    np.savez(markov, markov=hk.markov_parameters(hk.random_stable(3, 1, 2, dt=1.0, seed=2), 60))
    return {
        "true": true,
        "csv": str(csv),
        "val": str(val),
        "npz": str(npz),
        "markov": str(markov),
        "dir": tmp_path,
    }


ARGS = ["--inputs", "u1", "u2", "--outputs", "y1", "--time-column", "time"]


@pytest.mark.parametrize("method", ["n4sid", "moesp", "cva", "okid"])
def test_identify_csv_prints_order_table_and_fits(files, capsys, method):
    out_path = files["dir"] / f"model_{method}.npz"
    assert (
        main(["identify", files["csv"], *ARGS, "--method", method, "--order", "auto", "-o", str(out_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert f"method {method}: order 4 (auto)" in out
    assert "<- order" in out
    assert f"wrote {out_path}" in out
    model = hk.load(out_path)
    assert (model.n, model.m, model.p) == (4, 2, 1) and model.dt == pytest.approx(0.1, rel=1e-12)
    # the printed validation fit is the fit of the saved model on the held-out 30 %
    data = hk.IOData.from_csv(files["csv"], ["u1", "u2"], ["y1"], time_column="time").detrend()
    _, val = data.split(0.7)
    fit = hk.compare(val, model).fit[0, 0]
    assert f"fit on validation data: y1 {fit:.2f}%" in out
    assert fit > 85
    with np.load(out_path) as f:
        assert f["K"].shape == (4, 1)


def test_identify_writes_exactly_the_named_files(files, capsys):
    out_path = files["dir"] / "model-without-suffix"
    plots = files["dir"] / "plots"
    assert main(["identify", files["csv"], *ARGS, "-o", str(out_path), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert out_path.exists() and not (files["dir"] / "model-without-suffix.npz").exists()
    written = {line.split("wrote ", 1)[1] for line in out.splitlines() if line.startswith("wrote ")}
    assert str(out_path) in written
    expected = {str(plots / name) for name in ("order_selection.png", "compare.png", "residuals.png")}
    assert expected <= written
    assert {str(p) for p in plots.iterdir()} == expected  # nothing else is written
    for path in written:
        with open(path, "rb") as f:
            head = f.read(8)
        assert head[:2] == b"PK" or head == b"\x89PNG\r\n\x1a\n"


def test_identify_era_route_through_impulse_estimate(files, capsys):
    out_path = files["dir"] / "era.npz"
    assert (
        main(["identify", files["csv"], *ARGS, "--method", "era", "--order", "4", "-o", str(out_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "method era: order 4" in out
    data = hk.IOData.from_csv(files["csv"], ["u1", "u2"], ["y1"], time_column="time").detrend()
    fit = hk.compare(data.split(0.7)[1], hk.load(out_path)).fit[0, 0]
    assert f"fit on validation data: y1 {fit:.2f}%" in out and fit > 85


def test_identify_with_validation_file_and_fraction(files, capsys):
    out_path = str(files["dir"] / "m.npz")
    assert (
        main(
            [
                "identify",
                files["csv"],
                *ARGS,
                "--validation-file",
                files["val"],
                "--order",
                "4",
                "-o",
                out_path,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"validation: 600 samples from {files['val']}" in out
    assert "estimation: 1500 samples" in out
    assert main(["identify", files["csv"], *ARGS, "--validation", "0.5", "-o", out_path]) == 0
    assert "estimation: 750 samples" in capsys.readouterr().out


def test_identify_npz_data_and_markov_still_works(files, capsys):
    out_path = str(files["dir"] / "m.npz")
    assert main(["identify", files["npz"], "-o", out_path]) == 0
    assert "order 4" in capsys.readouterr().out
    # the original ERA route: an npz with 'markov'
    assert main(["identify", files["markov"], "-o", out_path]) == 0
    out = capsys.readouterr().out
    assert "ERA on 60 Markov parameters" in out and hk.load(out_path).n == 3


def test_compare_prints_fit_of_each_model(files, capsys):
    m1, m2 = str(files["dir"] / "a.npz"), str(files["dir"] / "b.npz")
    assert main(["identify", files["csv"], *ARGS, "--order", "4", "-o", m1]) == 0
    assert main(["identify", files["csv"], *ARGS, "--order", "2", "-o", m2]) == 0
    capsys.readouterr()
    png = files["dir"] / "cmp.png"
    assert main(["compare", files["val"], m1, m2, *ARGS, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    data = hk.IOData.from_csv(files["val"], ["u1", "u2"], ["y1"], time_column="time").detrend()
    fits = hk.compare(data, hk.load(m1), hk.load(m2)).fit[:, 0]
    assert f"{fits[0]:.2f}%" in out and f"{fits[1]:.2f}%" in out
    assert fits[0] > fits[1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", files["val"], m1, *ARGS, "--horizon", "1"]) == 0
    assert "1-step prediction" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["identify", "{dir}/missing.csv", *ARGS, "-o", "{dir}/m.npz"], "no such file"),
        (
            ["identify", "{csv}", "--inputs", "u1", "u9", "--outputs", "y1", "-o", "{dir}/m.npz"],
            "column 'u9' not found",
        ),
        (["identify", "{csv}", "-o", "{dir}/m.npz"], "--inputs"),
        (["identify", "{markov}", "--inputs", "u1", "-o", "{dir}/m.npz"], "Markov parameters"),
        (["identify", "{csv}", *ARGS, "--order", "40", "--horizon", "5", "-o", "{dir}/m.npz"], "horizon"),
        (
            ["identify", "{csv}", *ARGS, "--method", "okid", "--horizon", "5", "-o", "{dir}/m.npz"],
            "--horizon",
        ),
        (["identify", "{csv}", *ARGS, "-o", "{dir}/nodir/m.npz"], "cannot write"),
        (["compare", "{csv}", "{csv}", *ARGS], "not an .npz model file"),
        (["compare", "{csv}", "{markov}", *ARGS], "lacks the arrays"),
        (["identify", "{junk}", "--inputs", "a", "--outputs", "b", "-o", "{dir}/m.npz"], "junk.csv"),
    ],
)
def test_bad_input_exit_2_with_one_line(files, capsys, argv, message):
    junk = files["dir"] / "junk.csv"
    junk.write_bytes(b"\x00\xff\xfe garbage\n1,2\n")
    subs = {"dir": str(files["dir"]), "csv": files["csv"], "markov": files["markov"], "junk": str(junk)}
    argv = [a.format(**subs) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_usage_is_argparse_exit_2(files):
    for argv in (
        ["identify", files["csv"], *ARGS, "--order", "0", "-o", "m.npz"],
        ["identify", files["csv"], *ARGS, "--validation", "1.5", "-o", "m.npz"],
        ["identify", files["csv"], *ARGS, "--method", "pem", "-o", "m.npz"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
