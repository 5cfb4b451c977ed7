"""The analytics views, by value, against the emulator's records, in DuckDB and PostgreSQL.

The truth is computed here and in tests/truth.py from the emulator alone: names, local dates in
each member's timezone, ISO weeks, hours, amounts, and the weekly sums built from them. Values
the emulator never sends (unknown zones, tag ids that are no integers, negative durations,
missing tables and columns) are tests/test_units_analytics.py's, over hand-written tables.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
import pytest

from tests.helpers import DSN, TOKEN, fast_options, postgres_dataset
from tests.truth import WORKING_DAYS, Emulator, expected_day_minutes, expected_entries
from timetrack.emulator import EmulatorServer
from timetrack.run.pipeline import RunOptions, RunSummary, run

XDIST_GROUP = "shared_sync"
"""One worker for the modules that read shared_sync's datasets: each worker syncs them once."""

Row = dict[str, Any]

ENTRY_COLUMNS = [
    "id",
    "workspace_id",
    "workspace_name",
    "user_id",
    "user_name",
    "project_id",
    "project_name",
    "client_id",
    "client_name",
    "task_id",
    "task_name",
    "tag_names",
    "description",
    "billable",
    "start",
    "stop",
    "local_date",
    "week",
    "seconds",
    "hours",
    "billable_amount",
    "currency",
]


class Landed:
    """One sync's views read back: rows of each view, and when the run began and ended."""

    def __init__(self, views: dict[str, list[Row]], began: float, ended: float) -> None:
        self.views = views
        self.began = datetime.fromtimestamp(began, UTC)
        self.ended = datetime.fromtimestamp(ended, UTC)
        self.path: Path | None = None


RAW_TOTALS = """
select (select count(*) from "{ds}".report_time_entries) as report_rows,
  (select sum(seconds) from "{ds}".report_time_entries) as report_seconds,
  (select count(*) from "{ds}".time_entries as t where not exists
     (select 1 from "{ds}".report_time_entries as r where r.id = t.id)) as own_only
"""
"""What the raw tables hold, for totals that must agree with the views."""


def _read(fetch: Any, schema: str) -> dict[str, list[Row]]:
    views = {
        view: fetch(f'select * from "{schema}"."{view}"')
        for view in ("entries", "hours_by_week", "utilisation_by_week")
    }
    views["raw"] = fetch(RAW_TOTALS.format(ds=schema.removesuffix("_analytics")))
    return views


def _duckdb_views(path: Path, schema: str) -> dict[str, list[Row]]:
    with duckdb.connect(str(path), read_only=True) as db:
        db.execute("set TimeZone = 'UTC'")

        def fetch(query: str) -> list[Row]:
            cursor = db.execute(query)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

        return _read(fetch, schema)


def _postgres_views(schema: str) -> dict[str, list[Row]]:
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute("set timezone = 'UTC'")

        def fetch(query: str) -> list[Row]:
            cursor.execute(query)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

        return _read(fetch, schema)


class Shared:
    """One sync of the session's emulator into DuckDB or PostgreSQL, and when it began and
    ended."""

    def __init__(
        self, options: RunOptions, summary: RunSummary, began: float, ended: float
    ) -> None:
        self.options, self.summary = options, summary
        self.began, self.ended = began, ended
        self.dataset = options.dataset
        self.database = Path(options.pipelines_dir).parent / "db.duckdb"  # DuckDB's file


_SHARED: dict[tuple[str, str], Shared] = {}
_DROPPED = ExitStack()
"""The PostgreSQL datasets of shared syncs, dropped when the session ends."""


def shared_sync(kind: str, emulator: EmulatorServer, request: pytest.FixtureRequest) -> Shared:
    """The session emulator synced once per process into `kind` ("duckdb" or "postgres") for
    every module that only reads it: the views here, the report in tests/test_report.py (each
    module synced on its own before; a sync costs seconds, reading one none)."""
    key = (kind, emulator.base_url)
    if key not in _SHARED:
        root = request.getfixturevalue("tmp_path_factory").mktemp(f"shared_{kind}")
        if kind == "duckdb":
            options = fast_options(emulator.base_url, root, dataset="time_tracking")
        else:
            dataset = _DROPPED.enter_context(postgres_dataset())
            request.config.add_cleanup(_DROPPED.close)  # closing twice closes once
            options = fast_options(
                emulator.base_url,
                root,
                destination=dlt.destinations.postgres(DSN),
                dataset=dataset,
                pipeline_name="analytics_pg",
            )
        began = time.time()
        summary = run(options)
        ended = time.time()
        assert summary.exit_code == 0, summary.lines()
        _SHARED[key] = Shared(options, summary, began, ended)
    return _SHARED[key]


@pytest.fixture(scope="module")
def in_duckdb(emulator: EmulatorServer, request: pytest.FixtureRequest) -> Landed:
    shared = shared_sync("duckdb", emulator, request)
    assert shared.summary.views == [
        "time_tracking_analytics.entries",
        "time_tracking_analytics.hours_by_week",
        "time_tracking_analytics.utilisation_by_week",
    ]
    views = _duckdb_views(shared.database, "time_tracking_analytics")
    landed = Landed(views, shared.began, shared.ended)
    landed.path = shared.database
    return landed


