"""Columns are typed from the contract, in neutral names, and unknown fields still land.

The expected types are the contract's, written as literals in tests/truth.py and here, never
read from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.helpers import duckdb_columns, fast_options
from tests.truth import DUCKDB_TYPES, type_problems
from timetrack.emulator import EmulatorServer
from timetrack.run.pipeline import run


@pytest.fixture(scope="module")
def loaded(emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("types")
    run(fast_options(emulator.base_url, root))
    return root / "db.duckdb"


def test_every_contract_column_has_its_type_and_keys_are_not_null(loaded: Path) -> None:
    assert type_problems(duckdb_columns(loaded), DUCKDB_TYPES) == []


def test_unknown_fields_land_as_new_columns(loaded: Path) -> None:
    columns = duckdb_columns(loaded)
    assert "can_track_time" in columns["workspace_projects"]
    assert "pricing_plan_name" in columns["organizations"]


def test_running_entry_keeps_null_stop_and_negative_duration(loaded: Path) -> None:
    with duckdb.connect(str(loaded), read_only=True) as db:
        running = db.execute(
            "select duration, epoch(start)::bigint from timetrack.time_entries where stop is null"
        ).fetchall()
    assert len(running) == 1
    assert running[0][0] == -running[0][1]


def test_nested_lists_are_json(loaded: Path) -> None:
    with duckdb.connect(str(loaded), read_only=True) as db:
        tagged = db.execute(
            "select count(*) from timetrack.time_entries where json_array_length(tag_ids) > 0"
        ).fetchone()
    assert tagged and tagged[0] > 0
