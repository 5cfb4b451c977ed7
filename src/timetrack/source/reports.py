"""`report_time_entries`: every member's entries, full history, through the report search.

The first run walks each workspace's whole history (from `report_start_date`, by default the
service's beginning) in windows the API accepts (at most 366 days), following the cursor
headers. Later runs re-read a trailing window and replace it: rows that landed before but are
no longer in the window are deleted (or, with `keep_deleted`, kept and marked). The report search
has no `since`, so what happens before the window is invisible to it: an edit to an older entry
is not picked up, and an entry moved from inside the window to an earlier day leaves the table,
until a `--full-refresh`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt

from timetrack.errors import FeatureNotOnPlanError
from timetrack.source import settings
from timetrack.source.client import ApiClient
from timetrack.source.destination import landed_rows
from timetrack.source.discovery import Discovery
from timetrack.source.schema import Row, parse_timestamp

TABLE = "report_time_entries"
PAGE_SIZE = 1000
WINDOW_DAYS = 365
"""Dates in a window: start and end are both inclusive, and their span must stay within 366."""


def flatten(row: dict[str, Any], workspace_id: int) -> list[Row]:
    """One report row (entries grouped by user, description, project, task, tags, billable)
    as one table row per time entry."""
    rate = row.get("hourly_rate_in_cents")
    billable = bool(row.get("billable"))
    out: list[Row] = []
    for entry in row.get("time_entries") or []:
        seconds = int(entry["seconds"])
        out.append(
            {
                "id": entry["id"],
                "workspace_id": workspace_id,
                "user_id": row["user_id"],
                "username": row.get("username"),
                "project_id": row.get("project_id"),
                "task_id": row.get("task_id"),
                "description": row.get("description"),
                "billable": billable,
                "tag_ids": row.get("tag_ids") or [],
                "hourly_rate_in_cents": rate,
                "billable_amount_in_cents": (
                    seconds * int(rate) // 3600 if billable and rate is not None else None
                ),
                "currency": row.get("currency"),
                "start": parse_timestamp(entry["start"]),
                "stop": parse_timestamp(entry["stop"]),
                "seconds": seconds,
                "at": parse_timestamp(entry["at"]),
                "server_deleted_at": None,
            }
        )
    return out


def windows(first: date, last: date) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive date windows covering first..last."""
    start = first
    while start <= last:
        end = min(start + timedelta(days=WINDOW_DAYS), last)
        yield start, end
        start = end + timedelta(days=1)


def report_rows(
    client: ApiClient,
    discovery: Discovery,
    *,
    start_date: str | None,
    trailing_days: int,
) -> Iterator[list[Row]]:
    """Rows of every workspace; per-workspace progress lives in the resource state."""
    state: dict[str, Any] = dlt.current.resource_state().setdefault("complete_through", {})
    now = client.server_now()
    today = now.date()
    for workspace in discovery.workspaces():
        ws_id = int(workspace["id"])
        done = state.get(str(ws_id))
        if done is None:
            first = date.fromisoformat(start_date or settings.REPORT_HISTORY_START)
            reread = False
        else:
            first = min(date.fromisoformat(done), today - timedelta(days=trailing_days))
            reread = True
        landed = {}
        if reread:
            since = datetime.combine(first, datetime.min.time(), UTC)
            landed = {row["id"]: row for row in landed_rows(TABLE, "workspace_id", ws_id, since)}
        seen: set[int] = set()
        try:
            for window_start, window_end in windows(first, today + timedelta(days=1)):
                for batch in _walk(client, ws_id, window_start, window_end):
                    seen.update(row["id"] for row in batch)
                    client.stats.add_rows(TABLE, len(batch))
                    yield batch
        except FeatureNotOnPlanError as error:
            client.stats.error(str(error))
            continue
        gone = [row for entry_id, row in landed.items() if entry_id not in seen]
        if gone:
            for row in gone:
                row["server_deleted_at"] = now
            client.stats.add_rows(TABLE, len(gone))
            yield gone
        state[str(ws_id)] = today.isoformat()


def _walk(client: ApiClient, workspace_id: int, first: date, last: date) -> Iterator[list[Row]]:
    """Every page of one window, following X-Next-ID / X-Next-Row-Number / X-Next-Timestamp."""
    body: dict[str, Any] = {
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "page_size": PAGE_SIZE,
    }
    while True:
        rows, headers = client.report(workspace_id, body)
        batch = [flat for row in rows for flat in flatten(row, workspace_id)]
        if batch:
            yield batch
        next_id = headers.get("X-Next-ID")
        if not next_id:
            return
        body.update(
            first_id=int(next_id),
            first_row_number=int(headers.get("X-Next-Row-Number") or 1),
            first_timestamp=int(headers.get("X-Next-Timestamp") or 0),
        )
