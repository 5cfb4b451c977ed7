"""Broken answers and broken connections lose nothing, and every run ends.

A mutating HTTP proxy sits between the source and the emulator (the truth is read from the
emulator directly), and a TCP proxy in front of PostgreSQL is killed mid-load. After each
scenario, clean runs converge: every table equals the truth, no key twice, no run hangs.
PostgreSQL tests never skip: without the server at 127.0.0.1:5432 they fail.

Variants that need the same set-up share it (one pipeline cut three ways, every hostile value
in one poisoned run beside a broken body per workspace, loops then cut bodies on one
pipeline), and runs read only the tables a check is about where the others have no part in
it (`resources`): each check says which behaviour it is.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
import pytest
import requests
from click.testing import CliRunner

from tests.helpers import TOKEN, Api, Sync, db_counts, duckdb_rows, expected_counts
from tests.source.proxies import Forward, HttpProxy, Reply, Seen, TcpProxy, json_reply
from tests.truth import differences, expected_tables
from timetrack.cli import cli
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.emulator.config import Scale
from timetrack.errors import ServiceError, TimetrackError
from timetrack.source.client import ApiClient, ClientSettings
from timetrack.source.endpoints import BY_TABLE

DSN = "postgresql://postgres:postgres@127.0.0.1:5432/test"
"""Trust auth ignores the password; dlt insists on one."""
SMALL = Scale(
    organizations=1,
    workspaces=1,
    users=10,
    projects_per_workspace=20,
    tasks_per_workspace=20,
    time_entries=300,
)
KEYS = {table: endpoint.primary_key for table, endpoint in BY_TABLE.items()}
REPORT_PATH = re.compile(r"^/v1/reports/workspace/(\d+)/search/time_entries$")
CLIENTS_PATH = re.compile(r"^/v1/workspaces/\d+/clients$")
CURSOR = ("first_id", "first_row_number", "first_timestamp")


# --- helpers ------------------------------------------------------------------------------------


def _start(make_emulator: Callable[..., EmulatorServer], scale: Scale = SMALL) -> EmulatorServer:
    return make_emulator(EmulatorConfig(scale=scale))


def _payload_rows(payload: Any) -> list[Any] | None:
    """The list inside an answer, envelope or not (None for `null`)."""
    if isinstance(payload, dict) and "data" in payload:
        payload = payload["data"]
    return payload if isinstance(payload, list) else None


def _rewrite(reply: Reply, change: Callable[[list[Any]], None]) -> Reply:
    """The reply with its list changed in place by `change`, envelope kept."""
    payload = reply.json()
    rows = _payload_rows(payload)
    assert rows is not None
    change(rows)
    return reply.with_json(payload)


def _duck_duplicates(path: Path, dataset: str = "timetrack") -> dict[str, int]:
    """Rows beyond one per key, per table that has any."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as db:
        tables = {
            t
            for (t,) in db.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [dataset],
            ).fetchall()
        }
        for table, key in KEYS.items():
            if table in tables:
                (extra,) = db.execute(  # type: ignore[misc]
                    f'select count(*) - count(distinct "{key}") from {dataset}."{table}"'
                ).fetchone()
                if extra:
                    out[table] = extra
    return out


def _duck_rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def _assert_converged(path: Path, base_url: str) -> None:
    assert db_counts(path) == expected_counts(base_url)
    assert _duck_duplicates(path) == {}


def _pg_connect() -> Any:
    try:
        return psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {DSN}: {error}")


def _pg_counts(dataset: str) -> dict[str, int]:
    with _pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            [dataset],
        )
        tables = [t for (t,) in cursor.fetchall() if not t.startswith("_dlt")]
        counts = {}
        for table in tables:
            cursor.execute(f'select count(*) from "{dataset}"."{table}"')
            counts[table] = cursor.fetchone()[0]
        return counts


def _pg_duplicates(dataset: str) -> dict[str, int]:
    out = {}
    with _pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            [dataset],
        )
        tables = {t for (t,) in cursor.fetchall()}
        for table, key in KEYS.items():
            if table in tables:
                cursor.execute(
                    f'select count(*) - count(distinct "{key}") from "{dataset}"."{table}"'
                )
                extra = cursor.fetchone()[0]
                if extra:
                    out[table] = extra
    return out


