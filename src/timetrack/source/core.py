"""The dlt source: `timetrack_source`, every table of the guide and more, complete and typed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import dlt
from dlt.sources import DltResource

from timetrack.errors import ApiError
from timetrack.source import settings
from timetrack.source.client import ApiClient, ClientSettings, RequestStats
from timetrack.source.discovery import Discovery
from timetrack.source.endpoints import ENDPOINTS, TIME_ENTRIES, Endpoint
from timetrack.source.schema import Row, column_hints, converter

_EARLIEST = re.compile(r"not be earlier than (\d{4}-\d{2}-\d{2})")


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
    stats: RequestStats | None = None,
) -> list[DltResource]:
    """Every table of a time-tracking account, configured under `sources.timetrack`.

    Covers every organization and workspace the token reaches unless `organization_ids` or
    `workspace_ids` narrow it. Pass `stats` to read what the run cost (requests, retries,
    waits, rows) afterwards.
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
    resources = [_resource(endpoint, client, discovery) for endpoint in ENDPOINTS]
    resources.insert(0, _time_entries(client, time_entries_start))
    return resources


def _declare(endpoint: Endpoint, rows: Callable[[], Iterator[list[Row]]]) -> DltResource:
    return dlt.resource(
        rows,
        name=endpoint.table,
        table_name=endpoint.table,
        primary_key=endpoint.primary_key,
        write_disposition="merge",
        columns=column_hints(endpoint.table),
    )


def _resource(endpoint: Endpoint, client: ApiClient, discovery: Discovery) -> DltResource:
    def rows() -> Iterator[list[Row]]:
        for batch in _fetch(endpoint, client, discovery):
            client.stats.add_rows(endpoint.table, len(batch))
            yield batch

    return _declare(endpoint, rows)


def _fetch(endpoint: Endpoint, client: ApiClient, discovery: Discovery) -> Iterator[list[Row]]:
    """Rows of one endpoint over its whole scope, a page at a time."""
    if endpoint.table == "organizations":
        convert = converter(endpoint.table)
        yield [convert(record) for record in discovery.organizations()]
        return
    if endpoint.table == "workspaces":
        convert = converter(endpoint.table)
        yield [convert(record) for record in discovery.workspaces()]
        return
    scope_ids = (
        discovery.organization_ids()
        if endpoint.scope == "organization"
        else discovery.workspace_ids()
    )
    for scope_id in scope_ids:
        context = {endpoint.context_key: scope_id} if endpoint.context_key else {}
        convert = converter(endpoint.table, **context)
        path = endpoint.path.format(organization_id=scope_id, workspace_id=scope_id)
        if endpoint.paged:
            for page in client.pages(path, endpoint.params):
                yield [convert(record) for record in page]
        else:
            payload = client.get(path, endpoint.params or None)
            records = [payload] if endpoint.single else list(payload or [])
            if records:
                yield [convert(record) for record in records]


def _time_entries(client: ApiClient, start: str | None) -> DltResource:
    """The token owner's entries over the whole window /me/time_entries allows."""

    def rows() -> Iterator[list[Row]]:
        today = datetime.now(UTC).date()
        begin = today - timedelta(days=settings.HISTORY_DAYS)
        if start:
            begin = max(begin, date.fromisoformat(start))
        params = {
            "start_date": begin.isoformat(),
            "end_date": (today + timedelta(days=2)).isoformat(),
        }
        try:
            records = client.get(TIME_ENTRIES.path, params)
        except ApiError as error:
            # The service's clock decides the window; its 400 names the earliest day it takes.
            found = _EARLIEST.search(str(error))
            if error.status != 400 or not found:
                raise
            records = client.get(TIME_ENTRIES.path, {**params, "start_date": found.group(1)})
        convert = converter(TIME_ENTRIES.table)
        batch = [convert(record) for record in records or []]
        client.stats.add_rows(TIME_ENTRIES.table, len(batch))
        if batch:
            yield batch

    return _declare(TIME_ENTRIES, rows)


def source_tables() -> list[str]:
    """Names of the tables the source can load, in its resource order."""
    return [TIME_ENTRIES.table, *(e.table for e in ENDPOINTS)]


__all__ = ["source_tables", "timetrack_source"]
