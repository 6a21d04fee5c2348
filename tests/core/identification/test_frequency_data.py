"""FRData: validation, constructors, files, and the frequency-domain compare."""

from __future__ import annotations

import numpy as np
import pytest

import hankelid as hk


def _frd(K: int = 20, dt: float | None = None) -> tuple[hk.StateSpace, hk.FRData]:
    sys = hk.random_stable(4, 2, 3, dt=dt, seed=5)
    w = np.linspace(0.0, np.pi / dt, K) if dt else np.geomspace(0.05, 100.0, K)
    return sys, hk.FRData.from_system(sys, w)


@pytest.mark.parametrize(
    ("omega", "response", "match"),
    [
        ([1.0, 3.0, 2.0], np.ones(3), "strictly increasing"),
        ([1.0, 2.0, 2.0], np.ones(3), "strictly increasing"),
        ([1.0, np.nan], np.ones(2), "NaN"),
        ([-1.0, 2.0], np.ones(2), "non-negative"),
        ([1.0, 2.0], np.ones(3), "response has 3 frequencies but omega has 2"),
        ([1.0, 2.0], [1.0, np.nan], "NaN"),
        ([1.0, 2.0], [1.0, np.inf], "inf"),
        ([1.0, 2.0], np.ones((2, 2)), r"shape \(K, p, m\)"),
        ([[1.0, 2.0]], np.ones(2), "1-D"),
        ([], np.ones(0), "empty"),
    ],
)
def test_bad_data_raise_value_errors_that_name_the_problem(omega, response, match) -> None:
    with pytest.raises(ValueError, match=match):
        hk.FRData(omega, response)


def test_discrete_frequencies_are_rad_per_second_up_to_nyquist() -> None:
    # 0.5 s sampling: Nyquist at 2*pi rad/s; a rad/sample grid up to pi would be accepted, but
    # pi * 4 is beyond Nyquist and must be refused.
    hk.FRData([0.0, 2 * np.pi], [1.0, 1.0], dt=0.5)
    with pytest.raises(ValueError, match="Nyquist"):
        hk.FRData([1.0, 4 * np.pi], [1.0, 1.0], dt=0.5)


