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

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from timetrack.errors import FeatureNotOnPlanError
from timetrack.source import settings
from timetrack.source.client import ApiClient
from timetrack.source.destination import gone_rows, landed_versions
from timetrack.source.discovery import Discovery
from timetrack.source.prefetch import prefetch
from timetrack.source.schema import arrow_schema, parse_timestamp

TABLE = "report_time_entries"
PAGE_SIZE = 1000
WINDOW_DAYS = 365
"""Dates in a window: start and end are both inclusive, and their span must stay within 366."""


_SCHEMA = arrow_schema(TABLE)
_UTC_US = pa.timestamp("us", tz="UTC")


Keep = Callable[[dict[str, Any], dict[str, Any], int | None], bool]
"""Decides per entry (entry, its report row, its billable amount) whether it goes in the table."""


def _amount(row: dict[str, Any], seconds: int) -> int | None:
    rate = row.get("hourly_rate_in_cents")
    return seconds * int(rate) // 3600 if row.get("billable") and rate is not None else None


def page_table(rows: list[dict[str, Any]], workspace_id: int, keep: Keep | None = None) -> pa.Table:
    """One report page (rows grouping entries by user, description, project, task, tags and
    billable) as an Arrow table of one row per time entry, typed by the table's schema; with
    `keep`, only the entries it accepts.

    Built column by column: dlt then writes it to Parquet as is, without normalizing rows."""
    cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    for row in rows:
        rate = row.get("hourly_rate_in_cents")
        billable = bool(row.get("billable"))
        tag_ids = orjson.dumps(row.get("tag_ids") or []).decode()
        for entry in row.get("time_entries") or []:
            seconds = int(entry["seconds"])
            amount = _amount(row, seconds)
            if keep is not None and not keep(entry, row, amount):
                continue
            cols["id"].append(entry["id"])
            cols["user_id"].append(row["user_id"])
            cols["username"].append(row.get("username"))
            cols["project_id"].append(row.get("project_id"))
            cols["task_id"].append(row.get("task_id"))
            cols["description"].append(row.get("description"))
            cols["billable"].append(billable)
            cols["tag_ids"].append(tag_ids)
            cols["hourly_rate_in_cents"].append(rate)
            cols["billable_amount_in_cents"].append(amount)
            cols["currency"].append(row.get("currency"))
            cols["start"].append(entry["start"])
            cols["stop"].append(entry["stop"])
            cols["seconds"].append(seconds)
            cols["at"].append(entry["at"])
    size = len(cols["id"])
    cols["workspace_id"] = [workspace_id] * size
    cols["server_deleted_at"] = [None] * size
    arrays = []
    for field in _SCHEMA:
        values = cols[field.name]
        if field.type == _UTC_US:
            # Arrow's ISO 8601 cast reads every spelling the service uses (Z, +00:00, with or
            # without microseconds), far faster than parsing each in Python.
            arrays.append(pc.cast(pa.array(values, pa.string()), _UTC_US))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)


def tombstones(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows read back and marked deleted (see `gone_rows`), as a table of the page schema."""
    for row in rows:
        if not isinstance(row["tag_ids"], str):
            row["tag_ids"] = orjson.dumps(row["tag_ids"] or []).decode()
    return pa.Table.from_pylist(rows, schema=_SCHEMA)


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
) -> Iterator[pa.Table]:
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
        landed: dict[Any, tuple[Any, ...]] = {}
        if reread:
            since = datetime.combine(first, datetime.min.time(), UTC)
            landed = _normalized(
                landed_versions(TABLE, "id", "workspace_id", ws_id, COMPARED, since)
            )
        seen: set[int] = set()
        pages = (
            page
            for window_start, window_end in windows(first, today + timedelta(days=1))
            for page in _walk(client, ws_id, window_start, window_end)
        )
        keep = _changed(landed, seen) if landed else None
        try:
            for rows in prefetch(pages):
                batch = page_table(rows, ws_id, keep)
                if batch.num_rows:
                    client.stats.add_rows(TABLE, batch.num_rows)
                    yield batch
        except FeatureNotOnPlanError as error:
            client.stats.error(str(error))
            continue
        gone = gone_rows(TABLE, "id", landed, seen, now)
        if gone:
            client.stats.add_rows(TABLE, len(gone))
            yield tombstones(gone)
        state[str(ws_id)] = today.isoformat()


COMPARED = (
    "at",
    "username",
    "hourly_rate_in_cents",
    "billable_amount_in_cents",
    "currency",
    "tag_ids",
    "project_id",
    "task_id",
    "description",
    "billable",
)
"""What a re-read compares with what landed: an entry's own edits move `at`; the rest are
values that change without it (a renamed user, a new project rate, a deleted tag)."""
_TAGS = COMPARED.index("tag_ids")


def _normalized(landed: dict[Any, tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
    """Landed values as the service spells them: JSON text (DuckDB) decoded to lists."""
    out = {}
    for key, values in landed.items():
        tags = values[_TAGS]
        if isinstance(tags, str):
            values = (*values[:_TAGS], orjson.loads(tags), *values[_TAGS + 1 :])
        out[key] = values
    return out


def _changed(landed: dict[Any, tuple[Any, ...]], seen: set[int]) -> Keep:
    """For a re-read: keep entries that are new or differ from what landed, noting every id,
    so an unchanged window costs requests but no writes."""

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        seen.add(entry["id"])
        current = (
            parse_timestamp(entry["at"]),
            row.get("username"),
            row.get("hourly_rate_in_cents"),
            amount,
            row.get("currency"),
            row.get("tag_ids") or [],
            row.get("project_id"),
            row.get("task_id"),
            row.get("description"),
            bool(row.get("billable")),
        )
        return landed.get(entry["id"]) != current

    return keep


def _walk(
    client: ApiClient, workspace_id: int, first: date, last: date
) -> Iterator[list[dict[str, Any]]]:
    """Every page of one window, following X-Next-ID / X-Next-Row-Number / X-Next-Timestamp."""
    body: dict[str, Any] = {
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "page_size": PAGE_SIZE,
    }
    while True:
        rows, headers = client.report(workspace_id, body)
        if rows:
            yield rows
        next_id = headers.get("X-Next-ID")
        if not next_id:
            return
        body.update(
            first_id=int(next_id),
            first_row_number=int(headers.get("X-Next-Row-Number") or 1),
            first_timestamp=int(headers.get("X-Next-Timestamp") or 0),
        )
