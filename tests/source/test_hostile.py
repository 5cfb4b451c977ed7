"""Broken answers and broken connections lose nothing, and every run ends.

A mutating HTTP proxy sits between the source and the emulator (the truth is read from the
emulator directly), and a TCP proxy in front of PostgreSQL is killed mid-load. After each
scenario, clean runs converge: every table equals the truth, no key twice, no run hangs.
PostgreSQL tests never skip: without the server at 127.0.0.1:5432 they fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
import pytest
import requests

from tests.helpers import Api, Sync, db_counts, expected_counts
from tests.source.proxies import Forward, HttpProxy, Reply, Seen, TcpProxy, json_reply
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


# --- 1. PostgreSQL: a connection cut mid-load, a NUL byte -----------------------------------------

PG_SCALE = Scale(organizations=1, workspaces=1, users=20, time_entries=25_000, days=400)


@pytest.fixture(scope="module")
def big_emulator() -> Iterator[EmulatorServer]:
    """25,000 report entries: a load that takes a while, only read from."""
    with EmulatorServer(EmulatorConfig(scale=PG_SCALE)) as server:
        yield server


@pytest.mark.postgres
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("kill_after_bytes", "lose_commit_answer"),
    [(150_000, False), (3_000_000, False), (1_000_000, True)],
    ids=["early", "mid-insert", "commit-answer-lost"],
)
def test_postgres_connection_killed_mid_load_then_runs_converge(
    big_emulator: EmulatorServer,
    sync: Sync,
    pg_dataset: str,
    kill_after_bytes: int,
    lose_commit_answer: bool,
) -> None:
    base_url = big_emulator.base_url
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
            sync(base_url, destination=cut, dataset=pg_dataset, pipeline_name="pg_cut")
        assert proxy.killed.is_set(), "the connection must have been cut during the load"
    expected = expected_counts(base_url)
    direct = dlt.destinations.postgres(DSN)
    for _ in range(2):
        summary = sync(base_url, destination=direct, dataset=pg_dataset, pipeline_name="pg_cut")
        assert summary.exit_code == 0, summary.stats.errors
        assert _pg_counts(pg_dataset) == expected
        assert _pg_duplicates(pg_dataset) == {}


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_nul_byte_in_a_report_description_does_not_wedge_postgres(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, pg_dataset: str
) -> None:
    server = _start(make_emulator)
    poisoned: list[int] = []

    def nul(seen: Seen, forward: Forward) -> Reply | None:
        if poisoned or not REPORT_PATH.match(seen.path):
            return None
        reply = forward(seen)
        rows = _payload_rows(reply.json())
        if not rows:
            return reply

        def change(rows: list[Any]) -> None:
            rows[0]["description"] = "before\u0000after"
            poisoned.extend(e["id"] for e in rows[0]["time_entries"])

        return _rewrite(reply, change)

    destination = dlt.destinations.postgres(DSN)
    with HttpProxy(server.base_url, nul) as proxy:
        for run in range(2):
            summary = sync(
                proxy.base_url, destination=destination, dataset=pg_dataset, pipeline_name="pg_nul"
            )
            assert summary.exit_code == 0, summary.stats.errors
            assert poisoned, "the proxy must have poisoned a description"
            assert _pg_counts(pg_dataset) == expected_counts(server.base_url)
            assert _pg_duplicates(pg_dataset) == {}
            if run == 0:  # the NUL was stripped, the rest of the text kept
                with _pg_connect() as connection, connection.cursor() as cursor:
                    cursor.execute(
                        f'select distinct description from "{pg_dataset}".report_time_entries '
                        "where id = any(%s)",
                        [poisoned],
                    )
                    assert cursor.fetchall() == [("beforeafter",)]


# --- 2. a 200 whose body is not a list is not "everything was deleted" ---------------------------

NOT_A_LIST = [b"null", b"{}", b'{"data": null}']


@pytest.mark.timeout(120)
@pytest.mark.parametrize("body", NOT_A_LIST, ids=["null", "empty-object", "data-null"])
def test_a_client_list_that_is_not_a_list_empties_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, body: bytes
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"
    state = {"armed": False, "fired": 0}

    def broken(seen: Seen, forward: Forward) -> Reply | None:
        if state["armed"] and re.match(r"^/v1/workspaces/\d+/clients$", seen.path):
            state["armed"] = False
            state["fired"] += 1
            return Reply(200, body, {"Content-Type": "application/json"})
        return None

    with HttpProxy(server.base_url, broken) as proxy:
        sync(proxy.base_url)
        _assert_converged(db, server.base_url)
        clients = db_counts(db)["workspace_clients"]
        assert clients > 0
        state["armed"] = True
        summary = sync(proxy.base_url)
    assert state["fired"] == 1
    assert summary.exit_code == 0, summary.stats.errors
    assert db_counts(db)["workspace_clients"] == clients
    _assert_converged(db, server.base_url)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("body", NOT_A_LIST, ids=["null", "empty-object", "data-null"])
def test_a_report_page_that_is_not_a_list_loses_no_history(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, body: bytes
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"
    fired: list[str] = []

    def broken(seen: Seen, forward: Forward) -> Reply | None:
        if fired or not REPORT_PATH.match(seen.path):
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply  # only a page that has entries
        fired.append(seen.body.decode())
        return Reply(200, body, {**reply.headers})

    with HttpProxy(server.base_url, broken) as proxy:
        sync(proxy.base_url)
        assert fired, "a report page with entries must have been broken"
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    _assert_converged(db, server.base_url)


# --- 3. a far-future timestamp does not freeze `since` -------------------------------------------


@pytest.mark.timeout(120)
def test_a_far_future_at_does_not_freeze_since(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    api = Api(server.base_url, "envelope")
    db = tmp_path / "db.duckdb"
    (ws,) = [w["id"] for w in api.ok("/me/workspaces")]
    first, second = api.ok(f"/workspaces/{ws}/projects", active="both")[:2]
    state = {"armed": False, "fired": 0}

    def future(seen: Seen, forward: Forward) -> Reply | None:
        if not (
            state["armed"]
            and seen.path == f"/v1/workspaces/{ws}/projects"
            and "since" in seen.query
        ):
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply

        def change(rows: list[Any]) -> None:
            rows[0]["at"] = "9999-12-31T23:59:59Z"
            state["fired"] += 1

        return _rewrite(reply, change)

    with HttpProxy(server.base_url, future) as proxy:
        sync(proxy.base_url)
        api.admin("PATCH", f"/projects/{first['id']}", json={"name": "Changed before the future"})
        state["armed"] = True
        sync(proxy.base_url)
        assert state["fired"] >= 1, "the far-future `at` must have been served"
        state["armed"] = False
        api.admin("PATCH", f"/projects/{second['id']}", json={"name": "Renamed after the future"})
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    assert _duck_rows(
        db, "select name from timetrack.workspace_projects where id = ?", second["id"]
    ) == [("Renamed after the future",)]
    _assert_converged(db, server.base_url)


# --- 4. loops without end stop with a clear error ------------------------------------------------

PAGED = Scale(
    organizations=1,
    workspaces=1,
    users=10,
    projects_per_workspace=450,
    tasks_per_workspace=450,
    time_entries=300,
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("listing", ["projects", "tasks"])
def test_a_list_that_ignores_page_stops_with_an_error(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, listing: str
) -> None:
    server = _start(make_emulator, PAGED)
    db = tmp_path / "db.duckdb"
    table = f"workspace_{listing}"
    state = {"armed": True, "fired": 0}

    def same_page(seen: Seen, forward: Forward) -> Reply | None:
        if (
            state["armed"]
            and re.match(rf"^/v1/workspaces/\d+/{listing}$", seen.path)
            and seen.query.get("page", "1") != "1"
        ):
            state["fired"] += 1
            return forward(seen.with_query(page=1))
        return None

    with HttpProxy(server.base_url, same_page) as proxy:
        started = time.monotonic()
        summary = sync(proxy.base_url)
        elapsed = time.monotonic() - started
        assert state["fired"] >= 1
        assert elapsed < 60
        assert summary.stats.requests < 200, summary.stats.requests
        assert summary.exit_code == 1
        assert any("answered a page it had answered before" in e for e in summary.stats.errors), (
            summary.stats.errors
        )
        expected = expected_counts(server.base_url)
        landed = db_counts(db)
        for other in expected:
            if other != table:
                assert landed.get(other) == expected[other], other
        state["armed"] = False
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    _assert_converged(db, server.base_url)


@pytest.mark.timeout(120)
def test_a_report_cursor_that_never_advances_stops_with_an_error(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    scale = Scale(organizations=1, workspaces=1, users=10, time_entries=3000, days=100)
    server = _start(make_emulator, scale)
    db = tmp_path / "db.duckdb"
    state = {"armed": True, "fired": 0}

    def stuck(seen: Seen, forward: Forward) -> Reply | None:
        body = seen.json() if REPORT_PATH.match(seen.path) else None
        if state["armed"] and isinstance(body, dict) and "first_id" in body:
            # The service forgets the cursor: it answers the first page, and its X-Next-*
            # headers, again and again.
            state["fired"] += 1
            return forward(seen.with_json({k: v for k, v in body.items() if k not in CURSOR}))
        return None

    with HttpProxy(server.base_url, stuck) as proxy:
        started = time.monotonic()
        summary = sync(proxy.base_url)
        elapsed = time.monotonic() - started
        assert state["fired"] >= 1
        assert elapsed < 60
        assert summary.stats.requests < 200, summary.stats.requests
        assert summary.exit_code == 1
        assert any("cursor" in e for e in summary.stats.errors), summary.stats.errors
        expected = expected_counts(server.base_url)
        landed = db_counts(db)
        for other in expected:
            if other != "report_time_entries":
                assert landed.get(other) == expected[other], other
        state["armed"] = False
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    _assert_converged(db, server.base_url)


# --- 5. connections cut mid-body, bodies short of their length, bodies that trickle -------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["reset", "short"])
def test_a_body_cut_short_is_retried(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, mode: Any
) -> None:
    server = _start(make_emulator)
    state = {"n": 0, "cut": 0}

    def cut(seen: Seen, forward: Forward) -> Reply | None:
        state["n"] += 1
        if state["n"] % 4 or state["cut"] >= 8:
            return None
        reply = forward(seen)
        if reply.status != 200 or len(reply.body) < 8:
            return reply
        state["cut"] += 1
        reply.mode = mode
        return reply

    with HttpProxy(server.base_url, cut) as proxy:
        summary = sync(proxy.base_url, backoff_factor=0.01)
    assert state["cut"] >= 4
    assert summary.exit_code == 0, summary.stats.errors
    assert summary.stats.retries >= state["cut"]
    _assert_converged(tmp_path / "db.duckdb", server.base_url)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["trickle", "trickle-chunked"])
def test_a_trickling_body_is_cut_off_by_the_deadline(
    make_emulator: Callable[..., EmulatorServer], mode: Any
) -> None:
    server = _start(make_emulator)

    def trickle(seen: Seen, forward: Forward) -> Reply | None:
        reply = forward(seen)
        reply.mode = mode
        reply.trickle_seconds = 1.0
        return reply

    with HttpProxy(server.base_url, trickle) as proxy:
        client = ApiClient(
            "demo-token",
            ClientSettings(
                base_url=proxy.base_url, requests_per_second=0, deadline=3, backoff_factor=0.01
            ),
        )
        started = time.monotonic()
        with pytest.raises(ServiceError, match="slower than 3 s"):
            client.get("/me")
        elapsed = time.monotonic() - started
    # four attempts, each cut within a byte of its 3-second deadline
    assert elapsed < 25, elapsed
    assert client.stats.requests == 4 and client.stats.retries == 3


# --- 6. a deletion between two offset pages hides no live project ------------------------------


@pytest.mark.timeout(120)
def test_a_project_deleted_between_pages_hides_no_other(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator, PAGED)
    api = Api(server.base_url, "envelope")
    db = tmp_path / "db.duckdb"
    (ws,) = [w["id"] for w in api.ok("/me/workspaces")]
    page = {
        n: api.ok(f"/workspaces/{ws}/projects", active="both", page=n, per_page=200) for n in (1, 2)
    }
    victim, survivor = page[1][0]["id"], page[2][0]["id"]
    deleted: list[int] = []

    def delete_between(seen: Seen, forward: Forward) -> Reply | None:
        if (
            not deleted
            and seen.path == f"/v1/workspaces/{ws}/projects"
            and seen.query.get("page") == "2"
            and "since" not in seen.query
        ):
            response = requests.delete(f"{server.base_url}/_emulator/projects/{victim}", timeout=30)
            assert response.status_code == 200, response.text
            deleted.append(victim)
        return None

    with HttpProxy(server.base_url, delete_between) as proxy:
        sync(proxy.base_url)
        assert deleted == [victim]
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    ids = {i for (i,) in _duck_rows(db, "select id from timetrack.workspace_projects")}
    assert survivor in ids
    assert victim not in ids
    _assert_converged(db, server.base_url)


# --- 7. small ones: an endless quota, a null /me, fields the report adds ------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("resets_in", ["inf", "1e308"])
def test_a_quota_that_never_resets_stops_the_run_cleanly(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, resets_in: str
) -> None:
    server = _start(make_emulator)

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
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    server = _start(make_emulator)

    def null_me(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path == "/v1/me":
            return Reply(200, b"null", {"Content-Type": "application/json"})
        return None

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env["SOURCES__TIMETRACK__API_TOKEN"] = "demo-token"
    with HttpProxy(server.base_url, null_me) as proxy:
        result = subprocess.run(
            [sys.executable, "-m", "timetrack", "check", "--base-url", proxy.base_url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")


@pytest.mark.timeout(120)
def test_fields_the_report_adds_land_as_columns(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)

    def extra(seen: Seen, forward: Forward) -> Reply | None:
        if not REPORT_PATH.match(seen.path):
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply

        def change(rows: list[Any]) -> None:
            for row in rows:
                row["row_extra"] = "from the row"
                for entry in row["time_entries"]:
                    entry["entry_extra"] = "from the entry"

        return _rewrite(reply, change)

    with HttpProxy(server.base_url, extra) as proxy:
        summary = sync(proxy.base_url)
    assert summary.exit_code == 0, summary.stats.errors
    db = tmp_path / "db.duckdb"
    _assert_converged(db, server.base_url)
    assert _duck_rows(
        db,
        "select count(*) from timetrack.report_time_entries "
        "where row_extra = 'from the row' and entry_extra = 'from the entry'",
    ) == [(db_counts(db)["report_time_entries"],)]


# --- 8. hostile values: one odd record never fails a sync, nor wedges the next ones ---------------

CLIENTS_PATH = re.compile(r"^/v1/workspaces/\d+/clients$")
HUGE = b"18446744073709551615"
"""2**64 - 1: orjson still reads it as an int (a float beyond), no 64-bit column holds it."""


def _poisoned_then_clean(
    server: EmulatorServer,
    sync: Sync,
    path: re.Pattern[str],
    change: Callable[[list[Any]], None],
    landed: Callable[[], None] = lambda: None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """A run whose first answer with rows on `path` is changed by `change` (a `"__HUGE__"` it
    writes is served as the bare number 2**64 - 1), `landed` to look at what it landed, then a
    clean run; both summaries."""
    state = {"armed": True}

    def poison(seen: Seen, forward: Forward) -> Reply | None:
        if not state["armed"] or not path.match(seen.path):
            return None
        reply = forward(seen)
        if not _payload_rows(reply.json()):
            return reply
        state["armed"] = False
        changed = _rewrite(reply, change)
        return Reply(changed.status, changed.body.replace(b'"__HUGE__"', HUGE), changed.headers)

    with HttpProxy(server.base_url, poison) as proxy:
        poisoned = sync(proxy.base_url, **kwargs)
        assert not state["armed"], "the answer must have been poisoned"
        landed()
        clean = sync(proxy.base_url, **kwargs)
    return poisoned, clean


def _converged_but_rejected(path: Path, base_url: str) -> None:
    """Every table equals the truth, `rejected_records` (what a poisoned run kept) aside."""
    counts = db_counts(path)
    counts.pop("rejected_records", None)
    assert counts == expected_counts(base_url)
    assert _duck_duplicates(path) == {}


@pytest.mark.timeout(120)
def test_a_time_past_the_calendar_lands_raw_and_wedges_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    edge = "0001-01-01T00:00:00+05:00"

    def change(rows: list[Any]) -> None:
        rows[0]["at"] = edge
        rows[0]["first_seen"] = "9999-12-31T23:59:59-05:00"  # a new field: not typed a time

    db = tmp_path / "db.duckdb"

    def landed() -> None:
        assert _duck_rows(
            db,
            'select "at", at__raw, first_seen from timetrack.workspace_clients '
            "where at__raw is not null",
        ) == [(None, edge, "9999-12-31T23:59:59-05:00")]

    poisoned, clean = _poisoned_then_clean(server, sync, CLIENTS_PATH, change, landed)
    assert poisoned.exit_code == 0, poisoned.stats.errors
    assert clean.exit_code == 0, clean.stats.errors
    _assert_converged(db, server.base_url)


@pytest.mark.timeout(180)
def test_integers_beyond_64_bits_wedge_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"

    def clients(rows: list[Any]) -> None:
        rows[0]["creator_id"] = "__HUGE__"
        rows[1]["id"] = "__HUGE__"

    def landed() -> None:
        assert _duck_rows(
            db,
            "select creator_id, creator_id__raw from timetrack.workspace_clients "
            "where creator_id__raw is not null",
        ) == [(None, HUGE.decode())]
        assert _duck_rows(db, "select table_name, record_key from timetrack.rejected_records") == [
            ("workspace_clients", HUGE.decode())
        ]

    poisoned, clean = _poisoned_then_clean(server, sync, CLIENTS_PATH, clients, landed)
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)
    _converged_but_rejected(db, server.base_url)

    def report(rows: list[Any]) -> None:
        rows[0]["time_entries"][0]["seconds"] = "__HUGE__"

    poisoned, clean = _poisoned_then_clean(server, sync, REPORT_PATH, report, full_refresh=True)
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)
    _converged_but_rejected(db, server.base_url)


@pytest.mark.timeout(180)
def test_a_new_field_named_as_a_known_column_replaces_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"

    def clients(rows: list[Any]) -> None:
        for row in rows:
            row.update(Id=1, creatorId=999, Name="X")
        rows[0]["ID"] = "abc"

    def landed() -> None:
        assert _duck_rows(
            db,
            "select count(*), count(distinct id), count(*) filter (creator_id = 999 or "
            "name = 'X'), count(*) filter (id__raw = '1' and name__raw = 'X') "
            "from timetrack.workspace_clients",
        ) == [(truth, truth, 0, truth - 1)]

    truth = expected_counts(server.base_url)["workspace_clients"]
    poisoned, clean = _poisoned_then_clean(server, sync, CLIENTS_PATH, clients, landed)
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)
    _assert_converged(db, server.base_url)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("field", ["workspace_id", "server_deleted_at", "userId", "Description"])
def test_a_report_field_named_as_a_column_of_the_table_replaces_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, field: str
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"
    served = "2026-01-01T00:00:00Z" if field == "server_deleted_at" else 12345

    def report(rows: list[Any]) -> None:
        for row in rows:
            row[field] = served
            row["time_entries"][0][field] = served

    def landed() -> None:
        _assert_converged(db, server.base_url)
        assert _duck_rows(
            db,
            "select count(*) from timetrack.report_time_entries "
            "where workspace_id = 12345 or user_id = 12345 "
            "or description = '12345'",
        ) == [(0,)]

    poisoned, clean = _poisoned_then_clean(server, sync, REPORT_PATH, report, landed)
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)
    _assert_converged(db, server.base_url)


@pytest.mark.timeout(120)
def test_a_report_row_whose_entries_are_no_list_is_rejected(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"

    def report(rows: list[Any]) -> None:
        rows[0]["time_entries"] = rows[0]["time_entries"][0]

    def landed() -> None:
        assert _duck_rows(db, "select reason from timetrack.rejected_records") == [
            ("time_entries is not a list: dict",)
        ]

    poisoned, clean = _poisoned_then_clean(server, sync, REPORT_PATH, report, landed)
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)


@pytest.mark.timeout(120)
def test_nested_credentials_land_nowhere(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = _start(make_emulator)
    db = tmp_path / "db.duckdb"
    secret = "nested-secret-4c1d"

    def clients(rows: list[Any]) -> None:
        rows[0]["subscription"] = {"api_token": secret, "plan": [{"ical_url": secret}]}
        rows[1]["id"] = None  # rejected, with its nested credential
        rows[1]["meta"] = {"invite_url": secret, "my_password": secret}

    def landed() -> None:
        with duckdb.connect(str(db), read_only=True) as con:
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema='timetrack'"
            ).fetchall()
            for (table,) in tables:
                text = con.execute(
                    f'select cast(t as varchar) from timetrack."{table}" t'
                ).fetchall()
                assert secret not in str(text), table
        assert (tmp_path / "state").exists()
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path

    poisoned, _ = _poisoned_then_clean(server, sync, CLIENTS_PATH, clients, landed)
    assert poisoned.exit_code == 0, poisoned.stats.errors


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_nul_byte_inside_a_nested_value_does_not_wedge_postgres(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, pg_dataset: str
) -> None:
    server = _start(make_emulator)

    def clients(rows: list[Any]) -> None:
        rows[0]["meta"] = {"note\u0000": "a\u0000b", "list": ["c\u0000"]}

    destination = dlt.destinations.postgres(DSN)
    poisoned, clean = _poisoned_then_clean(
        server, sync, CLIENTS_PATH, clients, destination=destination, dataset=pg_dataset
    )
    assert (poisoned.exit_code, clean.exit_code) == (0, 0), (poisoned.stats.errors, clean.stats)
    assert _pg_counts(pg_dataset) == expected_counts(server.base_url)
