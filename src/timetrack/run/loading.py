"""Loading a big organization in bounded memory: the merge into DuckDB, and what a run says when
the database's memory cap is too small.

Where the memory went: dlt merges a table by numbering every staged row per key
(`ROW_NUMBER() OVER (PARTITION BY id)`) with all of its columns, to keep one row per key. DuckDB's
window operator holds that whole input, so a first sync of a million report entries (980,000
rows, about 50 MB as Parquet) ran out of DuckDB's 256 MB cap however it spilled, and so did every
run after it. Here only the keys are grouped (one integer per row, which DuckDB spills), and the
window is kept for the keys that really come twice, which are none or a handful: the merge then
streams the staged rows into the table, a million report entries in 64 MB (100,000 in 32 MB,
where dlt's own merge ran out of 64 MB)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dlt.common import logger as dlt_logger
from dlt.common.destination.client import FollowupJobRequest
from dlt.common.destination.typing import PreparedTableSchema
from dlt.common.schema.utils import get_nested_tables
from dlt.common.typing import TSortOrder
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

from timetrack.run.environ import unless_set

MEMORY_SETTING = "destination.duckdb.credentials.global_config"
"""Where a user sets DuckDB's memory cap (memory_limit) in dlt's configuration."""

OUT_OF_MEMORY = "Out of Memory Error"
"""How DuckDB's error for a full memory cap begins."""


class KeysFirstMergeJob(SqlMergeFollowupJob):
    """dlt's merge, deduplicating by key without holding the staged rows in memory."""

    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: tuple[str, TSortOrder] | None = None,
        condition: str | None = None,
        condition_columns: Sequence[str] | None = None,
        skip_dedup: bool = False,
    ) -> str:
        """The staged rows whose key comes once, as they are, then one row of each key that
        comes more than once, numbered as dlt numbers them (its `dedup_sort`, else any)."""
        if skip_dedup or not primary_keys:
            return super().gen_select_from_dedup_sql(
                table_name,
                primary_keys,
                columns,
                dedup_sort,  # type: ignore[arg-type]
                condition,  # type: ignore[arg-type]
                condition_columns,  # type: ignore[arg-type]
                skip_dedup,
            )
        keys = ", ".join(primary_keys)
        twice = f"SELECT {keys} FROM {table_name} GROUP BY {keys} HAVING count(*) > 1"
        joined = " AND ".join(f"_dlt_twice.{key} = _dlt_staged.{key}" for key in primary_keys)
        first = primary_keys[0]
        once = (
            f"SELECT _dlt_staged.* FROM {table_name} AS _dlt_staged LEFT JOIN ({twice}) AS "
            f"_dlt_twice ON {joined} WHERE _dlt_twice.{first} IS NULL"
        )
        repeated = (
            f"SELECT _dlt_staged.* FROM {table_name} AS _dlt_staged JOIN ({twice}) AS "
            f"_dlt_twice ON {joined}"
        )
        numbered = super().gen_select_from_dedup_sql(
            f"({repeated}) AS _dlt_repeated",
            primary_keys,
            columns,
            dedup_sort,  # type: ignore[arg-type]
            condition,  # type: ignore[arg-type]
            condition_columns,  # type: ignore[arg-type]
        )
        col_str = ", ".join(columns)
        return (
            f"SELECT {col_str} FROM ({once}) AS _dlt_once WHERE ({condition or '1 = 1'})\n"
            f"UNION ALL\n{numbered}"
        )


def _keys_first_merge_jobs(
    self: DuckDbClient, table_chain: Sequence[PreparedTableSchema]
) -> list[FollowupJobRequest]:
    return [KeysFirstMergeJob.from_table_chain(table_chain, self.sql_client)]


def install() -> None:
    """Make DuckDB merges group keys, not rows. The same rows land as with dlt's own merge (one
    per key, deleted ones left out), so other DuckDB pipelines of the process lose nothing."""
    DuckDbClient._create_merge_followup_jobs = _keys_first_merge_jobs  # type: ignore[method-assign,assignment]


