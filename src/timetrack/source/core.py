"""The dlt source: `timetrack_source`, every table of the guide and more, complete and typed,
kept current by incremental runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from timetrack.errors import ApiError, FeatureNotOnPlanError
from timetrack.source import settings
from timetrack.source.client import ApiClient, ClientSettings, RequestStats
from timetrack.source.destination import gone_rows, landed_versions
from timetrack.source.discovery import Discovery
from timetrack.source.endpoints import ENDPOINTS, REPORT_TIME_ENTRIES, TIME_ENTRIES, Endpoint
from timetrack.source.reports import report_rows
from timetrack.source.schema import Row, column_hints, converter, parse_timestamp

_EARLIEST = re.compile(r"not be earlier than (\d{4}-\d{2}-\d{2})")
_SINCE_TOO_OLD = "since cannot be older"


@dlt.source(name="timetrack", section="timetrack", max_table_nesting=0)
def timetrack_source(
    api_token: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    layout: str = "envelope",
    organization_ids: list[int] | None = None,
    workspace_ids: list[int] | None = None,
    requests_per_second: float = settings.REQUESTS_PER_SECOND,
    max_quota_wait: float = settings.MAX_QUOTA_WAIT,
    max_retries: int = settings.MAX_RETRIES,
    backoff_factor: float = settings.BACKOFF_FACTOR,
    time_entries_start: str | None = None,
    report_start_date: str | None = None,
    report_trailing_days: int = settings.REPORT_TRAILING_DAYS,
    keep_deleted: bool = False,
    stats: RequestStats | None = None,
) -> list[DltResource]:
    """Every table of a time-tracking account, configured under `sources.timetrack`.

    Covers every organization and workspace the token reaches unless `organization_ids` or
    `workspace_ids` narrow it. After the first run, `time_entries`, `workspace_projects` and
    `workspace_tasks` ask only for changes (`since`), and `report_time_entries` re-reads the last
    `report_trailing_days`. Deleted records are removed, or kept with `server_deleted_at` set
    when `keep_deleted`. Pass `stats` to read what the run cost afterwards.
    """
    client = ApiClient(
        api_token,
        ClientSettings(
            base_url=base_url,
            layout=layout,  # type: ignore[arg-type]
            requests_per_second=requests_per_second,
            max_quota_wait=max_quota_wait,
            max_retries=max_retries,
            backoff_factor=backoff_factor,
        ),
        stats=stats,
    )
    discovery = Discovery(client, organization_ids, workspace_ids)
    hard_delete = not keep_deleted
    resources = [_time_entries(client, discovery, time_entries_start, hard_delete)]
    resources += [_resource(endpoint, client, discovery, hard_delete) for endpoint in ENDPOINTS]
    resources.append(
        _declare(
            REPORT_TIME_ENTRIES,
            lambda: report_rows(
                client,
                discovery,
                start_date=report_start_date,
                trailing_days=report_trailing_days,
            ),
            hard_delete,
        )
    )
    return resources


def _declare(
    endpoint: Endpoint, rows: Callable[[], Iterator[Any]], hard_delete: bool = False
) -> DltResource:
    return dlt.resource(
        rows,
        name=endpoint.table,
        table_name=endpoint.table,
        primary_key=endpoint.primary_key,
        write_disposition="merge",
        columns=column_hints(endpoint.table, hard_delete=hard_delete),
    )


def _resource(
    endpoint: Endpoint, client: ApiClient, discovery: Discovery, hard_delete: bool
) -> DltResource:
    def rows() -> Iterator[list[Row]]:
        for batch in _fetch(endpoint, client, discovery):
            client.stats.add_rows(endpoint.table, len(batch))
            yield batch

    return _declare(endpoint, rows, hard_delete and (endpoint.incremental or _full_list(endpoint)))


def _full_list(endpoint: Endpoint) -> bool:
    """A list read whole every run: what it no longer lists was deleted at the service."""
    return endpoint.scope != "token" and not endpoint.single and not endpoint.incremental


def _fetch(endpoint: Endpoint, client: ApiClient, discovery: Discovery) -> Iterator[list[Row]]:
    """Rows of one endpoint over its whole scope, a page at a time."""
    if endpoint.table == "organizations":
        convert = converter(endpoint.table)
        yield [convert(record) for record in discovery.organizations()]
        return
    if endpoint.table == "workspaces":
        yield _workspaces(client, discovery)
        return
    scope_ids = (
        discovery.organization_ids()
        if endpoint.scope == "organization"
        else discovery.workspace_ids()
    )
    cursors: dict[str, int] = (
        dlt.current.resource_state().setdefault("since", {}) if endpoint.incremental else {}
    )
    scope_column = "organization_id" if endpoint.scope == "organization" else "workspace_id"
    for scope_id in scope_ids:
        try:
            yield from _fetch_scope(endpoint, client, scope_id, scope_column, cursors)
        except FeatureNotOnPlanError as error:
            # One organization's plan lacks this endpoint: load everything else, then fail.
            client.stats.error(str(error))


def _fetch_scope(
    endpoint: Endpoint,
    client: ApiClient,
    scope_id: int,
    scope_column: str,
    cursors: dict[str, int],
) -> Iterator[list[Row]]:
    """Rows of one endpoint for one organization or workspace."""
    context = {endpoint.context_key: scope_id} if endpoint.context_key else {}
    convert = converter(endpoint.table, **context)
    path = endpoint.path.format(organization_id=scope_id, workspace_id=scope_id)
    params = dict(endpoint.params)
    if str(scope_id) in cursors:
        params["since"] = cursors[str(scope_id)]
    if endpoint.paged:
        pages: Iterator[list[dict[str, Any]]] = client.pages(path, params)
    else:
        payload = client.get(path, params or None)
        records = [payload] if endpoint.single else list(payload or [])
        pages = iter([records] if records else [])
    latest: datetime | None = None
    seen: set[Any] = set()
    for page in pages:
        batch = [convert(record) for record in page]
        latest = _latest(batch, latest)
        seen.update(row.get(endpoint.primary_key) for row in batch)
        yield batch
    if endpoint.incremental:
        _advance(cursors, str(scope_id), latest)
    elif _full_list(endpoint):
        # Only a complete listing proves absence: rows that landed before and are no longer
        # listed were deleted at the service.
        key = endpoint.primary_key
        landed = landed_versions(endpoint.table, key, scope_column, scope_id)
        gone = gone_rows(endpoint.table, key, landed, seen, client.server_now())
        if gone:
            yield gone


def _latest(batch: list[Row], latest: datetime | None) -> datetime | None:
    for row in batch:
        at = row.get("at")
        if isinstance(at, datetime) and (latest is None or at > latest):
            latest = at
    return latest


def _advance(cursors: dict[str, int], key: str, latest: datetime | None) -> None:
    """Move a `since` cursor to the newest change seen, less an overlap for late writers;
    never backwards. A first run with nothing in it starts the cursor at 0 (everything)."""
    if latest is None:
        cursors.setdefault(key, 0)
        return
    candidate = int(latest.timestamp()) - settings.SINCE_OVERLAP_SECONDS
    cursors[key] = max(cursors.get(key, 0), candidate)


def _workspaces(client: ApiClient, discovery: Discovery) -> list[Row]:
    """Reachable workspaces, plus those that were and are no longer: kept, but marked with
    `unreachable_since` (and reported) instead of passing for current."""
    convert = converter("workspaces")
    known: dict[str, dict[str, Any]] = dlt.current.source_state().setdefault("workspaces", {})
    rows = []
    for record in discovery.workspaces():
        row = convert(record)
        row["unreachable_since"] = None
        rows.append(row)
        known[str(row["id"])] = dict(record)  # all of it: a row written back loses nothing
    if discovery.narrowed:
        return rows  # a narrowed run says nothing about workspaces outside it
    reachable = {str(r["id"]) for r in rows}
    now = client.server_now()
    for key, remembered in list(known.items()):
        if key in reachable:
            continue
        row = convert(dict(remembered))
        row["unreachable_since"] = parse_timestamp(remembered.get("unreachable_since")) or now
        remembered["unreachable_since"] = row["unreachable_since"].isoformat()
        client.stats.warn(
            f"workspace {key} ({remembered.get('name')}) is no longer reachable with this token: "
            "its rows are kept as last seen, marked in workspaces.unreachable_since"
        )
        rows.append(row)
    return rows


def _time_entries(
    client: ApiClient, discovery: Discovery, start: str | None, hard_delete: bool
) -> DltResource:
    """The token owner's entries: the whole 90-day window first, then changes via `since`."""

    def rows() -> Iterator[list[Row]]:
        state = dlt.current.resource_state()
        now = client.server_now()
        records = None
        window_start: datetime | None = None
        since = state.get("since")
        if since is not None and since > now.timestamp() - settings.SINCE_MAX_AGE_DAYS * 86400:
            try:
                records = client.get(TIME_ENTRIES.path, {"since": since})
            except ApiError as error:
                if error.status != 400 or _SINCE_TOO_OLD not in str(error):
                    raise
        if records is None:
            records, first_day = _window(client, now.date(), start)
            window_start = datetime.combine(first_day, datetime.min.time(), UTC)
        convert = converter(TIME_ENTRIES.table)
        batch = [convert(record) for record in records or []]
        if discovery.narrowed:
            wanted = set(discovery.workspace_ids())
            batch = [row for row in batch if row["workspace_id"] in wanted]
        client.stats.add_rows(TIME_ENTRIES.table, len(batch))
        if batch:
            yield batch
        if window_start is not None:
            # A window lists live entries only: what landed in it and is missing now was
            # deleted (after a gap too long for `since` to tell).
            returned = {row["id"] for row in batch}
            landed = landed_versions(TIME_ENTRIES.table, "id", None, None, (), window_start)
            gone = gone_rows(TIME_ENTRIES.table, "id", landed, returned, now)
            if discovery.narrowed:
                gone = [row for row in gone if row["workspace_id"] in wanted]
            if gone:
                yield gone
        # The next run asks for what changed after this read began, less the overlap.
        state["since"] = int(now.timestamp()) - settings.SINCE_OVERLAP_SECONDS

    return _declare(TIME_ENTRIES, rows, hard_delete)


def _window(client: ApiClient, today: date, start: str | None) -> tuple[Any, date]:
    """Every entry /me/time_entries allows, from 90 days back (or a later start) to
    tomorrow; returns them and the first day asked for."""
    begin = today - timedelta(days=settings.HISTORY_DAYS)
    if start:
        begin = max(begin, date.fromisoformat(start))
    params = {"start_date": begin.isoformat(), "end_date": (today + timedelta(days=2)).isoformat()}
    try:
        return client.get(TIME_ENTRIES.path, params), begin
    except ApiError as error:
        # The service's clock decides the window; its 400 names the earliest day it takes.
        found = _EARLIEST.search(str(error))
        if error.status != 400 or not found:
            raise
        begin = date.fromisoformat(found.group(1))
        return client.get(TIME_ENTRIES.path, {**params, "start_date": begin.isoformat()}), begin


def source_tables() -> list[str]:
    """Names of the tables the source can load, in its resource order."""
    return [TIME_ENTRIES.table, *(e.table for e in ENDPOINTS), REPORT_TIME_ENTRIES.table]


__all__ = ["source_tables", "timetrack_source"]