@pytest.fixture
def pg_dataset() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards (with its staging schema)."""
    connection = _pg_connect()
    name = f"tt_hostile_{uuid.uuid4().hex[:10]}"
    yield name
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'drop schema if exists "{name}" cascade')
        cursor.execute(f'drop schema if exists "{name}_staging" cascade')
    connection.close()


# --- 1. PostgreSQL: a connection cut mid-load, a NUL byte after it --------------------------------

PG_SCALE = Scale(organizations=1, workspaces=1, users=20, time_entries=1_200, days=400)
"""1,200 report entries: a load of about 0.8 MB of SQL, long enough to be cut three ways."""
CUTS = [(150_000, False, "early"), (500_000, False, "mid-insert"), (300_000, True, "commit")]
"""Where the connection dies: in the schema's set-up, mid-insert, and after a COMMIT the
server ran but whose answer never came back (the transaction landed, the client cannot know)."""


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_postgres_connection_killed_mid_load_then_runs_converge_and_a_nul_byte_wedges_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, pg_dataset: str
) -> None:
    # One pipeline, cut three times in a row: each later run first finishes the load the
    # earlier one left pending, and is cut in that load. Then clean runs converge; the first
    # of them is served a NUL byte in a report description and inside a client's nested value.
    server = _start(make_emulator, PG_SCALE)
    poisoned: list[int] = []
    nested: list[int] = []
    armed = [False]

    def nul(seen: Seen, forward: Forward) -> Reply | None:
        if armed[0] and not poisoned and REPORT_PATH.match(seen.path):
            reply = forward(seen)
            if not _payload_rows(reply.json()):
                return reply

            def description(rows: list[Any]) -> None:
                rows[0]["description"] = "before\u0000after"
                poisoned.extend(e["id"] for e in rows[0]["time_entries"])

            return _rewrite(reply, description)
        if armed[0] and not nested and CLIENTS_PATH.match(seen.path):
            reply = forward(seen)
            if not _payload_rows(reply.json()):
                return reply

            def meta(rows: list[Any]) -> None:
                rows[0]["meta"] = {"note\u0000": "a\u0000b", "list": ["c\u0000"]}
                nested.append(rows[0]["id"])

            return _rewrite(reply, meta)
        return None

    with HttpProxy(server.base_url, nul) as http:
        for kill_after_bytes, lose_commit_answer, where in CUTS:
            with TcpProxy(
                "127.0.0.1",
                5432,
                kill_after_bytes=kill_after_bytes,
                lose_commit_answer=lose_commit_answer,
            ) as proxy:
                cut = dlt.destinations.postgres(
                    f"postgresql://postgres:postgres@127.0.0.1:{proxy.port}/test"
                )
                with pytest.raises(TimetrackError):
                    sync(http.base_url, destination=cut, dataset=pg_dataset, pipeline_name="pg")
                assert proxy.killed.is_set(), f"the connection must have been cut ({where})"
        armed[0] = True
        direct = dlt.destinations.postgres(DSN)
        for run in ("first clean run", "second clean run"):
            summary = sync(
                http.base_url, destination=direct, dataset=pg_dataset, pipeline_name="pg"
            )
            assert summary.exit_code == 0, (run, summary.stats.errors)
            assert poisoned and nested, "the proxy must have poisoned a description and a meta"
            expected = expected_counts(server.base_url)
            assert _pg_counts(pg_dataset) == expected, f"{run}: every table as the truth says"
            assert _pg_duplicates(pg_dataset) == {}, f"{run}: no key twice (the lost COMMIT)"
            if run == "first clean run":  # the NUL was stripped, the rest of the text kept
                with _pg_connect() as connection, connection.cursor() as cursor:
                    cursor.execute(
                        f'select distinct description from "{pg_dataset}".report_time_entries '
                        "where id = any(%s)",
                        [poisoned],
                    )
                    assert cursor.fetchall() == [("beforeafter",)], "NUL in a description"
                    cursor.execute(
                        f'select id from "{pg_dataset}".workspace_clients where id = %s', nested
                    )
                    assert cursor.fetchall() == [(nested[0],)], "the client with a NUL landed"


# --- 3. a far-future timestamp does not freeze `since`; a deletion between two offset pages -----

PAGED = Scale(
    organizations=1,
    workspaces=1,
    users=10,
    projects_per_workspace=450,
    tasks_per_workspace=450,
    time_entries=300,
)
PROJECTS_ONLY = ["workspace_projects"]


@pytest.mark.timeout(240)
def test_a_far_future_at_does_not_freeze_since_and_a_deletion_between_pages_hides_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # The first run: a project of page 1 is deleted just before page 2 is read (offset paging
    # would shift a live one out of sight). The second: projects changed since the last run
    # come back with a far-future `at`. The third: an edit made after it still arrives.
    # Every run reads the projects alone (`resources`): no other table is touched.
    server = _start(
        make_emulator, replace(PAGED, projects_per_workspace=300, tasks_per_workspace=20)
    )
    api = Api(server.base_url, "envelope")
    db = tmp_path / "db.duckdb"
    (ws,) = [w["id"] for w in api.ok("/me/workspaces")]
    page = {
        n: api.ok(f"/workspaces/{ws}/projects", active="both", page=n, per_page=200) for n in (1, 2)
    }
    victim, survivor = page[1][0]["id"], page[2][0]["id"]
    first, second = page[1][1], page[1][2]
    deleted: list[int] = []
    state = {"future": False, "fired": 0}

    def hostile(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path != f"/v1/workspaces/{ws}/projects":
            return None
        if not deleted and seen.query.get("page") == "2" and "since" not in seen.query:
            response = requests.delete(f"{server.base_url}/_emulator/projects/{victim}", timeout=30)
            assert response.status_code == 200, response.text
            deleted.append(victim)
            return None
        if not (state["future"] and "since" in seen.query):
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply

        def change(rows: list[Any]) -> None:
            rows[0]["at"] = "9999-12-31T23:59:59Z"
            state["fired"] += 1

        return _rewrite(reply, change)

    def projects() -> set[int]:
        return {i for (i,) in _duck_rows(db, "select id from timetrack.workspace_projects")}

    with HttpProxy(server.base_url, hostile) as proxy:
        sync(proxy.base_url, resources=PROJECTS_ONLY)
        assert deleted == [victim]
        api.admin("PATCH", f"/projects/{first['id']}", json={"name": "Changed before the future"})
        state["future"] = True
        summary = sync(proxy.base_url, resources=PROJECTS_ONLY)
        assert summary.exit_code == 0, summary.stats.errors
        assert state["fired"] >= 1, "the far-future `at` must have been served"
        assert survivor in projects(), "a project deleted between pages hid a live one"
        assert victim not in projects(), "the deleted project stays"
        state["future"] = False
        api.admin("PATCH", f"/projects/{second['id']}", json={"name": "Renamed after the future"})
        summary = sync(proxy.base_url, resources=PROJECTS_ONLY)
    assert summary.exit_code == 0, summary.stats.errors
    assert _duck_rows(
        db, "select name from timetrack.workspace_projects where id = ?", second["id"]
    ) == [("Renamed after the future",)], "an edit after the far-future `at` arrives"
    truth = {"workspace_projects": expected_tables(server.base_url, TOKEN)["workspace_projects"]}
    landed = duckdb_rows(db)
    assert set(landed) == {"workspace_projects"}, "only the projects were read"
    assert differences(truth, landed) == [], "the projects, value by value"


# --- 4. loops without end stop with a clear error; bodies cut short are retried ------------------

LOOPING = replace(
    PAGED, projects_per_workspace=250, tasks_per_workspace=250, time_entries=1500, days=100
)
"""Lists of two pages, and report windows of more than one page."""


class _Cuts:
    """Every other answer with a body (a 200), cut mid-body: a TCP reset and a close before its
    Content-Length, by turns, `times` in all; `cut` counts each kind."""

    def __init__(self, times: int = 8) -> None:
        self.times = times
        self.n = 0
        self.cut = {"reset": 0, "short": 0}

    def __call__(self, seen: Seen, forward: Forward) -> Reply | None:
        self.n += 1
        done = sum(self.cut.values())
        if self.n % 2 or done >= self.times:
            return None
        reply = forward(seen)
        if reply.status != 200 or len(reply.body) < 8:
            return reply
        reply.mode = "reset" if done % 2 == 0 else "short"
        self.cut[reply.mode] += 1
        return reply


@pytest.mark.timeout(180)
def test_looping_lists_and_a_stuck_report_cursor_stop_with_errors_then_cut_bodies_are_retried(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # One run meets three loops at once: projects and tasks answer page 1 whatever page is
    # asked, and the report search forgets its cursor (the first page and its X-Next-*
    # headers, again and again). Each stops its own table with an error; the others land.
    # The next run's connections are cut mid-body, eight times (a TCP reset and a close before
    # the Content-Length, by turns): each is retried, and the run converges.
    server = _start(make_emulator, LOOPING)
    db = tmp_path / "db.duckdb"
    state = {"armed": True, "projects": 0, "tasks": 0, "report": 0}
    cuts = _Cuts()

    def loops(seen: Seen, forward: Forward) -> Reply | None:
        if not state["armed"]:
            return cuts(seen, forward)
        listing = re.match(r"^/v1/workspaces/\d+/(projects|tasks)$", seen.path)
        if listing and seen.query.get("page", "1") != "1":
            state[listing.group(1)] += 1
            return forward(seen.with_query(page=1))
        body = seen.json() if REPORT_PATH.match(seen.path) else None
        if isinstance(body, dict) and "first_id" in body:
            state["report"] += 1
            return forward(seen.with_json({k: v for k, v in body.items() if k not in CURSOR}))
        return None

    with HttpProxy(server.base_url, loops) as proxy:
        started = time.monotonic()
        summary = sync(proxy.base_url)
        elapsed = time.monotonic() - started
        assert state["projects"] and state["tasks"] and state["report"], state
        assert elapsed < 60
        assert summary.stats.requests < 200, summary.stats.requests
        assert summary.exit_code == 1
        errors = summary.stats.errors
        for table, says in [
            ("workspace_projects", "answered a page it had answered before"),
            ("workspace_tasks", "answered a page it had answered before"),
            ("report_time_entries", "cursor"),
        ]:
            assert any(e.startswith(table) and says in e for e in errors), (table, errors)
        expected = expected_counts(server.base_url)
        landed = db_counts(db)
        stopped = ("workspace_projects", "workspace_tasks", "report_time_entries")
        for other in expected:
            if other not in stopped:
                assert landed.get(other) == expected[other], f"{other} lands beside the loops"
        state["armed"] = False
        summary = sync(proxy.base_url, backoff_factor=0.01)
    assert cuts.cut == {"reset": 4, "short": 4}, cuts.cut
    assert summary.exit_code == 0, summary.stats.errors
    assert summary.stats.retries >= 8, "every body cut short is asked again"
    _assert_converged(db, server.base_url)


# --- 5. bodies that trickle -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_trickling_body_is_cut_off_by_the_deadline(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = _start(make_emulator)
    modes: list[str] = []

    def trickle(seen: Seen, forward: Forward) -> Reply | None:
        reply = forward(seen)
        # with a Content-Length, then chunked
        reply.mode = "trickle" if not modes else "trickle-chunked"
        modes.append(reply.mode)
        reply.trickle_seconds = 0.25
        return reply

    with HttpProxy(server.base_url, trickle) as proxy:
        client = ApiClient(
            "demo-token",
            ClientSettings(
                base_url=proxy.base_url,
                requests_per_second=0,
                deadline=1,
                max_retries=1,
                backoff_factor=0.01,
            ),
        )
        started = time.monotonic()
        with pytest.raises(ServiceError, match="slower than 1 s"):
            client.get("/me")
        elapsed = time.monotonic() - started
    assert modes == ["trickle", "trickle-chunked"]
    # two attempts, each cut within a byte of its 1-second deadline
    assert elapsed < 8, elapsed
    assert client.stats.requests == 2 and client.stats.retries == 1


# --- 7. small ones: an endless quota, a null /me, fields the report adds ------------------------


@pytest.mark.timeout(120)
def test_a_quota_that_never_resets_stops_the_run_cleanly(
    make_emulator: Callable[..., EmulatorServer], sync: Sync
) -> None:
    # a reset of "inf"; 1e308 and the other unusable resets, at the client:
    # tests/source/test_units_hostile_quota.py
    server = _start(make_emulator)
    resets_in = "inf"

    def spent(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path.startswith("/v1/workspaces/"):
            return json_reply(
                "You have hit your hourly limit for API calls.",
                402,
                **{"X-Quota-Remaining": "0", "X-Quota-Resets-In": resets_in},
            )
        return None

    with HttpProxy(server.base_url, spent) as proxy:
        summary = sync(proxy.base_url, backoff_factor=0.01)
    assert summary.exit_code == 75, (summary.stats.errors, summary.closing_lines())
    assert "quota" in " ".join(summary.closing_lines())


@pytest.mark.timeout(120)
def test_check_on_a_null_me_prints_one_error_line(
    make_emulator: Callable[..., EmulatorServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the command line in this process (click's runner): the same command, without the
    # seconds a new Python takes to start
    server = _start(make_emulator)

    def null_me(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path == "/v1/me":
            return Reply(200, b"null", {"Content-Type": "application/json"})
        return None

    for name in [k for k in os.environ if k.startswith("SOURCES__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", "demo-token")
    monkeypatch.chdir(tmp_path)
    with HttpProxy(server.base_url, null_me) as proxy:
        result = CliRunner().invoke(cli, ["check", "--base-url", proxy.base_url])
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")


# --- 8. hostile values: one odd record never fails a sync, nor wedges the next ones ---------------

HUGE = b"18446744073709551615"
"""2**64 - 1: orjson still reads it as an int (a float beyond), no 64-bit column holds it."""
EDGE = "0001-01-01T00:00:00+05:00"
"""Before the first instant of the calendar once in UTC: no timestamp column holds it."""
SECRET = "nested-secret-4c1d"
NAMED = {
    "workspace_id": 12345,
    "server_deleted_at": "2026-01-01T00:00:00Z",
    "userId": 12345,
    "Description": 12345,
}
"""Fields a report may add whose names are, or normalize to, a column of the table."""


NOT_A_LIST = [b"null", b"{}", b'{"data": null}']
"""200 answers whose body is not a list: not "everything was deleted"."""
THREE = replace(
    SMALL, workspaces=3, projects_per_workspace=5, tasks_per_workspace=5, time_entries=150
)
"""A workspace for each of the three bodies."""
WORKSPACE_CLIENTS = re.compile(r"^/v1/workspaces/(\d+)/clients$")
VALUES_TABLES = ["workspace_clients", "report_time_entries"]
"""The tables the hostile answers are served on: the runs read them alone (`resources`)."""


def _truth(base_url: str, tables: list[str]) -> dict[str, Any]:
    """The emulator's truth of `tables`, by key."""
    everything = expected_tables(base_url, TOKEN)
    return {table: everything[table] for table in tables}


