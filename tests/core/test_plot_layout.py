"""Layout of the plots a control engineer reads: every order drawn, integer order axes, and
no log axis wasted on values below float64 resolution."""

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


def test_error_bounds_draws_every_order_by_default() -> None:
    sys = hk.random_stable(16, m=2, p=2, dt=1.0, seed=3)
    ax = hk.plot.error_bounds(sys)
    for line in ax.get_lines():
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, sys.n))


def test_order_axes_have_integer_ticks() -> None:
    sys = hk.random_stable(7, seed=4)
    for ax in (hk.plot.error_bounds(sys, orders=[1, 2, 3]), hk.plot.hankel_spectrum(sys)):
        ax.figure.canvas.draw()
        ticks = ax.get_xticks()
        assert np.allclose(ticks, np.round(ticks)), ticks


def _floor_patches(ax):
    return [p for p in ax.patches if p.get_label() == "below float64 precision"]


def test_spectrum_stops_at_float64_precision_with_a_shaded_band() -> None:
    # Heat-equation-like spectrum: decays far below sigma_1 * eps.
    sigma = 10.0 ** -np.arange(0, 40, 1.5)
    ax = hk.plot.hankel_spectrum(sigma, bounds=False)
    floor = sigma[0] * np.finfo(float).eps
    assert len(_floor_patches(ax)) == 1
    bottom, _top = ax.get_ylim()
    assert floor / 100 <= bottom < floor


def test_no_band_when_everything_is_resolved() -> None:
    ax = hk.plot.hankel_spectrum(np.array([1.0, 0.5, 1e-3]), bounds=False)
    assert _floor_patches(ax) == []


def test_frequency_response_floor_relative_to_the_peak() -> None:
    a = -np.logspace(0, 3, 12)
    sys = hk.StateSpace(np.diag(a), np.ones((12, 1)), np.ones((1, 12)) * 1e-3)
    w = np.logspace(-2, 30, 200)  # far past the poles: |G| falls far below peak * eps
    ax = hk.plot.frequency_response(sys, w=w)
    peak = np.abs(sys.frequency_response(w)).max()
    assert len(_floor_patches(ax)) == 1
    assert ax.get_ylim()[0] == pytest.approx(peak * np.finfo(float).eps / 10)