def refresh_pending_merges(pipeline: Any) -> list[str]:
    """Rewrite, as this module's merge, the merges that dlt wrote into packages not loaded yet:
    a package whose merge ran out of memory (as every first sync of a big organization did with
    dlt's own merge) keeps that merge's SQL and would fail the same way on every later run.
    Returns the tables whose merge was rewritten."""
    stale: list[tuple[Path, str]] = []
    for load_id in pipeline.list_normalized_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs["new_jobs"]:
            path = Path(job.file_path)
            if path.suffix == ".sql" and _written_by_dlt(path.read_text()):
                stale.append((path, job.job_file_info.table_name))
    if not stale:
        return []
    rewritten: list[str] = []
    with pipeline.destination_client() as client:
        if not isinstance(client, DuckDbClient):
            return []
        for path, table in stale:
            # timetrack's tables have no nested tables: another pipeline's are left as dlt wrote
            if len(get_nested_tables(client.schema.tables, table)) == 1:
                chain = [client.prepare_load_table(table)]
                sql = KeysFirstMergeJob.generate_sql(chain, client.sql_client)
                path.write_text("\n".join(" ".join(statement.splitlines()) for statement in sql))
                rewritten.append(table)
    return rewritten


def _written_by_dlt(merge: str) -> bool:
    """Whether a merge's SQL is dlt's own, which numbers every staged row."""
    return "_dlt_dedup_rn" in merge and "_dlt_twice" not in merge


DUCKDB_LOAD_SETTINGS = {"LOAD__WORKERS": "1", "DATA_WRITER__FILE_MAX_ITEMS": "250000"}
"""Into DuckDB, one load job at a time, each of at most 250,000 rows. Parallel jobs share its
memory cap, but each holds memory of its own beyond it: with one job at a time and DuckDB on one
thread (pipeline.DUCKDB_SETTINGS), the load of a million report entries peaked 56 MB lower, for
about a second more. And a job copying one Parquet file into DuckDB grows with the file even
under the cap: 100 MB for a million rows, 200 MB for ten million, 54 MB for 250,000."""


HELD_OPEN_ROWS = 10_000
"""Loads of at most this many rows keep DuckDB open from table to table (see held_open)."""


@contextmanager
def held_open(pipeline: Any, rows: int) -> Iterator[None]:
    """Keep a DuckDB destination open while a small load runs, so that the connections dlt
    opens and closes for each table and step join the open database instead of starting one.
    Starting DuckDB took 20 to 40 ms here, 25 times in a small sync: with the database held, the
    CPU of an unchanged sync of the tests' emulator went from 3.2 to 2.3 s, of a first one from
    4.8 to 3.2 s. Big loads keep dlt's way: an open database holds its buffers from table to
    table, and a first sync of 50,000 report entries no longer fit a 52 MB cap
    (test_big_loads); a second of starts is nothing beside such a load."""
    if pipeline.destination.destination_name != "duckdb" or rows > HELD_OPEN_ROWS:
        yield
        return
    with pipeline.sql_client():
        yield


@contextmanager
def bounded(kind: str) -> Iterator[None]:
    """Settings of dlt for one run's load, where the user has not set them, put back afterwards;
    dlt's log quiet unless asked for (see quiet_dlt_log)."""
    with unless_set(DUCKDB_LOAD_SETTINGS if kind == "duckdb" else {}), quiet_dlt_log():
        yield


@contextmanager
def quiet_dlt_log() -> Iterator[None]:
    """dlt logs a traceback for every retry of a failed load job (ten for one merge that ran
    out of memory): the run reports the failure in one line, with the detail in its log file.
    dlt's log shows when it was asked for (RUNTIME__LOG_LEVEL, which -v sets)."""
    if "RUNTIME__LOG_LEVEL" in os.environ:
        yield
        return
    logger = dlt_logger.LOGGER or logging.getLogger("dlt")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def out_of_memory(message: str, where: str, cap: Any) -> str | None:
    """The one line for DuckDB running out of its memory cap, saying what to set; None for
    another error."""
    if OUT_OF_MEMORY not in message:
        return None
    return (
        f"{where + ': ' if where else ''}DuckDB ran out of memory (memory_limit "
        f"{cap or 'not set'}): raise it in {MEMORY_SETTING}, e.g. "
        'DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=\'{"memory_limit": "1GB"}\'; the next '
        "run loads what this one extracted"
    )
