"""The tables: every column of the contract with its type and nullability, in neutral names.

A record becomes a row here: legacy aliases (`wid`, `uid`, `pid`, `tid`, `cid`) are folded into
their neutral names and dropped, timestamps in any spelling become UTC datetimes, dates become
dates. Fields the contract does not name pass through and land as new columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCaseNaming

Row = dict[str, Any]

LEGACY_ALIASES = {
    "wid": "workspace_id",
    "uid": "user_id",
    "pid": "project_id",
    "tid": "task_id",
    "cid": "client_id",
    "gid": "group_id",
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
K = False
"""Not nullable: only what the source itself guarantees (keys, and the scope ids it adds from
the path it read). Everything the service sends may be missing or null in a real answer, and a
declared not-null column that meets a null fails the whole load."""

TABLES: dict[str, dict[str, Column]] = {
    "time_entries": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT),
        "project_id": _c(BIGINT),
        "task_id": _c(BIGINT),
        "user_id": _c(BIGINT),
        "billable": _c(BOOL),
        "start": _c(TS),
        "stop": _c(TS),
        "duration": _c(BIGINT),
        "description": _c(TEXT),
        "tags": _c(JSON),
        "tag_ids": _c(JSON),
        "duronly": _c(BOOL),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
    },
    "organizations": {
        "id": _c(BIGINT, K),
        "name": _c(TEXT),
        "pricing_plan_id": _c(BIGINT),
        "user_count": _c(BIGINT),
        "max_workspaces": _c(BIGINT),
        "created_at": _c(TS),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
        "suspended_at": _c(TS),
        "is_multi_workspace_enabled": _c(BOOL),
        "is_unified": _c(BOOL),
        "admin": _c(BOOL),
        "owner": _c(BOOL),
        "trial_info": _c(JSON),
    },
    "organizations_users": {
        "id": _c(BIGINT, K),
        "user_id": _c(BIGINT),
        "organization_id": _c(BIGINT, K),
        "name": _c(TEXT),
        "email": _c(TEXT),
        "avatar_url": _c(TEXT),
        "inactive": _c(BOOL),
        "joined": _c(BOOL),
        "admin": _c(BOOL),
        "owner": _c(BOOL),
        "can_edit_email": _c(BOOL),
        "invitation_code": _c(TEXT),
        "groups": _c(JSON),
        "workspaces": _c(JSON),
        "server_deleted_at": _c(TS),
    },
    "organizations_groups": {
        "group_id": _c(BIGINT, K),
        "organization_id": _c(BIGINT, K),
        "name": _c(TEXT),
        "at": _c(TS),
        "users": _c(JSON),
        "workspaces": _c(JSON),
        "server_deleted_at": _c(TS),
    },
    "workspaces": {
        "id": _c(BIGINT, K),
        "organization_id": _c(BIGINT),
        "name": _c(TEXT),
        "premium": _c(BOOL),
        "admin": _c(BOOL),
        "default_currency": _c(TEXT),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
        "unreachable_since": _c(TS),
        "ical_enabled": _c(BOOL),
        "working_hours_in_minutes": _c(BIGINT),
    },
    "report_time_entries": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "user_id": _c(BIGINT),
        "username": _c(TEXT),
        "project_id": _c(BIGINT),
        "task_id": _c(BIGINT),
        "description": _c(TEXT),
        "billable": _c(BOOL),
        "tag_ids": _c(JSON),
        "hourly_rate_in_cents": _c(BIGINT),
        "billable_amount_in_cents": _c(BIGINT),
        "currency": _c(TEXT),
        "start": _c(TS),
        "stop": _c(TS),
        "seconds": _c(BIGINT),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
    },
    "workspace": {
        "workspace_id": _c(BIGINT, K),
        "admins": _c(JSON),
        "groups_count": _c(BIGINT),
        "members_count": _c(BIGINT),
    },
    "workspace_clients": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "name": _c(TEXT),
        "archived": _c(BOOL),
        "at": _c(TS),
        "creator_id": _c(BIGINT),
        "notes": _c(TEXT),
        "server_deleted_at": _c(TS),
    },
    "workspace_projects": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "client_id": _c(BIGINT),
        "name": _c(TEXT),
        "color": _c(TEXT),
        "status": _c(TEXT),
        "active": _c(BOOL),
        "is_private": _c(BOOL),
        "billable": _c(BOOL),
        "recurring": _c(BOOL),
        "template": _c(BOOL),
        "auto_estimates": _c(BOOL),
        "at": _c(TS),
        "created_at": _c(TS),
        "start_date": _c(DATE),
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
        "project_id": _c(BIGINT),
        "user_id": _c(BIGINT),
        "estimated_seconds": _c(BIGINT),
        "name": _c(TEXT),
        "active": _c(BOOL),
        "recurring": _c(BOOL),
        "tracked_seconds": _c(BIGINT),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
    },
    "workspace_users": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "user_id": _c(BIGINT),
        "name": _c(TEXT),
        "email": _c(TEXT),
        "timezone": _c(TEXT),
        "active": _c(BOOL),
        "inactive": _c(BOOL),
        "admin": _c(BOOL),
        "organization_admin": _c(BOOL),
        "workspace_admin": _c(BOOL),
        "role": _c(TEXT),
        "role_id": _c(BIGINT),
        "group_ids": _c(JSON),
        "rate": _c(DOUBLE),
        "rate_last_updated": _c(TS),
        "labor_cost": _c(DOUBLE),
        "labor_cost_last_updated": _c(TS),
        "working_hours_in_minutes": _c(BIGINT),
        "at": _c(TS),
        "invitation_code": _c(TEXT),
        "is_direct": _c(BOOL),
        "avatar_file_name": _c(TEXT),
        "view_edit_billable_rates": _c(BOOL),
        "view_edit_labor_costs": _c(BOOL),
        "server_deleted_at": _c(TS),
    },
    "rejected_records": {
        "table_name": _c(TEXT, K),
        "record_key": _c(TEXT),
        "reason": _c(TEXT, K),
        "record": _c(TEXT),
        "scope": _c(TEXT),
    },
    "workspace_tags": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "name": _c(TEXT),
        "at": _c(TS),
        "creator_id": _c(BIGINT),
        "server_deleted_at": _c(TS),
    },
    "project_users": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "project_id": _c(BIGINT),
        "user_id": _c(BIGINT),
        "group_id": _c(BIGINT),
        "manager": _c(BOOL),
        "rate": _c(DOUBLE),
        "rate_last_updated": _c(TS),
        "labor_cost": _c(DOUBLE),
        "labor_cost_last_updated": _c(TS),
        "at": _c(TS),
        "server_deleted_at": _c(TS),
    },
    "project_groups": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "project_id": _c(BIGINT),
        "group_id": _c(BIGINT),
        "server_deleted_at": _c(TS),
    },
    "rates": {
        "id": _c(BIGINT, K),
        "workspace_id": _c(BIGINT, K),
        "level": _c(TEXT, K),
        "level_id": _c(BIGINT, K),
        "type": _c(TEXT),
        "amount": _c(DOUBLE),
        "start": _c(TS),
        "end": _c(TS),
        "rate_change_mode": _c(TEXT),
        "workspace_user_id": _c(BIGINT),
        "project_id": _c(BIGINT),
        "project_user_id": _c(BIGINT),
        "planned_task_id": _c(BIGINT),
        "creator_id": _c(BIGINT),
        "created_at": _c(TS),
        "updated_at": _c(TS),
        "deleted_at": _c(TS),
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


class Rejected(Exception):
    """A record that cannot land at all (no usable key); it goes to `rejected_records`."""

    def __init__(self, reason: str, key: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


PAGING_FIELDS = frozenset({"total_count"})
"""Fields of a list's records that describe the list, not the record (projects carry the
list's count in each): read by the paging, never landed."""
SECRET_FIELDS = frozenset({"api_token", "ical_url", "invite_url"})
"""Fields that hold credentials (a workspace's own API token, private calendar and invitation
links with their secret in the path): dropped before anything is written, state included."""


