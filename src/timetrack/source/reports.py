"""`report_time_entries`: every member's entries, full history, through the report search.

The first run walks each workspace's whole history (from `report_start_date`, by default the
service's beginning) in windows the API accepts (at most 366 days), following the cursor
headers. The report search has no `since`, but it sorts by last update (`order_by:
"last_update"`, newest first): every later run reads the last year that way and stops at the
first entry not newer than what the run before saw, one request when nothing changed. On the
reconciliation's cadence (daily by default) older windows are asked the same way (an edit to an
entry of any age), and a trailing window is re-read whole and replaced: rows that landed before
but are no longer in it are deleted (or, with `keep_deleted`, kept and marked). A whole re-read
of the history, on its own slower cadence, finds entries deleted before the trailing window.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from timetrack.errors import (
    ApiError,
    AuthenticationError,
    QuotaExhaustedError,
    RunStopped,
    ServiceError,
)
from timetrack.source import settings
from timetrack.source.cadence import Cadence
from timetrack.source.client import ApiClient, header, page_size_refused
from timetrack.source.discovery import Discovery
from timetrack.source.landed import gone_rows, landed_values, landed_versions
from timetrack.source.prefetch import prefetch
from timetrack.source.schema import (
    arrow_schema,
    as_key,
    column_name,
    fits_int64,
    keep_raw,
    parse_timestamp,
    raw_text,
)

TABLE = "report_time_entries"
PAGE_SIZE = 1000
MIN_PAGE_SIZE = 50
"""The report search's documented default page size: where a refused larger size falls back."""
WINDOW_DAYS = 365
"""Dates in a window: start and end are both inclusive, and their span must stay within 366."""


_SCHEMA = arrow_schema(TABLE).set(
    arrow_schema(TABLE).get_field_index("tag_ids"), pa.field("tag_ids", pa.list_(pa.int64()))
)
"""The table's schema, tag ids as an Arrow list: dlt reads that as the declared json type."""
_UTC_US = pa.timestamp("us", tz="UTC")
_CALENDAR = (
    pa.scalar(datetime.min.replace(tzinfo=UTC), _UTC_US).value,
    pa.scalar(datetime.max.replace(tzinfo=UTC), _UTC_US).value,
)
"""The first and last microsecond a Python datetime holds: Arrow's cast takes an offset past
them ("0001-01-01T00:00:00+05:00" becomes year 0), which no reader of the table could load."""
_ROW_FIELDS = frozenset(
    {
        "user_id",
        "username",
        "project_id",
        "task_id",
        "description",
        "billable",
        "tag_ids",
        "hourly_rate_in_cents",
        "billable_amount_in_cents",
        "currency",
        "time_entries",
        "row_number",
    }
)
_ENTRY_FIELDS = frozenset({"id", "seconds", "start", "stop", "at"})
_ROW_EXTRA = (
    "client_name",
    "email",
    "project_color",
    "project_hex",
    "project_name",
    "tag_names",
    "task_name",
    "toggl_accounts_id",
)
_ENTRY_EXTRA = ("at_tz",)
"""Fields the reference lists on every report row and entry that the table's schema does not
name (names, colours, the user's email and accounts id; `at_tz`, an entry's `at` as a wall
time in its user's timezone). Each lands as a text column of its own, exactly as the careful
path lands a new field, but without sending every page of the service down that path (ten
times slower)."""


Keep = Callable[[dict[str, Any], dict[str, Any], int | None], bool]
"""Decides per entry (entry, its report row, its billable amount) whether it goes in the table."""
Reject = Callable[[str, Any, str, Any, str], None]
"""Keeps a record that cannot land: (table, record, reason, key, scope)."""


