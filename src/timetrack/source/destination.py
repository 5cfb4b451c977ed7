"""Reading back what already landed, for the one question the API cannot answer: which entries
of a re-read window are gone."""

from __future__ import annotations

import json
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.source.schema import TABLES


def landed_rows(table: str, workspace_id: int, start_from: Any) -> list[dict[str, Any]]:
    """Live rows of `table` for one workspace whose `start` is at or after `start_from`.

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
            start = client.escape_column_name("start")
            deleted = client.escape_column_name("server_deleted_at")
            rows = client.execute_sql(
                f"select {quoted} from {name} where workspace_id = %s and {start} >= %s "
                f"and {deleted} is null",
                workspace_id,
                start_from,
            )
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