def is_secret(name: str) -> bool:
    """Whether a field holds a credential: the known ones, and any `*token`, `*secret` or
    `*password` a future answer may add."""
    lowered = name.lower()
    return name in SECRET_FIELDS or lowered.endswith(("token", "secret", "password"))


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def fits_int64(number: int) -> bool:
    """Whether a 64-bit integer column (and orjson, which writes dlt's files) holds it."""
    return INT64_MIN <= number <= INT64_MAX


def clean(value: Any) -> Any:
    """A value as it may be kept anywhere (a JSON column, `rejected_records`, the source's
    state): credentials left out at any depth, NUL removed from text and keys (PostgreSQL
    refuses it in text and in jsonb alike, and then every later load of the package), and an
    integer no 64-bit writer holds as its decimal text."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {
            clean(k): clean(v)
            for k, v in value.items()
            if not (isinstance(k, str) and is_secret(k))
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not fits_int64(value):
        return str(value)
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """A timestamp in any of the service's spellings (RFC3339 with any offset, with or without
    fractions; unix seconds) as an aware UTC datetime; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # the calendar's first or last day, moved past its edge by the offset
        return None


def parse_day(value: Any) -> date | None:
    """A YYYY-MM-DD date (or the date part of a timestamp); None when absent or unreadable."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


_INTEGER = re.compile(r"-?\d+")
"""What int() reads as a key: a sign, then decimal digits (not "--1", nor "²", which str.isdigit
takes for a digit and int() refuses)."""


def as_key(value: Any) -> int | None:
    """An integer key from an int, or a string of digits; None when it is no usable key, or
    out of the 64-bit range every key column has."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        found = value
    elif isinstance(value, float) and value.is_integer():
        found = int(value)
    elif isinstance(value, str) and len(value) < 100 and _INTEGER.fullmatch(value.strip()):
        found = int(value.strip())
    else:
        return None
    return found if fits_int64(found) else None


