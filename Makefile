# `make run` and `make test` work on a fresh clone: the first call builds .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0 (CPU build) lies on this machine's disk; installing it before the project keeps pip
# from resolving the project's torch range to a multi-GB CUDA build.
TORCH ?= torch==2.13.0
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: install run test lint viz clean-data

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

## Run every pipeline (extra arguments: make run ARGS="--pipelines preprocessing")
run: install
	$(BIN)/kedro run $(ARGS)

## Run the test suite (extra arguments: make test ARGS="-k preprocessing")
test: install
	$(BIN)/pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
