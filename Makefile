# Two jobs a newcomer needs: `make demo` (the main job, on DuckDB) and `make check` (everything CI
# runs). Both create the virtual environment on first use, from the pinned constraints.txt:
# `demo` installs the package alone, `check` adds the dev tools and the Dagster extra it tests.
# uv installs them (pinned in constraints.txt too, bootstrapped by pip): the 140 packages in
# 48 s where pip took 176 s, downloads included, a few seconds from its cache.
# Python compiles each module it imports; PYTHONDONTWRITEBYTECODE (set on these machines) makes
# every process compile them again: dlt, DuckDB's client and the package took 3.7 s to import
# that way and 1.2 s from compiled files, in each test worker and each command a test starts
# (the suite: 6 min 37 s, then 5 min 17 s writing them and 4 min 48 s once written). They go
# to .venv and to the __pycache__ folders git ignores.
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PIP = $(BIN)/uv pip install --quiet --python $(BIN)/python --constraint constraints.txt

.PHONY: demo check test lint types mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt uv

$(VENV)/.runtime: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

# One install for everything `check` needs (the package's own dependencies resolved once, not
# twice): it installs what `demo` needs too. Compiled at install, as pip does and uv does not
# by default: the three test workers otherwise compile dlt, Dagster & co at once as they
# import them. Fresh clones, alternated (2026-12-07): pytest 2:57 and 2:38 compiled, 3:02 and
# 2:49 not; `make check` 3:29 and 3:07 against 3:24 and 3:09 (the install 7 s -> 22 s).
$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) --compile-bytecode -e '.[dev,dagster]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/timetrack demo

lint: $(VENV)/.dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types: $(VENV)/.dev
	$(BIN)/mypy

# Three workers on two cores: a test waiting on a server leaves its core to another (measured on
# this 2-core machine, 2026-12-05: -n 2 4:48, -n 3 3:47, -n 4 3:43, -n 6 4:09; 2026-12-07, the
# runs' CPU lower, alternated: -n 3 2:58 and 2:56, -n 4 3:02 and 3:03, with 6% less CPU at
# three). loadgroup, with the groups and order tests/conftest.py gives: the tests of one
# module-scoped fixture on one worker (with worksteal, test_report_names' dataset and browser
# were built on three), end-to-end first.
test: $(VENV)/.dev
	$(BIN)/pytest -n 3 --dist loadgroup

check: lint types test

# Mutation score of the package but the emulator (docs/development.md, "Mutation score"): slow,
# never in CI. In a clone of the last commit, niced, one mutant at a time (CHILDREN=2 for two).
# MUTANTS narrows it to some modules, as mutmut's name patterns, TESTS to some test files:
# `make mutation MUTANTS='timetrack.check.*' TESTS='tests/test_units_check.py'`.
MUTANTS ?=
TESTS ?=
mutation: $(VENV)/.dev
	bench/mutation $(foreach m,$(MUTANTS),'$(m)') $(if $(TESTS),-- $(TESTS))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis mutants .mutation
