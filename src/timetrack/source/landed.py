"""Reading back what already landed, for what the API cannot answer: which records of a full
list or a re-read window are gone, and which re-read ones did not change."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import dlt
import duckdb
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.source.schema import TABLES


def _query(
    table: str, columns: Sequence[str] | None, where: list[tuple[str, str, Any]]
) -> tuple[list[str], list[Any]]:
    """Column names and rows of `columns` (None: every column but dlt's own) from `table`,
    live rows only, matching every (column, op, value)."""
    if _shared is not None and _shared.run_pipeline is not None:
        pipeline = _shared.run_pipeline  # dlt.current.pipeline() resolves config: ~50 ms a call
    else:
        try:
            pipeline = dlt.current.pipeline()
        except Exception:
            return [], []  # extracting outside a pipeline run: nothing landed to compare with
    if getattr(pipeline, "destination", None) is None:
        return [], []  # a pipeline with nowhere to land: nothing landed either
    try:
        with _reader(pipeline, table) as client:
            name = client.make_qualified_table_name(table)
            quoted = "*" if columns is None else ", ".join(map(client.escape_column_name, columns))
            deleted = client.escape_column_name("server_deleted_at")
            sql = f"select {quoted} from {name} where {deleted} is null"
            args: list[Any] = []
            for column, op, value in where:
                if op == "in":
                    if not value:
                        return [], []
                    marks = ", ".join(["%s"] * len(value))
                    sql += f" and {client.escape_column_name(column)} in ({marks})"
                    args.extend(value)
                else:
                    sql += f" and {client.escape_column_name(column)} {op} %s"
                    args.append(value)
            with client.execute_query(sql, *args) as cursor:
                names = [d[0] for d in cursor.description]
                return names, list(cursor.fetchall())
    except DestinationUndefinedEntity:
        return [], []


class _Shared:
    """The SQL client every read-back of one extract goes through, opened on first use.

    Opening dlt's client resolves its configuration and, on DuckDB, opens the file: about
    60 ms, paid by each of the thirty-odd read-backs of a small hourly run (a third of its time)
    before `reading` kept one open. Guarded by a lock: a connection serves one query at a time."""

    def __init__(self, run_pipeline: Any = None) -> None:
        self.run_pipeline = run_pipeline
        self.stack = ExitStack()
        self.open: tuple[Any, Any] | None = None
        """The pipeline whose client is open, and the client."""
        self.lock = threading.Lock()

    @contextmanager
    def client_of(self, pipeline: Any) -> Iterator[Any]:
        with self.lock:
            if self.open is None or self.open[0] is not pipeline:
                self.close()
                self.open = (pipeline, self.stack.enter_context(pipeline.sql_client()))
            try:
                yield self.open[1]
            except DestinationUndefinedEntity:
                raise  # a table not landed yet: the connection is fine
            except BaseException:
                self.close()  # a broken connection is not handed to the next query
                raise

    def close(self) -> None:
        self.open = None
        self.stack.close()


_shared: _Shared | None = None


@contextmanager
def reading(pipeline: Any = None) -> Iterator[None]:
    """Read-backs inside share one connection to the destination, closed on leaving (before
    the load, which needs the DuckDB file to itself), and read what `pipeline` (default: dlt's
    current one, looked up each time) landed. Outside, each opens its own."""
    global _shared
    outer, _shared = _shared, _Shared(pipeline)
    try:
        yield
    finally:
        _shared.close()
        _shared = outer


@contextmanager
def _reader(pipeline: Any, table: str) -> Iterator[Any]:
    """The destination's SQL client; for a Delta table, DuckDB over the table as `deltalake`
    reads it, since DuckDB's own delta extension is downloaded on first use (not offline)."""
    lake = None
    if pipeline.destination.destination_type.endswith("filesystem"):
        with pipeline.destination_client() as destination:
            if table not in destination.schema.tables:
                raise DestinationUndefinedEntity(table)  # not loaded yet: no DuckDB needed
            if destination.is_open_table("delta", table):
                lake = destination.load_open_table("delta", table)  # raises before a load
    if lake is None:
        shared = _shared
        with pipeline.sql_client() if shared is None else shared.client_of(pipeline) as client:
            yield client
        return
    with duckdb.connect() as db:
        db.register(table, lake.to_pyarrow_dataset())
        yield _DeltaReader(db)


class _DeltaReader:
    """The part of dlt's SQL client `_query` uses, over one registered Delta table."""

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self.db = db

    def make_qualified_table_name(self, table: str) -> str:
        return self.escape_column_name(table)

    def escape_column_name(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    @contextmanager
    def execute_query(self, sql: str, *args: Any) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.db.execute(sql.replace("%s", "?"), list(args))


def landed_versions(
    table: str,
    key: str,
    scope_column: str | None,
    scope_id: int | None,
    compare: Sequence[str] = (),
    start_from: Any = None,
) -> dict[Any, tuple[Any, ...]]:
    """Key -> values of `compare` for the live rows of one organization or workspace (and,
    with `start_from`, whose `start` is at or after it). Empty before the first load."""
    where: list[tuple[str, str, Any]] = (
        [] if scope_column is None else [(scope_column, "=", scope_id)]
    )
    if start_from is not None:
        where.append(("start", ">=", start_from))
    return landed_where(table, key, where, compare)


def landed_where(
    table: str, key: str, where: list[tuple[str, str, Any]], columns: Sequence[str] = ()
) -> dict[Any, tuple[Any, ...]]:
    """Key -> values of `columns` for the live rows matching every (column, op, value)."""
    _, rows = _query(table, [key, *columns], where)
    return {row[0]: tuple(row[1:]) for row in rows}


def landed_values(
    table: str, key: str, keys: Sequence[Any], columns: Sequence[str]
) -> dict[Any, tuple[Any, ...]]:
    """Key -> values of `columns` for the live rows of some keys (missing keys left out)."""
    out: dict[Any, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 1000):
        out.update(
            landed_where(table, key, [(key, "in", list(keys[start : start + 1000]))], columns)
        )
    return out


def landed_rows(table: str, key: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
    """Whole rows for some keys: every column that landed (not only the declared ones, so a
    row written back loses nothing), JSON columns decoded, dlt's own columns left out."""
    json_columns = [c for c, col in TABLES[table].items() if col.data_type == "json"]
    out = []
    for start in range(0, len(keys), 1000):
        names, rows = _query(table, None, [(key, "in", list(keys[start : start + 1000]))])
        for values in rows:
            row = {n: v for n, v in zip(names, values, strict=True) if not n.startswith("_dlt")}
            for column in json_columns:
                if isinstance(row.get(column), str):
                    row[column] = json.loads(row[column])
            out.append(row)
    return out


def gone_rows(
    table: str, key: str, landed: Iterable[Any], present: Collection[Any], deleted_at: Any
) -> list[dict[str, Any]]:
    """The rows of `landed` keys the service no longer has, read back whole and marked with
    `server_deleted_at`: removed by the hard-delete hint, or kept marked with keep_deleted."""
    rows = landed_rows(table, key, [k for k in landed if k not in present])
    for row in rows:
        row["server_deleted_at"] = deleted_at
    return rows
