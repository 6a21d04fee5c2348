"""Spec strings, TOML configs and the shipped presets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hankelid_bench.config import ExperimentConfig, format_spec, load_config, parse_spec

PRESETS = sorted((Path(__file__).resolve().parents[2] / "hankelid_bench" / "grids").glob("*.toml"))

_keys = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_values = st.one_of(
    st.integers(-1000, 1000), st.booleans(), st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True)
)


@given(st.dictionaries(_keys, _values, max_size=4))
def test_spec_roundtrip(options):
    options = {k: v for k, v in options.items() if not (isinstance(v, str) and v in ("true", "false"))}
    assert parse_spec(format_spec("hrm", options)) == ("hrm", options)


@pytest.mark.parametrize("bad", ["", "hrm:init", "hrm:=3", 5])
def test_bad_specs(bad):
    with pytest.raises(ValueError):
        parse_spec(bad)


def test_toml_config(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        'seeds = [3, 4]\ntasks = ["parity:T=8"]\nmethods = ["lora"]\n[train]\nsteps = 7\n[base]\nlayers = 1\n'
    )
    cfg = load_config(path)
    assert (cfg.name, cfg.seeds, cfg.train.steps, cfg.base.layers) == ("grid", [3, 4], 7, 1)
    assert cfg.cells() == [("parity:T=8", "lora", 3, 0), ("parity:T=8", "lora", 4, 0)]
    assert cfg.replace(train_steps=9, seeds=None).train.steps == 9


@pytest.mark.parametrize(
    "text, match",
    [
        ("bogus = 1\n", "unknown configuration field"),
        ("seeds = [\n", "invalid TOML"),
        ('protocol = "x"\n', "protocol"),
        ("seeds = [1, 1]\n", "distinct"),
        ("[train]\nsteps = -1\n", "steps"),
    ],
)
def test_bad_toml(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_replace_rejects_unknown_field():
    with pytest.raises(ValueError, match="unknown configuration field"):
        ExperimentConfig().replace(train_bogus=1)


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_load_and_name_valid_tasks_and_methods(path):
    from hankelid_bench.methods import METHODS
    from hankelid_bench.tasks import make_task

    cfg = load_config(path)
    assert len(cfg.seeds) >= 3
    for spec in cfg.tasks:
        name, params = parse_spec(spec)
        make_task(name, **params)
    for spec in cfg.methods:
        assert parse_spec(spec)[0] in METHODS
