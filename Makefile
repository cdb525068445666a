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
# pyspark (491 MB, and Java 17 to run) only for `kedro run --env spark`: make install SPARK=1
SPARK ?=
comma := ,
EXTRAS := dev$(if $(SPARK),$(comma)spark,)
STAMP := $(VENV)/.installed$(if $(SPARK),-spark,)
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: install run test lint viz notebook clean-data

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): $(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX),), then the project and its test tools$(if $(SPARK), and pyspark,)."
	@echo "(first time only: a few minutes with the CPU build; later calls skip this)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(TORCH_FROM)
	@echo "torch installed; now the project (kedro, kedro-datasets, pandas, scikit-learn, ...)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
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

## Delete every generated output (02_intermediate ... 08_reporting of every environment and of
## every --params outputs_dir=data/<name> run); keeps data/01_raw, the downloaded and generated inputs
clean-data:
	rm -rf data/0[2-8]_*/* data/demo data/seed data/scale data/spark data/.run.lock data/.run.unfinished.json
	@for lock in data/*/.run.lock; do [ -e "$$lock" ] && rm -rf "$$(dirname "$$lock")"; done; true
	@echo "Removed the outputs of every environment; data/01_raw is kept."
