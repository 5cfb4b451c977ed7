"""The report's changes of one window (`reports._changes`) beyond the service's order, tested in
test_units_runs_cadence.py: entries that landed as they are, the workspace and the rejected
records of a page, the stop at an entry exactly as old as the last run, pages out of order
across two pages, and an error that names the order without refusing it. The service's pages
are written here; expectations are literals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.source.test_units_runs_cadence import NEW, OLD, OLDISH, SINCE, _page
from timetrack.errors import ApiError
from timetrack.source import reports
from timetrack.source.client import RequestStats

WS = 4000001


class Pages:
    """A report search answering these pages in turn (or raising an error), whatever the order
    asked."""

    def __init__(self, *pages: Any) -> None:
        self.pages = list(pages)
        self.stats = RequestStats()
        self.asked: list[tuple[int, dict[str, Any]]] = []

    def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        self.asked.append((workspace_id, dict(body)))
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page


def _more(last_id: int) -> dict[str, str]:
    return {"X-Next-ID": str(last_id), "X-Next-Row-Number": "9"}


def _changes(service: Pages) -> tuple[Any, ...]:
    rejected: list[tuple[Any, ...]] = []
    named: set[Any] = set()
    tables = list(
        reports._changes(
            service,  # type: ignore[arg-type]
            WS,
            date(2025, 12, 1),
            date(2026, 12, 1),
            SINCE,
            lambda *args: rejected.append(args),
            named,
        )
    )
    return tables, rejected, named


def _at(offset: float) -> datetime:
    return datetime.fromtimestamp(SINCE + offset, UTC)


def test_an_entry_that_landed_as_it_is_is_not_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[Any, ...]] = []

    def landed_values(table: str, key: str, keys: Any, columns: Any) -> dict[Any, Any]:
        asked.append((table, key, list(keys), tuple(columns)))
        return {3: (_at(600),)}

    monkeypatch.setattr(reports, "landed_values", landed_values)
    service = Pages((_page(NEW, OLDISH), {}))
    tables, _, _ = _changes(service)
    assert tables == []
    assert asked == [("report_time_entries", "id", [3, 2], ("at",))]
    assert service.stats.rows == {}


def test_a_changed_entry_lands_with_its_workspace_and_what_cannot_land_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports, "landed_values", lambda *args: {})
    page = _page(NEW, (4, 700.0, "2026-03-02T09:00:00Z"))
    page[1]["time_entries"][0]["id"] = "x"
    page[0]["tag_ids"] = [11, 12]
    service = Pages((page, {}))
    tables, rejected, named = _changes(service)
    assert tables[0].to_pylist()[0]["workspace_id"] == WS
    assert [row["id"] for t in tables for row in t.to_pylist()] == [3]
    assert service.stats.rows == {"report_time_entries": 1}
    assert [(r[0], r[3]) for r in rejected] == [("report_time_entries", "x")]
    assert named == {11, 12}
    assert [ws for ws, _ in service.asked] == [WS]


def test_an_entry_as_old_as_the_last_run_ends_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "landed_values", lambda *args: {})
    service = Pages(
        (_page(NEW, (5, 0.0, "2026-03-01T09:00:00Z")), _more(5)),
        (_page(OLD), {}),
    )
    tables, _, _ = _changes(service)
    assert [row["id"] for t in tables for row in t.to_pylist()] == [3]
    assert len(service.asked) == 1


def test_a_page_newer_than_the_page_before_is_out_of_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports, "landed_values", lambda *args: {})
    service = Pages(
        (_page(NEW, (6, 500.0, "2026-03-01T09:00:00Z")), _more(6)),
        (_page((7, 550.0, "2026-03-03T09:00:00Z")), {}),
    )
    tables, _, _ = _changes(service)
    assert [row["id"] for t in tables for row in t.to_pylist()] == [3, 6, 7]
    assert service.stats.notes == [
        "the report search did not sort by last update: its windows were read whole"
    ]


@pytest.mark.parametrize(
    "error", [ApiError("order service failing", 503), ApiError("bad request", 400)]
)
def test_an_error_that_is_no_refusal_of_the_order_is_raised(
    monkeypatch: pytest.MonkeyPatch, error: ApiError
) -> None:
    monkeypatch.setattr(reports, "landed_values", lambda *args: {})
    service = Pages(error, (_page(NEW), {}))
    with pytest.raises(ApiError) as raised:
        _changes(service)
    assert raised.value is error
    assert len(service.asked) == 1
