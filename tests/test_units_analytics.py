"""The analytics views (timetrack.answers.analytics) over small raw tables written here by hand,
in a real DuckDB (in memory) and PostgreSQL (a schema per test), without a run.

Each view's rows are compared with what the tables say, worked out here: names looked up within
the entry's workspace (the report's own names for what was deleted since), local dates and ISO
weeks in the member's timezone (UTC for one the database does not know), seconds never negative
(a running entry counts up to the build), amounts rounded to the cent, deleted rows left out,
and utilisation for the active members only. tests/test_analytics.py checks the same views end
to end, over a run of the emulator's data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import duckdb
import psycopg2
import pytest

from tests.helpers import DSN, postgres_dataset
from tests.test_analytics import ENTRY_COLUMNS
from timetrack.answers.analytics import (
    Dialect,
    Landed,
    build_views,
    landed_columns,
    view_statements,
)

Row = dict[str, Any]

DIALECTS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]

AS_OF = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
"""When the views are built: a Wednesday, in the week of Monday 23 November 2026."""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026, in UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


KINDS = {
    "start": "ts",
    "stop": "ts",
    "server_deleted_at": "ts",
    "tag_ids": "json",
    "billable": "bool",
    "inactive": "bool",
    "active": "bool",
}
"""Column types of the raw tables, by column name: text unless named here or ending in `id`,
`seconds`, `duration`, `cents` or `minutes` (bigint)."""

SQL_TYPES = {
    "duckdb": {"bigint": "BIGINT", "text": "TEXT", "bool": "BOOLEAN", "ts": "TIMESTAMPTZ"},
    "postgres": {"bigint": "BIGINT", "text": "TEXT", "bool": "BOOLEAN", "ts": "TIMESTAMPTZ"},
}


def _kind(column: str) -> str:
    if column in KINDS:
        return KINDS[column]
    if column == "id" or column.endswith(("_id", "seconds", "duration", "_cents", "_minutes")):
        return "bigint"
    return "text"


class Database:
    """A dataset in DuckDB or PostgreSQL: raw tables made here, views built by analytics."""

    def __init__(self, dialect: Dialect, dataset: str, cursor: Any) -> None:
        self.dialect = dialect
        self.dataset = dataset
        self.raw = _quoted(dataset)
        self.views = _quoted(f"{dataset}_analytics")
        self.cursor = cursor

    def execute(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if it returns any. `%s` marks arguments in both, as
        dlt's SQL clients take them."""
        if self.dialect == "duckdb":
            query = query.replace("%s", "?")
        self.cursor.execute(query, args)
        return list(self.cursor.fetchall()) if self.cursor.description else []

    def create(self, table: str, rows: list[Row]) -> None:
        """A raw table whose columns are the rows' keys."""
        columns = list(rows[0])
        types = dict(SQL_TYPES[self.dialect], json="JSON" if self.dialect == "duckdb" else "JSONB")
        declared = ", ".join(f'"{c}" {types[_kind(c)]}' for c in columns)
        self.execute(f'CREATE TABLE {self.raw}."{table}" ({declared})')
        marks = ", ".join(["%s"] * len(columns))
        for row in rows:
            self.execute(f'INSERT INTO {self.raw}."{table}" VALUES ({marks})', tuple(row.values()))

    def build(self, as_of: datetime = AS_OF) -> list[str]:
        """Build the views as a run does (build_views, without a pipeline): the views' names."""
        landed = landed_columns(self.execute, self.dataset)
        statements = view_statements(self.dialect, self.dataset, landed, as_of)
        self.execute(f"CREATE SCHEMA {self.views}")
        for _, statement in statements:
            self.execute(statement)
        return [name for name, _ in statements]

    def view(self, name: str) -> list[Row]:
        self.cursor.execute(f'SELECT * FROM {self.views}."{name}"')
        names = [d[0] for d in self.cursor.description]
        return [
            {n: _plain(v) for n, v in zip(names, values, strict=True)}
            for values in self.cursor.fetchall()
        ]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    """A value as both databases' drivers should agree on it: instants in UTC, lists as lists."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, tuple):
        return list(value)
    return value


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    try:
        connection = psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {DSN}: {error}")
    connection.autocommit = True
    yield connection
    connection.close()


SESSION_ZONE = "America/New_York"
"""The readers' session zone, as a user's may be, with summer time: the views must not depend
on it (in it, DuckDB's difference of two instants across 1 November 2026 is a day of 25 hours,
where date_diff counts the seconds)."""


def _database(
    dialect: str, request: pytest.FixtureRequest, name: str = "raw"
) -> Iterator[Database]:
    """A dataset called `name` in DuckDB, a new one in PostgreSQL, dropped afterwards."""
    if dialect == "duckdb":
        with duckdb.connect() as connection:
            connection.execute(f"SET TimeZone = '{SESSION_ZONE}'")
            connection.execute(f"CREATE SCHEMA {_quoted(name)}")
            yield Database("duckdb", name, connection)
        return
    connection = request.getfixturevalue("postgres")
    with postgres_dataset() as dataset, connection.cursor() as cursor:
        cursor.execute(f"SET TimeZone = '{SESSION_ZONE}'")
        cursor.execute(f'CREATE SCHEMA "{dataset}"')
        yield Database("postgres", dataset, cursor)


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty dataset in the dialect of the test's parameter."""
    yield from _database(request.param, request)


