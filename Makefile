# Two jobs a newcomer needs: `make demo` (the main job, on DuckDB) and `make check` (everything CI
# runs). Both create the virtual environment on first use, from the pinned constraints.txt:
# `demo` installs the package alone, `check` adds the dev tools and the Dagster extra it tests.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PIP = $(BIN)/python -m pip install --quiet --constraint constraints.txt

.PHONY: demo check test lint types mutation clean

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
	$(BIN)/pytest -n 4 --dist worksteal  # two workers a core: a test waiting on a server leaves the
	# core to another (measured: -n 2 4:48, -n 3 3:47, -n 4 3:43, -n 6 4:09); worksteal evens the tail

check: lint types test

# Mutation score of the package but the emulator (docs/development.md, "Mutation score"): slow,
# never in CI. One worker, niced: the machine has two cores. MUTANTS narrows it to some modules,
# as mutmut's name patterns: `make mutation MUTANTS='timetrack.check.*'`.
MUTANTS ?=
mutation: $(VENV)/.dev
	nice -n 15 $(BIN)/mutmut run --max-children 1 $(MUTANTS)
	$(BIN)/mutmut results --all true | awk -F': ' '{ m = $$1; sub(/\.[^.]*$$/, "", m); \
	  sub(/^timetrack\./, "", m); ok = ($$2 == "killed" || $$2 == "timeout"); \
	  if ($$2 == "skipped" || $$2 == "not checked") next; n[m]++; k[m] += ok; t++; tk += ok } \
	  END { for (m in n) printf "%-28s %5d / %5d  %5.1f%%\n", m, k[m], n[m], 100 * k[m] / n[m]; \
	  printf "%-28s %5d / %5d  %5.1f%%\n", "total", tk, t, 100 * tk / t }' | sort

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis mutants
