# `make run` and `make test` work on a fresh clone: the first call builds .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, pinned, from wherever pip finds it: on this project's machines a CPU
# wheel in the local wheel folder. On another Linux machine PyPI's default torch wheel is the CUDA
# build (~530 MB plus several GB of CUDA libraries); for the CPU build anywhere:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
# and for a GPU, the CUDA index of your driver (e.g. .../whl/cu128).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)" --extra-index-url https://pypi.org/simple,)
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: install run test lint viz notebook clean-data

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "Setting up $(VENV): $(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX),), then the project and its test tools."
	@echo "(first time only: about 5 minutes and 2 GB with the CPU build and pyspark; later calls skip this)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(TORCH_FROM)
	@echo "torch installed; now the project (kedro, kedro-datasets, pandas, scikit-learn, ...) and pyspark"
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $@
	@echo "Ready: $(VENV)"

## Run every pipeline (extra arguments: make run ARGS="--pipelines preprocessing")
run: install
	$(BIN)/kedro run $(ARGS)

## Run the test suite (extra arguments: make test ARGS="-k preprocessing")
test: install
	$(BIN)/pytest $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Open kedro-viz on http://127.0.0.1:4141 (the pipeline graph; Ctrl-C stops it)
viz: install
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141 --no-browser $(ARGS)

## Open the EDA notebook in JupyterLab (installs the notebook extra on first use)
notebook: install
	$(BIN)/python -m pip install --quiet -e ".[notebook]"
	$(BIN)/jupyter lab notebooks/eda.ipynb $(ARGS)

## Delete every generated output (02_intermediate ... 08_reporting of every environment); keeps
## data/01_raw, the downloaded and generated inputs
clean-data:
	rm -rf data/0[2-8]_*/* data/demo data/seed data/scale data/spark data/.run.lock
	@echo "Removed the outputs of every environment; data/01_raw is kept."
