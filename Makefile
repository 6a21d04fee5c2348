# Two set-up commands, each self-contained from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The pinned CPU wheel: an unpinned `torch` would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test test-all lint docs docs-check browser bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hankelid-bench demo

# Lint and the strict docs build first, so pytest's summary is the last line printed.
# `browser` installs Debian's chromium when it can (root with apt-get); without it the
# browser test of the docs skips with its reason.
test: $(STAMP) browser
	$(VENV)/bin/ruff check hankelid hankelid_torch hankelid_bench tests benchmarks scripts
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(PY) -m pytest -n 2 --dist loadgroup -p no:cacheprovider

test-all: $(STAMP)
	$(PY) -m pytest -n 2 --runslow

lint: $(STAMP)
	$(VENV)/bin/ruff check hankelid hankelid_torch hankelid_bench tests benchmarks scripts
	$(VENV)/bin/ruff format --check hankelid hankelid_torch hankelid_bench tests benchmarks scripts

# The published site: the notebooks are executed at build time with their small settings
# (the inline backend, whatever MPLBACKEND the shell exports, so that their figures appear).
docs: $(STAMP)
	HANKELID_DOCS_EXECUTE=true HANKELID_NB_SMALL=1 MPLBACKEND=module://matplotlib_inline.backend_inline \
		NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The docs site opened in a headless Chromium (math rendered, no console errors, API page with
# signature and example); fails when no browser can be had.  Screenshots: build/docs-screenshots/.
docs-check: $(STAMP) browser
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ echo "docs-check: no chromium; install it (apt-get install chromium) or set HANKELID_CHROMIUM" >&2; exit 1; }
	HANKELID_REQUIRE_BROWSER=1 HANKELID_SCREENSHOTS=build/docs-screenshots \
		$(PY) -m pytest tests/test_docs_site.py -p no:cacheprovider -p no:xdist -q

# Idempotent: nothing happens when a chromium is on PATH; as root with apt-get, install it.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "note: no chromium and no root apt-get: the docs browser test will skip" >&2; fi; }

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_empirical.py
	$(PY) benchmarks/bench_adapter.py

clean:
	rm -rf $(VENV) site build *.egg-info
