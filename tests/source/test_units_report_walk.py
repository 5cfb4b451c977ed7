"""The report's history walk per workspace, on scripted report pages and in-memory state: the
windows it asks, newest first; where it saves its place; what it asks again; re-reads that
write only what changed and delete what is gone. No server, no pipeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import dlt
import pyarrow as pa
import pytest

from timetrack.errors import (
    AccessDeniedError,
    AuthenticationError,
    QuotaExhaustedError,
    RunStopped,
)
from timetrack.source import reports
from timetrack.source.client import RequestStats
from timetrack.source.reports import _workspace_rows, report_rows

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Client:
    """report(): rows by (workspace, window start, first_id) from `pages`, else `[]`; records
    every body sent."""

    def __init__(self, pages: dict[tuple[int, str, Any], Any] | None = None) -> None:
        self.pages = pages or {}
        self.bodies: list[tuple[int, dict[str, Any]]] = []
        self.stats = RequestStats()

    def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        self.bodies.append((workspace_id, dict(body)))
        answer = self.pages.get((workspace_id, body["start_date"], body.get("first_id")), [])
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, tuple):
            return answer
        return answer, {}

    def server_now(self) -> datetime:
        return NOW

    def windows_asked(self) -> list[str]:
        return [body["start_date"] for _, body in self.bodies]


def _row(*ids: int, **values: Any) -> dict[str, Any]:
    entries = [{"id": i, "seconds": 60, "at": "2026-11-01T00:00:00Z"} for i in ids]
    return {"user_id": 1, "username": "Ann", "tag_ids": [], "time_entries": entries, **values}


def _walk(
    client: Client,
    complete: dict[str, str] | None = None,
    walks: dict[str, Any] | None = None,
    start_date: str | None = "2024-06-01",
    trailing_days: int = 30,
    rejected: list[Any] | None = None,
) -> list[pa.Table]:
    def reject(*args: Any) -> None:
        if rejected is not None:
            rejected.append(args)

    return list(
        _workspace_rows(
            client,  # type: ignore[arg-type]
            3,
            {} if complete is None else complete,
            {} if walks is None else walks,
            reject,
            start_date,
            trailing_days,
            NOW,
        )
    )


def _ids(tables: list[pa.Table]) -> list[list[int]]:
    return [t.column("id").to_pylist() for t in tables]


def test_a_first_walk_reads_every_window_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1, 2)], (3, "2024-06-01", None): [_row(3)]})
    complete: dict[str, str] = {}
    walks: dict[str, Any] = {}
    tables = _walk(client, complete, walks)
    assert _ids(tables) == [[1, 2], [3]]
    assert client.windows_asked() == ["2026-06-03", "2025-06-02", "2024-06-01"]
    assert [body["end_date"] for _, body in client.bodies] == [
        "2026-11-28",
        "2026-06-02",
        "2025-06-01",
    ]
    assert complete == {"3": "2026-11-27"}
    assert walks == {}
    assert client.stats.rows == {"report_time_entries": 3}
    assert client.stats.phase == "report history: workspace 3, 2024"


def test_the_default_start_is_the_services_beginning() -> None:
    client = Client()
    _walk(client, start_date=None)
    assert client.windows_asked()[-1] == "2006-01-01"
    assert len(client.bodies) == 21


def test_null_windows_are_confirmed_where_they_could_hide_rows() -> None:
    # Windows from 2022-05-30: 366 days each (2023-05-31, 2024-05-31, 2025-06-01), the last
    # to tomorrow (2026-06-02). 2024-05-31 holds the oldest data; 2025-06-01, answered null
    # between two with data, is suspect, and so is the newest null window older than the data
    # (2023-05-31). 2022-05-30, before the account began, is believed.
    client = Client(
        {
            (3, "2026-06-02", None): [_row(1)],
            (3, "2025-06-01", None): None,
            (3, "2024-05-31", None): [_row(2)],
            (3, "2023-05-31", None): None,
            (3, "2022-05-30", None): None,
        }
    )
    tables = _walk(client, start_date="2022-05-30")
    assert _ids(tables) == [[1], [2]]
    assert client.windows_asked() == [
        "2026-06-02",
        "2025-06-01",
        "2024-05-31",
        "2023-05-31",
        "2022-05-30",
        "2025-06-01",
        "2023-05-31",
    ]
    assert client.bodies[-1][1]["end_date"] == "2024-05-30", "the window's own end"


def test_a_confirmed_window_that_now_has_rows_lands_them() -> None:
    answers: list[Any] = [None, [_row(7)]]
    answers[1].append({"time_entries": [{"id": "x"}]})
    client = Client()
    client.pages = _Pages({(3, "2026-06-03", None): answers})
    rejected: list[Any] = []
    tables = _walk(client, start_date="2026-06-03", rejected=rejected)
    assert _ids(tables) == [[7]]
    assert tables[0].column("workspace_id").to_pylist() == [3]
    assert client.stats.rows == {"report_time_entries": 1}
    assert [r[2] for r in rejected] == ["id is not an integer: 'x'"]


def test_a_confirmed_window_of_a_reread_writes_only_what_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    landed = {1: (at, "Ann", None, None, None, [], None, None, None, None)}
    monkeypatch.setattr(reports, "landed_versions", lambda *args: landed)
    gone: list[tuple[Any, ...]] = []
    monkeypatch.setattr(reports, "gone_rows", lambda *args: gone.append(args) or [])
    client = Client()
    client.pages = _Pages({(3, "2026-10-28", None): [None, [_row(1)]]})
    assert _walk(client, {"3": "2026-11-20"}) == []
    assert client.windows_asked() == ["2026-10-28", "2026-10-28"]
    assert gone == [("report_time_entries", "id", landed, {1}, NOW)]


class _Pages(dict):  # type: ignore[type-arg]
    """Each key answers its list of answers in turn."""

    def get(self, key: Any, default: Any = None) -> Any:
        answers = super().get(key)
        return answers.pop(0) if answers else default


def test_each_page_saves_the_walks_place(monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = {"X-Next-ID": "9", "X-Next-Row-Number": "2", "X-Next-Timestamp": "5"}
    client = Client({(3, "2026-06-03", None): ([_row(1)], cursor), (3, "2026-06-03", 9): [_row(2)]})
    walks: dict[str, Any] = {}
    steps = _workspace_rows(client, 3, {}, walks, lambda *a: None, "2025-06-02", 30, NOW)  # type: ignore[arg-type]
    next(steps)
    assert walks == {}, "saved once the page landed, when the next is asked for"
    next(steps)
    assert walks["3"] == {
        "from": "2025-06-02",
        "to": "2026-11-28",
        "before": None,
        "current": "2026-06-03",
        "cursor": {"first_id": 9, "first_row_number": 2, "first_timestamp": 5},
        "reread": False,
        "started": "2026-11-27",
        "null_windows": [],
        "oldest_data": "2026-06-03",
    }
    assert list(steps) == []
    assert walks == {}


def test_a_finished_window_moves_the_walk_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1)], (3, "2025-06-02", None): [_row(2)]})
    walks: dict[str, Any] = {}
    steps = _workspace_rows(client, 3, {}, walks, lambda *a: None, "2025-06-02", 30, NOW)  # type: ignore[arg-type]
    next(steps)
    next(steps)
    assert walks["3"] == {
        "from": "2025-06-02",
        "to": "2026-11-28",
        "before": "2026-06-03",
        "current": None,
        "cursor": None,
        "reread": False,
        "started": "2026-11-27",
        "null_windows": [],
        "oldest_data": "2026-06-03",
    }


def test_a_stopped_walk_goes_on_from_its_cursor() -> None:
    walk = {
        "from": "2024-06-01",
        "to": "2026-11-28",
        "before": "2026-06-03",
        "current": "2025-06-02",
        "cursor": {"first_id": 9, "first_row_number": 2, "first_timestamp": 5},
        "reread": False,
        "started": "2026-11-20",
    }
    client = Client({(3, "2025-06-02", 9): [_row(4)]})
    complete: dict[str, str] = {}
    tables = _walk(client, complete, {"3": walk})
    assert _ids(tables) == [[4]]
    assert client.bodies[0][1] == {
        "start_date": "2025-06-02",
        "end_date": "2026-06-02",
        "page_size": 1000,
        "first_id": 9,
        "first_row_number": 2,
        "first_timestamp": 5,
    }
    assert client.windows_asked() == ["2025-06-02", "2024-06-01"]
    assert client.bodies[1][1] == {
        "start_date": "2024-06-01",
        "end_date": "2025-06-01",
        "page_size": 1000,
    }, "the cursor belongs to its own window only"
    assert complete == {"3": "2026-11-20"}, "complete through the day the walk began"


def test_a_reread_writes_only_what_changed_and_deletes_what_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    same = (at, "Ann", None, None, None, "[]", None, None, None, None)
    asked: list[tuple[Any, ...]] = []

    def versions(*args: Any) -> dict[Any, tuple[Any, ...]]:
        asked.append(args)
        return {1: same, 2: same, 5: same}

    def gone(table: str, key: str, landed: Any, seen: Any, now: Any) -> list[dict[str, Any]]:
        return [
            {"id": k, "workspace_id": 3, "server_deleted_at": now} for k in landed if k not in seen
        ]

    monkeypatch.setattr(reports, "landed_versions", versions)
    monkeypatch.setattr(reports, "gone_rows", gone)
    client = Client({(3, "2026-10-28", None): [_row(1, 2, 6), _row(9, username="Bob")]})
    complete = {"3": "2026-11-20"}
    tables = _walk(client, complete)
    assert client.windows_asked() == ["2026-10-28"], "30 days back from today"
    assert asked == [
        (
            "report_time_entries",
            "id",
            "workspace_id",
            3,
            reports.COMPARED,
            datetime(2026, 10, 28, tzinfo=UTC),
        )
    ]
    assert _ids(tables) == [[6, 9], [5]]
    assert tables[1].column("server_deleted_at").to_pylist() == [NOW]
    assert complete == {"3": "2026-11-27"}
    assert client.stats.rows == {"report_time_entries": 3}


def test_a_reread_starts_where_the_history_was_complete_if_earlier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports, "landed_versions", lambda *args: {})
    client = Client()
    _walk(client, {"3": "2026-09-01"})
    assert client.windows_asked() == ["2026-09-01"]


def test_a_resumed_reread_deletes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "landed_versions", lambda *args: {1: (None,) * 10})
    deleted: list[Any] = []
    monkeypatch.setattr(reports, "gone_rows", lambda *args: deleted.append(args) or [{}])
    walk = {
        "from": "2026-10-28",
        "to": "2026-11-28",
        "before": None,
        "current": None,
        "cursor": None,
        "reread": True,
        "started": "2026-11-26",
    }
    _walk(Client(), {"3": "2026-11-01"}, {"3": walk})
    assert deleted == [], "rows of earlier runs were not seen by this one"


def test_rejected_entries_are_handed_on() -> None:
    rejected: list[Any] = []
    client = Client({(3, "2026-06-03", None): [{"time_entries": [{"id": None}], "x": 1}]})
    assert _ids(_walk(client, rejected=rejected)) == []
    assert [r[2] for r in rejected] == ["no id"]


# --- every workspace ---------------------------------------------------------------------------


class Discovery:
    def workspace_ids(self) -> list[int]:
        return [3, 4, 5]


def _report_rows(
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
    state: dict[str, Any],
    done: set[str] | None = None,
    rejected: list[Any] | None = None,
    **arrow: bool,
) -> tuple[list[Any], list[str]]:
    monkeypatch.setattr(dlt.current, "resource_state", lambda: state)
    completed: list[str] = []
    out = list(
        report_rows(
            client,  # type: ignore[arg-type]
            Discovery(),  # type: ignore[arg-type]
            lambda *a: (rejected if rejected is not None else []).append(a),
            lambda table, scope: table == "report_time_entries" and scope in (done or set()),
            lambda table, scope: completed.append(f"{table}:{scope}"),
            start_date="2026-06-03",
            trailing_days=30,
            **arrow,
        )
    )
    return out, completed


def test_every_workspace_is_walked_and_noted_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1)], (5, "2026-06-03", None): [_row(2)]})
    state: dict[str, Any] = {}
    out, completed = _report_rows(monkeypatch, client, state, done={"4"})
    assert [t.column("id").to_pylist() for t in out] == [[1], [2]]
    assert completed == ["report_time_entries:3", "report_time_entries:5"]
    assert state == {"complete_through": {"3": "2026-11-27", "5": "2026-11-27"}, "walk": {}}
    assert [ws for ws, _ in client.bodies] == [3, 5]


def test_arrow_tables_by_default_and_rejects_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1), {"time_entries": [{"id": "x"}]}]})
    rejected: list[Any] = []
    out, _ = _report_rows(monkeypatch, client, {}, rejected=rejected)
    assert isinstance(out[0], pa.Table)
    assert [(r[0], r[2], r[3], r[4]) for r in rejected] == [
        ("report_time_entries", "id is not an integer: 'x'", "x", "workspace 3")
    ]


def test_rows_instead_of_arrow_for_other_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1)]})
    out, _ = _report_rows(monkeypatch, client, {}, arrow=False)
    assert isinstance(out[0], list)
    assert out[0][0]["id"] == 1 and out[0][0]["workspace_id"] == 3


def test_a_workspace_that_fails_is_noted_and_the_rest_load(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(
        {
            (3, "2026-06-03", None): QuotaExhaustedError("spent", 60),
            (4, "2026-06-03", None): AccessDeniedError("no access", 403),
            (5, "2026-06-03", None): [_row(2)],
        }
    )
    out, completed = _report_rows(monkeypatch, client, {})
    assert [t.column("id").to_pylist() for t in out] == [[2]]
    assert completed == ["report_time_entries:5"]
    assert client.stats.deferred == ["report_time_entries of workspace 3"]
    assert client.stats.errors == ["report_time_entries of workspace 4: no access"]


@pytest.mark.parametrize("error", [RunStopped("stop"), AuthenticationError("bad", 401)])
def test_a_stop_or_a_bad_token_ends_the_walk(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    client = Client({(3, "2026-06-03", None): error})
    with pytest.raises(type(error)):
        _report_rows(monkeypatch, client, {})


def test_the_walk_state_is_kept_in_the_resource_state(monkeypatch: pytest.MonkeyPatch) -> None:
    state: dict[str, Any] = {"complete_through": {"3": "2026-11-26"}, "walk": {}}
    monkeypatch.setattr(reports, "landed_versions", lambda *args: {})
    client = Client()
    _report_rows(monkeypatch, client, state)
    assert client.bodies[0] == (
        3,
        {"start_date": "2026-10-28", "end_date": "2026-11-28", "page_size": 1000},
    )
    assert state["complete_through"] == {"3": "2026-11-27", "4": "2026-11-27", "5": "2026-11-27"}
    assert date.fromisoformat(state["complete_through"]["4"]) == NOW.date()


def test_a_page_size_refused_by_a_400_halves_down_to_the_documented_default() -> None:
    from timetrack.errors import ApiError

    class Refusing(Client):
        def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
            if body["page_size"] > 200:
                self.bodies.append((workspace_id, dict(body)))
                raise ApiError("POST /x failed with HTTP 400: page_size must be at most 200", 400)
            return super().report(workspace_id, body)

    client = Refusing({(4, "2026-11-01", None): [_row(1), _row(2)]})
    pages = list(reports._walk(client, 4, date(2026, 11, 1), date(2026, 11, 30)))  # type: ignore[arg-type]
    assert [len(page.rows) for page in pages] == [2]
    assert [body["page_size"] for _, body in client.bodies] == [1000, 500, 250, 125]

    class AlwaysRefusing(Client):
        def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
            self.bodies.append((workspace_id, dict(body)))
            raise ApiError("POST /x failed with HTTP 400: page size too large", 400)

    never = AlwaysRefusing()
    with pytest.raises(ApiError, match="page size too large"):
        list(reports._walk(never, 4, date(2026, 11, 1), date(2026, 11, 30)))  # type: ignore[arg-type]
    assert [body["page_size"] for _, body in never.bodies] == [1000, 500, 250, 125, 62, 50]
