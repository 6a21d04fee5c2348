"""Experiment configuration: spec strings, TOML files and the `ExperimentConfig`.

A task or method is written as `name` or `name:key=value,key=value`, for example
`dfa:k=4,T=64`, `charlm:T=256,path=/data/enwik8`, `hrm:init=s4d` or `hrm:reduce_to=8`.
Values are parsed as int, float, bool (`true`/`false`) or left as strings. A TOML file holds
the same fields as `ExperimentConfig` (see `hankelid_bench/grids/*.toml`):

```text
protocol = "adapt"            # or "scratch": fresh model, all parameters trainable
seeds = [0, 1, 2]
base_seeds = [0, 1]           # pre-training seeds of the base model (a grid axis; default [base.seed])
reference_rank = 4
tasks = ["dfa:k=4,T=64", "parity:T=64", "charlm:T=256"]
methods = ["hrm", "lora", "dora", "ssmlora"]
[train]                       # TrainConfig fields
steps = 300
lr_grid = [1e-3, 3e-3, 1e-2, 3e-2]   # per-cell selection on the validation split
gate_lr_grid = [1e-2, 3e-2]          # gates' own rates (methods with gates only)
[base]                        # BaseModelSpec fields
steps = 300
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base_model import BaseModelSpec
from .train import TrainConfig

__all__ = ["ExperimentConfig", "format_spec", "load_config", "parse_spec"]

PROTOCOLS = ("adapt", "scratch")


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split `name:key=value,...` into the name and a dict of parsed values.

    Examples
    --------
    >>> parse_spec("dfa:k=4,T=64")
    ('dfa', {'k': 4, 'T': 64})
    >>> parse_spec("hrm:init=s4d,gate_init=0.1")
    ('hrm', {'init': 's4d', 'gate_init': 0.1})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a spec must be a non-empty string, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad option {item!r} in spec {spec!r}: expected key=value")
        options[key.strip()] = _parse_value(value.strip())
    return name.strip(), options


def format_spec(name: str, options: dict[str, Any]) -> str:
    """Inverse of `parse_spec` (options in the given order).

    Examples
    --------
    >>> format_spec("hrm", {"init": "s4d"}), format_spec("lora", {})
    ('hrm:init=s4d', 'lora')
    """
    if not options:
        return name
    return f"{name}:" + ",".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items()
    )


@dataclass
class ExperimentConfig:
    """A grid of (task, method, seed) cells with a shared training budget.

    Examples
    --------
    >>> cfg = ExperimentConfig(tasks=["parity:T=8"], methods=["lora"], seeds=[0, 1], base_seeds=[0, 5])
    >>> len(cfg.cells()), cfg.cells()[-1]
    (4, ('parity:T=8', 'lora', 1, 5))
    """

    tasks: list[str] = field(default_factory=lambda: ["dfa:k=4,T=64"])
    methods: list[str] = field(default_factory=lambda: ["hrm", "lora"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    protocol: str = "adapt"
    reference_rank: int = 4
    train: TrainConfig = field(default_factory=TrainConfig)
    base: BaseModelSpec = field(default_factory=BaseModelSpec)
    base_path: str | None = None
    name: str = "experiment"
    base_seeds: list[int] | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        for key in ("tasks", "methods", "seeds"):
            if not getattr(self, key):
                raise ValueError(f"{key} must not be empty")
        for spec in (*self.tasks, *self.methods):
            parse_spec(spec)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.base_seeds is not None:
            if not self.base_seeds or len(set(self.base_seeds)) != len(self.base_seeds):
                raise ValueError(f"base_seeds must be distinct and non-empty, got {self.base_seeds}")
            if self.base_path is not None and len(self.base_seeds) > 1:
                raise ValueError("base_seeds pre-train several base models; a --base-model checkpoint is one")
        if self.reference_rank < 1:
            raise ValueError(f"reference_rank must be positive, got {self.reference_rank}")

    @property
    def base_seed_list(self) -> list[int]:
        """The pre-training seeds: `base_seeds`, or `[base.seed]`."""
        return list(self.base_seeds) if self.base_seeds is not None else [self.base.seed]

    def cells(self) -> list[tuple[str, str, int, int]]:
        """Every (task spec, method spec, seed, base seed), base-seed-major then task-major."""
        return [
            (t, m, s, b)
            for b in self.base_seed_list
            for t in self.tasks
            for m in self.methods
            for s in self.seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (written next to the results)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> ExperimentConfig:
        """A copy with top-level fields, `train_<field>` or `base_<field>` replaced (None = keep).

        Examples
        --------
        >>> ExperimentConfig().replace(train_steps=5, seeds=[7]).train.steps
        5
        """
        top, train, base = {}, {}, {}
        for key, value in changes.items():
            if value is None:
                continue
            if key.startswith("train_"):
                train[key[6:]] = value
            elif key.startswith("base_") and key not in ("base_path", "base_seeds"):
                base[key[5:]] = value
            else:
                top[key] = value
        try:
            return dataclasses.replace(
                self,
                **top,
                train=dataclasses.replace(self.train, **train),
                base=dataclasses.replace(self.base, **base),
            )
        except TypeError as exc:
            raise ValueError(f"unknown configuration field: {exc}") from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an `ExperimentConfig` from a TOML file.

    Raises
    ------
    ValueError
        If the file is missing, not valid TOML, or names unknown fields.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the identical backport
        import tomli as tomllib

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    try:
        name = data.pop("name", path.stem)
        train = TrainConfig(**data.pop("train", {}))
        base = BaseModelSpec(**data.pop("base", {}))
        return ExperimentConfig(**data, train=train, base=base, name=name)
    except TypeError as exc:
        raise ValueError(f"{path}: unknown configuration field: {exc}") from None
