"""Reading back what already landed, for what the API cannot answer: which records of a full
list or a re-read window are gone, and which re-read ones did not change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.source.schema import TABLES


def _query(table: str, columns: Sequence[str], where: list[tuple[str, str, Any]]) -> list[Any]:
    """Rows of `columns` from `table` (live rows only) matching every (column, op, value)."""
    try:
        pipeline = dlt.current.pipeline()
    except Exception:
        return []  # extracting outside a pipeline run: nothing landed to compare with
    try:
        with pipeline.sql_client() as client:
            name = client.make_qualified_table_name(table)
            quoted = ", ".join(client.escape_column_name(c) for c in columns)
            deleted = client.escape_column_name("server_deleted_at")
            sql = f"select {quoted} from {name} where {deleted} is null"
            args: list[Any] = []
            for column, op, value in where:
                if op == "in":
                    if not value:
                        return []
                    marks = ", ".join(["%s"] * len(value))
                    sql += f" and {client.escape_column_name(column)} in ({marks})"
                    args.extend(value)
                else:
                    sql += f" and {client.escape_column_name(column)} {op} %s"
                    args.append(value)
            return list(client.execute_sql(sql, *args) or [])
    except DestinationUndefinedEntity:
        return []


def landed_versions(
    table: str,
    key: str,
    scope_column: str,
    scope_id: int,
    compare: Sequence[str] = (),
    start_from: Any = None,
) -> dict[Any, tuple[Any, ...]]:
    """Key -> values of `compare` for the live rows of one organization or workspace (and,
    with `start_from`, whose `start` is at or after it). Empty before the first load."""
    where: list[tuple[str, str, Any]] = [(scope_column, "=", scope_id)]
    if start_from is not None:
        where.append(("start", ">=", start_from))
    return {row[0]: tuple(row[1:]) for row in _query(table, [key, *compare], where)}


def landed_rows(table: str, key: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
    """Whole rows for some keys, in the table's declared columns (JSON decoded)."""
    columns = list(TABLES[table])
    json_columns = [c for c, col in TABLES[table].items() if col.data_type == "json"]
    out = []
    for start in range(0, len(keys), 1000):
        for values in _query(table, columns, [(key, "in", list(keys[start : start + 1000]))]):
            row = dict(zip(columns, values, strict=True))
            for column in json_columns:
                if isinstance(row[column], str):
                    row[column] = json.loads(row[column])
            out.append(row)
    return out
