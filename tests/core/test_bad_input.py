"""Bad input to the core and its CLI: a typed error that names the problem, and nothing written."""

from __future__ import annotations

import os

import numpy as np
import pytest

import hankelid as hk
from hankelid.cli import main


@pytest.fixture
def sys_file(tmp_path):
    path = tmp_path / "plant.npz"
    hk.random_stable(5, 2, 2, dt=1.0, seed=0).save(path)
    return path


# ------------------------------------------------------------------------------------------- save
def test_save_writes_exactly_the_path_given(tmp_path):
    sys = hk.random_stable(3, dt=0.5, seed=1)
    path = tmp_path / "no_suffix"
    sys.save(path)
    assert path.is_file() and not (tmp_path / "no_suffix.npz").exists()
    assert hk.load(path) == sys


def test_save_refuses_a_directory_and_an_existing_file_without_overwrite(tmp_path):
    sys = hk.random_stable(3, dt=0.5, seed=1)
    with pytest.raises(ValueError, match="is a directory"):
        sys.save(tmp_path)
    assert os.listdir(tmp_path) == []
    path = tmp_path / "s.npz"
    sys.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        hk.random_stable(2, dt=0.5, seed=2).save(path, overwrite=False)
    assert path.read_bytes() == before
    hk.random_stable(2, dt=0.5, seed=2).save(path, overwrite=True)
    assert hk.load(path).n == 2


def test_cli_reduce_output_rules(tmp_path, sys_file, capsys):
    out = tmp_path / "reduced"  # no suffix: written and reported as given
    assert main(["reduce", str(sys_file), "--order", "2", "-o", str(out)]) == 0
    assert f"wrote {out}\n" in capsys.readouterr().out
    assert out.is_file() and not (tmp_path / "reduced.npz").exists() and hk.load(out).n == 2

    assert main(["reduce", str(sys_file), "--order", "2", "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err

    before = sys_file.read_bytes()
    assert main(["reduce", str(sys_file), "--order", "2", "-o", str(sys_file)]) == 2
    err = capsys.readouterr().err
    assert "is the input file" in err and "--force" in err
    assert sys_file.read_bytes() == before
    # the same file through another spelling of its path is recognised too
    other = os.path.join(str(tmp_path), ".", sys_file.name)
    assert main(["reduce", str(sys_file), "--order", "2", "-o", other]) == 2
    assert main(["reduce", str(sys_file), "--order", "2", "-o", str(sys_file), "--force"]) == 0
    assert hk.load(sys_file).n == 2


# ------------------------------------------------------------------------------------------- load
def test_load_npy_and_corrupt_files(tmp_path):
    npy = tmp_path / "a.npy"
    np.save(npy, np.eye(2))
    with pytest.raises(ValueError, match=r"a\.npy: a single array .*not an \.npz archive"):
        hk.load(npy)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive at all")
    with pytest.raises(ValueError, match=r"bad\.npz: .*(readable|corrupt)"):
        hk.load(bad)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz"):
        hk.load(text)
    with pytest.raises(FileNotFoundError):
        hk.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("dt", [np.array("0.5"), np.array([0.1, 0.2]), np.array(["a", "b"])])
def test_load_dt_not_one_number(tmp_path, dt):
    path = tmp_path / "s.npz"
    np.savez(path, A=0.5 * np.eye(2), B=np.ones((2, 1)), C=np.ones((1, 2)), dt=dt)
    with pytest.raises(ValueError, match=r"s\.npz: dt must be one number"):
        hk.load(path)


# ------------------------------------------------------------------------------------- StateSpace
@pytest.mark.parametrize("which", ["B", "C", "D"])
def test_ragged_nested_lists_name_the_matrix(which):
    mats = {"A": [[0.5, 0.0], [0.0, 0.5]], "B": [[1.0], [1.0]], "C": [[1.0, 1.0]], "D": [[0.0]]}
    mats[which] = [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match=rf"^{which} could not be converted to an array \(ragged"):
        hk.StateSpace(mats["A"], mats["B"], mats["C"], mats["D"], dt=1.0)


@pytest.mark.parametrize("method", [None, 3, "foh"])
def test_c2d_method_lists_the_methods(method):
    sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match=r"unknown discretization method .*; use one of 'zoh', 'tustin'"):
        hk.c2d(sys, 0.1, method=method)


def test_transform_with_a_singular_T():
    sys = hk.random_stable(3, seed=0)
    with pytest.raises(ValueError, match="T is singular"):
        sys.transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"Ti must have shape \(3, 3\)"):
        sys.transform(np.eye(3), np.eye(2))
    # a proper T still works: the transformed system has the same Markov parameters
    T = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    same = sys.transform(T).c2d(0.1)
    np.testing.assert_allclose(hk.markov_parameters(same, 5), hk.markov_parameters(sys.c2d(0.1), 5))


def test_load_object_array_and_missing_matrices(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, A=np.array([None, 1], dtype=object), B=np.ones((1, 1)), C=np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"obj\.npz: .*unreadable array"):
        hk.load(path)
    path = tmp_path / "partial.npz"
    np.savez(path, A=np.eye(1))
    with pytest.raises(ValueError, match=r"partial\.npz lacks the arrays \['B', 'C'\]"):
        hk.load(path)