# --- one workspace of everything ------------------------------------------------------------

WORKSPACES = [
    {"id": 10, "name": "Acme", "default_currency": "EUR", "working_hours_in_minutes": 480},
    # The same workspace listed again (under a second organization), its fields missing.
    {"id": 10, "name": None, "default_currency": None, "working_hours_in_minutes": None},
    {"id": 20, "name": "Beta", "default_currency": "USD", "working_hours_in_minutes": 420},
]


def _member(
    id_: int,
    workspace_id: int,
    user_id: int,
    name: str,
    timezone: str | None,
    minutes: int | None,
    *,
    inactive: bool | None = False,
    active: bool | None = True,
    deleted: datetime | None = None,
) -> Row:
    return {
        "id": id_,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "name": name,
        "timezone": timezone,
        "working_hours_in_minutes": minutes,
        "inactive": inactive,
        "active": active,
        "server_deleted_at": deleted,
    }


MEMBERS = [
    _member(1, 10, 100, "Ann", "Asia/Tokyo", 360),
    _member(2, 10, 100, "Ann", "Asia/Tokyo", 360),  # listed again, under a second organization
    _member(3, 20, 100, "Ann B.", "Asia/Tokyo", None, inactive=None, active=None),
    _member(4, 10, 101, "Bob", "Mars/Olympus", None),  # a zone no database knows
    _member(5, 10, 102, "Cid", None, 0),
    _member(6, 10, 103, "Dee", "Europe/Berlin", 480, inactive=True),
    _member(7, 10, 104, "Eve", "UTC", 480, active=False),
    _member(8, 10, 105, "Fay", "UTC", 480, deleted=at(1, 0)),
    _member(9, 30, 106, "Gus", "UTC", None, inactive=None, active=None),  # an unlisted workspace
]

PROJECTS = [
    {"id": 7, "workspace_id": 10, "name": "Website", "client_id": 300},
    {"id": 7, "workspace_id": 10, "name": "Website", "client_id": 300},
    {"id": 7, "workspace_id": 20, "name": "Mobile", "client_id": 400},  # same id, other workspace
    {"id": 9, "workspace_id": 10, "name": "No client", "client_id": None},
]
CLIENTS = [
    {"id": 300, "workspace_id": 10, "name": "Client A"},
    {"id": 400, "workspace_id": 20, "name": "Client B"},
    {"id": 300, "workspace_id": 20, "name": "Not Acme's"},
]
TASKS = [
    {"id": 70, "workspace_id": 10, "name": "Build"},
    {"id": 71, "workspace_id": 20, "name": "Test"},
]
TAGS = [
    {"id": 5, "workspace_id": 10, "name": "five"},
    {"id": 5, "workspace_id": 10, "name": "five"},
    {"id": 6, "workspace_id": 10, "name": "alpha"},
    {"id": 1, "workspace_id": 10, "name": "one"},
    {"id": 2, "workspace_id": 10, "name": "two"},
    {"id": 8, "workspace_id": 10, "name": None},
    {"id": 9, "workspace_id": 20, "name": "nine"},
]


