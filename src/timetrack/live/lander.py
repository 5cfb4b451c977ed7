"""Landing journalled events in small batches, with dlt, into the tables `run` fills.

Each batch: the newest change per key (by the entity's `at`, else the event's timestamp) that
is not older than what landed before, whether the listener landed it (the journal's versions,
deletions included) or `run` did (the row's `at`); laid over the landed row, so that columns an
event does not carry (a report entry's amounts, a field the payload leaves out) keep their
value until the hourly run re-reads them. A deletion removes the row as `run` does (dlt's hard
delete), or marks it with `keep_deleted`. The same event landed twice (a crash between the load
and the journal's note of it) lands the same row twice: merges are idempotent.

The batches load through a pipeline of their own (`<pipeline>_live`, schema `timetrack_live`)
into the dataset of `run`'s: two processes never share one pipeline's folder. Each batch holds
`run`'s pipeline lock (a run waits for it), and waits while a run holds it, so the two never
open one DuckDB file at once."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import dlt
import orjson
import pyarrow as pa
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.schema.typing import TTableSchemaColumns

from timetrack.destination.target import Target
from timetrack.live.events import KEYS, Change, changes, version_text
from timetrack.live.journal import Event, Journal
from timetrack.run.loading import held_open
from timetrack.run.pipeline import PARQUET_NATIVE, batch_marker_path, run_lock_path
from timetrack.source.schema import TABLES, arrow_schema, column_hints, parse_timestamp

REPORT_SCHEMA = arrow_schema("report_time_entries").set(
    arrow_schema("report_time_entries").get_field_index("tag_ids"),
    pa.field("tag_ids", pa.list_(pa.int64())),
)
"""The report's Arrow schema as the source's report walk makes it (tag ids as a list)."""
BATCH = 2000
"""Events landed at most per batch."""
SCHEMA_NAME = "timetrack_live"
SUSPECT_PASSES = 3
"""Passes in which an event fails alone while others land before it is set aside."""


def live_pipeline_name(target: Target) -> str:
    """The listener's pipeline: its own folder and state, the target's dataset."""
    return f"{target.pipeline_name}_live"


@contextmanager
def batch_lock(target: Target) -> Iterator[bool]:
    """The run lock for one batch, if `timetrack run` does not hold it (False: it does, and
    the batch waits). While held, a marker beside it tells a run starting meanwhile to wait
    for the batch rather than be refused, so that the two never open one DuckDB file at
    once."""
    path = run_lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = batch_marker_path(target)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        marker.touch()
        try:
            yield True
        finally:
            marker.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


class Lander:
    """Lands a target's journalled events."""

    def __init__(self, target: Target, journal: Journal, *, keep_deleted: bool = False) -> None:
        self.target = target
        self.journal = journal
        self.keep_deleted = keep_deleted
        settings: dict[str, Any] = {
            "pipeline_name": live_pipeline_name(target),
            "destination": target.destination,
            "dataset_name": target.dataset,
        }
        if target.pipelines_dir:
            settings["pipelines_dir"] = target.pipelines_dir
        self.pipeline = dlt.pipeline(**settings)
        if self.pipeline.has_pending_data:
            # A batch cut off (kill -9) mid-load: the journal still has its events unlanded,
            # and lands them again from the start.
            self.pipeline.drop_pending_packages()
        self.landed_events = 0
        self.landed_rows = 0
        self.set_aside = 0
        self.suspects: dict[int, int] = {}

    def land_once(self, limit: int = BATCH) -> int:
        """Land the oldest journalled events; returns how many were taken (0: none waiting).

        A batch that fails is landed again event by event: if others land and one keeps
        failing alone (SUSPECT_PASSES passes), it can never land (the destination refuses its
        values) and is set aside in the journal, so that it does not hold up every later event.
        When none lands, the destination is down: the error is raised, nothing is set aside."""
        events = self.journal.unlanded(limit)
        if not events:
            return 0
        try:
            self._land(events)
        except Exception:
            if len(events) == 1:
                raise
            self._one_by_one(events)
        return len(events)

    def _one_by_one(self, events: list[Event]) -> None:
        failed: list[tuple[Event, Exception]] = []
        for event in events:
            try:
                self._land([event])
            except Exception as refusal:
                failed.append((event, refusal))
        if len(failed) == len(events):
            raise failed[-1][1]
        for event, error in failed:
            self.suspects[event.seq] = self.suspects.get(event.seq, 0) + 1
            if self.suspects[event.seq] >= SUSPECT_PASSES:
                self.journal.set_aside(event.seq, " ".join(str(error).split())[:500])
                self.set_aside += 1
                del self.suspects[event.seq]

    def _land(self, events: list[Event]) -> None:
        newest = self._newest(events)
        by_table: dict[str, dict[int, Change]] = {}
        for change in newest.values():
            by_table.setdefault(change.table, {})[change.key] = change
        rows: dict[str, list[dict[str, Any]]] = {}
        applied: dict[tuple[str, int], str] = {}
        for table, found in by_table.items():
            stored = self.journal.versions(table, list(found))
            fresh = {k: c for k, c in found.items() if c.version >= stored.get(k, "")}
            landed = self._landed(table, list(fresh))
            for key, change in fresh.items():
                before = landed.get(key)
                at = parse_timestamp(before.get("at")) if before else None
                if at is not None and version_text(at) > change.version:
                    continue  # `run` landed a newer row: this event is old news
                rows.setdefault(table, []).append(self._row(change, before))
                applied[(table, key)] = change.version
        if rows:
            native = self.target.kind in PARQUET_NATIVE
            try:
                # extract, normalize, load: `run` would also read the pipeline's state back
                # from the destination first, on every batch; this pipeline keeps none to read.
                self.pipeline.extract(
                    self._source(rows, arrow=native),
                    loader_file_format="parquet" if native else None,
                )
                self.pipeline.normalize()
                with held_open(self.pipeline, sum(len(r) for r in rows.values())):
                    self.pipeline.load()
            except Exception:
                # dlt keeps a failed load pending and would load it INSTEAD of the next batch
                # (new data passed to a pipeline with a pending load is ignored): dropped, and
                # these events, still unlanded in the journal, go again in the next batch.
                self.pipeline.drop_pending_packages()
                raise
        self.journal.landed([e.seq for e in events], applied)
        self.landed_events += len(events)
        self.landed_rows += sum(len(r) for r in rows.values())

    def _newest(self, events: list[Event]) -> dict[tuple[str, int], Change]:
        subscriptions = {s.subscription_id: s for s in self.journal.subscriptions()}
        newest: dict[tuple[str, int], Change] = {}
        for event in events:
            try:
                body = orjson.loads(event.body)
            except orjson.JSONDecodeError:
                continue
            sub = subscriptions.get(event.subscription_id)
            me = sub.user_id if sub else None
            admin = sub.admin if sub else True
            for change in changes(body, me, admin):
                known = newest.get((change.table, change.key))
                # Later in the journal wins a tie: the service's later word on the same moment.
                if known is None or change.version >= known.version:
                    newest[(change.table, change.key)] = change
        return newest

    def _row(self, change: Change, before: dict[str, Any] | None) -> dict[str, Any]:
        if change.deleted and not self.keep_deleted:
            key = KEYS[change.table]
            row = {key: change.key, "server_deleted_at": change.row.get("server_deleted_at")}
            if "workspace_id" in change.row:
                row["workspace_id"] = change.row["workspace_id"]
            return row
        return {**(before or {}), **change.row}

    def _landed(self, table: str, keys: list[int]) -> dict[int, dict[str, Any]]:
        """The rows of some keys as they landed (JSON columns decoded, dlt's own left out)."""
        if not keys:
            return {}
        json_columns = [c for c, col in TABLES[table].items() if col.data_type == "json"]
        out: dict[int, dict[str, Any]] = {}
        try:
            with self.pipeline.sql_client() as client:
                name = client.make_qualified_table_name(table)
                for start in range(0, len(keys), 500):
                    part = keys[start : start + 500]
                    marks = ", ".join(["%s"] * len(part))
                    sql = f"select * from {name} where id in ({marks})"
                    with client.execute_query(sql, *part) as cursor:
                        names = [d[0] for d in cursor.description]
                        for values in cursor.fetchall():
                            row = {
                                n: v
                                for n, v in zip(names, values, strict=True)
                                if not n.startswith("_dlt")
                            }
                            for column in json_columns:
                                if isinstance(row.get(column), str):
                                    row[column] = json.loads(row[column])
                            out[int(row["id"])] = row
        except DestinationUndefinedEntity:
            return {}
        return out

    def _source(self, rows: dict[str, list[dict[str, Any]]], *, arrow: bool) -> Any:
        """The batch as `run` hands it to dlt: the report's entries as Arrow tables where run
        does so (which land without dlt's `_dlt_id`: a row-wise load would add it as NOT NULL
        to run's table, which DuckDB refuses), every other table as rows."""
        hard_delete = not self.keep_deleted

        @dlt.source(name=SCHEMA_NAME, max_table_nesting=0)
        def live() -> Iterator[Any]:
            dlt.current.source_schema().remove_type_detection("iso_timestamp")
            for table, batch in rows.items():
                items: Any = batch
                if arrow and table == "report_time_entries":
                    items = _report_table(batch)
                yield dlt.resource(
                    items,
                    name=table,
                    table_name=table,
                    primary_key=KEYS[table],
                    write_disposition="merge",
                    columns=cast(TTableSchemaColumns, column_hints(table, hard_delete=hard_delete)),
                )

        return live()


def _report_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as an Arrow table of the report's schema, with the columns beyond it that
    landed before (the report's project and client names, ...) typed as they come."""
    schema = REPORT_SCHEMA
    for name in sorted({k for r in rows for k in r} - set(schema.names)):
        values = [r.get(name) for r in rows]
        if all(v is None for v in values):
            continue
        try:
            kind = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            kind = pa.string()
            for r in rows:
                if r.get(name) is not None:
                    r[name] = str(r[name])
        schema = schema.append(pa.field(name, kind))
    return pa.Table.from_pylist(
        [{k: v for k, v in r.items() if k in schema.names} for r in rows], schema=schema
    )