def test_weights_names_and_coherence_are_checked() -> None:
    with pytest.raises(ValueError, match="one entry per frequency"):
        hk.FRData([1.0, 2.0], [1.0, 1.0], weights=[1.0])
    with pytest.raises(ValueError, match="non-negative"):
        hk.FRData([1.0, 2.0], [1.0, 1.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="input_names"):
        hk.FRData([1.0, 2.0], [1.0, 1.0], input_names=["a", "b"])
    with pytest.raises(ValueError, match="coherence"):
        hk.FRData([1.0, 2.0], [1.0, 1.0], coherence=np.ones((3, 1)))


def test_from_system_samples_the_transfer_function_at_the_right_points() -> None:
    for dt in (None, 0.2):
        sys, frd = _frd(dt=dt)
        pts = 1j * frd.omega if dt is None else np.exp(1j * frd.omega * dt)
        np.testing.assert_allclose(frd.points(), pts)
        A, B, C, D = sys
        direct = np.stack([C @ np.linalg.solve(z * np.eye(4) - A, B) + D for z in pts])
        np.testing.assert_allclose(frd.response, direct, rtol=1e-12, atol=1e-14)
        assert (frd.K, frd.p, frd.m, frd.dt) == (20, 3, 2, dt)


def test_arrays_are_read_only_copies() -> None:
    omega = np.array([1.0, 2.0])
    resp = np.array([1.0 + 1j, 2.0])
    frd = hk.FRData(omega, resp)
    omega[0] = 5.0
    assert frd.omega[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        frd.response[0, 0, 0] = 0.0


def test_npz_round_trip_keeps_everything(tmp_path) -> None:
    _, frd = _frd(dt=0.1)
    frd = hk.FRData(
        frd.omega,
        frd.response,
        0.1,
        weights=np.linspace(1, 2, 20),
        input_names=["u1", "u2"],
        output_names=["a", "b", "c"],
    )
    frd.save(tmp_path / "d.npz")
    back = hk.FRData.from_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.response, frd.response)
    np.testing.assert_array_equal(back.weights, frd.weights)
    assert back.dt == 0.1 and back.input_names == ("u1", "u2") and back.output_names == ("a", "b", "c")
    _, cont = _frd()
    cont.save(tmp_path / "c.npz")
    assert hk.FRData.from_npz(tmp_path / "c.npz").dt is None


def test_csv_round_trip_and_formats(tmp_path) -> None:
    _, frd = _frd()
    frd.save(tmp_path / "d.csv")
    back = hk.FRData.from_csv(tmp_path / "d.csv", p=3, m=2)
    np.testing.assert_allclose(back.response, frd.response, rtol=1e-15)
    with pytest.raises(ValueError, match="1 \\+ 2\\*p\\*m = 5"):
        hk.FRData.from_csv(tmp_path / "d.csv", p=1, m=2)
    # dB / degrees, frequency in Hz: 20 dB at -45 degrees is 10 exp(-j pi/4).
    (tmp_path / "m.csv").write_text("# f, dB, deg\n0.5,20,-45\n1.0,0,0\n")
    m = hk.FRData.from_csv(tmp_path / "m.csv", format="db-deg", frequency_unit="Hz")
    np.testing.assert_allclose(m.omega, [np.pi, 2 * np.pi])
    np.testing.assert_allclose(m.response[0, 0, 0], 10 * np.exp(-1j * np.pi / 4))
    with pytest.raises(ValueError, match="format"):
        hk.FRData.from_csv(tmp_path / "m.csv", format="polar")


def test_compare_reports_relative_error_per_frequency_and_weighted_rms() -> None:
    sys, frd = _frd()
    w = np.linspace(0.5, 2.0, frd.K)
    frd = hk.FRData(frd.omega, frd.response, weights=w)
    other = hk.random_stable(4, 2, 3, seed=6)
    cmp = frd.compare(sys, other)
    assert cmp.relative_error.shape == (2, frd.K)
    np.testing.assert_allclose(cmp.relative_error[0], 0.0, atol=1e-13)
    G, Go = frd.response, other.frequency_response(frd.omega)
    # Independent formula, entry by entry.
    per = [np.sqrt(np.sum(np.abs(G[k] - Go[k]) ** 2) / np.sum(np.abs(G[k]) ** 2)) for k in range(frd.K)]
    np.testing.assert_allclose(cmp.relative_error[1], per, rtol=1e-12)
    num = sum(w[k] * np.sum(np.abs(G[k] - Go[k]) ** 2) for k in range(frd.K))
    den = sum(w[k] * np.sum(np.abs(G[k]) ** 2) for k in range(frd.K))
    np.testing.assert_allclose(cmp.rms[1], np.sqrt(num / den), rtol=1e-12)
    np.testing.assert_allclose(cmp.fit, 100 * (1 - cmp.rms))
    np.testing.assert_allclose(hk.frequency_compare(frd, other).rms, cmp.rms[1:])


def test_compare_refuses_mismatched_models() -> None:
    _, frd = _frd()
    with pytest.raises(ValueError, match="shape"):
        frd.compare(hk.random_stable(3, 1, 1, seed=0))
    with pytest.raises(ValueError, match="discrete time"):
        frd.compare(hk.random_stable(3, 2, 3, dt=0.1, seed=0))
    with pytest.raises(ValueError, match="at least one model"):
        frd.compare()
    with pytest.raises(TypeError, match="FRData"):
        hk.frequency_compare(np.ones(3), hk.random_stable(2, seed=0))


def test_subsets_keep_the_metadata() -> None:
    _, frd = _frd()
    sub = frd[::2]
    assert sub.K == 10 and sub.dt == frd.dt
    np.testing.assert_array_equal(sub.response, frd.response[::2])