def _too_big(value: Any) -> bool:
    """Whether dlt would read the value as an integer no 64-bit column holds (it reads text,
    hexadecimal too, and integral floats as integers), failing the load instead of the value."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not fits_int64(value)
    if isinstance(value, float):
        return value.is_integer() and not fits_int64(int(value))
    if isinstance(value, str) and len(value) < 100:
        text = value.strip()
        try:
            number = int(text[2:], 16) if text.startswith("0x") else int(text)
        except ValueError:
            return False
        return not fits_int64(number)
    return False


@lru_cache(maxsize=4096)
def column_name(field: str) -> str:
    """The column dlt makes of a field name (`creatorId` -> `creator_id`)."""
    return _NAMING.normalize_path(field)


_NAMING = SnakeCaseNaming()


def _past_calendar(value: Any) -> bool:
    """Whether a time no datetime holds is spelled right: the calendar's edge and an offset."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def raw_text(value: Any) -> str:
    """A value as text for a `<column>__raw` column: a string as it is, anything else as JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # beyond 64 bits too (nested, it is kept as a string: see `clean`)
    return orjson.dumps(clean(value), default=str).decode()


def keep_raw(row: Row, column: str, value: Any) -> None:
    """Keep a value that cannot land in `column` as text in `<column>__raw`; a second one for
    the same column (rare: two spellings of it in one record) is kept with the first, the two
    as a JSON list, so that neither is lost."""
    name = f"{column}__raw"
    text = raw_text(value)
    kept = row.get(name)
    row[name] = text if kept is None else orjson.dumps([kept, text]).decode()


def converter(table: str, key: str, **context: Any) -> Callable[[Any], Row]:
    """A function turning one API record into a row of `table`, adding `context` columns (the
    scope the record was read from, which wins over what the record says).

    Raises Rejected for a record that cannot land: not an object, or without a usable `key`.
    Any other departure from the contract passes: a value of another type lands in a variant
    column of dlt's, a value of a declared time that cannot be read stays as it came, fields
    the contract does not name land as new columns. A value that would fail the load instead
    (an integer beyond 64 bits, a time past the calendar, a string for a JSON column) lands as
    null, with what came as text in `<column>__raw`."""
    columns = TABLES[table]
    stamps = [name for name, col in columns.items() if col.data_type == TS]
    days = [name for name, col in columns.items() if col.data_type == DATE]
    json_columns = [name for name, col in columns.items() if col.data_type == JSON]
    key_from_context = key in context
    integers = [
        name
        for name, col in columns.items()
        if col.data_type == BIGINT and name != key and name not in context
    ]
    owned = frozenset(columns) | frozenset(context)

    def convert(record: Any) -> Row:
        if not isinstance(record, dict):
            raise Rejected(f"not an object: {type(record).__name__}")
        # Unknown nulls are dropped, since no type can be inferred from them (and the service
        # leaves keys out as often as it nulls them); credentials never pass, at any depth.
        row = {k: clean(v) for k, v in record.items() if k in columns}
        taken = set(owned)
        for name, value in record.items():
            if value is None or name in columns or is_secret(name) or name in PAGING_FIELDS:
                continue
            neutral = LEGACY_ALIASES.get(name)
            if neutral is not None:
                if row.get(neutral) is None:  # the neutral field wins; the alias only fills in
                    row[neutral] = clean(value)
                continue
            column = column_name(name)
            if column in taken or column.startswith("_dlt"):
                # A new field dlt would land in a column the contract (or the source, or dlt,
                # or another field) already has (`creatorId`, `Id`): it must not replace that
                # column's value, nor fail its type. Kept as text, the contract's value wins.
                keep_raw(row, column, clean(value))
            elif _too_big(value):
                # As text in the field's own column, it would fail the load once an earlier
                # record made that column an integer (dlt reads the text back as one).
                taken.add(column)
                keep_raw(row, column, value)
            else:
                taken.add(column)
                row[name] = clean(value)
        for name in stamps:
            value = row.get(name)
            if value is not None:
                parsed = parse_timestamp(value)
                if parsed is not None:
                    row[name] = parsed
                elif _past_calendar(value):
                    # dlt would read it, then fail the whole load (and every later one) on the
                    # overflow: kept as text beside a null instead of in a variant column.
                    row[name] = None
                    keep_raw(row, name, value)
        for name in days:
            value = row.get(name)
            if value is not None:
                parsed_day = parse_day(value)
                row[name] = value if parsed_day is None else parsed_day
        for name in integers:
            value = row.get(name)
            if value is not None and _too_big(value):
                row[name] = None  # dlt would take it, and fail the load of the whole package
                keep_raw(row, name, value)
        for name in json_columns:
            value = row.get(name)
            if isinstance(value, str):
                # dlt reads a string for a JSON column as JSON text: one that holds a string
                # ('"x"'), or on PostgreSQL a number or a bool ("5", "true"), failed the load.
                row[name] = None
                keep_raw(row, name, value)
        row.update(context)
        if not key_from_context:
            raw = row.get(key)
            found = as_key(raw)
            if found is None:
                if raw is None:
                    reason = f"no {key}"
                elif _too_big(raw):
                    reason = f"{key} is beyond the 64-bit range: {raw!r}"
                else:
                    reason = f"{key} is not an integer: {raw!r}"
                raise Rejected(reason[:200], raw)
            row[key] = found
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


def tables_markdown() -> str:
    """docs/tables.md: every table's declared columns, their types and nullability, from
    TABLES (a test keeps the page equal to this)."""
    from timetrack.source.endpoints import BY_TABLE

    lines = [
        "# Tables and their columns",
        "",
        "Generated from `timetrack.source.schema.TABLES` (`python -m timetrack.source.schema`);",
        "`tests/source/test_tables_doc.py` fails when the two differ. Types follow the service's",
        "published reference (`tests/source/test_reference_types.py` checks each documented",
        "field). A field the service sends that is not declared lands as a column of its own",
        "(text unless dlt can tell), and a value of another type lands in `<column>__raw`.",
        "",
    ]
    for table, columns in TABLES.items():
        endpoint = BY_TABLE.get(table)
        origin = f"`{endpoint.path}`" if endpoint else "the source itself"
        lines += [f"## `{table}`", "", f"From {origin}.", "", "| column | type | null |"]
        lines.append("|---|---|---|")
        for name, column in columns.items():
            lines.append(
                f"| `{name}` | {column.data_type} | {'yes' if column.nullable else 'no'} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(tables_markdown(), end="")
