"""Staying current for a few requests an hour: the default cadence over a simulated day (the
emulator's clock moved an hour between runs), changes of every age and deletions of every kind,
a service that does not sort as asked, and a run stopped by its share of the quota."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.helpers import MEMBER_TOKEN, PARTIAL_TOKEN, TOKEN, Api, Sync, clock, duckdb_rows
from tests.source.proxies import HttpProxy, Reply, Seen
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale
from timetrack.source import settings

SMALL_TEAM = Scale(organizations=1, workspaces=1, users=10, time_entries=5000, days=730)
"""The issue's small team: one organization and workspace, 10 people, 5,000 entries, 2 years."""
WS = 4000001
HOUR = 3600.0
REPORT = "POST /v1/reports/workspace/{workspace_id}/search/time_entries"


@pytest.fixture
def team(make_emulator: Callable[..., EmulatorServer]) -> tuple[EmulatorServer, Api]:
    server = make_emulator(EmulatorConfig(scale=SMALL_TEAM))
    # A frozen clock on a whole second: only the tests move it.
    clock(server.base_url, now=float(int(clock(server.base_url))), frozen=True)
    return server, Api(server.base_url, "envelope")


@pytest.fixture
def hourly(sync: Sync) -> Sync:
    """A run with the product's defaults (the test helpers read lists every run). The
    emulator's clock runs up to ten days ahead of this machine's here: the guard against a
    gateway's wrong Date (7 days by default) is widened to follow it."""
    return functools.partial(sync, reconcile_hours=settings.RECONCILE_HOURS, max_clock_skew_days=30)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _requests(api: Api) -> dict[str, int]:
    log: dict[str, int] = api.admin("GET", "/requests")["by_route"]
    api.admin("DELETE", "/requests")
    return log


