"""Reading back what already landed, for the one question the API cannot answer: which entries
of a re-read window are gone."""

from __future__ import annotations

import json
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.source.schema import TABLES


def landed_rows(
    table: str, scope_column: str, scope_id: int, start_from: Any = None
) -> list[dict[str, Any]]:
    """Live rows of `table` for one organization or workspace (and, with `start_from`, whose
    `start` is at or after it).

    Empty when the pipeline has no destination yet or the table does not exist.
    """
    try:
        pipeline = dlt.current.pipeline()
    except Exception:
        return []
    columns = list(TABLES[table])
    try:
        with pipeline.sql_client() as client:
            name = client.make_qualified_table_name(table)
            quoted = ", ".join(client.escape_column_name(c) for c in columns)
            scope = client.escape_column_name(scope_column)
            deleted = client.escape_column_name("server_deleted_at")
            sql = f"select {quoted} from {name} where {scope} = %s and {deleted} is null"
            args: list[Any] = [scope_id]
            if start_from is not None:
                sql += f" and {client.escape_column_name('start')} >= %s"
                args.append(start_from)
            rows = client.execute_sql(sql, *args)
    except DestinationUndefinedEntity:
        return []
    json_columns = [c for c, col in TABLES[table].items() if col.data_type == "json"]
    out = []
    for values in rows or []:
        row = dict(zip(columns, values, strict=True))
        for column in json_columns:
            if isinstance(row[column], str):
                row[column] = json.loads(row[column])
        out.append(row)
    return out
