"""A report walk's whole re-read (`reports._workspace_rows` with `deep`), which compares ids
only and finds deletions of any age, and the oldest day with data a first walk notes for the
reconciliation's older windows. On the scripted report of test_units_report_walk;
expectations are literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.source.test_units_report_walk import NOW, Client, _ids, _row
from timetrack.errors import ApiError
from timetrack.source import reports


def _rows(
    client: Client, complete: dict[str, str], walks: dict[str, Any], **kwargs: Any
) -> list[Any]:
    return list(
        reports._workspace_rows(
            client,  # type: ignore[arg-type]
            3,
            complete,
            walks,
            lambda *args: None,
            "2024-06-01",
            30,
            NOW,
            **kwargs,
        )
    )


def test_a_whole_reread_compares_ids_only_over_the_whole_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[Any, ...]] = []

    def versions(*args: Any) -> dict[Any, tuple[Any, ...]]:
        asked.append(args)
        return {1: (), 2: (), 5: ()}

    def gone(table: str, key: str, landed: Any, seen: Any, now: Any) -> list[dict[str, Any]]:
        return [
            {"id": k, "workspace_id": 3, "server_deleted_at": now} for k in landed if k not in seen
        ]

    monkeypatch.setattr(reports, "landed_versions", versions)
    monkeypatch.setattr(reports, "gone_rows", gone)
    # Entries 1 and 2 landed (whatever their values: their edits come through the changes).
    client = Client({(3, "2025-06-02", None): [_row(1, 2, 6, username="Renamed")]})
    complete = {"3": "2026-11-20"}
    oldest = {"3": "2020-01-01"}
    tables = _rows(client, complete, {}, deep=True, oldest=oldest)
    assert client.windows_asked() == ["2026-06-03", "2025-06-02", "2024-06-01"]
    assert asked == [
        ("report_time_entries", "id", "workspace_id", 3, (), datetime(2024, 6, 1, tzinfo=UTC))
    ]
    assert _ids(tables) == [[6], [5]]
    assert complete == {"3": "2026-11-27"}
    assert oldest == {"3": "2020-01-01"}, "a re-read does not move the oldest day with data"


def test_a_whole_reread_stopped_halfway_remembers_it_is_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reports, "landed_versions", lambda *args: {1: ()})
    failing = ApiError("failing", 500)
    client = Client(
        {
            (3, "2026-06-03", None): ([_row(1, 2)], {"X-Next-ID": "7", "X-Next-Row-Number": "3"}),
            (3, "2026-06-03", 7): failing,
        }
    )
    walks: dict[str, Any] = {}
    with pytest.raises(ApiError):
        _rows(client, {"3": "2026-11-20"}, walks, deep=True, oldest={})
    assert walks["3"]["deep"] is True
    assert walks["3"]["reread"] is True
    assert walks["3"]["from"] == "2024-06-01"
    assert walks["3"]["cursor"] == {"first_id": 7, "first_row_number": 3}


def test_a_trailing_reread_is_no_whole_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "landed_versions", lambda *args: {1: (None,) * 10})
    client = Client(
        {(3, "2026-10-28", None): ([_row(1)], {"X-Next-ID": "7", "X-Next-Row-Number": "2"}),
         (3, "2026-10-28", 7): ApiError("failing", 500)}
    )  # fmt: skip
    walks: dict[str, Any] = {}
    with pytest.raises(ApiError):
        _rows(client, {"3": "2026-11-20"}, walks, oldest={})
    assert "deep" not in walks["3"]


def test_a_first_walk_notes_its_oldest_window_with_data(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client({(3, "2026-06-03", None): [_row(1)], (3, "2025-06-02", None): [_row(2)]})
    oldest: dict[str, str] = {}
    tables = _rows(client, {}, {}, oldest=oldest)
    assert _ids(tables) == [[1], [2]]
    assert oldest == {"3": "2025-06-02"}
