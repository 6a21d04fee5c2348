"""Documentation checks: the API contract is documented, and the site is consistent.

Every public name of the API contract (``/work/shared/design.md``, mirrored in
``CONTRACT`` below) must carry a numpydoc docstring with an ``Examples`` section holding
a doctest that uses the name; the doctests themselves run through
``pytest --doctest-modules``. The MkDocs navigation must list every page, and every
``:::`` block of the API reference must name an importable object.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

griffe = pytest.importorskip("griffe")
yaml = pytest.importorskip("yaml")

# "module:qualified.name" for every public name in the API contract.
CORE_CONTRACT = [
    "hankelid:StateSpace",
    "hankelid:StateSpace.poles",
    "hankelid:StateSpace.is_stable",
    "hankelid:StateSpace.to_control",
    "hankelid:from_control",
    "hankelid:random_stable",
    "hankelid:markov_parameters",
    "hankelid:gramian",
    "hankelid:empirical_gramian",
    "hankelid:hsv",
    "hankelid:hankel_matrix",
    "hankelid:balanced_truncation",
    "hankelid:Reduction",
    "hankelid:era",
    "hankelid:FRData",
    "hankelid:loewner",
    "hankelid:aaa",
    "hankelid:vector_fit",
    "hankelid:passivity",
    "hankelid:h2_norm",
    "hankelid:hinf_norm",
    "hankelid.plot:hankel_spectrum",
    "hankelid.plot:error_bounds",
    "hankelid:n4sid",
    "hankelid:okid",
    "hankelid.plot:order_selection",
]
TORCH_CONTRACT = [
    "hankelid_torch:fft_scan",
    "hankelid_torch:ssm_kernel",
    "hankelid_torch:HRMConfig",
    "hankelid_torch:adapter_layers",
    "hankelid_torch:to_state_space",
    "hankelid_torch:reduce_adapters",
    "hankelid_torch:match_parameters",
    "hankelid_torch:SSMLoRAConfig",
]


def _resolve(spec: str) -> tuple[Any, Any]:
    """Return (object, owning class or None) for ``module:qualified.name``."""
    module_name, qualname = spec.split(":")
    if module_name.startswith("hankelid_torch"):
        pytest.importorskip("torch")
    obj: Any = importlib.import_module(module_name)
    owner = None
    for part in qualname.split("."):
        owner = obj if inspect.isclass(obj) else None
        obj = getattr(obj, part)
    return obj, owner


def _sections(doc: str) -> dict[str, list[Any]]:
    parsed = griffe.Docstring(doc).parse("numpy", warnings=False)
    out: dict[str, list[Any]] = {}
    for section in parsed:
        out.setdefault(section.kind.value, []).append(section)
    return out


def _example_code(sections: dict[str, list[Any]]) -> str:
    chunks = []
    for section in sections.get("examples", []):
        for _kind, text in section.value:
            chunks.append(text)
    return "\n".join(chunks)


def _takes_arguments(obj: Any) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name not in ("self", "cls") for p in params)


@pytest.mark.parametrize("spec", CORE_CONTRACT + TORCH_CONTRACT)
def test_contract_name_has_numpydoc_with_runnable_example(spec: str) -> None:
    obj, owner = _resolve(spec)
    name = spec.split(":")[1].split(".")[-1]
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{spec} has no docstring"
    sections = _sections(doc)
    code = _example_code(sections)
    if not code and owner is not None:
        # A method may be demonstrated in its class's Examples section instead.
        code = _example_code(_sections(inspect.getdoc(owner) or ""))
    assert ">>>" in code, f"{spec}: no Examples section with a doctest (numpydoc 'Examples' header)"
    assert re.search(rf"\b{re.escape(name)}\b", code), f"{spec}: the Examples section never uses {name}"
    if owner is None and _takes_arguments(obj):
        documented = [sections.get(k) for k in ("parameters", "attributes", "other parameters")]
        assert any(documented), f"{spec} takes arguments but has no Parameters section"


RUNNABLE = re.compile(r"<!-- runnable -->\s*```(python|bash)\n(.*?)```", flags=re.DOTALL)


def _runnable_blocks(page: Path) -> list[tuple[str, str]]:
    return RUNNABLE.findall(page.read_text())


@pytest.mark.parametrize(
    "page",
    sorted(p for p in DOCS.rglob("*.md") if "<!-- runnable -->" in p.read_text()),
    ids=lambda p: p.relative_to(DOCS).as_posix(),
)
def test_runnable_doc_snippets_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code blocks marked ``<!-- runnable -->`` run in order, in one namespace, in a scratch dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, Any] = {"__name__": "__doc_snippet__"}
    bin_dir = Path(sys.executable).parent
    for language, code in _runnable_blocks(page):
        if language == "python":
            exec(compile(code, f"{page.name} snippet", "exec"), namespace)
            continue
        for line in code.strip().splitlines():
            command = shlex.split(line, comments=True)
            if not command:
                continue
            exe = bin_dir / command[0]
            result = subprocess.run(
                [str(exe) if exe.exists() else command[0], *command[1:]],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"{page.name}: {line!r} failed:\n{result.stderr[-2000:]}"


def _nav_pages(nav: Any) -> list[str]:
    pages: list[str] = []
    if isinstance(nav, str):
        pages.append(nav)
    elif isinstance(nav, list):
        for item in nav:
            pages.extend(_nav_pages(item))
    elif isinstance(nav, dict):
        for value in nav.values():
            pages.extend(_nav_pages(value))
    return pages


def _config() -> dict[str, Any]:
    # MkDocs' own loader: mkdocs.yml uses its !ENV tag.
    from mkdocs.utils.yaml import yaml_load

    return yaml_load((ROOT / "mkdocs.yml").read_text())


def test_nav_lists_every_page_and_only_existing_pages() -> None:
    pathspec = pytest.importorskip("pathspec")
    config = _config()
    nav = [p for p in _nav_pages(config["nav"]) if not p.startswith(("http://", "https://"))]
    # Pages are Markdown files and the notebooks (docs/notebooks links to notebooks/).
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    on_disk |= {f"notebooks/{p.name}" for p in (DOCS / "notebooks").glob("*.ipynb")}
    # Pages matched by `not_in_nav` (the generated experiment reports) may stay out of the nav.
    exempt = pathspec.GitIgnoreSpec.from_lines(str(config.get("not_in_nav", "")).splitlines())
    assert sorted(set(nav) - on_disk) == [], "nav names pages that do not exist"
    missing = sorted(p for p in on_disk - set(nav) if not exempt.match_file(p))
    assert missing == [], "pages missing from the nav"


def test_reference_blocks_name_importable_objects() -> None:
    targets = []
    for page in (DOCS / "reference").glob("*.md"):
        targets += re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), flags=re.MULTILINE)
    assert targets
    for target in targets:
        if target.startswith("hankelid_torch"):
            pytest.importorskip("torch")
        module_name, _, attr = target.rpartition(".")
        try:
            importlib.import_module(target)
        except ModuleNotFoundError:
            assert hasattr(importlib.import_module(module_name), attr), f"{target} is not importable"


def test_reference_covers_every_contract_name() -> None:
    text = "\n".join(p.read_text() for p in (DOCS / "reference").glob("*.md"))
    rendered = set(re.findall(r"^::: ([\w.]+)\s*$", text, flags=re.MULTILINE))
    for spec in CORE_CONTRACT + TORCH_CONTRACT:
        obj, _owner = _resolve(spec)
        module = getattr(obj, "__module__", "") or ""
        qual = f"{module}.{getattr(obj, '__qualname__', '')}"
        assert any(module == t or qual == t or qual.startswith(t + ".") for t in rendered), (
            f"{spec} (defined in {module}) is not rendered by any ::: block of docs/reference/"
        )


def test_every_reference_is_cited() -> None:
    keys = re.findall(r'<a id="([\w-]+)"></a>', (DOCS / "references.md").read_text())
    assert keys
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md") if p.name != "references.md")
    uncited = [k for k in keys if f"references.md#{k})" not in text]
    assert uncited == [], f"references never cited by a page: {uncited}"