def _amount(row: dict[str, Any], seconds: Any) -> int | None:
    rate = as_key(row.get("hourly_rate_in_cents"))
    seconds = as_key(seconds)
    if not row.get("billable") or rate is None or seconds is None:
        return None
    amount = int(seconds * rate // 3600)
    return amount if fits_int64(amount) else None


def page_table(
    rows: list[Any], workspace_id: int, keep: Keep | None = None, reject: Reject | None = None
) -> pa.Table:
    """One report page (rows grouping entries by user, description, project, task, tags and
    billable) as an Arrow table of one row per time entry, typed by the table's schema; with
    `keep`, only the entries it accepts.

    Built column by column, so dlt writes it to Parquet as is, without normalizing rows. A page
    that departs from the contract (a value of another type, a field it does not name, an entry
    without id) takes a slower path that coerces what it can, keeps new fields as columns, and
    hands entries without a usable id to `reject`."""
    try:
        if _contract_shaped(rows):
            return _fast_table(rows, workspace_id, keep)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, pa.ArrowException):
        pass
    return _careful_table(rows, workspace_id, keep, reject)


def _contract_shaped(rows: list[Any]) -> bool:
    if not all(isinstance(row, dict) for row in rows):
        return False
    if not all(isinstance(row.get("time_entries"), list | None) for row in rows):
        return False
    if set().union(*(row.keys() for row in rows)) - _ROW_FIELDS - set(_ROW_EXTRA):
        return False
    entries = [e for row in rows for e in row.get("time_entries") or ()]
    return all(isinstance(e, dict) for e in entries) and not (
        set().union(*(e.keys() for e in entries)) - _ENTRY_FIELDS - set(_ENTRY_EXTRA)
    )


def _fast_table(rows: list[dict[str, Any]], workspace_id: int, keep: Keep | None) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    extras: dict[str, list[Any]] = {name: [] for name in (*_ROW_EXTRA, *_ENTRY_EXTRA)}
    for row in rows:
        rate = row.get("hourly_rate_in_cents")
        billable = row.get("billable")
        tag_ids = row.get("tag_ids") or []
        for entry in row.get("time_entries") or []:
            seconds = entry["seconds"]
            amount = _amount(row, seconds)
            if keep is not None and not keep(entry, row, amount):
                continue
            cols["id"].append(entry["id"])
            cols["user_id"].append(row.get("user_id"))
            cols["username"].append(row.get("username"))
            cols["project_id"].append(row.get("project_id"))
            cols["task_id"].append(row.get("task_id"))
            cols["description"].append(row.get("description"))
            cols["billable"].append(billable)
            cols["tag_ids"].append(tag_ids)
            cols["hourly_rate_in_cents"].append(rate)
            cols["billable_amount_in_cents"].append(amount)
            cols["currency"].append(row.get("currency"))
            cols["start"].append(entry.get("start"))
            cols["stop"].append(entry.get("stop"))
            cols["seconds"].append(seconds)
            cols["at"].append(entry.get("at"))
            for name in _ROW_EXTRA:
                extras[name].append(row.get(name))
            for name in _ENTRY_EXTRA:
                extras[name].append(entry.get(name))
    return _build(cols, workspace_id, _documented_extras(extras))


