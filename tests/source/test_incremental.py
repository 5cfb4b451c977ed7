"""Incremental runs: changes between runs arrive, deletions leave, unchanged runs are cheap."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from tests.helpers import (
    PARTIAL_TOKEN,
    TOKEN,
    Api,
    Sync,
    clock,
    db_counts,
    duckdb_rows,
    expected_counts,
)
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

SCALE = Scale(users=30, projects_per_workspace=40, tasks_per_workspace=30, time_entries=1500)
"""The default's organizations, workspaces, clients, tags and 120 days, less of the rest (what
is tested here does not depend on the size; a sync of less costs less)."""
INCREMENTAL_ROUTES = (
    "GET /v1/me/time_entries",
    "GET /v1/workspaces/{workspace_id}/projects",
    "GET /v1/workspaces/{workspace_id}/tasks",
)


def _rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def world(make_emulator: Callable[..., EmulatorServer]) -> tuple[EmulatorServer, Api]:
    server = make_emulator(EmulatorConfig(scale=SCALE))
    return server, Api(server.base_url, "envelope")


def _routes(api: Api) -> dict[str, int]:
    by_route: dict[str, int] = api.admin("GET", "/requests")["by_route"]
    return by_route


def test_changes_between_runs_converge_to_the_truth(
    world: tuple[EmulatorServer, Api], sync: Sync, tmp_path: Path
) -> None:
    """One first sync, then changes of every kind (entries, projects, tasks, clients, tags)
    and the next run; then a full refresh."""
    server, api = world
    db = tmp_path / "db.duckdb"
    # another member's entry backdated before anything else the service holds (the owner's
    # would come back with the next run's `since` into time_entries, whose truth is the window)
    backdated = api.data(
        api.call(
            "POST",
            "/workspaces/4000001/time_entries",
            token=PARTIAL_TOKEN,
            json={"start": "2015-03-01T09:00:00Z", "duration": 3600, "description": "backdated"},
        )
    )
    sync(server.base_url)
    assert db_counts(db) == expected_counts(server.base_url)
    assert _rows(
        db, "select description from timetrack.report_time_entries where id = ?", backdated["id"]
    ) == [("backdated",)], "history older than anything else is loaded"

    now = datetime.fromtimestamp(api.admin("GET", "/clock")["unix"], UTC)
    ws = 4000001
    mine = api.ok("/me/time_entries", since=int(now.timestamp()) - 80 * 86400)
    live = [e for e in mine if e["server_deleted_at"] is None and e["stop"]]
    edited, removed = live[0], live[1]
    running = next(e for e in mine if e["stop"] is None)
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={
                "start": _iso(now - timedelta(hours=3)),
                "duration": 1200,
                "description": "new one",
            },
        )
    )
    api.call(
        "PUT",
        f"/workspaces/{edited['workspace_id']}/time_entries/{edited['id']}",
        json={"description": "edited between runs"},
    )
    api.call("DELETE", f"/workspaces/{removed['workspace_id']}/time_entries/{removed['id']}")
    api.call("PATCH", f"/workspaces/{running['workspace_id']}/time_entries/{running['id']}/stop")
    # someone else's entry in the report window, deleted by the owner (a workspace admin)
    other = next(
        r
        for r in api.admin("GET", "/records/time_entries")
        if r["user_id"] != created["user_id"]
        and r["stop"]
        and r["server_deleted_at"] is None
        and r["workspace_id"] == ws
        and r["start"] > _iso(now - timedelta(days=20))
    )
    api.call("DELETE", f"/workspaces/{ws}/time_entries/{other['id']}")
    doomed_task = api.ok(f"/workspaces/{ws}/tasks")["data"][0]
    renamed = api.ok(f"/workspaces/{ws}/projects")[0]
    project = api.admin("POST", f"/workspaces/{ws}/projects", json={"name": "Brand new project"})
    task = api.admin(
        "POST",
        f"/workspaces/{ws}/tasks",
        json={"project_id": project["id"], "name": "Brand new task"},
    )
    api.admin("DELETE", f"/tasks/{doomed_task['id']}")
    api.admin("PATCH", f"/projects/{renamed['id']}", json={"name": "Renamed project"})
    client = api.ok(f"/workspaces/{ws}/clients")[0]
    api.admin("PATCH", f"/clients/{client['id']}", json={"archived": True})
    # a tag of entries inside the report's trailing window, and a client and a tag elsewhere,
    # deleted
    recent = [
        r
        for r in api.admin("GET", "/records/time_entries")
        if r["tag_ids"]
        and r["stop"]
        and r["server_deleted_at"] is None
        and r["start"] > _iso(now - timedelta(days=10))
    ]
    recent_tag = recent[0]["tag_ids"][0]
    api.admin("DELETE", f"/tags/{recent_tag}")
    gone_client = api.ok("/workspaces/4000002/clients", status="both")[0]
    gone_tag = next(t for t in api.ok("/workspaces/4000003/tags") if t["id"] != recent_tag)
    api.admin("DELETE", f"/clients/{gone_client['id']}")
    api.admin("DELETE", f"/tags/{gone_tag['id']}")

    sync(server.base_url)
    assert db_counts(db) == expected_counts(server.base_url)
    assert _rows(
        db, "select description from timetrack.time_entries where id = ?", edited["id"]
    ) == [("edited between runs",)]
    assert _rows(db, "select id from timetrack.time_entries where id = ?", removed["id"]) == []
    assert (
        _rows(db, "select id from timetrack.report_time_entries where id = ?", removed["id"]) == []
    )
    assert _rows(db, "select id from timetrack.report_time_entries where id = ?", other["id"]) == []
    assert _rows(
        db, "select stop is not null from timetrack.time_entries where id = ?", running["id"]
    ) == [(True,)]
    assert _rows(db, "select count(*) from timetrack.time_entries where id = ?", created["id"]) == [
        (1,)
    ]
    assert _rows(
        db, "select count(*) from timetrack.report_time_entries where id = ?", created["id"]
    ) == [(1,)]
    assert _rows(
        db, "select name from timetrack.workspace_projects where id = ?", renamed["id"]
    ) == [("Renamed project",)]
    assert _rows(
        db,
        "select count(*) from timetrack.workspace_tasks where id in (?, ?)",
        task["id"],
        doomed_task["id"],
    ) == [(1,)]
    assert _rows(
        db, "select archived from timetrack.workspace_clients where id = ?", client["id"]
    ) == [(True,)]
    for table, key in (
        ("workspace_clients", gone_client["id"]),
        ("workspace_tags", gone_tag["id"]),
    ):
        assert _rows(db, f"select id from timetrack.{table} where id = ?", key) == [], (
            f"a deletion leaves {table}"
        )
    stale = _rows(
        db,
        "select count(*) from timetrack.report_time_entries "
        "where list_contains(tag_ids::bigint[], ?) and start > ?",
        recent_tag,
        now - timedelta(days=29),
    )
    assert stale == [(0,)], "a deleted tag leaves the report's rows inside the trailing window"
    # The truth knows the deleted tags as deleted too, and the tables equal it by value, but
    # for the entries that carried them: a tag's removal leaves their `at` as it was, so `since`
    # does not return the owner's, and the report re-reads only its trailing window (limits the
    # docs/incremental.md states; the views' tag_names drop the name at once).
    expected = expected_tables(server.base_url, TOKEN)
    landed = duckdb_rows(db)
    entries = ("time_entries", "report_time_entries")
    others = {k: v for k, v in landed.items() if k not in entries}
    problems = differences({k: v for k, v in expected.items() if k not in entries}, others)
    assert not problems, "\n".join(problems)
    stale_tags = differences(
        {k: expected[k] for k in entries}, {k: landed[k] for k in entries}, 10**6
    )
    details = [line for line in stale_tags if line.startswith("  ")]
    assert details and all(" tags: " in line or " tag_ids: " in line for line in details), (
        stale_tags
    )

    # a full refresh starts over: the whole report history walked again, the truth again
    api.admin("DELETE", "/requests")
    sync(server.base_url, full_refresh=True)
    assert db_counts(db) == expected_counts(server.base_url)
    assert _routes(api)["POST /v1/reports/workspace/{workspace_id}/search/time_entries"] > 3, (
        "a full refresh walks the whole report history again"
    )


def _freeze_later(server: EmulatorServer) -> float:
    """Freeze the emulator's clock two days ahead, on a whole second: no generated record
    changed near it, so what changed around it is only what a test writes there."""
    later = float(int(clock(server.base_url)) + 2 * 86400)
    return clock(server.base_url, now=later, frozen=True)


def _changed(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["at"]).timestamp()


def _write_at(server: EmulatorServer, moment: float, write: Callable[[], Any]) -> Any:
    """Make a write stamped `moment` by the service, then put the clock back where it was."""
    was = clock(server.base_url)
    clock(server.base_url, now=moment, frozen=True)
    try:
        return write()
    finally:
        clock(server.base_url, now=was, frozen=True)


def test_an_unchanged_hour_costs_one_request_per_incremental_endpoint_and_late_writes_arrive(
    world: tuple[EmulatorServer, Api], sync: Sync, tmp_path: Path
) -> None:
    """With the default cadence, an hour later, nothing changed: one request for what has
    `since`, and the report's changes. Then writes the service stamps shortly before that run
    began, but that it did not see (they committed while the run read), arrive with the next
    run: the owner's entries (asked `since` the run's start less the overlap), projects and
    tasks (asked `since` the newest change seen, less five minutes: a change stamped 100 s
    before the newest one the runs saw)."""
    server, api = world
    db = tmp_path / "db.duckdb"
    began = _freeze_later(server)
    # one of the owner's entries changed a minute before the first run: inside the overlap
    late = _write_at(
        server,
        began - 60,
        lambda: api.data(
            api.call(
                "POST",
                "/workspaces/4000001/time_entries",
                json={"start": _iso(datetime.fromtimestamp(began - 7200, UTC)), "duration": 60},
            )
        ),
    )
    for entity in ("projects", "tasks"):
        records = api.admin("GET", f"/records/{entity}")
        for ws in {r["workspace_id"] for r in records}:
            newest = max((r for r in records if r["workspace_id"] == ws), key=_changed)
            assert newest["server_deleted_at"] is None, (
                f"the test needs the newest of the {entity} of {ws} live (the overlap sends it "
                "again: a deletion sent again is written again)"
            )
    sync(server.base_url, reconcile_hours=24)
    api.admin("DELETE", "/requests")
    second = began + 3600
    clock(server.base_url, now=second, frozen=True)
    summary = sync(server.base_url, reconcile_hours=24)
    routes = _routes(api)
    workspaces = 3
    report = "POST /v1/reports/workspace/{workspace_id}/search/time_entries"
    assert routes == {
        "GET /v1/me/time_entries": 1,
        "GET /v1/workspaces/{workspace_id}/projects": workspaces,
        "GET /v1/workspaces/{workspace_id}/tasks": workspaces,
        # the last year's entries, newest change first: one page, older than the last run
        report: workspaces,
    }
    assert summary.stats.requests == sum(routes.values())
    # nothing new or changed, so nothing was written: not the report's changes, nor what the
    # since overlap sent again (the newest project and task, the same as what landed)
    assert summary.rows.get("workspace_projects", 0) == 0
    assert summary.rows.get("workspace_tasks", 0) == 0
    assert summary.rows.get("report_time_entries", 0) == 0
    # only what changed within the overlap before the first run is sent again
    overlap = [
        r["id"]
        for r in api.admin("GET", "/records/time_entries", params={"user": "me"})
        if _changed(r) >= began - 300
    ]
    assert overlap == [late["id"]]
    assert summary.rows.get("time_entries", 0) == 1
    assert f"requests {summary.stats.requests}" in "\n".join(summary.lines())

    # writes stamped inside the overlap of the second run, made after it
    unseen = _write_at(
        server,
        second - 120,
        lambda: api.data(
            api.call(
                "POST",
                "/workspaces/4000001/time_entries",
                json={
                    "start": _iso(datetime.fromtimestamp(second - 7200, UTC)),
                    "duration": 900,
                    "description": "late writer",
                },
            )
        ),
    )
    ws = 4000001
    changed = {}
    for entity in ("projects", "tasks"):
        live = [
            r
            for r in api.admin("GET", f"/records/{entity}")
            if r["workspace_id"] == ws and r["server_deleted_at"] is None
        ]
        newest = max(_changed(r) for r in live)
        target = min(live, key=lambda r: r["at"])  # any but the newest
        patch = functools.partial(
            api.admin, "PATCH", f"/{entity}/{target['id']}", json={"name": "late"}
        )
        _write_at(server, newest - 100, patch)
        changed[entity] = target["id"]
    clock(server.base_url, now=second + 600, frozen=True)
    sync(server.base_url, reconcile_hours=24)
    assert _rows(
        db, "select description from timetrack.time_entries where id = ?", unseen["id"]
    ) == [("late writer",)], "the owner's entry written inside the overlap"
    for entity, table in (("projects", "workspace_projects"), ("tasks", "workspace_tasks")):
        assert _rows(db, f"select name from timetrack.{table} where id = ?", changed[entity]) == [
            ("late",)
        ], f"{entity} changed inside the overlap"


def test_a_run_narrowed_to_one_workspace_keeps_its_entries_only_and_deleted_rows_marked(
    world: tuple[EmulatorServer, Api], sync: Sync, tmp_path: Path
) -> None:
    """Two options of a run together (neither changes what the other does): narrowed to one
    workspace, the owner's entries of the others are left out; with keep_deleted, deletions
    stay as rows marked deleted."""
    server, api = world
    db = tmp_path / "db.duckdb"
    ws = 4000002
    mine = api.ok("/me/time_entries")
    assert len({e["workspace_id"] for e in mine}) > 1, "the owner's entries span workspaces"
    sync(server.base_url, keep_deleted=True, workspace_ids=[ws])
    rows = _rows(db, "select distinct workspace_id from timetrack.time_entries")
    assert rows == [(ws,)], "narrowing applies to the owner's entries"
    entry = next(e for e in mine if e["stop"] and e["workspace_id"] == ws)
    project = api.ok(f"/workspaces/{ws}/projects")[0]
    api.call("DELETE", f"/workspaces/{ws}/time_entries/{entry['id']}")
    api.admin("DELETE", f"/projects/{project['id']}")
    sync(server.base_url, keep_deleted=True, workspace_ids=[ws])
    for table, key in (
        ("time_entries", entry["id"]),
        ("report_time_entries", entry["id"]),
        ("workspace_projects", project["id"]),
    ):
        assert _rows(
            db, f"select server_deleted_at is not null from timetrack.{table} where id = ?", key
        ) == [(True,)], table


def test_long_gaps_between_runs_and_a_workspace_that_left_meanwhile(
    world: tuple[EmulatorServer, Api], sync: Sync, tmp_path: Path
) -> None:
    """Time moving past /me/time_entries' ninety days falls back to its window, keeps the
    history older than it, and asks nothing the service refuses; after a gap just inside the
    ninety days, a deletion still leaves. A workspace that left the token's reach during the
    first gap is reported, marked unreachable, and keeps every column as last seen."""
    server, api = world
    # The emulator's clock jumps months past this machine's: followed on purpose here.
    db = tmp_path / "db.duckdb"
    sync(server.base_url, max_clock_skew_days=400)
    before = {i for (i,) in _rows(db, "select id from timetrack.time_entries")}
    seen = {w["id"]: w for w in duckdb_rows(db)["workspaces"]}
    assert set(seen) == {4000001, 4000002, 4000003}
    gone = 4000003
    api.admin("DELETE", f"/workspaces/{gone}/members/{api.ok('/me')['id']}")
    assert gone not in {w["id"] for w in api.ok("/me/workspaces")}
    api.admin("POST", "/clock", json={"advance": 100 * 86400})
    now = datetime.fromtimestamp(api.admin("GET", "/clock")["unix"], UTC)
    fresh = api.data(
        api.call(
            "POST",
            "/workspaces/4000001/time_entries",
            json={
                "start": _iso(now - timedelta(hours=2)),
                "duration": 600,
                "description": "after the jump",
            },
        )
    )
    summary = sync(server.base_url, max_clock_skew_days=400)
    after = {i for (i,) in _rows(db, "select id from timetrack.time_entries")}
    assert fresh["id"] in after, "an entry written after a 100-day gap arrives"
    assert before <= after, "history older than the window is kept, not deleted"
    log = requests.get(server.base_url + "/_emulator/requests", timeout=10).json()
    assert log["by_path_status"].get("GET /v1/me/time_entries 400", 0) == 0
    assert any(
        f"workspace {gone}" in w and "no longer reachable" in w for w in summary.stats.warnings
    )
    assert any("no longer reachable" in line for line in summary.lines())
    marked = {w["id"]: w for w in duckdb_rows(db)["workspaces"]}
    assert {i for i, w in marked.items() if w["unreachable_since"] is not None} == {gone}, (
        "the workspace is marked unreachable, and only it"
    )
    assert {**marked[gone], "unreachable_since": None} == seen[gone], (
        "an unreachable workspace keeps every column as last seen"
    )

    api.admin("POST", "/clock", json={"advance": 89.5 * 86400})
    api.call("DELETE", f"/workspaces/4000001/time_entries/{fresh['id']}")
    sync(server.base_url, max_clock_skew_days=400)
    assert _rows(db, "select id from timetrack.time_entries where id = ?", fresh["id"]) == [], (
        "a deletion after a gap of 89.5 days leaves"
    )