@pytest.mark.timeout(240)
def test_hostile_values_land_raw_or_rejected_and_bodies_that_are_not_lists_delete_and_lose_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # Three runs on three workspaces. The first (a history walk) is served every kind of odd
    # record (each on rows of its own), and, in each workspace, its first report page with
    # entries as one of the three bodies that are not a list. The second, a clean run but for
    # each workspace's client list answered, once, with one of those bodies. The third, a full
    # refresh, must land the truth value by value. Every run reads the two tables these
    # answers are on (`resources`).
    server = _start(make_emulator, THREE)
    db = tmp_path / "db.duckdb"
    spaces = sorted(w["id"] for w in Api(server.base_url, "envelope").ok("/me/workspaces"))
    assert len(spaces) == len(NOT_A_LIST)
    body_of = dict(zip(spaces, NOT_A_LIST, strict=True))
    fired: dict[str, dict[int, bytes]] = {"report": {}, "clients": {}}
    armed = {"report": True, "clients": False}
    ids: dict[str, Any] = {}

    def clients(rows: list[Any]) -> None:
        assert len(rows) >= 6, "six clients to poison"
        ids["clients"] = [row["id"] for row in rows]
        # a time past the calendar, a new field that looks like a time, an integer beyond 64
        # bits, and credentials nested in a new field
        rows[0].update(at=EDGE, first_seen="9999-12-31T23:59:59-05:00", creator_id="__HUGE__")
        rows[0]["subscription"] = {"api_token": SECRET, "plan": [{"ical_url": SECRET}]}
        rows[1]["id"] = "__HUGE__"  # no key a BIGINT holds: rejected
        rows[2]["id"] = None  # rejected, with its nested credentials
        rows[2]["meta"] = {"invite_url": SECRET, "my_password": SECRET}
        # new fields named as known columns, in other spellings
        for row in rows[3:]:
            row.update(Id=1, creatorId=999, Name="X")
        rows[3]["ID"] = "abc"

    def report(rows: list[Any]) -> None:
        assert len(rows) >= 3 and all(len(r["time_entries"]) for r in rows), "three rows"
        ids["entries_no_list"] = [e["id"] for e in rows[0]["time_entries"]]
        rows[0]["time_entries"] = rows[0]["time_entries"][0]
        ids["huge_seconds"] = rows[1]["time_entries"][0]["id"]
        rows[1]["time_entries"][0]["seconds"] = "__HUGE__"
        ids["named"] = []
        for row in rows[1:]:
            row.update(NAMED, row_extra="from the row")
            row["time_entries"][0].update(NAMED)
            for entry in row["time_entries"]:
                entry["entry_extra"] = "from the entry"
                ids["named"].append(entry["id"])

    def as_landed(entries: dict[Any, Any]) -> dict[Any, Any]:
        """The report's truth as the poisoned run lands it: a row of entries rejected, and
        seconds beyond 64 bits as null (kept raw)."""
        for key in ids["entries_no_list"]:
            entries.pop(key)
        entries[ids["huge_seconds"]]["seconds"] = None
        return entries

    def landed() -> None:
        rejected = _duck_rows(
            db, "select table_name, record_key, reason from timetrack.rejected_records"
        )
        assert sorted(rejected, key=repr) == [
            ("report_time_entries", None, "time_entries is not a list: dict"),
            (
                "workspace_clients",
                HUGE.decode(),
                f"id is beyond the 64-bit range: '{HUGE.decode()}'",
            ),
            ("workspace_clients", None, "no id"),
        ], "a report row whose entries are no list, a key beyond 64 bits and no key: rejected"
        first, *_ = ids["clients"]
        assert _duck_rows(
            db,
            'select "at", at__raw, first_seen, creator_id, creator_id__raw '
            "from timetrack.workspace_clients where id = ?",
            first,
        ) == [(None, EDGE, "9999-12-31T23:59:59-05:00", None, HUGE.decode())], (
            "a time past the calendar and an integer beyond 64 bits land raw, beside a null"
        )
        renamed = ids["clients"][3:]
        assert _duck_rows(
            db,
            "select count(*), count(distinct id), count(*) filter (creator_id = 999 or "
            "name = 'X'), count(*) filter (id__raw = '1' and name__raw = 'X') "
            "from timetrack.workspace_clients where id in (select unnest(?))",
            renamed,
        ) == [(len(renamed), len(renamed), 0, len(renamed) - 1)], (
            "a new field named as a known column replaces nothing, lands raw"
        )
        assert _duck_rows(
            db,
            "select count(*) from timetrack.report_time_entries "
            "where row_extra = 'from the row' and entry_extra = 'from the entry' "
            "and id in (select unnest(?))",
            ids["named"],
        ) == [(len(ids["named"]),)], "fields the report adds land as columns"
        # what did land, by value: the clients and entries that were not rejected
        expected = _truth(server.base_url, VALUES_TABLES)
        clients = expected["workspace_clients"]
        clients.pop(ids["clients"][1])
        clients.pop(ids["clients"][2])
        clients[first].update(at=None, creator_id=None)
        expected["report_time_entries"] = as_landed(expected["report_time_entries"])
        assert _duck_rows(
            db,
            "select seconds__raw from timetrack.report_time_entries where id = ?",
            ids["huge_seconds"],
        ) == [(HUGE.decode(),)], "seconds beyond 64 bits land raw, beside a null"
        got = duckdb_rows(db)
        got.pop("rejected_records")
        problems = differences(expected, got)
        assert not problems, "\n".join(problems)
        with duckdb.connect(str(db), read_only=True) as con:
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema='timetrack'"
            ).fetchall()
            for (table,) in tables:
                text = con.execute(
                    f'select cast(t as varchar) from timetrack."{table}" t'
                ).fetchall()
                assert SECRET not in str(text), f"a nested credential landed in {table}"
        assert (tmp_path / "state").exists()
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), f"a credential in {path}"

    # The first answer with rows on each path is changed by its change, in the first run (a
    # `"__HUGE__"` it writes is served as the bare number 2**64 - 1).
    poison = {CLIENTS_PATH: clients, REPORT_PATH: report}

    def hostile(seen: Seen, forward: Forward) -> Reply | None:
        report_of = REPORT_PATH.match(seen.path)
        if report_of and armed["report"] and int(report_of.group(1)) not in fired["report"]:
            reply = forward(seen)
            if not _payload_rows(reply.json()):
                return reply  # only a page that has entries
            ws = int(report_of.group(1))
            fired["report"][ws] = body_of[ws]
            return Reply(200, body_of[ws], {**reply.headers})
        clients_of = WORKSPACE_CLIENTS.match(seen.path)
        if clients_of and armed["clients"] and int(clients_of.group(1)) not in fired["clients"]:
            ws = int(clients_of.group(1))
            fired["clients"][ws] = body_of[ws]
            return Reply(200, body_of[ws], {"Content-Type": "application/json"})
        path = next((p for p in list(poison) if p.match(seen.path)), None)
        if path is None:
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply
        change = poison.pop(path, None)  # None: another request of the path took it
        if change is None:
            return reply
        changed = _rewrite(reply, change)
        return Reply(changed.status, changed.body.replace(b'"__HUGE__"', HUGE), changed.headers)

    def clients_per_workspace() -> dict[int, set[int]]:
        rows = _duck_rows(db, "select workspace_id, id from timetrack.workspace_clients")
        out: dict[int, set[int]] = {}
        for ws, key in rows:
            out.setdefault(ws, set()).add(key)
        return out

    # a body that is not a list is retried at once (the retry is answered whole)
    with HttpProxy(server.base_url, hostile) as proxy:
        poisoned = sync(proxy.base_url, resources=VALUES_TABLES, backoff_factor=0.01)
        assert poisoned.exit_code == 0, poisoned.stats.errors
        assert not poison, "every answer must have been poisoned"
        assert fired["report"] == body_of, "a report page with entries broken per body"
        landed()  # and the broken report pages lost no history
        before = clients_per_workspace()
        armed["report"], armed["clients"] = False, True
        clean = sync(proxy.base_url, resources=VALUES_TABLES, backoff_factor=0.01)
    assert clean.exit_code == 0, clean.stats.errors
    assert fired["clients"] == body_of, "a client list broken per body"
    truth = expected_tables(server.base_url, TOKEN)["workspace_clients"].values()
    after = clients_per_workspace()
    for ws, body in body_of.items():
        live = {row["id"] for row in truth if row["workspace_id"] == ws}
        now = after.get(ws, set())
        assert live and now == live, f"a client list answered {body!r} emptied it"
        assert before[ws] <= now, f"a client list answered {body!r} lost a client"
    # The clean run lands the lists whole again. The report's history is not walked again,
    # only its trailing window: the entries rejected or kept raw before it stay as they
    # landed until they change, or until a full refresh; nothing else may differ.
    got = duckdb_rows(db)
    got.pop("rejected_records")
    expected = _truth(server.base_url, VALUES_TABLES)
    entries = expected["report_time_entries"]
    again = {row["id"]: row for row in got["report_time_entries"]}
    for key in ids["entries_no_list"]:
        if key not in again:
            entries.pop(key)
    if again[ids["huge_seconds"]]["seconds"] is None:
        entries[ids["huge_seconds"]]["seconds"] = None
    problems = differences(expected, got)
    assert not problems, "\n".join(problems)
    refreshed = sync(server.base_url, resources=VALUES_TABLES, full_refresh=True)
    assert refreshed.exit_code == 0, refreshed.stats.errors
    got = duckdb_rows(db)
    got.pop("rejected_records", None)
    problems = differences(_truth(server.base_url, VALUES_TABLES), got)
    assert not problems, "a full refresh lands the truth\n" + "\n".join(problems)
