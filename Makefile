# Two jobs a newcomer needs: `make demo` (the main job, on DuckDB) and `make check` (everything CI
# runs). Both create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo check test lint types clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/timetrack demo

lint: $(VENV)/.installed
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types: $(VENV)/.installed
	$(BIN)/mypy

test: $(VENV)/.installed
	$(BIN)/pytest

check: lint types test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
