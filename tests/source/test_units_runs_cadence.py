"""What is read when, on its own: the cadence (`cadence.Cadence`) over a simulated day of hourly
runs, and the report's changes (`reports._changes`) from a service that sorts by last update,
one that ignores the order and one that refuses it.

No server and no pipeline: the state is a dict, the clock a number, the service's pages are
written here. tests/source/test_cadence.py runs the same day end to end."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from timetrack.errors import ApiError
from timetrack.source import reports, settings
from timetrack.source.cadence import SLACK_SECONDS, Cadence
from timetrack.source.client import RequestStats

HOUR = 3600.0
DAY = 24 * HOUR


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _cadence(clock: Clock, **every: float) -> tuple[Cadence, dict[str, Any]]:
    state: dict[str, Any] = {}
    return Cadence(lambda: state, clock, every), state


def test_a_day_of_hourly_runs_reads_the_lists_once_at_its_start_and_once_at_its_end() -> None:
    """With the default cadence (settings.RECONCILE_HOURS), lists are read by the first run and
    then by the 24th hourly run after it, not by the 23 in between: the day's cost is 23 runs of
    what has `since` and one reconciliation (test_cadence.py measures both)."""
    clock = Clock()
    cadence, _ = _cadence(clock, lists=settings.RECONCILE_HOURS * HOUR)
    read_at = []
    for hour in range(0, 49):
        clock.now = 1_000_000.0 + hour * HOUR + 7  # a run begins a few seconds after the hour
        if cadence.due("workspace_tags", "4000001"):
            read_at.append(hour)
            cadence.done("workspace_tags", "4000001")
    assert read_at == [0, 24, 48], read_at


def test_a_run_a_little_early_is_still_due_within_the_slack() -> None:
    clock = Clock()
    cadence, _ = _cadence(clock, lists=DAY)
    cadence.done("clients", "1")
    clock.now += DAY - SLACK_SECONDS - 1
    assert not cadence.due("clients", "1"), "not due before the cadence less its slack"
    clock.now += 1
    assert cadence.due("clients", "1"), "due from the cadence less its slack"
    assert cadence.due("clients", "2"), "a scope never read is due"
    assert cadence.due("other", "1"), "a part never read is due"


def test_a_cadence_of_zero_or_an_unknown_one_reads_every_run() -> None:
    clock = Clock()
    cadence, _ = _cadence(clock, lists=0.0)
    cadence.done("clients", "1")
    assert cadence.due("clients", "1")
    assert cadence.due("clients", "1", cadence="report_full"), "no cadence given: every run"


def test_each_part_follows_its_own_cadence_and_remembers_the_time_given() -> None:
    clock = Clock()
    cadence, state = _cadence(
        clock, lists=DAY, report_full=settings.REPORT_FULL_DAYS * DAY, report_reconcile=DAY
    )
    cadence.done("report_full", "4000001", at=clock.now - 60)
    assert cadence.last("report_full", "4000001") == clock.now - 60, "the read's start is kept"
    assert cadence.last("report_full", "9") is None
    clock.now += 2 * DAY
    assert not cadence.due("report_full", "4000001", cadence="report_full"), "weekly"
    assert cadence.due("report_full", "4000001", cadence="lists"), "daily"
    clock.now += settings.REPORT_FULL_DAYS * DAY
    assert cadence.due("report_full", "4000001", cadence="report_full")
    assert state == {"cadence": {"read": {"report_full": {"4000001": 999_940.0}}, "due": {}}}


def test_a_flag_makes_a_part_due_until_its_next_complete_read() -> None:
    """An entry naming a tag the tags table lacks makes the tags list due in the next run, not
    at the next reconciliation; once read, the flag is gone."""
    clock = Clock()
    cadence, state = _cadence(clock, lists=DAY)
    cadence.done("workspace_tags", "4000001")
    cadence.done("workspace_tags", "4000002")
    clock.now += HOUR
    assert not cadence.due("workspace_tags", "4000001")
    cadence.flag("workspace_tags", "4000001")
    cadence.flag("workspace_tags", "4000001")
    assert state["cadence"]["due"] == {"workspace_tags": ["4000001"]}, "flagged once"
    assert cadence.due("workspace_tags", "4000001"), "flagged: due whatever the cadence"
    assert not cadence.due("workspace_tags", "4000002"), "only the flagged scope"
    clock.now += HOUR
    cadence.done("workspace_tags", "4000001")
    assert state["cadence"]["due"] == {"workspace_tags": []}
    clock.now += HOUR
    assert not cadence.due("workspace_tags", "4000001"), "read: back on its cadence"


# --- the report's changes from a service that does not sort as asked --------------------------

SINCE = 1_800_000_000.0
"""The last run began here: changes after it are wanted."""


def _stamp(offset: float) -> str:
    return datetime.fromtimestamp(SINCE + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(*entries: tuple[int, float, str]) -> list[dict[str, Any]]:
    """A report page of one row per entry: (id, its change after SINCE, its start)."""
    return [
        {
            "user_id": 1,
            "username": "Ann",
            "project_id": None,
            "task_id": None,
            "description": f"entry {entry_id}",
            "billable": False,
            "tag_ids": [],
            "hourly_rate_in_cents": None,
            "currency": "EUR",
            "row_number": entry_id,
            "time_entries": [
                {
                    "id": entry_id,
                    "seconds": 60,
                    "start": start,
                    "stop": start.replace("T09", "T10"),
                    "at": _stamp(changed),
                }
            ],
        }
        for entry_id, changed, start in entries
    ]


OLD = (1, -5000.0, "2026-01-01T09:00:00Z")
OLDISH = (2, -100.0, "2026-02-01T09:00:00Z")
NEW = (3, +600.0, "2026-03-01T09:00:00Z")
BY_START = [
    # the first page in start order holds only changes older than SINCE, the last the new one:
    # a walk that believed the order would stop after the first page and miss it
    (_page(OLD, OLDISH), {"X-Next-ID": "3", "X-Next-Row-Number": "3"}),
    (_page(NEW), {}),
]
BY_CHANGE = [
    (_page(NEW, OLDISH), {"X-Next-ID": "1", "X-Next-Row-Number": "3"}),
    (_page(OLD), {}),
]


class Service:
    """The report search of one workspace: pages by last update when asked and `sorts`, else by
    start; with `refuses`, an `order_by` is a 400."""

    def __init__(self, sorts: bool = False, refuses: bool = False) -> None:
        self.sorts, self.refuses = sorts, refuses
        self.stats = RequestStats()
        self.bodies: list[dict[str, Any]] = []
        self._pages: list[Any] = []

    def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        self.bodies.append(dict(body))
        if "first_id" not in body:  # a walk begins
            if "order_by" in body and self.refuses:
                raise ApiError("order_by: unknown value", 400)
            self._pages = list(BY_CHANGE if "order_by" in body and self.sorts else BY_START)
        return self._pages.pop(0)  # type: ignore[no-any-return]


def _changed_ids(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setattr(reports, "landed_values", lambda *args, **kwargs: {})
    named: set[Any] = set()
    tables = reports._changes(
        service,  # type: ignore[arg-type]
        4000001,
        date(2025, 12, 1),
        date(2026, 12, 1),
        SINCE,
        lambda *args: None,
        named,
    )
    return [i for table in tables for i in table.column("id").to_pylist()]


def test_changes_from_a_service_that_sorts_stop_at_the_first_older_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service(sorts=True)
    assert _changed_ids(service, monkeypatch) == [3]
    assert len(service.bodies) == 1, "the walk stops at the first page holding an older change"
    assert service.bodies[0]["order_by"] == "last_update"
    assert service.bodies[0]["order_dir"] == "desc"
    assert service.stats.notes == []


def test_changes_from_a_service_that_ignores_the_order_are_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service(sorts=False)
    assert _changed_ids(service, monkeypatch) == [3], "the change on the last page arrives"
    assert len(service.bodies) == 2, "every page of the window was read"
    assert service.stats.notes == [
        "the report search did not sort by last update: its windows were read whole"
    ]


def test_changes_from_a_service_that_refuses_the_order_are_read_whole_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service(refuses=True)
    assert _changed_ids(service, monkeypatch) == [3], "the change on the last page arrives"
    assert [("order_by" in b) for b in service.bodies] == [True, False, False]
    assert service.stats.notes == []
