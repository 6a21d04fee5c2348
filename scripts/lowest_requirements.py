"""Write pip pins at the lowest version ``pyproject.toml`` declares for each direct dependency.

Usage::

    python scripts/lowest_requirements.py -o .venv-oldest/lowest.txt \\
        --from-lock requirements.lock --keep-locked mkdocs mkdocs-material mkdocstrings ruff \\
        --pin torch==2.13.0

Every requirement of ``[project] dependencies`` and of the optional extras reachable from
``hankelid[all]`` whose environment marker holds for the running interpreter becomes
``name==lower_bound``, where the lower bound is the version of its ``>=`` specifier (an exact
``==`` pin is kept as is). ``make test-oldest`` installs the result as a constraints file
(``pip install -c``) together with ``.[all]``, so every direct dependency sits at its declared
floor while transitive dependencies resolve to the newest versions compatible with those floors.

``--keep-locked NAME`` takes ``NAME`` from ``--from-lock`` instead (tooling whose floor is not
part of the contract, e.g. the docs build and ruff); ``--pin NAME==VERSION`` overrides one
requirement outright (torch: only the CPU build of one release is installable here).
A requirement without a lower bound is an error: the oldest set would not be defined.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML through the backport
    import tomli as tomllib

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _reachable_requirements(project: dict, extras: list[str]) -> list[Requirement]:
    """The base requirements plus those of ``extras``, following self-references like ``pkg[a,b]``."""
    name = canonicalize_name(project["name"])
    optional = project.get("optional-dependencies", {})
    result = [Requirement(r) for r in project.get("dependencies", [])]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"unknown extra {extra!r}; pyproject declares {sorted(optional)}")
        seen.add(extra)
        for text in optional[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == name:
                pending.extend(sorted(req.extras))
            else:
                result.append(req)
    return result


def _applies(req: Requirement) -> bool:
    # Extras are already expanded; evaluate the marker for this interpreter with no extra active.
    return req.marker is None or req.marker.evaluate({**default_environment(), "extra": ""})


def _lower_bound(req: Requirement) -> str:
    for spec in req.specifier:
        if spec.operator in (">=", "==", "~="):
            return spec.version
    raise SystemExit(f"{req}: no lower bound (>=, ~= or ==) to test; declare one in pyproject.toml")


def _read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*==\s*(\S+)\s*", line.split("#", 1)[0])
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def lowest_pins(
    pyproject: Path,
    extras: list[str],
    lock: Path | None = None,
    keep_locked: list[str] = (),
    pins: list[str] = (),
) -> list[str]:
    """The ``name==version`` lines for the lowest declared version of each direct dependency."""
    project = tomllib.loads(pyproject.read_text())["project"]
    locked = _read_lock(lock) if lock is not None else {}
    keep = {canonicalize_name(n) for n in keep_locked}
    overrides = {canonicalize_name(Requirement(p).name): p for p in pins}
    for text in overrides.values():
        if not any(s.operator == "==" for s in Requirement(text).specifier):
            raise SystemExit(f"--pin {text!r}: give an exact version, NAME==VERSION")
    lowest: dict[str, str] = {}
    for req in _reachable_requirements(project, extras):
        if not _applies(req):
            continue
        key = canonicalize_name(req.name)
        if key in overrides:
            continue
        if key in keep:
            if key not in locked:
                raise SystemExit(f"--keep-locked {req.name}: not pinned in {lock}")
            version = locked[key]
        else:
            version = _lower_bound(req)
        if lowest.setdefault(key, version) != version:
            raise SystemExit(f"{req.name}: declared with two lower bounds, {lowest[key]} and {version}")
    lines = [f"{key}=={version}" for key, version in sorted(lowest.items())]
    return sorted(lines + list(overrides.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--extras", nargs="*", default=["all"], help="extras to include (default: all)")
    parser.add_argument("--from-lock", type=Path, help="lock file for --keep-locked")
    parser.add_argument("--keep-locked", nargs="*", default=[], metavar="NAME")
    parser.add_argument("--pin", action="append", default=[], metavar="NAME==VERSION")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.keep_locked and args.from_lock is None:
        parser.error("--keep-locked needs --from-lock")
    lines = lowest_pins(args.pyproject, args.extras, args.from_lock, args.keep_locked, args.pin)
    text = "# Generated by scripts/lowest_requirements.py from pyproject.toml; do not edit.\n"
    text += "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
