"""The report search: cursor headers, grouping, limits, both paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale


def _day(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d")


def _utc_day(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d")


def _walk(api: Api, ws: int, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    body = dict(body)
    while True:
        response = api.report(ws, body)
        pages += 1
        rows.extend(api.data(response))
        if "X-Next-ID" not in response.headers:
            assert "X-Next-Row-Number" not in response.headers
            return rows, pages
        body.update(
            first_id=int(response.headers["X-Next-ID"]),
            first_row_number=int(response.headers["X-Next-Row-Number"]),
            first_timestamp=int(response.headers["X-Next-Timestamp"]),
        )


def test_cursor_returns_every_entry_exactly_once(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    truth = api.admin("GET", "/truth")["time_entries"]["by_workspace"]
    for ws in (w["id"] for w in api.ok("/me/workspaces")):
        body = {"start_date": _day(now - 365 * 86400), "end_date": _day(now), "page_size": 137}
        rows, pages = _walk(api, ws, body)
        ids = [e["id"] for row in rows for e in row["time_entries"]]
        assert len(ids) == len(set(ids)) == truth[str(ws)]["stopped"]
        assert pages == -(-len(ids) // 137)
        assert [row["row_number"] for row in rows] == list(range(1, len(rows) + 1))
        starts = [e["start"] for row in rows for e in row["time_entries"]]
        assert len(starts) == len(ids)


def test_rows_group_entries_and_carry_typed_fields(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    ws = api.ok("/me/workspaces")[0]["id"]
    body = {"start_date": _day(now - 365 * 86400), "end_date": _day(now), "page_size": 1000}
    rows = api.data(api.report(ws, body))
    assert any(len(row["time_entries"]) > 1 for row in rows), "some rows group several entries"
    for row in rows:
        assert isinstance(row["user_id"], int) and isinstance(row["username"], str)
        assert isinstance(row["billable"], bool) and isinstance(row["currency"], str)
        assert isinstance(row["tag_ids"], list)
        assert row["description"] is None or isinstance(row["description"], str)
        if row["billable"]:
            assert isinstance(row["billable_amount_in_cents"], int)
            assert isinstance(row["hourly_rate_in_cents"], int)
        for entry in row["time_entries"]:
            assert set(entry) == {"id", "seconds", "start", "stop", "at", "at_tz"}
            assert entry["seconds"] > 0


def test_date_range_bounds_and_span_limit(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    ws = api.ok("/me/workspaces")[0]["id"]
    day = _day(now - 30 * 86400)
    rows, _ = _walk(api, ws, {"start_date": day, "end_date": day, "page_size": 1000})
    starts = [_utc_day(e["start"]) for r in rows for e in r["time_entries"]]
    assert starts and set(starts) == {day}
    too_long = {"start_date": _day(now - 400 * 86400), "end_date": _day(now)}
    response = api.report(ws, too_long)
    assert response.status_code == 400
    assert response.json() == "Maximum allowed date range is 366 days"
    assert api.report(ws, {}).status_code == 400
    assert api.report(ws, {"start_date": "01/02/2026"}).status_code == 400
    assert api.report(ws, {"start_date": day, "page_size": 0}).status_code == 400


def test_page_size_default_and_maximum(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    ws = api.ok("/me/workspaces")[0]["id"]
    start = _day(now - 365 * 86400)
    default = api.data(api.report(ws, {"start_date": start}))
    assert sum(len(r["time_entries"]) for r in default) == 50
    big = api.data(api.report(ws, {"start_date": start, "page_size": 5000}))
    assert sum(len(r["time_entries"]) for r in big) == 1000


def test_report_needs_membership(api: Api) -> None:
    everything = {w["id"] for w in api.ok("/me/workspaces")}
    partial = {w["id"] for w in api.ok("/me/workspaces", token="partial-token")}
    foreign = next(iter(everything - partial))
    response = api.report(foreign, {"start_date": "2026-01-01"}, token="partial-token")
    assert response.status_code == 403


@pytest.mark.parametrize("layout", ["envelope", "bare"])
def test_report_pages_fast_at_scale(
    make_emulator: Callable[..., EmulatorServer], layout: str
) -> None:
    """A page deep inside a large workspace is found by binary search, not a scan; this checks
    that walking with the cursor stays consistent at scale (speed is the benchmark's job)."""
    server = make_emulator(EmulatorConfig(scale=Scale(time_entries=60_000, days=300)))
    api = Api(server.base_url, layout)
    now = api.admin("GET", "/clock")["unix"]
    ws = api.ok("/me/workspaces")[0]["id"]
    rows, pages = _walk(api, ws, {"start_date": _day(now - 300 * 86400), "page_size": 1000})
    truth = api.admin("GET", "/truth")["time_entries"]["by_workspace"][str(ws)]["stopped"]
    ids = [e["id"] for row in rows for e in row["time_entries"]]
    assert len(set(ids)) == len(ids) == truth
    assert pages == -(-truth // 1000)


@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_order_by_last_update_pages_every_entry_once_in_that_order(
    api: Api, direction: str
) -> None:
    truth = api.admin("GET", "/records/time_entries")
    now = api.admin("GET", "/clock")["unix"]
    start, end = _day(now - 300 * 86400), _day(now + 86400)
    body = {"start_date": start, "end_date": end, "page_size": 200, "order_by": "last_update"}
    body["order_dir"] = direction
    seen: list[tuple[datetime, int]] = []
    firsts: list[datetime] = []
    pages = 0
    while True:
        response = api.report(4000001, body)
        pages += 1
        assert "X-Next-Timestamp" not in response.headers
        for row in api.data(response):
            moments = [datetime.fromisoformat(e["at"]) for e in row["time_entries"]]
            # a row's entries in the order asked, and rows in the order of their first entry
            assert moments == sorted(moments, reverse=direction == "desc")
            firsts.append(moments[0])
            seen += [(datetime.fromisoformat(e["at"]), e["id"]) for e in row["time_entries"]]
        if "X-Next-ID" not in response.headers:
            break
        body.update(
            first_id=int(response.headers["X-Next-ID"]),
            first_row_number=int(response.headers["X-Next-Row-Number"]),
        )
    expected = sorted(
        (
            (datetime.fromisoformat(e["at"]), e["id"])
            for e in truth
            if e["workspace_id"] == 4000001
            and e["server_deleted_at"] is None
            and e["stop"] is not None
            and start <= _utc_day(e["start"]) <= end
        ),
        reverse=direction == "desc",
    )
    assert pages > 1
    # every entry once, and sorted by its last change (entries of one row sort among themselves)
    assert sorted(seen, reverse=direction == "desc") == expected
    assert sorted(seen) == sorted(set(seen))
    assert firsts == sorted(firsts, reverse=direction == "desc")


def test_an_unknown_order_is_a_400(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    body = {"start_date": _day(now - 86400), "order_by": "colour"}
    assert api.report(4000001, body).status_code == 400