def _reported(id_: int, workspace_id: int, user_id: int, **fields: Any) -> Row:
    row: Row = {
        "id": id_,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "username": None,
        "project_id": None,
        "task_id": None,
        "description": None,
        "billable": False,
        "start": None,
        "stop": None,
        "seconds": None,
        "hourly_rate_in_cents": None,
        "billable_amount_in_cents": None,
        "currency": "EUR",
        "project_name": None,
        "client_name": None,
        "task_name": None,
        "tag_ids": None,
        "server_deleted_at": None,
    }
    assert set(fields) <= set(row)
    return {**row, **fields}


REPORTED = [
    _reported(
        1, 10, 100, username="ann", project_id=7, task_id=70, description="design",
        billable=True, start=at(22, 23, 30), stop=at(23, 0, 30), seconds=3000,
        hourly_rate_in_cents=5000, project_name="Old website", client_name="Old client",
        task_name="Old task",
        # 5 twice, 9 of another workspace, 8 without a name, and no integers: 2.5 and true
        # would read as 2 and 1 if cast.
        tag_ids='[6, 5, "x", 2.5, 5, 9, 8, true, [1], {"id": 1}, null]',
    ),
    _reported(
        2, 20, 100, username="ann", project_id=7, task_id=70, billable=True, start=at(24, 10),
        stop=at(24, 11), seconds=3600, hourly_rate_in_cents=9999,
        billable_amount_in_cents=12345, currency=None, project_name="Mobile then",
        task_name="Gone task", tag_ids='{"tags": [5]}',
    ),
    _reported(
        3, 10, 101, username="bob", project_id=8, description="support", start=at(22, 23, 30),
        stop=at(23, 0, 30), hourly_rate_in_cents=5000, project_name="Deleted project",
        client_name="Its client",
    ),
    _reported(  # a negative duration: running, counted up to the build
        4, 10, 101, username="bob", project_id=9, billable=True, start=at(25, 9),
        stop=at(25, 8), seconds=-50, project_name="Reported 9",
        tag_ids="[]",
    ),
    _reported(5, 10, 102, billable=True, start=at(25, 11), hourly_rate_in_cents=3600),
    _reported(6, 10, 102, start=at(25, 13)),  # started after the build: zero, not negative
    _reported(  # deleted at the service (kept with --keep-deleted): left out
        7, 10, 100, start=at(24, 0), stop=at(24, 1), seconds=3600, server_deleted_at=at(24, 2)
    ),
    _reported(
        8, 10, 108, username="Zed", billable=True, start=at(23, 9), stop=at(23, 9, 30),
        currency="GBP",
        seconds=1800, hourly_rate_in_cents=2000,
    ),
    _reported(10, 10, 103, project_id=7, start=at(17, 12), stop=at(17, 14), seconds=7200),
]  # fmt: skip


def _own(id_: int, workspace_id: int, user_id: int, **fields: Any) -> Row:
    row: Row = {
        "id": id_,
        "workspace_id": workspace_id,
        "user_id": user_id,
        "project_id": None,
        "task_id": None,
        "description": None,
        "billable": False,
        "start": None,
        "stop": None,
        "duration": None,
        "tag_ids": None,
        "server_deleted_at": None,
    }
    assert set(fields) <= set(row)
    return {**row, **fields}


OWN = [
    # In the report too: the report's row is the one kept.
    _own(1, 10, 100, description="own copy", start=at(22, 23, 30), stop=at(23, 0, 30),
         duration=9999),
    _own(11, 10, 100, project_id=7, description="own running", billable=True, start=at(25, 10),
         duration=-int(at(25, 10).timestamp()), tag_ids="[5, 9]"),
    _own(12, 20, 100, project_id=7, task_id=71, start=at(24, 1), stop=at(24, 2), duration=3000),
    _own(13, 10, 100, start=at(24, 3), stop=at(24, 4), duration=3600, server_deleted_at=at(24, 5)),
    _own(14, 10, 100, start=at(9, 0), stop=at(9, 0, 30)),  # no duration: stop - start
    # Two days across the end of summer time in New York (1 November), in whole seconds.
    _own(15, 10, 100, start=datetime(2026, 10, 31, 12, tzinfo=UTC),
         stop=datetime(2026, 11, 2, 12, tzinfo=UTC)),
]  # fmt: skip


