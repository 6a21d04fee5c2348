"""IOData: validation, slicing, splitting, detrending, merging and loaders."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk


def _record(n=50, m=2, p=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)), rng.standard_normal((n, p))


def test_shapes_and_copies():
    u, y = _record()
    u0, y0 = u.copy(), y.copy()
    data = hk.IOData(u, y, dt=0.5)
    assert (data.m, data.p, data.n_experiments, data.n_samples, data.dt) == (2, 3, 1, (50,), 0.5)
    assert data.input_names == ("u1", "u2") and data.output_names == ("y1", "y2", "y3")
    # stored copies: changing the caller's arrays changes nothing, and ours are read-only
    u[0, 0] = 99.0
    assert data.u[0][0, 0] == u0[0, 0]
    with pytest.raises(ValueError, match="read-only"):
        data.y[0][0, 0] = 1.0
    np.testing.assert_array_equal(y, y0)


def test_siso_1d_and_integer_input():
    data = hk.IOData(np.arange(5), np.arange(5) * 2)
    assert data.u[0].shape == (5, 1) and data.u[0].dtype == np.float64


def test_several_experiments():
    u1, y1 = _record(40, seed=1)
    u2, y2 = _record(30, seed=2)
    data = hk.IOData([u1, u2], [y1, y2])
    assert data.n_experiments == 2 and data.n_samples == (40, 30)
    np.testing.assert_array_equal(data.y[1], y2)


@pytest.mark.parametrize(
    ("u", "y", "match"),
    [
        (np.zeros((10, 1)), np.zeros((9, 1)), "same number of samples.*u has 10, y has 9"),
        ([np.zeros((10, 1)), np.zeros((5, 2))], [np.zeros((10, 1)), np.zeros((5, 1))], "number of inputs"),
        ([np.zeros((10, 1)), np.zeros((5, 1))], [np.zeros((10, 1)), np.zeros((5, 2))], "number of outputs"),
        ([np.zeros(10), np.zeros(5)], np.zeros(10), "u has 2 experiment"),
        (np.zeros((2, 3, 4)), np.zeros(2), "u must be 1-D .* or 2-D"),
        (np.array(["a", "b"]), np.zeros(2), "u must be numeric"),
        (np.zeros(3) + 1j, np.zeros(3), "u must be real"),
        (np.zeros((0, 1)), np.zeros((0, 1)), "at least one sample"),
    ],
)
def test_bad_input(u, y, match):
    with pytest.raises(ValueError, match=match):
        hk.IOData(u, y)


def test_nan_names_array_and_index():
    y = np.zeros((20, 2))
    y[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN \(first at sample 7, channel 1\)"):
        hk.IOData(np.zeros(20), y)
    u = [np.zeros(5), np.array([0.0, np.inf, 0.0])]
    with pytest.raises(ValueError, match=r"u\[1\] contains inf \(first at sample 1"):
        hk.IOData(u, [np.zeros(5), np.zeros(3)])


def test_bad_dt_and_names():
    with pytest.raises(ValueError, match="dt"):
        hk.IOData(np.zeros(5), np.zeros(5), dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        hk.IOData(np.zeros(5), np.zeros(5), dt=None)
    with pytest.raises(ValueError, match="output_names must have 1 entries"):
        hk.IOData(np.zeros(5), np.zeros(5), output_names=["a", "b"])


def test_check_length_message():
    data = hk.IOData([np.zeros(80), np.zeros(40)], [np.zeros(80), np.zeros(40)])
    data.check_length(40)
    with pytest.raises(
        ValueError,
        match="n4sid with horizon 20 needs at least 61 samples per experiment; experiment 1 has 40",
    ):
        data.check_length(61, "n4sid with horizon 20")


def test_slicing_split():
    u, y = _record(50)
    data = hk.IOData(u, y)
    part = data[10:20]
    np.testing.assert_array_equal(part.u[0], u[10:20])
    np.testing.assert_array_equal(part.y[0], y[10:20])
    est, val = data.split(0.7)
    np.testing.assert_array_equal(est.y[0], y[:35])
    np.testing.assert_array_equal(val.y[0], y[35:])
    with pytest.raises(ValueError, match="fraction"):
        data.split(1.0)
    with pytest.raises(ValueError, match="step 1"):
        data[::2]
    with pytest.raises(ValueError, match="leaves no samples"):
        data[30:10]
    with pytest.raises(TypeError, match="time slice"):
        data[3]


def test_detrend_against_numpy_polyfit_and_retrend():
    rng = np.random.default_rng(3)
    n = 60
    k = np.arange(n)
    y = np.column_stack([2.0 + 0.3 * k, -1.0 - 0.1 * k]) + 0.01 * rng.standard_normal((n, 2))
    u = rng.standard_normal(n) + 5.0
    data = hk.IOData(u, y)
    lin = data.detrend("linear")
    for j in range(2):
        slope, off = np.polyfit(k, y[:, j], 1)
        np.testing.assert_allclose(lin.trend.y_slope[0, j], slope, rtol=1e-10)
        np.testing.assert_allclose(lin.trend.y_offset[0, j], off, rtol=1e-10)
        np.testing.assert_allclose(lin.y[0][:, j], y[:, j] - (off + slope * k), atol=1e-10)
    const = data.detrend()
    np.testing.assert_allclose(const.u[0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(const.trend.u_offset[0], [u.mean()])
    # the trend follows slices and splits, so re-adding it restores the original samples
    np.testing.assert_allclose(lin[13:40].retrend().y[0], y[13:40], atol=1e-10)
    _, val = lin.split(0.5)
    np.testing.assert_allclose(val.retrend().y[0], y[30:], atol=1e-10)
    np.testing.assert_allclose(lin.detrend("constant").retrend().u[0][:, 0], u, atol=1e-10)
    with pytest.raises(ValueError, match="kind"):
        data.detrend("quadratic")


def test_merge():
    a = hk.IOData(np.zeros((10, 2)), np.ones(10), dt=0.1)
    b = hk.IOData(np.ones((6, 2)), np.zeros(6), dt=0.1).detrend()
    merged = hk.IOData.merge(a, b)
    assert merged.n_samples == (10, 6) and merged.trend.u_offset.shape == (2, 2)
    np.testing.assert_array_equal(merged.trend.u_offset[0], [0.0, 0.0])
    assert merged.experiment(1).n_samples == (6,)
    with pytest.raises(ValueError, match="different dt"):
        hk.IOData.merge(a, hk.IOData(np.zeros((10, 2)), np.ones(10), dt=0.2))
    with pytest.raises(ValueError, match="channel counts"):
        hk.IOData.merge(a, hk.IOData(np.zeros(10), np.ones(10), dt=0.1))
    with pytest.raises(TypeError, match="argument 1"):
        hk.IOData.merge(a, np.zeros(3))


def test_csv_npz_dataframe_roundtrip(tmp_path):
    t = np.arange(12) * 0.25
    u, y = _record(12, m=1, p=2, seed=4)
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.column_stack([t, u, y]), delimiter=",", header="time,force,x1,x2", comments="")
    data = hk.IOData.from_csv(
        path, inputs=["force"], outputs=["x1", "x2"], time_column="time", output_units="m"
    )
    assert data.dt == pytest.approx(0.25) and data.output_names == ("x1", "x2")
    assert data.output_units == ("m", "m")
    np.testing.assert_allclose(data.y[0], y)
    with pytest.raises(ValueError, match="column 'nope' not found"):
        hk.IOData.from_csv(path, inputs=["nope"], outputs=["x1"])
    t_bad = t.copy()
    t_bad[5] += 0.1
    np.savetxt(path, np.column_stack([t_bad, u, y]), delimiter=",", header="time,force,x1,x2", comments="")
    with pytest.raises(ValueError, match="not uniformly"):
        hk.IOData.from_csv(path, inputs=["force"], outputs=["x1"], time_column="time")

    npz = tmp_path / "rec.npz"
    two = hk.IOData.merge(data, data[2:9])
    two.save_npz(npz)
    back = hk.IOData.from_npz(npz)
    assert back.n_samples == (12, 7) and back.output_units == ("m", "m") and back.dt == data.dt
    np.testing.assert_array_equal(back.y[1], data.y[0][2:9])

    frame = {"force": u[:, 0], "x1": y[:, 0], "time": t}
    from_frame = hk.IOData.from_dataframe(frame, inputs="force", outputs="x1", time_column="time")
    np.testing.assert_array_equal(from_frame.y[0][:, 0], y[:, 0])
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(frame)
    assert hk.IOData.from_dataframe(df, ["force"], ["x1"], dt=0.25).n_samples == (12,)


def test_buck_dataset_matches_its_csv_files_and_keeps_its_licence():
    import csv
    from importlib import resources

    est, val = hk.datasets.buck()
    folder = resources.files("hankelid.datasets") / "buck"
    for data, name in ((est, "buck_id.csv"), (val, "buck_valid.csv")):
        rows = list(csv.DictReader((folder / name).read_text().splitlines()))
        assert data.n_samples == (len(rows),)
        np.testing.assert_array_equal(data.u[0][:, 0], [float(r["input"]) for r in rows])
        np.testing.assert_array_equal(data.y[0][:, 0], [float(r["y"]) for r in rows])
        t = np.array([float(r["sampling_time"]) for r in rows])
        np.testing.assert_allclose(np.diff(t), data.dt, rtol=1e-6)
    assert est.dt == val.dt == 1e-5
    assert (est.input_names, est.output_names) == (("input",), ("y",))
    licence = (folder / "LICENSE").read_text()
    assert "MIT License" in licence and "Copyright (c) 2024 Wilson Rocha" in licence
    # the two records are consecutive and can be merged as two experiments
    assert hk.IOData.merge(est, val).n_samples == (1001, 999)
