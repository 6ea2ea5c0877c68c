# Developer commands. `make test` is THE test command (README; CI runs it through .ci/run).
# Works on a fresh clone: installs missing Debian packages, creates .venv, then lints, type-checks, tests.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuilt when pyproject.toml changes, so new dependencies arrive with a plain `make test`.
STAMP := $(VENV)/.installed-dev
# Training tools (torch, ultralytics) in their own venv, so .venv stays torch-free like an edge box; the test
# suite trains and exports a tiny model through it. About 5 minutes to create (torch is 5.5 GB unpacked).
TRAIN_VENV ?= .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed-train
PYTEST_ARGS ?=

.PHONY: venv venv-train system-deps test lint demo samples
.NOTPARALLEL:

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

venv-train: $(TRAIN_STAMP)

$(TRAIN_STAMP): pyproject.toml
	test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -e '.[train]'
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: system-deps venv venv-train lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole system on this machine: Mosquitto, the server (SQLite, ./.edgewatch-demo) and edge cameras replaying
# sample_videos/falling. Prints the web app URL and the admin token; Ctrl-C stops everything.
demo: venv
	@command -v mosquitto >/dev/null || bash scripts/install-system-deps.sh
	$(BIN)/edgewatch demo

samples: venv
	$(BIN)/python sample_videos/generate.py
