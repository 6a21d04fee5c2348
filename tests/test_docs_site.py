"""Checks of the built documentation site that ``mkdocs build --strict`` cannot make.

* API pages carry no reStructuredText markup (mkdocstrings renders Markdown, so a Sphinx
  role such as ``:func:`` prints as literal text).
* The "Default" shown for every documented parameter is the real default of the callable:
  the docstrings are parsed with griffe's numpydoc parser (what mkdocstrings uses), and the
  value it reports is compared with ``inspect.signature``.  The parser reads the first of
  several brace-listed choices as the default, and gives every name of a shared
  ``a, b : type`` line the default of the first.
* Math renders offline: no page loads a script from the network, and the vendored MathJax
  and its fonts are where the script looks for them.
* Signatures are wrapped, and the notebooks have pages.
* In a headless Chromium (Debian's ``chromium``, driven by Playwright), pages render their
  math, log no console error, and the API page shows a signature and an example.  Without a
  browser this test skips with the reason, or fails under ``HANKELID_REQUIRE_BROWSER=1``
  (``make docs-check``).

The site is built once per session (without executing the notebooks) into a temporary
directory; all tests of this module share one xdist group so the build happens once.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import html
import http.server
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hankelid", "hankelid_torch", "hankelid_bench")
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

griffe = pytest.importorskip("griffe")
pytest.importorskip("mkdocs")

pytestmark = pytest.mark.xdist_group("docs_site")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The strictly built site (notebooks rendered without executing them)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", HANKELID_DOCS_EXECUTE="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return out


def _inventory(site: Path) -> dict[str, str]:
    """name -> role of every object mkdocstrings rendered (the site's objects.inv)."""
    data = (site / "objects.inv").read_bytes()
    start = 0
    for _ in range(4):
        start = data.index(b"\n", start) + 1
    entries = {}
    for line in zlib.decompress(data[start:]).decode().splitlines():
        name, role, _rest = line.split(" ", 2)
        entries[name] = role
    return entries


def _text(page: Path) -> str:
    """The visible text of a page, roughly: tags and scripts removed, entities decoded."""
    source = page.read_text(encoding="utf-8")
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", source))


# ---------------------------------------------------------------------------------------------
# Markup


REST_MARKUP = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|math|ref):`?"
    r"|\.\. (?:math|code-block|code|note|warning)::"
)


def test_api_pages_have_no_rest_markup(site: Path) -> None:
    pages = sorted((site / "reference").rglob("*.html"))
    assert len(pages) >= 10
    found = {}
    for page in pages:
        hits = sorted(set(REST_MARKUP.findall(_text(page))))
        if hits:
            found[page.relative_to(site).as_posix()] = hits
    assert not found, f"reStructuredText printed literally on API pages: {found}"


def test_rest_markup_check_sees_a_literal_role() -> None:
    # What python-markdown makes of a role: the role's name stays as text before the code.
    assert REST_MARKUP.search(html.unescape("see :func:<code>hsv</code> and .. math:: x"))


# ---------------------------------------------------------------------------------------------
# Defaults


def _same_default(shown: Any, parameter: inspect.Parameter, namespace: dict[str, Any]) -> bool:
    """Whether the value griffe shows (``None``: required) is the parameter's real default.

    A shown name (a module constant such as `HOW_TO_LOAD`) is looked up in `namespace`, the
    globals of the module that defines the callable, and compared by value.
    """
    real = parameter.default
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        # griffe shows the empty tuple / dict that *args / **kwargs receive.
        return shown is None or str(shown) in ("()", "{}")
    if shown is None:
        return real is inspect.Parameter.empty
    if real is inspect.Parameter.empty:
        return False
    if real is dataclasses.MISSING or repr(real) == "<factory>":
        # A dataclass field's default_factory: griffe shows the factory call.
        return True
    text = str(shown)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        # An expression such as `np.float64` or `HOW_TO_LOAD`: compare names, else the named value.
        if text == repr(real) or text.rsplit(".", 1)[-1] == getattr(real, "__name__", object()):
            return True
        head, *rest = text.split(".")
        if head not in namespace:
            return False
        value = namespace[head]
        for part in rest:
            value = getattr(value, part, inspect.Parameter.empty)
        return type(value) is type(real) and value == real
    return type(value) is type(real) and value == real


def _documented_defaults(griffe_obj: Any) -> list[tuple[str, Any]]:
    """(name, default shown) of every documented parameter of a griffe function or class."""
    target = griffe_obj
    if griffe_obj.is_class:
        if "__init__" not in griffe_obj.all_members:
            return []
        target = griffe_obj.all_members["__init__"]
    if griffe_obj.docstring is None:
        return []
    docstring = griffe.Docstring(
        griffe_obj.docstring.value,
        parent=target,
        parser="numpy",
        parser_options={"warn_missing_types": False},
    )
    shown = []
    for section in docstring.parse(warnings=False):
        if section.kind.value in ("parameters", "other parameters"):
            shown += [(parameter.name.lstrip("*"), parameter.value) for parameter in section.value]
    return shown


def _wrong_defaults(griffe_obj: Any, live: Any) -> list[str]:
    try:
        parameters = inspect.signature(live).parameters
    except (TypeError, ValueError):
        return []
    namespace = vars(sys.modules[getattr(live, "__module__", None) or "builtins"])
    wrong = []
    for name, shown in _documented_defaults(griffe_obj):
        parameter = parameters.get(name)
        if parameter is not None and not _same_default(shown, parameter, namespace):
            real = parameter.default
            label = "required" if real is inspect.Parameter.empty else repr(real)
            wrong.append(f"{griffe_obj.path}({name}): docs show {shown!r}, signature has {label}")
    return wrong


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    for package in PACKAGES:
        loader.load(package)
    loader.resolve_aliases(implicit=True, external=False)
    return loader


def _live(path: str, module: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in path[len(module) + 1 :].split("."):
        obj = getattr(obj, part)
    return obj


def test_rendered_defaults_are_the_signature_defaults(site: Path) -> None:
    loader = _loader()
    checked, wrong, seen = 0, [], set()
    for name, role in sorted(_inventory(site).items()):
        if role not in ("py:function", "py:method", "py:class"):
            continue
        try:
            obj = loader.modules_collection.get_member(name)
        except KeyError:
            continue  # an inherited member: checked where it is defined
        if obj.is_alias:
            obj = obj.final_target
        if obj.path in seen:
            continue
        seen.add(obj.path)
        if obj.path.startswith("hankelid_torch") and importlib.util.find_spec("torch") is None:
            continue
        wrong += _wrong_defaults(obj, _live(obj.path, obj.module.path))
        checked += 1
    assert checked > 100
    assert not wrong, "parameter defaults rendered wrongly:\n" + "\n".join(wrong)


WRONG_DOCSTRINGS = '''
def f(kind, dt_min=1e-3, dt_max=0.1, m=1, mode=None, method="sr"):
    """Summary.

    Parameters
    ----------
    kind : {"c", "o"}
        Required, but braces make the parser show "c" as the default.
    dt_min, dt_max : float
        A shared line: dt_max would show dt_min's default.
    m : int
        Fine.
    mode : {"a", "b"}, optional
        The first choice is shown, the real default is None.
    method : str, default "bfsr"
        An explicit default that is not the real one.
    """
'''


def test_default_check_catches_the_known_mistakes() -> None:
    namespace: dict[str, Any] = {}
    exec(WRONG_DOCSTRINGS, namespace)
    with griffe.temporary_visited_module(WRONG_DOCSTRINGS) as module:
        wrong = _wrong_defaults(module["f"], namespace["f"])
    assert [w.split("(")[1].split(")")[0] for w in wrong] == ["kind", "dt_max", "mode", "method"]


# ---------------------------------------------------------------------------------------------
# Offline math, layout, notebooks


SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", flags=re.IGNORECASE)


def test_no_page_loads_a_script_from_the_network(site: Path) -> None:
    external = set()
    local_mathjax = 0
    for page in site.rglob("*.html"):
        for src in SCRIPT_SRC.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^(?:[a-z]+:)?//", src, flags=re.IGNORECASE):
                external.add(src)
            elif "mathjax/tex-mml-chtml.js" in src:
                local_mathjax += 1
                base = site if src.startswith("/") else page.parent
                assert (base / src.split("?")[0].lstrip("/")).resolve().is_file(), f"{page}: {src} missing"
    assert not external, f"scripts loaded from the network: {sorted(external)}"
    assert local_mathjax > 10
    # tex-mml-chtml.js loads its fonts from [its directory]/output/chtml/fonts/woff-v2.
    fonts = site / "javascripts" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").is_file()
    assert (site / "javascripts" / "mathjax" / "LICENSE").is_file()


def test_signatures_are_wrapped(site: Path) -> None:
    page = (site / "reference" / "gramians" / "index.html").read_text(encoding="utf-8")
    anchor = page.index('id="hankelid.empirical.empirical_gramian"')
    block = re.search(r'class="doc-signature[^"]*"[^>]*>(.*?)</pre>', page[anchor:], flags=re.DOTALL)
    assert block is not None, "no separate signature block"
    lines = html.unescape(re.sub(r"<[^>]+>", "", block.group(1))).strip().splitlines()
    assert len(lines) > 3, "the signature is one line: is ruff installed in the docs environment?"
    assert max(map(len, lines)) <= 82


def test_every_notebook_has_a_page_with_its_source(site: Path) -> None:
    assert NOTEBOOKS
    for stem in NOTEBOOKS:
        page = site / "notebooks" / stem / "index.html"
        assert page.is_file(), f"no page for notebooks/{stem}.ipynb"
        assert f"{stem}.ipynb" in page.read_text(encoding="utf-8"), f"{stem}: no download link"
        assert (site / "notebooks" / stem / f"{stem}.ipynb").is_file()


# ---------------------------------------------------------------------------------------------
# Browser


def _chromium() -> str | None:
    for candidate in (os.environ.get("HANKELID_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _browser_or_skip() -> str:
    required = os.environ.get("HANKELID_REQUIRE_BROWSER") == "1"
    reason = None
    executable = _chromium()
    if executable is None:
        reason = "no Chromium found (apt-get install chromium, or set HANKELID_CHROMIUM)"
    elif importlib.util.find_spec("playwright") is None:
        reason = "playwright is not installed (pip install playwright; it drives the system Chromium)"
    if reason is None:
        return executable
    if required:
        pytest.fail(f"browser test required (HANKELID_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _watch(page: Any) -> list[str]:
    """Collect the page's console errors, uncaught exceptions and failed requests."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            errors.append(f"HTTP {response.status}: {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.on("response", on_response)
    return errors


PAGES = {
    "home": "",
    "concept": "concepts/balanced-truncation/",
    "api": "reference/truncation/",
    "notebook": "notebooks/truncation_bounds/",
}

# The article's prose: code (notebook code cells too), rendered math and scripts removed.
PROSE = """() => {
  const article = document.querySelector("article").cloneNode(true);
  const code = "pre, code, mjx-container, script, style, .jp-CodeCell, clipboard-copy";
  article.querySelectorAll(code).forEach((e) => e.remove());
  return article.textContent;
}"""


@pytest.mark.browser
def test_pages_render_math_without_errors_in_chromium(served: str, tmp_path: Path) -> None:
    executable = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("HANKELID_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            for kind, path in PAGES.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors = _watch(page)
                page.goto(served + path, wait_until="load")
                page.wait_for_function(
                    "() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                    timeout=30000,
                )
                page.evaluate("() => window.MathJax.startup.promise")
                page.screenshot(path=str(shots / f"{kind}.png"), full_page=False)
                text = page.evaluate(PROSE)
                rendered = page.locator("mjx-container").count()
                if rendered == 0:
                    problems.append(f"{kind}: no MathJax output (mjx-container)")
                tokens = ("\\(", "\\)", "\\[", "$$") + (("$",) if kind == "notebook" else ())
                raw = [token for token in tokens if token in text]
                if raw:
                    problems.append(f"{kind}: raw TeX delimiters in the text: {raw}")
                if page.locator("mjx-merror").count():
                    problems.append(f"{kind}: MathJax reported a TeX error")
                problems += [f"{kind}: {e}" for e in errors]
                if kind == "api":
                    signature = page.locator(".doc-signature").first.inner_text()
                    if "balanced_truncation(" not in page.inner_text("article") or "(" not in signature:
                        problems.append("api: no rendered signature")
                    if not any(">>>" in c for c in page.locator("article pre").all_inner_texts()):
                        problems.append("api: no example (>>> code block)")
                page.close()
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
