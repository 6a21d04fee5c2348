"""plot.frequency_response with frequency-response data overlaid."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_data_are_drawn_as_markers_at_their_frequencies() -> None:
    sys = hk.random_stable(4, 2, 2, seed=61)
    frd = hk.FRData.from_system(sys, np.r_[0.0, np.geomspace(0.1, 50, 20)])
    ax = hk.plot.frequency_response(sys, data=frd, labels=["model"])
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["model", "data"]
    x, y = lines[1].get_data()
    np.testing.assert_allclose(x, frd.omega[1:])  # omega = 0 has no place on a log axis
    np.testing.assert_allclose(y, np.linalg.norm(frd.response[1:], 2, axis=(1, 2)))
    # The model's line spans the data's band.
    assert lines[0].get_xdata().min() <= 0.1 + 1e-12 and lines[0].get_xdata().max() >= 50 - 1e-9
    matplotlib.pyplot.close("all")


def test_bode_plot_of_one_entry_in_db_and_degrees() -> None:
    sys = hk.random_stable(4, 2, 3, dt=0.1, seed=62)
    frd = hk.FRData.from_system(sys, np.linspace(0.5, np.pi / 0.1, 15))
    mag, phase = hk.plot.frequency_response([sys], data=frd, entry=(2, 1), bode=True)
    g = frd.response[:, 2, 1]
    np.testing.assert_allclose(mag.get_lines()[1].get_ydata(), 20 * np.log10(np.abs(g)))
    np.testing.assert_allclose(phase.get_lines()[1].get_ydata(), np.rad2deg(np.unwrap(np.angle(g))))
    matplotlib.pyplot.close("all")


def test_bad_plot_requests_raise() -> None:
    sys = hk.random_stable(3, 2, 2, seed=63)
    with pytest.raises(ValueError, match="entry"):
        hk.plot.frequency_response(sys, bode=True)
    with pytest.raises(ValueError, match="out of range"):
        hk.plot.frequency_response(sys, entry=(2, 0))
    with pytest.raises(ValueError, match="no systems"):
        hk.plot.frequency_response([])
    matplotlib.pyplot.close("all")
