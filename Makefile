# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use and installs gankit into it (torch pinned to 2.13.0 from PyPI:
# the CUDA wheel on Linux, the CPU one on macOS/Windows; README says how to choose the CPU-only wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean tutorials

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m gankit.demo --out runs/demo

test: $(STAMP)
	-sh tests/ensure_chromium.sh
	-sh tests/ensure_postgres.sh
	-sh tests/ensure_fashion_mnist.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Build docs/tutorial/*.ipynb from their jupytext sources (edit the .py files, then run this).
tutorials: $(STAMP)
	$(BIN)/python docs/tutorial/build.py

clean:
	rm -rf $(VENV) runs
