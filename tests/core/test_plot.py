"""Plots return Axes, work headless (Agg), and show what they claim."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import hankelid as hk  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_hankel_spectrum_from_system_and_values() -> None:
    sys = hk.random_stable(7, seed=0)
    ax = hk.plot.hankel_spectrum(sys)
    assert ax.get_yscale() == "log"
    y = ax.get_lines()[0].get_ydata()
    assert np.allclose(y, hk.hsv(sys))
    assert len(ax.get_lines()) == 2  # HSVs and the bound curve
    ax2 = hk.plot.hankel_spectrum([1.0, 0.1, 0.01], bounds=False)
    assert len(ax2.get_lines()) == 1


def test_hankel_spectrum_marks_unstable_modes() -> None:
    sys = hk.StateSpace(np.diag([1.0, -1.0, -2.0]), np.ones((3, 1)), np.ones((1, 3)))
    ax = hk.plot.hankel_spectrum(sys)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "unstable mode" in labels


def test_hankel_spectrum_into_given_axes_and_errors() -> None:
    _, ax = plt.subplots()
    assert hk.plot.hankel_spectrum([2.0, 1.0], ax=ax) is ax
    with pytest.raises(ValueError, match="no Hankel"):
        hk.plot.hankel_spectrum([])


def test_error_bounds_plot() -> None:
    sys = hk.random_stable(6, 1, 1, dt=0.5, seed=3)
    ax = hk.plot.error_bounds(sys, orders=[1, 2, 3])
    bound, actual, lower = (line.get_ydata() for line in ax.get_lines())
    assert np.all(lower <= actual * (1 + 1e-6)) and np.all(actual <= bound * (1 + 1e-6))
    reds = [hk.balanced_truncation(sys, r) for r in (1, 2, 3)]
    assert np.allclose(bound, [r.error_bound for r in reds])


def test_frequency_response_comparison(tmp_path) -> None:
    sys = hk.random_stable(6, seed=2)
    red = hk.balanced_truncation(sys, 2).system
    w = np.geomspace(0.1, 10, 50)
    ax = hk.plot.frequency_response([sys, red], w=w, labels=["full", "r=2"])
    lines = ax.get_lines()
    assert len(lines) == 2 and np.allclose(lines[0].get_xdata(), w)
    assert np.allclose(lines[0].get_ydata(), np.abs(sys.frequency_response(w)[:, 0, 0]))
    ax.figure.savefig(tmp_path / "fr.png")
    assert (tmp_path / "fr.png").stat().st_size > 0
    # one system, default grid, discrete time
    ax = hk.plot.frequency_response(hk.random_stable(4, dt=0.1, seed=1))
    assert ax.get_lines()[0].get_xdata().max() == pytest.approx(np.pi / 0.1)
    with pytest.raises(ValueError, match="labels"):
        hk.plot.frequency_response([sys, red], labels=["one"])


def test_demo_writes_plots_and_json(tmp_path, capsys) -> None:
    import json

    from hankelid.demo import run_demo

    summary = run_demo(tmp_path / "demo")
    out = capsys.readouterr().out
    assert summary["all_bounds_hold"]
    assert "heat_equation" in out and "s4d_ssm" in out and "bound 2*sum" in out
    for name in ("heat_equation.png", "s4d_ssm.png", "summary.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    data = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert set(data["cases"]) == {"heat_equation", "s4d_ssm"}