def _one(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.execute(sql, list(args)).fetchall()


def _entry_aged(api: Api, days: float, now: float, not_ids: tuple[int, ...] = ()) -> dict[str, Any]:
    """A live, stopped entry of another member that started about `days` ago."""
    entries = api.admin("GET", "/records/time_entries")
    target = now - days * 86400
    live = [
        e
        for e in entries
        if e["server_deleted_at"] is None
        and e["stop"]
        and e["workspace_id"] == WS
        and e["id"] not in not_ids
    ]
    return min(live, key=lambda e: abs(datetime.fromisoformat(e["start"]).timestamp() - target))


def _described(db: Path, entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    sql = "select description from timetrack.report_time_entries where id = ?"
    return _one(db, sql, entry["id"])


def _unsorted(seen: Seen, forward: Callable[[Seen], Reply]) -> Reply | None:
    """A service that ignores the report's order: sorted by start, as by default."""
    body = seen.json()
    if isinstance(body, dict) and "order_by" in body:
        body.pop("order_by")
        body.pop("order_dir", None)
        return forward(seen.with_json(body))
    return None


def test_hourly_runs_cost_at_most_five_requests_a_run_and_land_every_change_even_unsorted(
    team: tuple[EmulatorServer, Api], hourly: Sync, tmp_path: Path
) -> None:
    """The runs of a day with something to see: the first, the next two hours (changes of every
    age and kind before the first of them), the 24th hour's, which reconciles, the 25th through
    a service that does not sort, and one a week on. The hours in between would cost what an
    hourly run here costs: nothing else is due before the 24th (test_units_runs_cadence.py, the
    cadence over every hour of a day)."""
    server, api = team
    db = tmp_path / "db.duckdb"
    # A tag no entry names (a deleted tag vanishes from its entries without changing their `at`:
    # docs/incremental.md, "What the API cannot tell").
    tag = api.admin("POST", f"/workspaces/{WS}/tags", json={"name": "unused"})
    assert hourly(server.base_url).exit_code == 0
    began = clock(server.base_url)
    old = _entry_aged(api, 200, began)
    older = _entry_aged(api, 500, began)
    trailing = _entry_aged(api, 10, began, (old["id"], older["id"]))
    doomed = _entry_aged(api, 300, began, (old["id"], older["id"], trailing["id"]))
    client = api.ok(f"/workspaces/{WS}/clients")[0]

    now = clock(server.base_url, now=began + HOUR, frozen=True)
    created = api.data(  # another member's new entry
        api.call(
            "POST",
            f"/workspaces/{WS}/time_entries",
            token=PARTIAL_TOKEN,
            json={"start": _iso(now - 2 * HOUR), "duration": 1800, "description": "new"},
        )
    )
    for entry, text in ((old, "edited at 200 days"), (older, "edited at 500 days")):
        api.call("PUT", f"/workspaces/{WS}/time_entries/{entry['id']}", json={"description": text})
    # a new tag, named by a new entry: the tags list is read the run after it is seen
    fresh = api.admin("POST", f"/workspaces/{WS}/tags", json={"name": "fresh tag"})
    api.call(
        "POST",
        f"/workspaces/{WS}/time_entries",
        json={"start": _iso(now - HOUR), "duration": 600, "tag_ids": [fresh["id"]]},
    )
    # deletions: a client, the unused tag, entries 10 and 300 days old
    api.admin("DELETE", f"/clients/{client['id']}")
    api.admin("DELETE", f"/tags/{tag['id']}")
    for entry in (trailing, doomed):
        api.call("DELETE", f"/workspaces/{WS}/time_entries/{entry['id']}")
    _requests(api)  # what the test itself asked is not the run's
    assert hourly(server.base_url).exit_code == 0
    first_hour = sum(_requests(api).values())
    assert _described(db, created) == [("new",)], "a new entry lands in the next run"
    assert _described(db, old) == [("edited at 200 days",)], (
        "an edit inside the last year lands in the next run"
    )
    assert _one(db, "select id from timetrack.workspace_tags where id = ?", fresh["id"]) == []

    clock(server.base_url, now=began + 2 * HOUR, frozen=True)
    assert hourly(server.base_url).exit_code == 0
    second = _requests(api)
    tags_read = second.pop("GET /v1/workspaces/{workspace_id}/tags", 0)
    assert tags_read >= 1, "the tags list is read the run after an unknown tag was seen"
    assert _one(db, "select name from timetrack.workspace_tags where id = ?", fresh["id"]) == [
        ("fresh tag",)
    ], "the new tag lands the run after it was seen"
    assert _one(db, "select id from timetrack.workspace_tags where id = ?", tag["id"]) == [], (
        "the tags list read again leaves the deleted tag out"
    )

    clock(server.base_url, now=began + 24 * HOUR, frozen=True)
    assert hourly(server.base_url).exit_code == 0
    reconciliation = sum(_requests(api).values())
    hourly_cost = max(first_hour, sum(second.values()))
    costs = (first_hour, sum(second.values()), tags_read, reconciliation)
    assert hourly_cost <= 4, f"the hourly runs: what has since, the report's changes {costs}"
    assert (23 * hourly_cost + tags_read + reconciliation) / 24 <= 5, (
        f"a day of 23 hourly runs and a reconciliation: {costs}"
    )
    # within the day: the old edit, the deletions; and every table equal to the truth
    assert _described(db, older) == [("edited at 500 days",)], "an old edit lands within a day"
    for table, key in (
        ("workspace_clients", client["id"]),
        ("report_time_entries", trailing["id"]),
    ):
        assert _one(db, f"select id from timetrack.{table} where id = ?", key) == [], (
            f"a deletion in {table} leaves within a day"
        )
    # but the trailing window cannot see a deletion 300 days back: the only difference
    gone = "select id from timetrack.report_time_entries where id = ?"
    assert _one(db, gone, doomed["id"]) == [(doomed["id"],)], "an old deletion waits for a week"
    landed = duckdb_rows(db)
    report = landed["report_time_entries"]
    landed["report_time_entries"] = [r for r in report if r["id"] != doomed["id"]]
    problems = differences(expected_tables(server.base_url, TOKEN), landed)
    assert problems == [], "\n".join(problems)

    # the 25th hour, from a service that ignores the report's order (sorted by start, as by
    # default): an edit on the last page in start order, which only the report's changes bring
    # before the next reconciliation; a walk that stopped at the first page would miss it. One
    # that refuses the order with a 400, and this one, page by page:
    # test_units_runs_cadence.py (`reports._changes`).
    now = clock(server.base_url, advance=HOUR)
    recent = _entry_aged(api, 2, now, (doomed["id"],))
    api.call("PUT", f"/workspaces/{WS}/time_entries/{recent['id']}", json={"description": "late"})
    with HttpProxy(server.base_url, _unsorted) as proxy:
        unsorted = hourly(proxy.base_url)
    assert unsorted.exit_code == 0, unsorted.closing_lines()
    assert _described(db, recent) == [("late",)], "an edit from a service that does not sort"
    assert (
        "the report search did not sort by last update: its windows were read whole"
        in unsorted.stats.notes
    )

    # the whole re-read, a week after the first run, finds the old deletion
    now = clock(server.base_url, advance=settings.REPORT_FULL_DAYS * 86400)
    assert hourly(server.base_url).exit_code == 0
    assert _one(db, gone, doomed["id"]) == [], "an old deletion leaves with the whole re-read"
    landed = duckdb_rows(db)
    # The owner's entries that aged out of /me/time_entries' 90 days meanwhile stay landed (the
    # table keeps what it saw); the truth holds the window only.
    window = datetime.fromtimestamp(now, UTC).date() - timedelta(days=settings.HISTORY_DAYS)
    landed["time_entries"] = [r for r in landed["time_entries"] if r["start"].date() >= window]
    problems = differences(expected_tables(server.base_url, TOKEN), landed)
    assert problems == [], "\n".join(problems)


def test_a_run_stops_at_its_share_of_the_quota_and_the_next_goes_on(
    make_emulator: Callable[..., EmulatorServer], hourly: Sync, tmp_path: Path
) -> None:
    quota = 30  # a Free plan's hour; a first sync of the small team costs more
    server = make_emulator(
        EmulatorConfig(scale=SMALL_TEAM, limits=Limits(quota=True, quota_per_hour=quota))
    )
    clock(server.base_url, now=float(int(clock(server.base_url))), frozen=True)
    api = Api(server.base_url, "envelope")
    db = tmp_path / "db.duckdb"
    codes = []
    for _ in range(12):
        summary = hourly(server.base_url, max_quota_wait=0)
        codes.append(summary.exit_code)
        spent = api.admin("GET", "/requests")["by_path_status"]
        api.admin("DELETE", "/requests")
        organization = sum(
            n for key, n in spent.items() if not key.split(" ")[1].startswith("/v1/me")
        )
        # at most half of what was left: the emulator's window was full at every run's start
        assert organization <= quota // 2, spent
        assert not summary.stats.errors
        if summary.exit_code == 0:
            break
        assert summary.exit_code == 75
        assert any(
            "share of the hourly quota" in str(e) for e in summary.stats.quota_stops.values()
        )
        clock(server.base_url, advance=HOUR)
    assert codes[-1] == 0 and len(codes) > 2, codes
    problems = differences(expected_tables(server.base_url, TOKEN), duckdb_rows(db))
    assert problems == [], "\n".join(problems)


def test_a_members_hourly_run_asks_nothing_it_was_refused(
    team: tuple[EmulatorServer, Api], hourly: Sync, tmp_path: Path
) -> None:
    """A member is refused what only admins read: the refusal is a warning, asked again at the
    next reconciliation, not at every hourly run (nor does it make discovery read again)."""
    server, api = team
    first = hourly(server.base_url, token=MEMBER_TOKEN)
    assert first.exit_code == 0, first.closing_lines()
    assert any("needs workspace admin" in w for w in first.stats.warnings)
    refused = [k for k in api.admin("GET", "/requests")["by_path_status"] if k.endswith(" 403")]
    assert refused, "the member was refused something: the test needs it"
    clock(server.base_url, advance=HOUR)
    _requests(api)
    again = hourly(server.base_url, token=MEMBER_TOKEN)
    assert again.exit_code == 0, again.closing_lines()
    assert _requests(api) == {
        "GET /v1/me/time_entries": 1,
        "GET /v1/workspaces/{workspace_id}/projects": 1,
        "GET /v1/workspaces/{workspace_id}/tasks": 1,
        REPORT: 1,
    }