def _entry(
    id_: int, workspace: int, user: int, user_name: str | None, zone: str, seconds: int, **rest: Any
) -> Row:
    """An entry as the view must show it; the dates and hours are worked out from the rest."""
    row: Row = {
        "id": id_,
        "workspace_id": workspace,
        "workspace_name": {10: "Acme", 20: "Beta"}.get(workspace),
        "user_id": user,
        "user_name": user_name,
        "project_id": None,
        "project_name": None,
        "client_id": None,
        "client_name": None,
        "task_id": None,
        "task_name": None,
        "tag_names": None,
        "description": None,
        "billable": False,
        "start": None,
        "stop": None,
        "seconds": seconds,
        "billable_amount": None,
        "currency": {10: "EUR", 20: "USD"}.get(workspace),
    }
    assert set(rest) <= set(row)
    row.update(rest)
    local = row["start"].astimezone(ZoneInfo(zone)).date() if row["start"] else None
    row["local_date"] = local
    row["week"] = None if local is None else local - timedelta(days=local.weekday())
    row["hours"] = seconds / 3600
    return row


WEBSITE = {"project_id": 7, "project_name": "Website", "client_id": 300, "client_name": "Client A"}
MOBILE = {"project_id": 7, "project_name": "Mobile", "client_id": 400, "client_name": "Client B"}

ENTRIES = [
    _entry(1, 10, 100, "Ann", "Asia/Tokyo", 3000, **WEBSITE, task_id=70, task_name="Build",
           tag_names=["alpha", "five"], description="design", billable=True,
           start=at(22, 23, 30), stop=at(23, 0, 30),
           billable_amount=Decimal("41.67")),  # 50.00 an hour for 3,000 s: 41.666...
    _entry(2, 20, 100, "Ann B.", "Asia/Tokyo", 3600, **MOBILE, task_id=70,
           task_name="Gone task", billable=True, start=at(24, 10), stop=at(24, 11),
           billable_amount=Decimal("123.45")),  # the report's amount, not rate x time
    _entry(3, 10, 101, "Bob", "UTC", 3600, project_id=8, project_name="Deleted project",
           client_name="Its client", description="support", start=at(22, 23, 30),
           stop=at(23, 0, 30)),  # not billable: no amount
    _entry(4, 10, 101, "Bob", "UTC", 3 * 3600, project_id=9, project_name="No client",
           billable=True, start=at(25, 9), stop=at(25, 8)),
    _entry(5, 10, 102, "Cid", "UTC", 3600, billable=True, start=at(25, 11),
           billable_amount=Decimal("36.00")),
    _entry(6, 10, 102, "Cid", "UTC", 0, start=at(25, 13)),
    _entry(8, 10, 108, "Zed", "UTC", 1800, billable=True, start=at(23, 9), stop=at(23, 9, 30),
           currency="GBP",
           billable_amount=Decimal("10.00")),
    _entry(10, 10, 103, "Dee", "Europe/Berlin", 7200, **WEBSITE, start=at(17, 12),
           stop=at(17, 14)),
    _entry(11, 10, 100, "Ann", "Asia/Tokyo", 2 * 3600, **WEBSITE, tag_names=["five"],
           description="own running", billable=True, start=at(25, 10)),
    _entry(12, 20, 100, "Ann B.", "Asia/Tokyo", 3000, **MOBILE, task_id=71, task_name="Test",
           start=at(24, 1), stop=at(24, 2)),
    _entry(14, 10, 100, "Ann", "Asia/Tokyo", 1800, start=at(9, 0), stop=at(9, 0, 30)),
    _entry(15, 10, 100, "Ann", "Asia/Tokyo", 2 * 86400,
           start=datetime(2026, 10, 31, 12, tzinfo=UTC),
           stop=datetime(2026, 11, 2, 12, tzinfo=UTC)),
]  # fmt: skip