@pytest.fixture(scope="module")
def in_postgres(emulator: EmulatorServer, request: pytest.FixtureRequest) -> Landed:
    shared = shared_sync("postgres", emulator, request)
    return Landed(_postgres_views(f"{shared.dataset}_analytics"), shared.began, shared.ended)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def landed(request: pytest.FixtureRequest) -> Landed:
    fixture = "in_duckdb" if request.param == "duckdb" else "in_postgres"
    found: Landed = request.getfixturevalue(fixture)
    return found


@pytest.fixture(scope="module")
def truth(emulator: EmulatorServer) -> dict[Any, Row]:
    return expected_entries(emulator.base_url, TOKEN)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float | Decimal):
        return (
            expected is not None
            and actual is not None
            and math.isclose(float(expected), float(actual), abs_tol=0.005)
        )
    if isinstance(actual, datetime):
        return expected == actual.astimezone(UTC)
    if isinstance(actual, list | tuple):
        return expected == list(actual)
    return bool(expected == actual)


def test_entries_equal_the_records_value_by_value(landed: Landed, truth: dict[Any, Row]) -> None:
    rows = {row["id"]: row for row in landed.views["entries"]}
    assert list(landed.views["entries"][0]) == ENTRY_COLUMNS
    assert set(rows) == set(truth), "entries: ids differ from every member's live entries"
    problems = []
    running = 0
    for key, want in truth.items():
        got = rows[key]
        if want["seconds"] is None:  # running: counted up to the run, never negative
            running += 1
            low = (landed.began - want["start"]).total_seconds() - 1
            high = (landed.ended - want["start"]).total_seconds() + 1
            assert max(0, low) <= got["seconds"] <= high, (key, got["seconds"], low, high)
            want = {**want, "seconds": got["seconds"]}
        want = {**want, "hours": want["seconds"] / 3600}
        problems += [
            f"{key}.{name}: expected {want[name]!r}, got {got[name]!r}"
            for name in ENTRY_COLUMNS
            if not _same(want[name], got[name])
        ]
    assert running >= 1, "the emulator's data must hold a running entry for this test to mean it"
    assert not problems, "\n".join(problems[:30])


def test_documented_queries_answer_on_the_demo_dataset(in_duckdb: Landed) -> None:
    section = (Path(__file__).resolve().parents[1] / "docs" / "analytics.md").read_text()
    queries = [
        q.strip()
        for block in section.split("```sql")[1:]
        for q in block.split("```", 1)[0].split(";")
        if "select" in q
    ]
    assert len(queries) == 6  # two per view
    assert in_duckdb.path is not None
    with duckdb.connect(str(in_duckdb.path), read_only=True) as db:
        answered = [db.execute(query).fetchall() for query in queries]
    assert all(answered[:2]) and all(answered[3:4]), "the queries over all time must answer"


def test_no_entry_is_negative_or_multiplied_and_totals_agree_with_the_raw_tables(
    landed: Landed,
) -> None:
    entries = landed.views["entries"]
    assert len({row["id"] for row in entries}) == len(entries)
    assert min(row["seconds"] for row in entries) >= 0
    (raw,) = landed.views["raw"]
    assert len(entries) == raw["report_rows"] + raw["own_only"]
    reported = [row for row in entries if row["stop"] is not None]
    assert sum(row["seconds"] for row in reported) == raw["report_seconds"]
    assert math.isclose(
        sum(row["hours"] for row in entries), sum(row["seconds"] for row in entries) / 3600
    )


def test_weekly_hours_add_up_to_the_entries(landed: Landed, truth: dict[Any, Row]) -> None:
    entries = {row["id"]: row for row in landed.views["entries"]}
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for key, want in truth.items():
        seconds = want["seconds"] if want["seconds"] is not None else entries[key]["seconds"]
        group = groups[
            (
                want["week"],
                want["workspace_id"],
                want["project_id"],
                want["client_id"],
                want["user_id"],
                want["currency"],
            )
        ]
        group[0] += seconds / 3600
        group[1] += seconds / 3600 if want["billable"] else 0
        group[2] += want["billable_amount"] or 0
        group[3] += 1
    got = {
        (
            r["week"],
            r["workspace_id"],
            r["project_id"],
            r["client_id"],
            r["user_id"],
            r["currency"],
        ): r
        for r in landed.views["hours_by_week"]
    }
    assert set(got) == set(groups)
    for key, (hours, billable_hours, amount, count) in groups.items():
        row = got[key]
        assert math.isclose(row["hours"], hours, abs_tol=1e-6), key
        assert math.isclose(row["billable_hours"], billable_hours, abs_tol=1e-6), key
        assert math.isclose(float(row["billable_amount"] or 0), amount, abs_tol=0.005), key
        assert row["entries"] == count, key
    total_seconds = sum(r["seconds"] for r in landed.views["entries"])
    assert math.isclose(
        sum(r["hours"] for r in landed.views["hours_by_week"]), total_seconds / 3600, abs_tol=1e-6
    )
    assert sum(r["entries"] for r in landed.views["hours_by_week"]) == len(truth)


