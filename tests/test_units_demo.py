"""`timetrack demo`'s parts (timetrack.demo) on small inputs: the run it asks for, the rows it
counts in a DuckDB file made here, and every line it says. That the whole demo lands the truth
and its hint works is tests/test_cli_first_hour.py's, end to end."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from tests.test_units_report import views
from timetrack import demo
from timetrack.emulator import Scale
from timetrack.run.pipeline import RunOptions


def test_the_interpreter_is_named_as_a_user_can_type_it_from_where_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / ".venv" / "bin" / "python"))
    assert demo._python() == ".venv/bin/python", "a virtual environment here: relative"
    monkeypatch.setattr(sys, "executable", "/opt/python/bin/python3")
    assert demo._python() == "/opt/python/bin/python3", "elsewhere: the whole path"


def test_the_demo_starts_from_no_file_nor_its_log(tmp_path: Path) -> None:
    for name in ("demo.duckdb", "demo.duckdb.wal", "demo.html", "other.duckdb.wal"):
        (tmp_path / name).write_text("stale")
    demo._clear(tmp_path / "demo.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.html", "other.duckdb.wal"]
    demo._clear(tmp_path / "demo.duckdb")  # neither there: nothing to do


def test_the_emulator_holds_the_time_entries_and_seed_asked_for() -> None:
    config = demo._emulator(5, 11).emulator.config
    assert (config.seed, config.scale.time_entries) == (11, 5)
    assert config.scale == Scale(time_entries=5), "the rest at the emulator's defaults"


SERVER: Any = SimpleNamespace(
    base_url="http://127.0.0.1:9", emulator=SimpleNamespace(config=SimpleNamespace(token="tok"))
)
"""What the demo reads of its emulator: where it serves, and its token."""


def test_the_demo_runs_into_the_dataset_run_uses_at_full_speed(tmp_path: Path) -> None:
    options = demo._options(tmp_path / "d.duckdb", "/state", SERVER)
    assert (options.duckdb_file, options.dataset, options.pipeline_name) == (
        str(tmp_path / "d.duckdb"),
        RunOptions().dataset,
        "timetrack_demo",
    )
    assert options.dataset == demo.DATASET == "time_tracking", "where the hint looks"
    assert options.pipelines_dir == "/state"
    assert options.source_args == {
        "api_token": "tok",
        "base_url": "http://127.0.0.1:9",
        "requests_per_second": 0,
    }


def test_the_rows_of_each_table_are_counted_in_the_file(tmp_path: Path) -> None:
    file = tmp_path / "d.duckdb"
    with duckdb.connect(str(file)) as db:
        db.execute("create schema time_tracking")
        db.execute("create table time_tracking.clients as select * from range(3)")
        db.execute('create table time_tracking."Odd name" (id int)')
    assert demo._counts(file, ["clients", "Odd name"]) == {"clients": 3, "Odd name": 0}
    # Read only: the file may be open so elsewhere in the process (DuckDB refuses a second
    # connection to it with other settings), as a notebook exploring it would have it.
    with duckdb.connect(str(file), read_only=True):
        assert demo._counts(file, ["clients"]) == {"clients": 3}


def test_the_demo_says_what_it_synced_against_the_truth_and_how_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    file = tmp_path / "d.duckdb"
    counts = {"time_entries": 12345, "clients": 3, "rejected_records": 0, "tags": 2}
    truth = {"time_entries": 12345, "clients": 4, "tags": 2}
    lines = demo._synced(SERVER, file, ["summary 1", "summary 2"], counts, truth)
    assert lines == [
        f"emulator at http://127.0.0.1:9: synced into {file}",
        "summary 1",
        "summary 2",
        "rows per table in the DuckDB file, against the emulator's truth:",
        "  clients                      3  != truth 4",
        "  rejected_records             0",
        "  tags                         2  = truth",
        "  time_entries            12,345  = truth",
        'explore it: /usr/bin/python3 -c "import duckdb; '
        f"duckdb.connect('{file}').sql('select * from time_tracking_analytics.hours_by_week "
        "limit 5').show()\"",
    ]


def test_the_report_is_written_beside_the_file_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report of an organization with no time tracked yet: its views, empty, in the file;
    the pipeline that reads them is a throwaway one, not left in dlt's own folder."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    file = tmp_path / "demo.duckdb"
    with duckdb.connect(str(file)) as db:
        views(db, [], [], dataset="time_tracking")
        db.execute("create schema time_tracking")
        db.execute("create table time_tracking._dlt_loads (inserted_at timestamp, status bigint)")
    line = demo._report(file)
    assert line == f"report of the last 12 full weeks (0 entries): open {tmp_path / 'demo.html'}"
    assert (tmp_path / "demo.html").read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb", "demo.html"], "no dlt"