DAY_MINUTES = {100: ("Ann B.", 420), 101: ("Bob", 480), 102: ("Cid", 0), 106: ("Gus", None)}
"""The active members of the utilisation view: the greater of their names, and the longest
working day of their workspaces (their own, else the workspace's). Dee is inactive, Eve not
active, Fay deleted; Zed (108) tracks time but is no member."""


@pytest.fixture(params=DIALECTS)
def everything(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Every raw table, full, in one dataset, and the views built over them (built again for
    each test: mutmut maps a test to the code it ran, a fixture's to the first test only)."""
    # A name no dlt dataset has, with a double quote, to show that every name is quoted.
    for db in _database(request.param, request, 'raw "time"'):
        db.create("workspaces", WORKSPACES)
        db.create("workspace_users", MEMBERS)
        db.create("workspace_projects", PROJECTS)
        db.create("workspace_clients", CLIENTS)
        db.create("workspace_tasks", TASKS)
        db.create("workspace_tags", TAGS)
        db.create("report_time_entries", REPORTED)
        db.create("time_entries", OWN)
        assert db.build() == ["entries", "hours_by_week", "utilisation_by_week"]
        yield db


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float):
        return actual is not None and math.isclose(expected, float(actual), abs_tol=1e-9)
    return bool((expected == actual and type(expected) is type(actual)) or expected is actual)


def _differences(expected: list[Row], actual: list[Row], key: str) -> list[str]:
    got = {row[key]: row for row in actual}
    assert len(got) == len(actual), f"{key} repeats"
    assert set(got) == {row[key] for row in expected}
    return [
        f"{want[key]}.{name}: expected {want[name]!r}, got {got[want[key]][name]!r}"
        for want in expected
        for name in want
        if not _same(want[name], got[want[key]][name])
    ]


def test_entries_are_the_live_entries_with_names_local_dates_hours_and_amounts(
    everything: Database,
) -> None:
    rows = everything.view("entries")
    assert rows and list(rows[0]) == ENTRY_COLUMNS
    assert not _differences(ENTRIES, rows, "id")


def _hours_by_week(entries: list[Row]) -> list[Row]:
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for e in entries:
        key = (e["week"], e["workspace_id"], e["project_id"], e["client_id"], e["user_id"])
        groups[(*key, e["currency"])].append(e)
    rows = []
    for (week, workspace, project, client, user, currency), members in groups.items():
        amounts = [e["billable_amount"] for e in members if e["billable_amount"] is not None]
        rows.append(
            {
                "group": (week, workspace, project, client, user, currency),
                "workspace_name": members[0]["workspace_name"],
                "project_name": members[0]["project_name"],
                "client_name": members[0]["client_name"],
                "user_name": members[0]["user_name"],
                "hours": sum(e["seconds"] for e in members) / 3600,
                "billable_hours": sum(e["seconds"] for e in members if e["billable"]) / 3600,
                "billable_amount": sum(amounts) if amounts else None,
                "entries": len(members),
            }
        )
    return rows


def _grouped(rows: list[Row]) -> list[Row]:
    names = ("week", "workspace_id", "project_id", "client_id", "user_id", "currency")
    return [{"group": tuple(r[n] for n in names), **r} for r in rows]


def test_hours_by_week_add_the_entries_up_per_week_project_member_and_currency(
    everything: Database,
) -> None:
    expected = _hours_by_week(ENTRIES)
    assert len(expected) == 9, "Ann's report and own entries share two groups, Cid's two one"
    assert not _differences(expected, _grouped(everything.view("hours_by_week")), "group")


def _utilisation(
    entries: list[Row], members: dict[int, tuple[str | None, int | None]]
) -> list[Row]:
    weeks = {e["week"] for e in entries if e["week"] is not None}
    tracked: dict[tuple[int, date], list[int]] = defaultdict(list)
    for e in entries:
        tracked[(e["user_id"], e["week"])].append(e["seconds"])
    rows = []
    for user, (name, minutes) in members.items():
        for week in weeks:
            hours = sum(tracked[(user, week)]) / 3600
            working = None if minutes is None else minutes * 5 / 60
            rows.append(
                {
                    "member_week": (user, week),
                    "user_name": name,
                    "hours": hours,
                    "entries": len(tracked[(user, week)]),
                    "working_hours": working,
                    "over_under_hours": None if working is None else hours - working,
                    "utilisation": hours / working if working else None,
                }
            )
    return rows


def test_utilisation_is_every_active_member_in_every_week_against_five_working_days(
    everything: Database,
) -> None:
    rows = [
        {"member_week": (r["user_id"], r["week"]), **r}
        for r in everything.view("utilisation_by_week")
    ]
    expected = _utilisation(ENTRIES, DAY_MINUTES)
    assert len(expected) == 4 * 4, "four members, four weeks"
    assert not _differences(expected, rows, "member_week")


# --- what is missing reads as null ----------------------------------------------------------


def test_entries_tables_of_a_key_alone_read_as_nulls_and_zero_seconds(db: Database) -> None:
    """A report of ids and starts, own entries of ids alone, members of user ids alone, and
    nothing else: every missing column is a null, a missing stop a running entry."""
    db.create("report_time_entries", [{"id": 1, "start": at(23, 10)}])
    db.create("time_entries", [{"id": 2}, {"id": 1}])
    db.create("workspace_users", [{"user_id": 100}, {"user_id": 101}])
    assert db.build() == ["entries", "hours_by_week", "utilisation_by_week"]
    empty = {name: None for name in ENTRY_COLUMNS}
    running = 2 * 86400 + 2 * 3600  # from the 23rd at 10:00 to the build
    expected = [
        {**empty, "id": 1, "start": at(23, 10), "local_date": date(2026, 11, 23)}
        | {"week": date(2026, 11, 23), "seconds": running, "hours": running / 3600},
        {**empty, "id": 2, "seconds": 0, "hours": 0.0},
    ]
    assert not _differences(expected, db.view("entries"), "id")
    weekly = [
        {"group": (date(2026, 11, 23), None, None, None, None, None), "hours": running / 3600}
        | {"billable_hours": 0.0, "billable_amount": None, "entries": 1, "user_name": None},
        {"group": (None,) * 6, "hours": 0.0, "billable_hours": 0.0, "entries": 1},
    ]
    assert not _differences(weekly, _grouped(db.view("hours_by_week")), "group")
    # Members in the week of the entry, with none of its hours: it has no user.
    utilisation = [
        {"member_week": (r["user_id"], r["week"]), **r} for r in db.view("utilisation_by_week")
    ]
    assert not _differences(
        _utilisation([e for e in expected if e["week"]], {100: (None, None), 101: (None, None)}),
        utilisation,
        "member_week",
    )


OWN_ALONE = [
    # With the names the service adds to an entry asked with `meta=true`.
    {**_own(21, 10, 100, project_id=7, task_id=70, description="solo", billable=True,
            start=at(24, 8), stop=at(24, 9), duration=3600, tag_ids="[5]"),
     "project_name": "Solo", "client_name": "Its client", "task_name": None},
    {**_own(22, 10, 101, start=at(25, 11), duration=-int(at(25, 11).timestamp())),
     "project_name": None, "client_name": None, "task_name": None},
]  # fmt: skip


def test_lookup_tables_of_keys_alone_leave_the_entries_own_names_and_count_everyone_active(
    db: Database,
) -> None:
    """Own entries without a report, and lookup tables that hold their keys only: only the
    names the entries carry, no client id, no tags, no currency, UTC dates; every member
    active, their working hours unknown."""
    db.create("time_entries", OWN_ALONE)
    db.create("workspaces", [{"id": 10}])
    db.create(
        "workspace_users",
        [{"workspace_id": 10, "user_id": 100}, {"workspace_id": 10, "user_id": 101}],
    )
    db.create("workspace_projects", [{"workspace_id": 10, "id": 7}])
    db.create("workspace_clients", [{"workspace_id": 10, "id": 300}])
    db.create("workspace_tasks", [{"workspace_id": 10, "id": 70}])
    db.create("workspace_tags", [{"workspace_id": 10, "id": 5}])
    assert db.build() == ["entries", "hours_by_week", "utilisation_by_week"]
    expected = [
        _entry(21, 10, 100, None, "UTC", 3600, project_id=7, project_name="Solo",
               client_name="Its client", task_id=70, description="solo", billable=True,
               start=at(24, 8), stop=at(24, 9)),
        _entry(22, 10, 101, None, "UTC", 3600, start=at(25, 11)),
    ]  # fmt: skip
    for row in expected:
        row.update(workspace_name=None, currency=None)
    assert not _differences(expected, db.view("entries"), "id")
    utilisation = [
        {"member_week": (r["user_id"], r["week"]), **r} for r in db.view("utilisation_by_week")
    ]
    assert not _differences(
        _utilisation(expected, {100: (None, None), 101: (None, None)}), utilisation, "member_week"
    )


# --- which views, and building them through a pipeline -------------------------------------


@pytest.mark.parametrize(
    ("tables", "views"),
    [
        ({"workspaces": {"id"}, "workspace_users": {"user_id"}}, []),
        ({"report_time_entries": {"id"}}, ["entries", "hours_by_week"]),
        (
            {"time_entries": {"id"}, "workspace_users": {"workspace_id"}},
            ["entries", "hours_by_week"],
        ),
        (
            {"time_entries": {"id"}, "workspace_users": {"user_id"}},
            ["entries", "hours_by_week", "utilisation_by_week"],
        ),
    ],
)
def test_a_dataset_gets_the_views_it_can_answer(
    tables: dict[str, set[str]], views: list[str]
) -> None:
    """No entries, no views; no members' user ids, no utilisation."""
    for dialect in ("duckdb", "postgres"):
        statements = view_statements(dialect, "ds", Landed(tables), AS_OF)
        assert [name for name, _ in statements] == views
        assert all(s.startswith(f'CREATE VIEW "ds_analytics"."{n}" AS ') for n, s in statements)


def _pipeline(dialect: str, db: Database, tmp_path: Path) -> Any:
    destination: Any = (
        dlt.destinations.duckdb(db.cursor)
        if dialect == "duckdb"
        else dlt.destinations.postgres(DSN)
    )
    return dlt.pipeline(
        f"analytics_{dialect}",
        destination=destination,
        dataset_name=db.dataset,
        pipelines_dir=str(tmp_path / "state"),
    )


def test_build_views_rebuilds_them_and_drops_them_when_no_entries_are_left(
    db: Database, tmp_path: Path
) -> None:
    """What a run does: views built over the views of the run before (dropped, not failing on
    them), a running entry counted up to the build, and no views left once the entries are
    gone (none stale)."""
    db.create(
        "report_time_entries",
        [{"id": 1, "workspace_id": 10, "start": at(23, 10), "tag_ids": "[5]"}],
    )
    db.create("workspace_tags", TAGS)
    db.create("workspace_users", [{"user_id": 100}])
    pipeline = _pipeline(db.dialect, db, tmp_path)
    assert build_views(pipeline, "nowhere") == []
    assert build_views(pipeline, db.dialect, AS_OF) == [
        "entries",
        "hours_by_week",
        "utilisation_by_week",
    ]
    before = datetime.now(UTC)
    assert build_views(pipeline, "motherduck" if db.dialect == "duckdb" else "postgres") == [
        "entries",
        "hours_by_week",
        "utilisation_by_week",
    ]
    after = datetime.now(UTC)
    ((seconds, tags),) = db.execute(f"SELECT seconds, tag_names FROM {db.views}.entries")
    assert list(tags) == ["five"], "the tag ids read in the pipeline's dialect"
    assert (
        (before - at(23, 10)).total_seconds() - 1 <= seconds <= (after - at(23, 10)).total_seconds()
    )
    # The entries gone from the dataset (renamed: PostgreSQL drops no table under a view).
    db.execute(f"ALTER TABLE {db.raw}.report_time_entries RENAME TO gone")
    assert build_views(pipeline, db.dialect, AS_OF) == []
    assert (
        db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (f"{db.dataset}_analytics",),
        )
        == []
    )
