# Two set-up commands, each self-contained from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The pinned CPU wheel: an unpinned `torch` would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test test-all lint docs bench clean install

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
test: $(STAMP)
	$(VENV)/bin/ruff check hankelid hankelid_torch hankelid_bench tests benchmarks scripts
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(PY) -m pytest -n 2 --dist loadgroup -p no:cacheprovider

test-all: $(STAMP)
	$(PY) -m pytest -n 2 --runslow

lint: $(STAMP)
	$(VENV)/bin/ruff check hankelid hankelid_torch hankelid_bench tests benchmarks scripts
	$(VENV)/bin/ruff format --check hankelid hankelid_torch hankelid_bench tests benchmarks scripts

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_empirical.py
	$(PY) benchmarks/bench_adapter.py
	$(PY) benchmarks/bench_sysid.py

clean:
	rm -rf $(VENV) site build *.egg-info
