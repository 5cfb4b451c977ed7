# Two jobs a newcomer needs: `make demo` (the main job, on DuckDB) and `make check` (everything CI
# runs). Both create the virtual environment on first use, from the pinned constraints.txt:
# `demo` installs the package alone, `check` adds the dev tools and the Dagster extra it tests.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PIP = $(BIN)/python -m pip install --quiet --constraint constraints.txt

.PHONY: demo check test lint types clean

$(VENV)/.runtime: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) -e '.[dev,dagster]'
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/timetrack demo

lint: $(VENV)/.dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types: $(VENV)/.dev
	$(BIN)/mypy

test: $(VENV)/.dev
	$(BIN)/pytest

check: lint types test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
