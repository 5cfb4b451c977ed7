"""The tables: every column of the contract with its type and nullability, in neutral names.

A record becomes a row here: legacy aliases (`wid`, `uid`, `pid`, `tid`, `cid`) are folded into
their neutral names and dropped, timestamps in any spelling become UTC datetimes, dates become
dates. Fields the contract does not name pass through and land as new columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

Row = dict[str, Any]

LEGACY_ALIASES = {
    "wid": "workspace_id",
    "uid": "user_id",
    "pid": "project_id",
    "tid": "task_id",
    "cid": "client_id",
}


@dataclass(frozen=True)
class Column:
    """One column: its dlt data type and whether it may be null."""

    data_type: str
    nullable: bool = True


def _c(data_type: str, nullable: bool = True) -> Column:
    return Column(data_type, nullable)


BIGINT, TEXT, BOOL, TS, DATE, DOUBLE, JSON = (
    "bigint",
    "text",
    "bool",
    "timestamp",
    "date",
    "double",
    "json",
)
K = False  # not nullable

TABLES: dict[str, dict[str, Column]] = {
    "time_entries": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "project_id": _c(BIGINT),
        "task_id": _c(BIGINT),
        "user_id": _c(BIGINT, K),
        "billable": _c(BOOL, K),
        "start": _c(TS, K),
        "stop": _c(TS),
        "duration": _c(BIGINT, K),
        "description": _c(TEXT),
        "tags": _c(JSON),
        "tag_ids": _c(JSON),
        "duronly": _c(BOOL, K),
        "at": _c(TS, K),
        "server_deleted_at": _c(TS),
    },
    "organizations": {
        "id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "pricing_plan_id": _c(BIGINT, K),
        "user_count": _c(BIGINT, K),
        "max_workspaces": _c(BIGINT, K),
        "created_at": _c(TS, K),
        "at": _c(TS, K),
        "server_deleted_at": _c(TS),
        "suspended_at": _c(TS),
        "is_multi_workspace_enabled": _c(BOOL, K),
        "is_unified": _c(BOOL, K),
        "admin": _c(BOOL, K),
        "owner": _c(BOOL, K),
        "trial_info": _c(JSON),
    },
    "organizations_users": {
        "id": _c(BIGINT, K),
        "user_id": _c(BIGINT, K),
        "organization_id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "email": _c(TEXT, K),
        "avatar_url": _c(TEXT, K),
        "inactive": _c(BOOL, K),
        "joined": _c(BOOL, K),
        "admin": _c(BOOL, K),
        "owner": _c(BOOL, K),
        "can_edit_email": _c(BOOL, K),
        "invitation_code": _c(TEXT),
        "groups": _c(JSON),
        "workspaces": _c(JSON),
        "server_deleted_at": _c(TS),
    },
    "organizations_groups": {
        "group_id": _c(BIGINT, K),
        "organization_id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "at": _c(TS, K),
        "users": _c(JSON),
        "workspaces": _c(JSON),
        "server_deleted_at": _c(TS),
    },
    "workspaces": {
        "id": _c(BIGINT, K),
        "organization_id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "premium": _c(BOOL, K),
        "admin": _c(BOOL, K),
        "default_currency": _c(TEXT),
        "at": _c(TS, K),
        "server_deleted_at": _c(TS),
        "unreachable_since": _c(TS),
    },
    "report_time_entries": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "user_id": _c(BIGINT, K),
        "username": _c(TEXT),
        "project_id": _c(BIGINT),
        "task_id": _c(BIGINT),
        "description": _c(TEXT),
        "billable": _c(BOOL, K),
        "tag_ids": _c(JSON),
        "hourly_rate_in_cents": _c(BIGINT),
        "billable_amount_in_cents": _c(BIGINT),
        "currency": _c(TEXT),
        "start": _c(TS, K),
        "stop": _c(TS, K),
        "seconds": _c(BIGINT, K),
        "at": _c(TS, K),
        "server_deleted_at": _c(TS),
    },
    "workspace": {
        "workspace_id": _c(BIGINT, K),
        "admins": _c(JSON),
        "groups_count": _c(BIGINT, K),
        "members_count": _c(BIGINT, K),
    },
    "workspace_clients": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "archived": _c(BOOL, K),
        "at": _c(TS, K),
        "creator_id": _c(BIGINT),
        "notes": _c(TEXT),
        "server_deleted_at": _c(TS),
    },
    "workspace_projects": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "client_id": _c(BIGINT),
        "name": _c(TEXT, K),
        "color": _c(TEXT, K),
        "status": _c(TEXT, K),
        "active": _c(BOOL, K),
        "is_private": _c(BOOL, K),
        "billable": _c(BOOL, K),
        "recurring": _c(BOOL, K),
        "template": _c(BOOL),
        "auto_estimates": _c(BOOL),
        "at": _c(TS, K),
        "created_at": _c(TS, K),
        "start_date": _c(DATE, K),
        "end_date": _c(DATE),
        "currency": _c(TEXT),
        "estimated_hours": _c(BIGINT),
        "estimated_seconds": _c(BIGINT),
        "actual_hours": _c(BIGINT),
        "actual_seconds": _c(BIGINT),
        "rate": _c(DOUBLE),
        "fixed_fee": _c(DOUBLE),
        "rate_last_updated": _c(TS),
        "server_deleted_at": _c(TS),
        "recurring_parameters": _c(JSON),
    },
    "workspace_tasks": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "project_id": _c(BIGINT, K),
        "user_id": _c(BIGINT),
        "estimated_seconds": _c(BIGINT),
        "name": _c(TEXT, K),
        "active": _c(BOOL, K),
        "recurring": _c(BOOL, K),
        "tracked_seconds": _c(BIGINT, K),
        "at": _c(TS, K),
        "server_deleted_at": _c(TS),
    },
    "workspace_tags": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "name": _c(TEXT, K),
        "at": _c(TS, K),
        "creator_id": _c(BIGINT),
        "server_deleted_at": _c(TS),
    },
}


HARD_DELETE_COLUMN = "server_deleted_at"


def column_hints(table: str, *, hard_delete: bool = False) -> dict[str, dict[str, Any]]:
    """dlt column hints for a table, in the contract's order.

    With `hard_delete`, a row whose `server_deleted_at` is set deletes its key in the
    destination instead of landing.
    """
    hints: dict[str, dict[str, Any]] = {
        name: {"name": name, "data_type": col.data_type, "nullable": col.nullable}
        for name, col in TABLES[table].items()
    }
    if hard_delete and HARD_DELETE_COLUMN in hints:
        hints[HARD_DELETE_COLUMN]["hard_delete"] = True
    return hints


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC3339 timestamp in any of the service's spellings, as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC) if moment.utcoffset() else moment


def parse_day(value: Any) -> date | None:
    """A YYYY-MM-DD date (or the date part of a timestamp)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def converter(table: str, **context: Any) -> Callable[[dict[str, Any]], Row]:
    """A function turning one API record into a row of `table`, adding `context` columns."""
    columns = TABLES[table]
    stamps = [name for name, col in columns.items() if col.data_type == TS]
    days = [name for name, col in columns.items() if col.data_type == DATE]

    def convert(record: dict[str, Any]) -> Row:
        # Unknown fields land as new columns; unknown nulls are dropped, since no type can be
        # inferred from them (and the service leaves keys out as often as it nulls them).
        row = {k: v for k, v in record.items() if v is not None or k in columns}
        for alias, neutral in LEGACY_ALIASES.items():
            if alias in row:
                value = row.pop(alias)
                if row.get(neutral) is None:
                    row[neutral] = value
        for name in stamps:
            value = row.get(name)
            if value is not None:
                row[name] = parse_timestamp(value)
        for name in days:
            value = row.get(name)
            if value is not None:
                row[name] = parse_day(value)
        row.update(context)
        return row

    return convert


_ARROW_TYPES = {
    BIGINT: pa.int64(),
    TEXT: pa.string(),
    BOOL: pa.bool_(),
    TS: pa.timestamp("us", tz="UTC"),
    DATE: pa.date32(),
    DOUBLE: pa.float64(),
    JSON: pa.string(),  # serialized JSON text: loads as JSON wherever the column is declared so
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a table, from the same column definitions as the dlt hints."""
    return pa.schema(
        [
            pa.field(name, _ARROW_TYPES[col.data_type], nullable=col.nullable)
            for name, col in TABLES[table].items()
        ]
    )