def _documented_extras(extras: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The `_ROW_EXTRA` and `_ENTRY_EXTRA` columns as the careful path would land them: text
    as it came (NULs removed), any other value as JSON text, and no column at all for a field
    that never came with a value."""
    return {
        name: [None if v is None else raw_text(v) for v in values]
        for name, values in extras.items()
        if any(v is not None for v in values)
    }


def _build(cols: dict[str, list[Any]], workspace_id: int, extra: dict[str, list[Any]]) -> pa.Table:
    size = len(cols["id"])
    cols["workspace_id"] = [workspace_id] * size
    cols["server_deleted_at"] = [None] * size
    arrays = []
    for field in _SCHEMA:
        values = cols[field.name]
        if field.type == _UTC_US:
            # Arrow's ISO 8601 cast reads every spelling the service uses (Z, any offset, with
            # or without fractions), far faster than parsing each in Python.
            moments = pc.cast(pa.array(values, pa.string()), _UTC_US)
            _within_calendar(moments)
            arrays.append(moments)
        elif field.type == pa.string():
            # PostgreSQL refuses NUL in text (and fails every later load of the package).
            arrays.append(pc.replace_substring(pa.array(values, pa.string()), "\x00", ""))
        else:
            arrays.append(_integers(values, field.type))
    table = pa.Table.from_arrays(arrays, schema=_SCHEMA)
    for name, values in sorted(extra.items()):
        table = table.append_column(pa.field(name, pa.string()), pa.array(values, pa.string()))
    return table


def _integers(values: list[Any], field_type: pa.DataType) -> pa.Array:
    """Integers (or lists of them) as Arrow holds them; TypeError for any other value (the
    careful path then keeps it raw). Arrow's own conversion to int64 would cut 12.7 to 12 and
    take True for 1: the type it infers shows them, and an integer beyond 64 bits raises."""
    found = pa.array(values)
    if found.type == field_type:
        return found
    if found.type == pa.null() or found.type == pa.list_(pa.null()):
        return found.cast(field_type)
    raise TypeError(f"{found.type} where {field_type} was expected")


def _within_calendar(moments: pa.Array) -> None:
    """Raise ValueError (the careful path then keeps the value raw) for a time past the calendar."""
    if moments.null_count == len(moments):
        return
    bounds = pc.min_max(moments)
    if bounds["min"].value < _CALENDAR[0] or bounds["max"].value > _CALENDAR[1]:
        raise ValueError("a time outside the calendar")


def _careful_table(
    rows: list[Any], workspace_id: int, keep: Keep | None, reject: Reject | None
) -> pa.Table:
    """The slow path for a page that departs from the contract: every value coerced to its
    column's type; one that cannot be lands as null, with what came in `<column>__raw`.

    A row's contract fields come from the row and an entry's from the entry; any other field
    lands as a column of its own, unless dlt would name it as a column the table already has
    (`userId`, `workspace_id`, `server_deleted_at`): the source's own columns (the scope read,
    the deletion mark) and the contract's values must win, and two columns of one name fail
    the load. Such a field is kept as text in `<column>__raw`."""
    cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    extra: dict[str, list[Any]] = {}
    scope = f"workspace {workspace_id}"
    for row in rows:
        if not isinstance(row, dict):
            if reject is not None:
                reject(TABLE, row, "a report row that is not an object", None, scope)
            continue
        entries = row.get("time_entries")
        if entries is not None and not isinstance(entries, list):
            if reject is not None:
                reason = f"time_entries is not a list: {type(entries).__name__}"
                reject(TABLE, row, reason, None, scope)
            continue
        for entry in entries or []:
            if not isinstance(entry, dict) or as_key(entry.get("id")) is None:
                if reject is not None:
                    raw_id = entry.get("id") if isinstance(entry, dict) else None
                    reason = "no id" if raw_id is None else f"id is not an integer: {raw_id!r}"
                    reject(TABLE, {**row, "time_entries": [entry]}, reason, raw_id, scope)
                continue
            amount = _amount(row, entry.get("seconds"))
            if keep is not None and not keep(entry, row, amount):
                continue
            values = {k: v for k, v in row.items() if k in _ROW_FIELDS}
            values.update((k, v) for k, v in entry.items() if k in _ENTRY_FIELDS)
            values["billable_amount_in_cents"] = amount
            if values.get("tag_ids") is None:
                values["tag_ids"] = []  # the service's null for an empty list, as the fast path
            position = len(cols["id"])
            extras: dict[str, Any] = {}
            for name, field_type in _FIELD_TYPES.items():
                value, ok = _coerce(values.get(name), field_type)
                cols[name].append(value)
                if not ok:
                    keep_raw(extras, name, values.get(name))
            strays = [
                *((k, v) for k, v in row.items() if k not in _ROW_FIELDS and v is not None),
                *((k, v) for k, v in entry.items() if k not in _ENTRY_FIELDS and v is not None),
            ]
            for name, raw in strays:
                column = column_name(name)
                if column in _COLUMNS or column in extras or column.startswith("_dlt"):
                    keep_raw(extras, column, raw)
                else:
                    extras[column] = raw_text(raw)
            for name, text in extras.items():
                extra.setdefault(name, [None] * position).append(text)
            for kept in extra.values():
                if len(kept) == position:
                    kept.append(None)
    return _build(cols, workspace_id, extra)


_FIELD_TYPES: dict[str, pa.DataType] = {
    f.name: f.type for f in _SCHEMA if f.name not in ("workspace_id", "server_deleted_at")
}
_COLUMNS = frozenset(_SCHEMA.names)


def _coerce(value: Any, field_type: pa.DataType) -> tuple[Any, bool]:
    """A value of the column's type (None stays None); (None, False) when it cannot be one."""
    if value is None:
        return None, True
    if field_type == pa.int64():
        found = as_key(value)
        return found, found is not None
    if field_type == pa.bool_():
        if isinstance(value, bool):
            return value, True
        if value in (0, 1, "true", "false"):
            return value in (1, "true"), True
        return None, False
    if field_type == pa.string():
        return (value, True) if isinstance(value, str) else (None, False)
    if field_type == _UTC_US:
        moment = parse_timestamp(value)
        return (None, False) if moment is None else (moment.isoformat(), True)
    if pa.types.is_list(field_type):
        if isinstance(value, list) and all(as_key(v) is not None for v in value):
            return [as_key(v) for v in value], True
        return None, False
    return None, False


