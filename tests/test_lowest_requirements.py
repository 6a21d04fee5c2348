"""``scripts/lowest_requirements.py``: the pins ``make test-oldest`` installs, read from a pyproject."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "lowest_requirements.py"

PYPROJECT = """
[project]
name = "demo-pkg"
dependencies = ["numpy>=1.24", "scipy>=1.15,<3"]

[project.optional-dependencies]
plot = ["matplotlib>=3.7"]
torch = ["torch>=2.4", "tomli>=2; python_version < '3.0'", "Safetensors>=0.4.3"]
docs = ["mkdocstrings[python]>=0.26"]
all = ["demo-pkg[plot,torch]", "Demo_Pkg[docs]"]
"""


def _run(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pyproject.toml").write_text(text)
    (tmp_path / "requirements.lock").write_text("# header\nmkdocstrings==1.0.8\nnumpy==2.4.6\n")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--pyproject", str(tmp_path / "pyproject.toml"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def _pins(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("#")]


def test_all_extras_expand_through_self_references_and_markers(tmp_path: Path) -> None:
    res = _run(tmp_path, PYPROJECT)
    assert res.returncode == 0, res.stderr
    # tomli's marker is false on every Python 3; names are canonicalized; extras are dropped from pins.
    assert _pins(res.stdout) == [
        "matplotlib==3.7",
        "mkdocstrings==0.26",
        "numpy==1.24",
        "safetensors==0.4.3",
        "scipy==1.15",
        "torch==2.4",
    ]


def test_selected_extras_only(tmp_path: Path) -> None:
    res = _run(tmp_path, PYPROJECT, "--extras", "plot")
    assert _pins(res.stdout) == ["matplotlib==3.7", "numpy==1.24", "scipy==1.15"]


def test_keep_locked_and_pin_override(tmp_path: Path) -> None:
    out = tmp_path / "lowest.txt"
    res = _run(
        tmp_path,
        PYPROJECT,
        *("--from-lock", "requirements.lock", "--keep-locked", "mkdocstrings"),
        *("--pin", "torch==2.13.0", "--pin", "numpy==2.0.0", "-o", str(out)),
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    pins = _pins(out.read_text())
    assert "mkdocstrings==1.0.8" in pins
    assert "torch==2.13.0" in pins and "torch==2.4" not in pins
    assert "numpy==2.0.0" in pins and "numpy==1.24" not in pins


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (PYPROJECT.replace("numpy>=1.24", "numpy<3"), (), "numpy<3: no lower bound"),
        (PYPROJECT, ("--extras", "nope"), "unknown extra 'nope'"),
        (PYPROJECT, ("--pin", "torch>=2.13"), "give an exact version"),
        (PYPROJECT, ("--from-lock", "requirements.lock", "--keep-locked", "torch"), "not pinned in"),
        (PYPROJECT.replace('"matplotlib>=3.7"', '"matplotlib>=3.7", "numpy>=2"'), (), "two lower bounds"),
    ],
)
def test_refuses_what_it_cannot_pin(tmp_path: Path, text: str, args: tuple[str, ...], message: str) -> None:
    res = _run(tmp_path, text, *args, "-o", str(tmp_path / "lowest.txt"))
    assert res.returncode != 0
    assert message in res.stderr
    assert not (tmp_path / "lowest.txt").exists()
