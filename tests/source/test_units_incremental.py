"""What one workspace's report run reads once its history is complete (`reports._incremental`):
the last year's changes every run, older windows' changes and the trailing window on the
reconciliation's cadence, the whole history on the full re-read's, a walk left halfway first,
and what each leaves in the state. `_changes` and `_workspace_rows`, tested on their own
(test_units_runs_cadence.py, test_units_report_walk.py), are recorded here instead of run; the
cadence is the real one on a dict; expectations are literals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from timetrack.source import reports
from timetrack.source.cadence import Cadence

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BEGAN = NOW.timestamp()
HOUR, DAY = 3600.0, 86400.0
OVERLAP = 300.0
FIRST, LAST = date(2025, 11, 28), date(2026, 11, 28)  # the last year to tomorrow
CLIENT, REJECT = object(), object()


def _midnight(day: str) -> float:
    return datetime.fromisoformat(day + "T00:00:00+00:00").timestamp()


class Run:
    """One workspace's (10) state and cadence; `_changes` and `_workspace_rows` recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **state: Any) -> None:
        self.state: dict[str, Any] = {"complete_through": {}, "walk": {}, **state}
        self.book: dict[str, Any] = {}
        every = {"lists": DAY, "report_reconcile": 2 * DAY, "report_full": 7 * DAY}
        # The cadence's clock runs a minute past the run's start: reads are noted at the start.
        self.cadence = Cadence(lambda: self.book, lambda: BEGAN + 60.0, every)
        self.changes: list[tuple[Any, ...]] = []
        self.walked: list[tuple[Any, ...]] = []
        self.tags: list[tuple[int, set[Any]]] = []
        self.completes: str | None = None
        monkeypatch.setattr(reports, "_changes", self._changes)
        monkeypatch.setattr(reports, "_workspace_rows", self._workspace_rows)

    def _changes(self, *args: Any) -> Iterator[Any]:
        client, ws_id, first, last, since, reject, named = args
        self.changes.append((client, ws_id, first, last, since, reject))
        named.add(len(self.changes))
        yield f"changes {first}"

    def _workspace_rows(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.walked.append((args, kwargs))
        if self.completes:
            args[2]["10"] = self.completes
        yield "walk"

    def read(
        self, start_date: str | None = None, live: bool = False, tags: bool = True
    ) -> list[Any]:
        return list(
            reports._incremental(
                CLIENT,  # type: ignore[arg-type]
                10,
                self.state,
                self.cadence,
                REJECT,  # type: ignore[arg-type]
                start_date,
                9,
                NOW,
                (lambda ws, named: self.tags.append((ws, set(named)))) if tags else None,
                live,
            )
        )

    def read_at(self, part: str) -> float | None:
        return self.cadence.last(part, "10")

    def walk_call(self, deep: bool) -> tuple[Any, ...]:
        state = self.state
        return (
            (CLIENT, 10, state["complete_through"], state["walk"], REJECT, None, 9, NOW),
            {"deep": deep, "oldest": state["oldest"]},
        )


def _complete(monkeypatch: pytest.MonkeyPatch, **state: Any) -> Run:
    run = Run(monkeypatch, complete_through={"10": "2026-11-01"}, **state)
    return run


def test_an_hourly_run_reads_the_last_years_changes_since_the_run_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _complete(monkeypatch, changes={"10": 1_790_000_000.0})
    run.cadence.done("report_full", "10", BEGAN - HOUR)
    run.cadence.done("report_reconcile", "10", BEGAN - 1.5 * DAY)  # its cadence is 2 days
    assert run.read() == [f"changes {FIRST}"]
    assert run.changes == [(CLIENT, 10, FIRST, LAST, 1_790_000_000.0, REJECT)]
    assert run.walked == []
    assert run.state["changes"] == {"10": BEGAN - OVERLAP}
    assert run.state["reconciled"] == {}
    assert run.state["oldest"] == {}
    assert run.tags == [(10, {1})]
    assert run.read_at("report_reconcile") == BEGAN - 1.5 * DAY
    assert run.read_at("report_full") == BEGAN - HOUR


def test_the_first_changes_are_those_since_the_day_the_history_was_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _complete(monkeypatch)
    run.cadence.done("report_full", "10", BEGAN - HOUR)
    run.cadence.done("report_reconcile", "10", BEGAN - HOUR)
    run.read(tags=False)
    assert run.changes == [(CLIENT, 10, FIRST, LAST, _midnight("2026-11-01") - OVERLAP, REJECT)]
    assert run.tags == []


def test_the_reconciliation_reads_older_windows_changes_then_the_trailing_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _complete(
        monkeypatch,
        changes={"10": 1_790_000_000.0},
        reconciled={"10": 1_780_000_000.0},
        oldest={"10": "2023-06-01"},
    )
    run.cadence.done("report_full", "10", BEGAN - 2 * DAY)  # its cadence is a week
    run.cadence.done("report_reconcile", "10", BEGAN - 3 * DAY)
    older = list(reports.windows(date(2023, 6, 1), FIRST - timedelta(days=1)))
    assert older[0][0] == date(2023, 6, 1) and older[-1][1] == date(2025, 11, 27)
    assert run.read() == [f"changes {FIRST}", *(f"changes {a}" for a, _ in older), "walk"]
    assert run.changes == [
        (CLIENT, 10, FIRST, LAST, 1_790_000_000.0, REJECT),
        *((CLIENT, 10, a, b, 1_780_000_000.0, REJECT) for a, b in older),
    ]
    assert run.walked == [run.walk_call(deep=False)]
    assert run.state["changes"] == {"10": BEGAN - OVERLAP}
    assert run.state["reconciled"] == {"10": BEGAN - OVERLAP}
    assert run.tags == [(10, set(range(1, len(older) + 2)))]
    assert run.read_at("report_reconcile") == BEGAN
    assert run.read_at("report_full") == BEGAN - 2 * DAY


@pytest.mark.parametrize(
    ("start_date", "earliest"), [(None, date(2006, 1, 1)), ("2024-02-01", date(2024, 2, 1))]
)
def test_the_whole_reread_reads_changes_from_the_history_start_and_walks_deep(
    monkeypatch: pytest.MonkeyPatch, start_date: str | None, earliest: date
) -> None:
    run = _complete(monkeypatch, changes={"10": 1_790_000_000.0})
    run.cadence.done("report_full", "10", BEGAN - 7 * DAY - HOUR)
    run.cadence.done("report_reconcile", "10", BEGAN - HOUR)
    run.read(start_date=start_date)
    older = list(reports.windows(earliest, FIRST - timedelta(days=1)))
    # Never reconciled: the older windows' changes since the last run's.
    assert run.changes[1:] == [(CLIENT, 10, a, b, 1_790_000_000.0, REJECT) for a, b in older]
    call = run.walk_call(deep=True)
    assert run.walked == [((*call[0][:5], start_date, *call[0][6:]), call[1])]
    assert run.read_at("report_reconcile") == BEGAN
    assert run.read_at("report_full") == BEGAN


def test_a_history_an_earlier_version_completed_is_fully_reread_a_cadence_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _complete(monkeypatch)
    run.read()
    assert run.read_at("report_full") == BEGAN  # as if re-read now: not due for a week
    assert run.walked == [run.walk_call(deep=False)]  # the reconciliation was never done
    assert run.read_at("report_reconcile") == BEGAN


def test_a_workspace_kept_live_reads_nothing_until_its_reconciliation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _complete(monkeypatch, changes={"10": 1_790_000_000.0})
    run.cadence.done("report_full", "10", BEGAN - HOUR)
    run.cadence.done("report_reconcile", "10", BEGAN - HOUR)
    assert run.read(live=True) == []
    assert run.changes == [] and run.tags == []
    assert run.state["changes"] == {"10": 1_790_000_000.0}
    run.cadence.done("report_reconcile", "10", BEGAN - 3 * DAY)
    assert run.read(live=True)[-1] == "walk"
    assert run.changes[0] == (CLIENT, 10, FIRST, LAST, 1_790_000_000.0, REJECT)


def test_a_history_not_complete_is_walked_and_its_changes_start_from_its_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = Run(monkeypatch)
    run.completes = "2026-11-27"
    assert run.read() == ["walk"]
    assert run.changes == []
    assert run.walked == [run.walk_call(deep=False)]
    since = _midnight("2026-11-27") - OVERLAP
    assert run.state["changes"] == {"10": since}
    assert run.state["reconciled"] == {"10": since}
    assert run.read_at("report_reconcile") == BEGAN
    assert run.read_at("report_full") == BEGAN  # a whole history read is the whole re-read


@pytest.mark.parametrize(
    ("walk", "deep", "history"),
    [
        ({"deep": True, "reread": True}, True, False),
        ({"reread": True}, False, False),
        ({"deep": False}, False, True),
    ],
)
def test_a_walk_left_halfway_goes_on_first(
    monkeypatch: pytest.MonkeyPatch, walk: dict[str, Any], deep: bool, history: bool
) -> None:
    run = _complete(monkeypatch, walk={"10": walk}, changes={"10": 5.0})
    run.cadence.done("report_full", "10", BEGAN - HOUR)
    run.cadence.done("report_reconcile", "10", BEGAN - HOUR)
    assert run.read() == ["walk"]
    assert run.changes == []
    assert run.walked == [run.walk_call(deep=deep)]
    assert run.read_at("report_reconcile") == BEGAN
    assert run.read_at("report_full") == (BEGAN if deep or history else BEGAN - HOUR)
    since = _midnight("2026-11-01") - OVERLAP
    assert run.state["changes"] == {"10": since if history else 5.0}
    assert run.state["reconciled"] == ({"10": since} if history else {})


def test_the_day_a_history_was_complete_begins_at_midnight_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert reports._midnight("2026-11-01") == 1_793_491_200.0
    finally:
        monkeypatch.undo()
        time.tzset()