def tombstones(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows read back and marked deleted (see `gone_rows`), as a table of the page schema."""
    for row in rows:
        tags = row.get("tag_ids")
        row["tag_ids"] = orjson.loads(tags) if isinstance(tags, str) else tags
    names = set(_SCHEMA.names)
    return pa.Table.from_pylist(
        [{k: v for k, v in r.items() if k in names} for r in rows], schema=_SCHEMA
    )


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
    reject: Reject,
    known_complete: Callable[[str, str], bool],
    completed: Callable[[str, str], None],
    *,
    start_date: str | None,
    trailing_days: int,
    arrow: bool = True,
    cadence: Cadence | None = None,
    on_tags: Callable[[int, set[Any]], None] | None = None,
    covered: Callable[[int], bool] | None = None,
) -> Iterator[pa.Table | list[dict[str, Any]]]:
    """Rows of every workspace. Where each walk stands (window, cursor inside it) is saved in
    the resource state after every page that landed, so a run stopped halfway goes on from
    there next time; a workspace's history is complete once its walk reaches today.

    With a `cadence`, a workspace whose history is complete is read for changes (see
    `_incremental`); without one, its trailing window is re-read every run. `on_tags` is told
    the tag ids that changed entries name, per workspace; a workspace `covered` says webhooks
    keep live skips its changes read until its reconciliation is due."""
    state = dlt.current.resource_state()
    complete: dict[str, str] = state.setdefault("complete_through", {})
    walks: dict[str, dict[str, Any]] = state.setdefault("walk", {})
    now = client.server_now()
    for workspace_id in discovery.workspace_ids():
        if known_complete(TABLE, str(workspace_id)):
            continue
        try:
            if cadence is None:
                tables = _workspace_rows(
                    client, workspace_id, complete, walks, reject, start_date, trailing_days, now
                )
            else:
                tables = _incremental(
                    client,
                    workspace_id,
                    state,
                    cadence,
                    reject,
                    start_date,
                    trailing_days,
                    now,
                    on_tags,
                    covered is not None and covered(workspace_id),
                )
            for table in tables:
                # Arrow tables go to Parquet as they are; a destination that loads other
                # formats (PostgreSQL's CSV cannot hold the tag list) gets rows.
                yield table if arrow else table.to_pylist()
            completed(TABLE, str(workspace_id))
        except QuotaExhaustedError:
            client.stats.defer(f"{TABLE} of workspace {workspace_id}")
        except (RunStopped, AuthenticationError):
            raise
        except ApiError as error:
            client.stats.error(f"{TABLE} of workspace {workspace_id}: {error}")


def _incremental(
    client: ApiClient,
    ws_id: int,
    state: dict[str, Any],
    cadence: Cadence,
    reject: Reject,
    start_date: str | None,
    trailing_days: int,
    now: datetime,
    on_tags: Callable[[int, set[Any]], None] | None,
    live: bool = False,
) -> Iterator[pa.Table]:
    """One workspace's run, once its history is complete:
    - every run: the last year's entries changed since the run before, newest change first;
    - on the reconciliation's cadence: each older window the same way (an edit to an entry of
      any age arrives), then the trailing window re-read whole (deletions, and values that
      change without an entry's `at`: a renamed user, a new rate);
    - on the whole re-read's cadence: the whole history re-read, which finds deletions of any
      age (one request per 1,000 entries, resumable: a quota stop goes on next run).
    A walk stopped halfway (the quota, Ctrl-C) goes on first, before anything else."""
    key = str(ws_id)
    complete: dict[str, str] = state["complete_through"]
    walks: dict[str, dict[str, Any]] = state["walk"]
    changes: dict[str, float] = state.setdefault("changes", {})
    reconciled: dict[str, float] = state.setdefault("reconciled", {})
    oldest: dict[str, str] = state.setdefault("oldest", {})
    began = now.timestamp()
    walk = walks.get(key)
    if walk is None and key in complete:
        if cadence.last("report_full", key) is None:
            # A history an earlier version completed: its whole re-read is a week away, not
            # now (at a million entries it costs a thousand requests).
            cadence.done("report_full", key, began)
        deep = cadence.due("report_full", key, "report_full")
        reconcile = deep or cadence.due("report_reconcile", key, "report_reconcile")
        if live and not reconcile:
            return  # the listener lands every change; `changes` stays for when it stops
        named: set[Any] = set()
        first, last = _recent(now)
        since = changes.get(key, _midnight(complete[key]) - settings.CHANGES_OVERLAP_SECONDS)
        yield from _changes(client, ws_id, first, last, since, reject, named)
        changes[key] = began - settings.CHANGES_OVERLAP_SECONDS
        if reconcile:
            since = reconciled.get(key, since)
            earliest = date.fromisoformat(oldest.get(key) or _history_start(start_date))
            for window_start, window_end in windows(earliest, first - timedelta(days=1)):
                yield from _changes(client, ws_id, window_start, window_end, since, reject, named)
            reconciled[key] = began - settings.CHANGES_OVERLAP_SECONDS
        if on_tags is not None:
            on_tags(ws_id, named)
        if not reconcile:
            return
        history = False
    else:  # a history not complete yet, or a walk a stopped run left halfway
        deep = bool(walk and walk.get("deep"))
        history = walk is None or not walk.get("reread")
    yield from _workspace_rows(
        client,
        ws_id,
        complete,
        walks,
        reject,
        start_date,
        trailing_days,
        now,
        deep=deep,
        oldest=oldest,
    )
    if history:
        # The history is complete through the day its walk began: changes from then on are
        # the next run's to read (entries that did not change are not written again).
        changes[key] = _midnight(complete[key]) - settings.CHANGES_OVERLAP_SECONDS
        reconciled[key] = changes[key]
        deep = True  # a whole history read counts as the whole re-read
    cadence.done("report_reconcile", key, began)
    if deep:
        cadence.done("report_full", key, began)


def _history_start(start_date: str | None) -> str:
    return start_date or settings.REPORT_HISTORY_START


def _midnight(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def _recent(now: datetime) -> tuple[date, date]:
    """The window every run asks for changes: the last year to tomorrow (a day's entries can
    start ahead of the service's date in another timezone), as long as the API allows."""
    last = now.date() + timedelta(days=1)
    return last - timedelta(days=WINDOW_DAYS), last


LAST_UPDATE_FIRST = {"order_by": "last_update", "order_dir": "desc"}


def _changes(
    client: ApiClient,
    ws_id: int,
    first: date,
    last: date,
    since: float,
    reject: Reject,
    named: set[Any],
) -> Iterator[pa.Table]:
    """Entries of one window changed after `since` (unix seconds), asked newest change first:
    the walk stops at the first page holding an entry not newer, one request when nothing
    changed. Entries that are the same as what landed are not written again.

    Whether the service sorts as asked is checked on every page: a page out of order, or an
    `order_by` refused with a 400, makes the walk read the whole window instead (robust either
    way: the reference documents `order_by` but not its values; `last_update` with `order_dir`
    is what the service's own clients send)."""
    ordered = True
    order: dict[str, Any] | None = LAST_UPDATE_FIRST
    previous: datetime | None = None
    while True:
        try:
            for page in _walk(client, ws_id, first, last, order=order):
                moments = _entry_moments(page.rows)
                ordered = ordered and order is not None and _in_order(page.rows, previous)
                ids = [key for key, _ in moments if key is not None]
                landed = {k: v[0] for k, v in landed_values(TABLE, "id", ids, ("at",)).items()}
                batch = page_table(page.rows, ws_id, _newer(since, landed, named), reject)
                if batch.num_rows:
                    client.stats.add_rows(TABLE, batch.num_rows)
                    yield batch
                known = [at for _, at in moments if at is not None]
                if ordered and any(at.timestamp() <= since for at in known):
                    return
                if known:
                    previous = min(known)
            if not ordered and order is not None:
                client.stats.note_once(
                    "the report search did not sort by last update: its windows were read whole"
                )
            return
        except ApiError as error:
            if order is None or error.status != 400 or "order" not in str(error).lower():
                raise
            order, ordered = None, False  # the service refused the order: read it whole


def _entry_moments(rows: list[Any]) -> list[tuple[int | None, datetime | None]]:
    """(id, at) of every entry of a page, in the page's order; None where unreadable."""
    out = []
    for row in rows:
        entries = row.get("time_entries") if isinstance(row, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict):
                out.append((as_key(entry.get("id")), parse_timestamp(entry.get("at"))))
    return out


def _in_order(rows: list[Any], previous: datetime | None) -> bool:
    """Whether a page is sorted newest change first (and after the page before): each row's
    entries, and the rows by their first entry, never get newer."""
    firsts: list[datetime] = []
    for row in rows:
        entries = row.get("time_entries") if isinstance(row, dict) else None
        moments = [
            at
            for entry in (entries if isinstance(entries, list) else ())
            if isinstance(entry, dict) and (at := parse_timestamp(entry.get("at"))) is not None
        ]
        if any(b > a for a, b in itertools.pairwise(moments)):
            return False
        if moments:
            firsts.append(moments[0])
            if previous is not None and max(moments) > previous:
                return False
    return not any(b > a for a, b in itertools.pairwise(firsts))


def _newer(since: float, landed: dict[Any, Any], named: set[Any]) -> Keep:
    """Keep an entry changed after `since` that differs from what landed (an unreadable `at`
    is kept: better written twice than lost), noting the tags its row names."""

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        at = parse_timestamp(entry.get("at"))
        if at is not None and (at.timestamp() <= since or landed.get(as_key(entry["id"])) == at):
            return False
        tags = row.get("tag_ids")
        if isinstance(tags, list):
            named.update(as_key(t) for t in tags)
        return True

    return keep


def _workspace_rows(
    client: ApiClient,
    ws_id: int,
    complete: dict[str, str],
    walks: dict[str, dict[str, Any]],
    reject: Reject,
    start_date: str | None,
    trailing_days: int,
    now: datetime,
    *,
    deep: bool = False,
    oldest: dict[str, str] | None = None,
) -> Iterator[pa.Table]:
    """Walk one workspace's windows: its whole history, or (once complete) a re-read of the
    trailing window, or with `deep` a re-read of the whole history that compares ids only (an
    entry's edits arrive through `_changes`; this finds deletions of any age)."""
    key = str(ws_id)
    today = now.date()
    walk = walks.get(key)
    if walk is None:
        done = complete.get(key)
        if done is None or deep:
            first = date.fromisoformat(start_date or settings.REPORT_HISTORY_START)
        else:
            first = min(date.fromisoformat(done), today - timedelta(days=trailing_days))
        walk = {
            "from": first.isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
            "before": None,  # windows starting on or after this day are done
            "current": None,  # the window the cursor is in
            "cursor": None,
            "reread": done is not None,
            "started": today.isoformat(),
        }
        if deep and done is not None:
            walk["deep"] = True
        fresh = True
    else:
        fresh = False  # resumed: rows of earlier runs were not seen by this one
    compared = () if walk.get("deep") else COMPARED
    if walk["reread"]:
        since = datetime.combine(date.fromisoformat(walk["from"]), datetime.min.time(), UTC)
        landed = landed_versions(TABLE, "id", "workspace_id", ws_id, compared, since)
        landed = _normalized(landed) if compared else landed
    else:
        landed = {}
    seen: set[int] = set()
    keep: Keep | None = None
    if landed:
        keep = _unseen(landed, seen) if walk.get("deep") else _changed(landed, seen)
    # Newest window first: a run the quota stops still lands the most recent history, and
    # the empty years at the start of the service come last.
    todo = [
        (first_day, last_day)
        for first_day, last_day in reversed(
            list(windows(date.fromisoformat(walk["from"]), date.fromisoformat(walk["to"])))
        )
        if walk["before"] is None or first_day.isoformat() < walk["before"]
    ]
    pages = (
        page
        for window_start, window_end in todo
        for page in _walk(
            client,
            ws_id,
            window_start,
            window_end,
            walk["cursor"] if window_start.isoformat() == walk["current"] else None,
        )
    )
    walk.setdefault("null_windows", [])
    walk.setdefault("oldest_data", None)
    for page in prefetch(pages):
        client.stats.phase = f"report history: workspace {ws_id}, {page.window_start.year}"
        batch = page_table(page.rows, ws_id, keep, reject)
        if batch.num_rows:
            client.stats.add_rows(TABLE, batch.num_rows)
            yield batch
        walks[key] = walk
        start = page.window_start.isoformat()
        if page.rows:
            walk["oldest_data"] = min(walk["oldest_data"] or start, start)
        if page.unconfirmed:
            walk["null_windows"].append(start)
        if page.next_cursor is None:  # the window is done
            walk["before"] = start
            walk["current"] = walk["cursor"] = None
        else:
            walk["current"] = start
            walk["cursor"] = page.next_cursor
    # Windows answered `null` are asked again where a broken answer could have hidden rows.
    spans = dict(windows(date.fromisoformat(walk["from"]), date.fromisoformat(walk["to"])))
    for start in _to_confirm(walk["null_windows"], walk["oldest_data"]):
        first_day = date.fromisoformat(start)
        for page in _walk(client, ws_id, first_day, spans[first_day], confirm=True):
            batch = page_table(page.rows, ws_id, keep, reject)
            if batch.num_rows:
                client.stats.add_rows(TABLE, batch.num_rows)
                yield batch
        walk["null_windows"].remove(start)
    if walk["reread"] and fresh:
        gone = gone_rows(TABLE, "id", landed, seen, now)
        if gone:
            client.stats.add_rows(TABLE, len(gone))
            yield tombstones(gone)
    walks.pop(key, None)
    if oldest is not None and walk.get("oldest_data") and not walk["reread"]:
        oldest[key] = walk["oldest_data"]
    # Complete through the day the walk began: what changed since is in the next re-read.
    complete[key] = walk["started"]


def _to_confirm(null_windows: list[str], oldest_data: str | None) -> list[str]:
    """Which windows that answered `null` to ask again. The service answers an empty window
    as `null` (or `[]`, both are taken), and a broken answer can look the same. Empty windows
    lie together at the start of an account's history, older than any entry: so a `null`
    window newer than the oldest one with data is suspect, and so is the newest `null` window
    older than it (the edge, where a broken answer would hide the oldest entries). The rest,
    the empty years before the account began, are believed without a second request."""
    suspects = [w for w in null_windows if oldest_data is not None and w > oldest_data]
    older = [w for w in null_windows if oldest_data is None or w < oldest_data]
    if older:
        suspects.append(max(older))
    return sorted(set(suspects), reverse=True)


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


def _unseen(landed: dict[Any, tuple[Any, ...]], seen: set[int]) -> Keep:
    """For a whole re-read: keep entries that never landed, noting every id."""

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        key = as_key(entry["id"]) or 0
        seen.add(key)
        return key not in landed

    return keep


def _changed(landed: dict[Any, tuple[Any, ...]], seen: set[int]) -> Keep:
    """For a re-read: keep entries that are new or differ from what landed, noting every id,
    so an unchanged window costs requests but no writes."""

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        seen.add(as_key(entry["id"]) or 0)
        current = (
            parse_timestamp(entry.get("at")),
            row.get("username"),
            as_key(row.get("hourly_rate_in_cents")),
            amount,
            row.get("currency"),
            row.get("tag_ids") or [],
            row.get("project_id"),
            row.get("task_id"),
            row.get("description"),
            row.get("billable"),
        )
        return landed.get(as_key(entry["id"])) != current

    return keep


CURSOR = ("first_id", "first_row_number", "first_timestamp")
"""The report search's cursor fields, as a page's X-Next-* headers give them."""


@dataclass(frozen=True)
class _Page:
    rows: list[Any]
    window_start: date
    window_end: date
    next_cursor: dict[str, int] | None
    """Where the next page of this window starts; None after the window's last page."""
    unconfirmed: bool = False
    """The window's only answer was `null`: empty, or broken (see `_to_confirm`)."""


def _row_mark(row: Any) -> Any:
    """What tells one grouped row of a page from another: its entries' ids, or the row."""
    if isinstance(row, dict) and isinstance(row.get("time_entries"), list):
        return tuple(
            entry.get("id") if isinstance(entry, dict) else repr(entry)
            for entry in row["time_entries"]
        ) or repr(row)
    return repr(row)


def _walk(
    client: ApiClient,
    workspace_id: int,
    first: date,
    last: date,
    cursor: dict[str, int] | None = None,
    confirm: bool = False,
    order: dict[str, Any] | None = None,
) -> Iterator[_Page]:
    """Every page of one window from `cursor` (or its start), following X-Next-ID and
    X-Next-Row-Number, the headers the reference documents, and X-Next-Timestamp where it
    comes: each is sent back (`first_id`, `first_row_number`, `first_timestamp`) only when its
    header came with the page before, never made up and never left over from an earlier page.
    A cursor that comes back again would loop for ever: it stops the walk with an error
    instead."""
    body: dict[str, Any] = {
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "page_size": PAGE_SIZE,
        **(order or {}),
        # A cursor saved by an older version may hold the 0 it sent for a missing timestamp.
        **{k: v for k, v in (cursor or {}).items() if v or k != "first_timestamp"},
    }
    visited: set[tuple[tuple[str, int], ...]] = set()
    answered: set[Any] = set()
    where = f"the report search of workspace {workspace_id} ({first}..{last})"
    while True:
        try:
            rows, headers = client.report(workspace_id, body)
        except ApiError as error:
            # The reference documents only the default page size (50): 1,000 is our guess. A
            # 400 that names it makes the walk go on with half, down to the default; the
            # cursor does not depend on the page size.
            if not page_size_refused(error) or body["page_size"] <= MIN_PAGE_SIZE:
                raise
            body["page_size"] = max(MIN_PAGE_SIZE, body["page_size"] // 2)
            continue
        if rows is None and (cursor or visited):
            # `null` after a page that said "more follows" is a broken answer: asked again.
            rows, headers = client.report(workspace_id, body)
        raw_next = header(headers, "x-next-id")
        next_id = as_key(raw_next)
        if next_id is None and raw_next is not None and raw_next.strip():
            # Only an absent header ends a window: read as "last page", a cursor this source
            # cannot read would drop the rest of the window (and a re-read would delete it).
            raise ServiceError(f"{where} answered an unreadable cursor {raw_next[:40]!r}")
        if next_id is None:
            # A window whose only answer is `null` is left for `_to_confirm` to judge; asked
            # again to confirm it, a second `null` means empty.
            unconfirmed = rows is None and not (cursor or visited or confirm)
            yield _Page(list(rows or []), first, last, None, unconfirmed)
            return
        following = {
            name: value
            for name, value in (
                ("first_id", next_id),
                ("first_row_number", as_key(header(headers, "x-next-row-number"))),
                ("first_timestamp", as_key(header(headers, "x-next-timestamp"))),
            )
            if value is not None
        }
        mark = tuple(sorted(following.items()))
        if mark in visited or all(body.get(k) == v for k, v in following.items()):
            raise ServiceError(
                f"{where} answered a cursor it had answered before; stopped instead of looping"
            )
        # A cursor that changes every time (a timestamp from the service's clock) while the
        # same rows come back would pass the check above for ever: a page that begins with a
        # row an earlier page began with stops it too, and so does a walk longer than any list
        # may be.
        opening = _row_mark(rows[0]) if rows else None
        if opening is not None and opening in answered:
            raise ServiceError(
                f"{where} began two pages with the same row; stopped instead of looping"
            )
        answered.add(opening)
        if len(visited) >= settings.MAX_PAGES:
            raise ServiceError(f"{where}: more than {settings.MAX_PAGES} pages; stopped")
        visited.add(mark)
        yield _Page(list(rows or []), first, last, following)
        for name in CURSOR:
            body.pop(name, None)
        body.update(following)