def test_utilisation_is_hours_against_working_days(
    landed: Landed, truth: dict[Any, Row], emulator: EmulatorServer
) -> None:
    entries = {row["id"]: row for row in landed.views["entries"]}
    minutes = expected_day_minutes(emulator.base_url, TOKEN)
    weeks = {want["week"] for want in truth.values()}
    hours: dict[tuple[Any, Any], float] = defaultdict(float)
    for key, want in truth.items():
        seconds = want["seconds"] if want["seconds"] is not None else entries[key]["seconds"]
        hours[(want["user_id"], want["week"])] += seconds / 3600
    rows = {(r["user_id"], r["week"]): r for r in landed.views["utilisation_by_week"]}
    assert set(rows) == {(user, week) for user in minutes for week in weeks}
    assert any(r["hours"] == 0 for r in rows.values()), "weeks without entries must show"
    for (user, week), row in rows.items():
        tracked = hours.get((user, week), 0.0)
        assert math.isclose(row["hours"], tracked, abs_tol=1e-6), (user, week)
        day = minutes[user]
        if day is None:
            assert row["working_hours"] is None and row["utilisation"] is None
            continue
        working = day * WORKING_DAYS / 60
        assert math.isclose(float(row["working_hours"]), working), (user, week)
        assert math.isclose(float(row["over_under_hours"]), tracked - working, abs_tol=1e-6)
        assert math.isclose(float(row["utilisation"]), tracked / working, abs_tol=1e-9)


def test_views_over_a_few_tables_leave_out_what_they_cannot_answer(
    emulator: EmulatorServer, tmp_path: Path, truth: dict[Any, Row]
) -> None:
    options = fast_options(emulator.base_url, tmp_path, resources=["time_entries"])
    # (Built again over the views of a run before: the deleted project's second run below, and
    # test_units_analytics.py's build_views.)
    views = ["timetrack_analytics.entries", "timetrack_analytics.hours_by_week"]
    assert run(options).views == views  # no members table: no utilisation
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as db:
        rows = db.execute(
            "select id, user_id, seconds, project_name, tag_names from timetrack_analytics.entries"
        ).fetchall()
    owner = Emulator(emulator.base_url, TOKEN).admin("/truth")["user_id"]
    assert {user for _, user, _, _, _ in rows} == {owner}
    for key, _, seconds, project_name, tag_names in rows:
        if truth[key]["seconds"] is not None:
            assert seconds == truth[key]["seconds"]
        assert project_name is None and tag_names is None  # no projects or tags landed


def test_a_deleted_project_keeps_its_name_in_entries_and_hours_by_week(
    make_emulator: Any, tmp_path: Path
) -> None:
    import requests

    from timetrack.emulator import EmulatorConfig, Scale

    server = make_emulator(
        EmulatorConfig(
            # Small: the point is one deleted project's name, not the scale.
            seed=29,
            scale=Scale(
                organizations=1,
                workspaces=1,
                users=8,
                projects_per_workspace=20,
                tasks_per_workspace=10,
                time_entries=300,
            ),
        )
    )
    emulator = Emulator(server.base_url, TOKEN)
    entries = expected_entries(server.base_url, TOKEN)
    busiest: dict[int, int] = defaultdict(int)
    for row in entries.values():
        if row["project_id"] is not None:
            busiest[row["project_id"]] += 1
    project_id = max(busiest, key=lambda p: busiest[p])
    (project,) = [p for p in emulator.records("projects") if p["id"] == project_id]
    # The tables the answer comes from: the lookup that loses the row, the report that keeps
    # the name, the owner's own entries (the other resources would cost seconds a run and
    # change nothing here).
    options = fast_options(
        server.base_url,
        tmp_path,
        resources=["workspace_projects", "report_time_entries", "time_entries"],
    )
    assert run(options).exit_code == 0
    gone = requests.delete(f"{server.base_url}/_emulator/projects/{project_id}", timeout=30)
    assert gone.status_code == 200, gone.text
    assert run(options).exit_code == 0
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as db:
        listed = db.execute(
            "select count(*) from timetrack.workspace_projects where id = ?", [project_id]
        ).fetchone()
        mine = db.execute(
            "select project_name from timetrack_analytics.entries where project_id = ?",
            [project_id],
        ).fetchall()
        weekly = db.execute(
            "select project_name from timetrack_analytics.hours_by_week where project_id = ?",
            [project_id],
        ).fetchall()
    assert listed == (0,), "the project's row is gone: its name can only come from the report"
    assert busiest[project_id] >= 5, "the busiest project has entries enough to mean it"
    assert len(mine) == busiest[project_id] and {name for (name,) in mine} == {project["name"]}
    assert weekly and {name for (name,) in weekly} == {project["name"]}
