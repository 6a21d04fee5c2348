# Two set-up commands, each self-contained from a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
# Both install the exact versions in requirements.lock (the set the suite is green with).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# The pinned CPU wheel: an unpinned `torch` would pull a multi-GB CUDA build. The lock pins the
# same version; TORCH_PIN is what `make lock` and `make test-latest` install.
TORCH_PIN ?= torch==2.13.0
LATEST_VENV ?= .venv-latest
OLDEST_VENV ?= .venv-oldest
LINT_PATHS := hankelid hankelid_torch hankelid_bench tests benchmarks scripts
# pytest runs one worker per core (-n 2); each worker's BLAS/OpenMP pool gets one thread, since
# oversubscribed pools make small eigen/SVD calls 30x slower on a 2-core machine.
PYTEST := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup -p no:cacheprovider

.PHONY: demo test test-all test-latest test-oldest lock lint docs docs-check browser bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hankelid-bench demo

# Lint and the strict docs build first, so pytest's summary is the last line printed.
# `browser` installs Debian's chromium when it can (root with apt-get); without it the
# browser test of the docs skips with its reason.
test: $(STAMP) browser
	$(VENV)/bin/ruff check $(LINT_PATHS)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(PYTEST)

test-all: $(STAMP)
	$(PYTEST) --runslow

# The whole suite against the newest release of every dependency pyproject allows (torch stays at the
# CPU pin: the newest torch on PyPI is a multi-GB CUDA build; override with TORCH_PIN=torch).
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet $(TORCH_PIN)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[all]" "$(TORCH_PIN)"
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/versions.txt
	@echo "test-latest: versions that differ from $(LOCK):"; \
	  diff <(sort $(LOCK) | grep -v '^#') <(sed 's/+cpu$$//' $(LATEST_VENV)/versions.txt | sort) | grep '^[<>]' || echo "  (none)"
	$(LATEST_VENV)/bin/ruff check $(LINT_PATHS)
	NO_MKDOCS_2_WARNING=1 $(LATEST_VENV)/bin/python -m mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(PYTEST:$(PY)=$(LATEST_VENV)/bin/python)

# The whole suite against the lowest version pyproject declares for every direct dependency, pinned through
# a constraints file that scripts/lowest_requirements.py generates from pyproject.toml; transitive
# dependencies resolve to the newest releases those floors allow. Not at their floors: torch (only the
# CPU wheel of TORCH_PIN installs here; other releases are multi-GB CUDA builds) and the tooling below,
# which stays at the lock's versions since its floor is no part of what users install.
OLDEST_PY := $(OLDEST_VENV)/bin/python
OLDEST_LOCKED := mkdocs mkdocs-material mkdocstrings mkdocs-jupyter ruff
LOWEST := $(OLDEST_PY) scripts/lowest_requirements.py --from-lock $(LOCK) --keep-locked $(OLDEST_LOCKED) --pin $(TORCH_PIN)
# slycot's oldest cp311 release (0.7) needs numpy >= 2, which the numpy and matplotlib floors predate: step 1
# runs the whole suite at the floors without slycot (its reference tests skip), step 2 adds slycot with numpy
# and matplotlib at the oldest releases that import with numpy 2 and reruns the core tests it serves. The
# `references` extra (nfoursid, sippy-unipi, pymor) is tested at the lock's versions, which are its floors.
OLDEST_NUMPY2_PINS := --pin numpy==2.0.0 --pin matplotlib==3.8.4
OLDEST_INSTALL := $(OLDEST_PY) -m pip install --quiet --only-binary=:all:
test-oldest:
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_INSTALL) packaging "tomli; python_version < '3.11'" $(TORCH_PIN)
	$(LOWEST) -o $(OLDEST_VENV)/lowest.txt
	$(OLDEST_INSTALL) -c $(OLDEST_VENV)/lowest.txt -e ".[plot,torch,notebooks,docs,test]" control
	$(OLDEST_PY) -m pip freeze --exclude-editable > $(OLDEST_VENV)/versions.txt
	@echo "test-oldest step 1: the floors, without slycot:"; grep -v '^#' $(OLDEST_VENV)/lowest.txt | tr '\n' ' '; echo
	$(PYTEST:$(PY)=$(OLDEST_PY))
	$(LOWEST) $(OLDEST_NUMPY2_PINS) -o $(OLDEST_VENV)/lowest-numpy2.txt
	$(OLDEST_INSTALL) -c $(OLDEST_VENV)/lowest-numpy2.txt -e ".[plot,control,torch,notebooks,docs,test]"
	$(OLDEST_PY) -m pip freeze --exclude-editable > $(OLDEST_VENV)/versions-numpy2.txt
	@echo "test-oldest step 2: slycot at its floor with $(OLDEST_NUMPY2_PINS):"
	$(PYTEST:$(PY)=$(OLDEST_PY)) tests/core hankelid

# Refresh requirements.lock: the newest versions pyproject allows, within lock-constraints.txt
# (known upstream breaks, each with its reason), frozen from a fresh venv. Run `make test` after it.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet $(TORCH_PIN)
	.venv-lock/bin/python -m pip install --quiet -c lock-constraints.txt -e ".[all]"
	( echo "# Generated by \`make lock\` on $$(date -u +%Y-%m-%d) with $$(.venv-lock/bin/python --version)."; \
	  echo "# The exact versions the whole suite is green with; installed by make demo / make test / .ci/run."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' ) > $(LOCK)
	rm -rf .venv-lock

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

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
	$(PY) benchmarks/bench_frequency.py
	$(PY) benchmarks/bench_sysid.py
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_hankel_init.py

clean:
	rm -rf $(VENV) $(LATEST_VENV) $(OLDEST_VENV) .venv-lock site build *.egg-info
