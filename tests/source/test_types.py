"""Columns are typed from the contract, in neutral names, and unknown fields still land."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from timetrack.emulator import EmulatorServer
from timetrack.source.schema import LEGACY_ALIASES, TABLES

DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "double": "DOUBLE",
    "json": "JSON",
}


@pytest.fixture(scope="module")
def loaded(emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import dlt

    from timetrack.pipeline import RunOptions, run

    root = tmp_path_factory.mktemp("types")
    run(
        RunOptions(
            destination=dlt.destinations.duckdb(str(root / "db.duckdb")),
            pipelines_dir=str(root / "state"),
            pipeline_name="types",
            dataset="timetrack",
            progress_every=0,
            source_args={
                "api_token": "demo-token",
                "base_url": emulator.base_url,
                "requests_per_second": 0,
            },
        )
    )
    return root / "db.duckdb"


def _columns(path: Path, table: str) -> dict[str, tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'timetrack' and table_name = ?",
            [table],
        ).fetchall()
    return {name: (kind, nullable) for name, kind, nullable in rows}


@pytest.mark.parametrize("table", sorted(t for t in TABLES if t != "rejected_records"))
def test_every_contract_column_has_its_type_and_nullability(loaded: Path, table: str) -> None:
    columns = _columns(loaded, table)
    for name, column in TABLES[table].items():
        assert name in columns, f"{table}.{name} missing"
        kind, nullable = columns[name]
        assert kind == DUCKDB_TYPES[column.data_type], (table, name, kind)
        assert nullable == ("YES" if column.nullable else "NO"), (table, name)
    assert not set(columns) & set(LEGACY_ALIASES), "legacy aliases must not be loaded"


def test_unknown_fields_land_as_new_columns(loaded: Path) -> None:
    assert "can_track_time" in _columns(loaded, "workspace_projects")
    assert "pricing_plan_name" in _columns(loaded, "organizations")


def test_clients_get_workspace_id_from_wid(loaded: Path, emulator: EmulatorServer) -> None:
    with duckdb.connect(str(loaded), read_only=True) as db:
        rows = db.execute(
            "select count(*) from timetrack.workspace_clients where workspace_id is null"
        ).fetchone()
        per_ws = db.execute(
            "select workspace_id, count(*) from timetrack.workspace_clients group by 1"
        ).fetchall()
    assert rows == (0,)
    assert len(per_ws) == 3


def test_timestamps_are_utc_whatever_the_spelling(loaded: Path, emulator: EmulatorServer) -> None:
    import requests

    records = requests.get(emulator.base_url + "/_emulator/records/projects", timeout=30).json()
    by_id = {r["id"]: r for r in records}
    with duckdb.connect(str(loaded), read_only=True) as db:
        db.execute("set timezone = 'UTC'")
        rows = db.execute(
            "select id, strftime(\"at\", '%Y-%m-%dT%H:%M:%S.%f'), start_date::varchar "
            "from timetrack.workspace_projects"
        ).fetchall()
    from datetime import UTC, datetime

    for project_id, at, start_date in rows:
        raw = by_id[project_id]["at"]
        expected = (
            datetime.fromisoformat(raw.replace("Z", "+00:00"))
            .astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M:%S.%f")
        )
        assert at == expected
        assert start_date == by_id[project_id]["start_date"]


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
