"""Reading back what already landed, for what the API cannot answer: which records of a full
list or a re-read window are gone, and which re-read ones did not change."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dlt
import duckdb
import orjson
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.source.schema import JSON, TABLES, column_name


def _landed_pipeline() -> Any:
    """The pipeline whose destination read-backs read; None when nothing landed counts."""
    if _shared is not None and _shared.dropping:
        return None  # the tables are dropped before this run loads: nothing stays landed
    if _shared is not None and _shared.run_pipeline is not None:
        pipeline = _shared.run_pipeline  # dlt.current.pipeline() resolves config: ~50 ms a call
    else:
        try:
            pipeline = dlt.current.pipeline()
        except Exception:
            return None  # extracting outside a pipeline run: nothing landed to compare with
    if getattr(pipeline, "destination", None) is None:
        return None  # a pipeline with nowhere to land: nothing landed either
    return pipeline


def _query(
    table: str, columns: Sequence[str] | None, where: list[tuple[str, str, Any]]
) -> tuple[list[str], list[Any]]:
    """Column names and rows of `columns` (None: every column but dlt's own) from `table`,
    live rows only, matching every (column, op, value)."""
    pipeline = _landed_pipeline()
    if pipeline is None:
        return [], []
    try:
        with _reader(pipeline, table) as client:
            name = client.make_qualified_table_name(table)
            quoted = "*" if columns is None else ", ".join(map(client.escape_column_name, columns))
            sql = f"select {quoted} from {name} where 1 = 1"
            if "server_deleted_at" in TABLES.get(table, ()):  # statistics are never deleted
                sql += f" and {client.escape_column_name('server_deleted_at')} is null"
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

    def __init__(self, run_pipeline: Any = None, dropping: bool = False) -> None:
        self.run_pipeline = run_pipeline
        self.dropping = dropping
        self.stack = ExitStack()
        self.open: tuple[Any, Any] | None = None
        """The pipeline whose client is open, and the client."""
        self.lakes: dict[tuple[int, str], _DeltaReader | DestinationUndefinedEntity | None] = {}
        """(pipeline, table) -> its Delta reader, None for plain files, or why it has none:
        opening a Delta table took 40 ms, paid by every page of a big list read back."""
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

    @contextmanager
    def lake_of(self, pipeline: Any, table: str) -> Iterator[_DeltaReader | None]:
        """The table's Delta reader (None for plain files), opened on first use."""
        with self.lock:
            key = (id(pipeline), table)
            if key not in self.lakes:
                try:
                    self.lakes[key] = _delta_reader(pipeline, table, self.stack)
                except DestinationUndefinedEntity as missing:  # stays missing until the load
                    self.lakes[key] = missing
            found = self.lakes[key]
            if isinstance(found, DestinationUndefinedEntity):
                raise found
            yield found

    def close(self) -> None:
        self.open = None
        self.lakes = {}
        self.stack.close()


_shared: _Shared | None = None


@contextmanager
def reading(pipeline: Any = None, dropping: bool = False) -> Iterator[None]:
    """Read-backs inside share one connection to the destination, closed on leaving (before
    the load, which needs the DuckDB file to itself), and read what `pipeline` (default: dlt's
    current one, looked up each time) landed. Outside, each opens its own. `dropping`: the
    run drops the source's tables before it loads (a full refresh), so nothing counts as
    landed: every row is written, none is taken for gone."""
    global _shared
    outer, _shared = _shared, _Shared(pipeline, dropping)
    try:
        yield
    finally:
        _shared.close()
        _shared = outer


@contextmanager
def _reader(pipeline: Any, table: str) -> Iterator[Any]:
    """The destination's SQL client; for a Delta table, DuckDB over the table as `deltalake`
    reads it, since DuckDB's own delta extension is downloaded on first use (not offline)."""
    if pipeline.destination.destination_type.endswith("filesystem"):
        with _lake(pipeline, table) as lake:
            if lake is not None:
                yield lake
                return
    shared = _shared
    with pipeline.sql_client() if shared is None else shared.client_of(pipeline) as client:
        yield client


@contextmanager
def _lake(pipeline: Any, table: str) -> Iterator[_DeltaReader | None]:
    """A filesystem table's Delta reader, None for plain files: opened once in a `reading`,
    else for this read-back alone."""
    if _shared is not None:
        with _shared.lake_of(pipeline, table) as lake:
            yield lake
    else:
        with ExitStack() as own:
            yield _delta_reader(pipeline, table, own)


def _delta_reader(pipeline: Any, table: str, stack: ExitStack) -> _DeltaReader | None:
    """DuckDB over a Delta table of a filesystem destination, open until `stack` closes;
    None for plain files. Raises DestinationUndefinedEntity for a table not loaded yet."""
    with pipeline.destination_client() as destination:
        if table not in destination.schema.tables:
            raise DestinationUndefinedEntity(table)  # not loaded yet: no DuckDB needed
        if not destination.is_open_table("delta", table):
            return None
        lake = destination.load_open_table("delta", table)  # raises before a load
    db = stack.enter_context(duckdb.connect())
    db.register(table, lake.to_pyarrow_dataset())
    return _DeltaReader(db)


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


def changed_rows(table: str, key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that are not already landed as they are: a list read again whole writes only
    what changed (on a warehouse, every merge is paid for). Compared with what landed, not
    with what the last run saw, so a row another writer changed (`timetrack listen`) is put
    right too. Whatever cannot be compared for sure counts as changed and is written as before:
    a row is the same only when every column it would write holds an equal value of the same
    kind, and no other column of the landed row is set. A thousand rows at a time, so that a
    list of a big organization holds no more of what landed than that."""
    pipeline = _landed_pipeline()
    if pipeline is None or not _one_row_per_key(pipeline, table):
        return rows
    json_columns = _json_columns(table)
    out: list[dict[str, Any]] = []
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        keys = [row[key] for row in chunk if row.get(key) is not None]
        landed: dict[Any, dict[str, Any] | None] = {}
        for row in landed_rows(table, key, keys):
            # Two live rows of one key (never, after a merge): written again, which mends it.
            landed[row[key]] = None if row[key] in landed else row
        out.extend(
            row
            for row in chunk
            if not _same_row(table, row, landed.get(row.get(key)), json_columns)
        )
    return out


def _one_row_per_key(pipeline: Any, table: str) -> bool:
    """Whether the table holds one row per key. Plain files on a filesystem are appended to:
    a key's older row outlives the newer one that marked it deleted, so they are never
    compared with (every row is written, as before)."""
    if not pipeline.destination.destination_type.endswith("filesystem"):
        return True
    try:
        with _lake(pipeline, table) as lake:
            return lake is not None
    except DestinationUndefinedEntity:
        return True  # nothing landed yet: nothing to compare with either way


def _json_columns(table: str) -> frozenset[str]:
    """The table's JSON columns: declared, and those dlt made of fields the contract does not
    name (an object or a list lands whole, as JSON), as the schema being extracted says."""
    declared = {name for name, column in TABLES[table].items() if column.data_type == JSON}
    try:
        schema = dlt.current.source_schema()
    except Exception:
        return frozenset(declared)  # outside an extract: the declared ones
    found = schema.tables.get(table, {}).get("columns", {})
    return frozenset(declared | {n for n, c in found.items() if c.get("data_type") == JSON})


def _same_row(
    table: str, row: dict[str, Any], landed: dict[str, Any] | None, json_columns: frozenset[str]
) -> bool:
    if landed is None:
        return False
    columns = TABLES[table]
    written: dict[str, Any] = {}
    for name, value in row.items():
        column = name if name in columns else column_name(name)
        if column in written:
            return False  # two fields of one column: what dlt makes of them is its own
        written[column] = value
    for column, value in written.items():
        if value is None:
            if landed.get(column) is not None:
                return False
        elif column not in landed or not _same_value(value, landed[column], column in json_columns):
            return False
    return all(value is None for column, value in landed.items() if column not in written)


def _same_value(new: Any, old: Any, json_column: bool) -> bool:
    """Whether `new` would land as `old` did. Strict about kinds (`True` is not `1`, text is not
    a time): a value of another kind lands in another column of dlt's, so it is a change."""
    if json_column:
        # Only an object or a list lands in the JSON column itself: dlt puts a number or a bool
        # in a column of its own (`users__v_bigint`) and reads a string as JSON text.
        text = _json_text(new) if isinstance(new, dict | list) else None
        return text is not None and text == _json_text(_decoded(old))
    if isinstance(new, bool) or isinstance(old, bool):
        return isinstance(new, bool) and isinstance(old, bool) and new == old
    if isinstance(new, int | float):
        return (
            isinstance(old, int | float | Decimal)
            and not (isinstance(new, float) and math.isnan(new))
            and new == old
        )
    if isinstance(new, str):
        return isinstance(old, str) and new == old
    if isinstance(new, datetime):  # the same instant, whatever zone each is told in
        return (
            isinstance(old, datetime)
            and new.tzinfo is not None
            and old.tzinfo is not None
            and new == old
        )
    if isinstance(new, date):
        return type(old) is date and new == old
    return False  # a nested object or list outside a JSON column: dlt spreads it over columns


def _decoded(value: Any) -> Any:
    """A JSON column's value as DuckDB (text) or PostgreSQL (decoded) gives it back (a
    declared one `landed_rows` has decoded already; one dlt made of a new field, not)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _json_text(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None  # not JSON as it is: never the same as anything
