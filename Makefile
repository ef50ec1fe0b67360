# The two commands that matter: `make demo` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
export DAGSTER_HOME := $(CURDIR)/.dagster_home
PYTEST_ARGS ?= -n auto -q

.PHONY: venv test lint demo ui clean screenshots bench test-long reliability-doc

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# Azurite (Azure Blob Storage emulator) for the tests; pinned in package-lock.json.
node_modules/.bin/azurite-blob: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint node_modules/.bin/azurite-blob
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: venv $(DAGSTER_HOME)/dagster.yaml
	$(PY) scripts/demo.py

ui: venv $(DAGSTER_HOME)/dagster.yaml
	$(PY) scripts/demo.py --ui

clean:
	rm -rf lake .xledger .dagster_home build dist *.egg-info node_modules .venv-checkov .venv-deploy

# README screenshots (docs/screenshots/), taken by the browser test.
screenshots: venv node_modules/.bin/azurite-blob
	XLEDGER_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(VENV)/bin/pytest xledger_assets_tests/ui/test_browser.py -q

BENCH_STAMP := $(VENV)/.bench-$(shell sha1sum pyproject.toml | cut -c1-12)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.bench-* && touch $(BENCH_STAMP)

# Benchmarks (issue 7): ~11-14 min on 2 cores; writes bench/RESULTS.md and bench/results.png.
bench: $(BENCH_STAMP)
	$(PY) bench/run.py

# The reliability suites at length (issue 6): 200 fidelity seeds, 20 + 20 random kills per lake.
test-long: venv node_modules/.bin/azurite-blob
	XLEDGER_FIDELITY_SEEDS=200 XLEDGER_CRASH_RANDOM=20 $(VENV)/bin/pytest xledger_assets_tests/reliability $(PYTEST_ARGS)

# docs/reliability.md from what the reliability tests observe (one process, so it sees every row).
reliability-doc: venv node_modules/.bin/azurite-blob
	XLEDGER_RELIABILITY_DOC=docs/reliability.md $(VENV)/bin/pytest xledger_assets_tests/reliability -q -p no:xdist
