"""Loading in bounded memory (timetrack.run.loading): the rows the keys-first merge selects,
checked by running its SQL in DuckDB; a merge an earlier release left in a package rewritten
and loaded; and the one line for a full memory cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.job_client_impl import SqlJobClientBase, SqlLoadJob
from dlt.destinations.sql_jobs import SqlMergeFollowupJob
from dlt.pipeline.exceptions import PipelineStepFailed

from timetrack.run import loading
from timetrack.run.loading import KeysFirstMergeJob, out_of_memory


@pytest.fixture
def staged() -> Iterator[duckdb.DuckDBPyConnection]:
    """A staged table as dlt stages a merge's rows: key 1 once, 2 twice (the same row), 3 once
    and deleted, 4 twice (kept, then deleted), 5 twice (an older and a newer version)."""
    db = duckdb.connect()
    db.execute("create table staged (id bigint, v text, n int, deleted_at text)")
    db.execute(
        "insert into staged values (1, 'a', 1, null), (2, 'b', 1, null), (2, 'b', 1, null), "
        "(3, 'c', 1, 'gone'), (4, 'd', 1, null), (4, 'd', 2, 'gone'), (5, 'old', 1, null), "
        "(5, 'new', 2, null)"
    )
    yield db
    db.close()


def _select(db: duckdb.DuckDBPyConnection, **options: Any) -> list[tuple[Any, ...]]:
    options.setdefault("primary_keys", ['"id"'])
    options.setdefault("columns", ['"id"', '"v"'])
    sql = KeysFirstMergeJob.gen_select_from_dedup_sql("staged", **options)
    return sorted(db.execute(sql).fetchall())


def test_every_key_comes_once_the_latest_by_the_sort_and_deleted_ones_left_out(
    staged: duckdb.DuckDBPyConnection,
) -> None:
    deleted = {"condition": '"deleted_at" IS NULL', "condition_columns": ['"deleted_at"']}
    newest = _select(staged, dedup_sort=('"n"', "desc"), **deleted)
    assert newest == [(1, "a"), (2, "b"), (5, "new")], "4's latest version is deleted"
    oldest = _select(staged, dedup_sort=('"n"', "asc"), **deleted)
    assert oldest == [(1, "a"), (2, "b"), (4, "d"), (5, "old")]
    every = _select(staged, dedup_sort=('"n"', "desc"))
    assert every == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "new")], "no condition"


def test_skipping_deduplication_keeps_every_staged_row_the_condition_lets_through(
    staged: duckdb.DuckDBPyConnection,
) -> None:
    rows = _select(staged, condition='"deleted_at" IS NULL', skip_dedup=True)
    assert rows == [(1, "a"), (2, "b"), (2, "b"), (4, "d"), (5, "new"), (5, "old")]


def test_a_key_of_two_columns_is_one_key() -> None:
    db = duckdb.connect()
    db.execute("create table staged (a int, b int, v text)")
    db.execute("insert into staged values (1, 1, 'x'), (1, 2, 'y'), (1, 2, 'y'), (2, 1, 'z')")
    sql = KeysFirstMergeJob.gen_select_from_dedup_sql(
        "staged", ['"a"', '"b"'], ['"a"', '"b"', '"v"']
    )
    assert sorted(db.execute(sql).fetchall()) == [(1, 1, "x"), (1, 2, "y"), (2, 1, "z")]


def test_the_merge_of_100000_rows_fits_a_memory_cap_that_dlts_own_runs_out_of(
    tmp_path: Path,
) -> None:
    """The point of the module, made small: 100,000 staged rows of about 100 bytes merged into
    a table under a 12 MB cap (the keys-first merge fits 8 MB; dlt's own needs more than 24)."""
    db = duckdb.connect(str(tmp_path / "m.duckdb"), config={"threads": 1})
    db.execute(
        "create table staged as "
        "select i as id, repeat('x', 100) || i as v from range(100000) as t(i)"
    )
    db.execute("insert into staged select * from staged limit 3")  # three keys twice
    db.execute("checkpoint")
    db.execute("set memory_limit = '12MB'")
    args: Any = ("staged", ['"id"'], ['"id"', '"v"'])
    with pytest.raises(duckdb.OutOfMemoryException):
        db.execute(f"create table merged as {SqlMergeFollowupJob.gen_select_from_dedup_sql(*args)}")
    db.execute(f"create table merged as {KeysFirstMergeJob.gen_select_from_dedup_sql(*args)}")
    assert db.execute("select count(*), count(distinct id) from merged").fetchone() == (
        100_000,
        100_000,
    )


def _records() -> Iterator[dict[str, Any]]:
    yield from ({"id": i % 3, "v": f"v{i}"} for i in range(6))  # every key twice


def test_a_merge_an_earlier_release_left_pending_is_rewritten_and_loads_one_row_per_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the release before this one left a package whose merge ran out of memory: dlt's own
    merge, written into the package, failing. Tables with nested tables are left as dlt wrote
    them (timetrack's have none)."""
    monkeypatch.setenv("LOAD__RAISE_ON_MAX_RETRIES", "1")
    monkeypatch.setattr(
        DuckDbClient, "_create_merge_followup_jobs", SqlJobClientBase._create_merge_followup_jobs
    )
    flat = dlt.resource(_records, name="flat", primary_key="id", write_disposition="merge")
    nested = dlt.resource(
        [{"id": 1, "tags": [1, 2]}, {"id": 1, "tags": [3]}],
        name="nested",
        primary_key="id",
        write_disposition="merge",
    )
    pipeline = dlt.pipeline(
        "loading",
        destination=dlt.destinations.duckdb(str(tmp_path / "l.duckdb")),
        pipelines_dir=str(tmp_path / "state"),
        dataset_name="d",
    )
    run = SqlLoadJob.run

    def out_of_memory_in_merges(job: SqlLoadJob) -> None:
        if "_dlt_dedup_rn" in Path(job._file_path).read_text():
            raise RuntimeError("Out of Memory Error: failed to allocate")
        run(job)

    monkeypatch.setattr(SqlLoadJob, "run", out_of_memory_in_merges)
    with pytest.raises(PipelineStepFailed), loading.quiet_dlt_log():
        pipeline.run([flat, nested])
    monkeypatch.undo()
    (load_id,) = pipeline.list_normalized_load_packages()

    def merges() -> dict[str, str]:
        jobs = pipeline.get_load_package_info(load_id).jobs["new_jobs"]
        return {job.job_file_info.table_name: Path(job.file_path).read_text() for job in jobs}

    before = merges()
    assert sorted(before) == ["flat", "nested"]
    assert loading.refresh_pending_merges(pipeline) == ["flat"]
    after = merges()
    assert "_dlt_twice" in after["flat"] and "\n" in after["flat"].strip()
    assert after["nested"] == before["nested"]
    assert loading.refresh_pending_merges(pipeline) == [], "what is rewritten stays so"
    pipeline.load()
    assert pipeline.list_normalized_load_packages() == []
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select id, v from flat order by id")
        tags = client.execute_sql("select count(*) from nested__tags")
    assert [row[0] for row in rows or []] == [0, 1, 2], "one row per key"
    assert {tuple(row) for row in rows or []} <= {(i % 3, f"v{i}") for i in range(6)}
    assert tags in ([(1,)], [(2,)]), "one version of record 1's tags"
    assert loading.refresh_pending_merges(pipeline) == [], "nothing pending"

    # The next load's merge is this module's own, once installed.
    monkeypatch.setattr(
        DuckDbClient, "_create_merge_followup_jobs", SqlJobClientBase._create_merge_followup_jobs
    )
    loading.install()
    info = pipeline.run([flat])
    merges = [
        Path(job.file_path).read_text()
        for package in info.load_packages
        for job in package.jobs["completed_jobs"]
        if job.file_path.endswith(".sql")
    ]
    assert len(merges) == 1 and "_dlt_twice" in merges[0]
    with pipeline.sql_client() as client:
        again = client.execute_sql("select id from flat order by id")
    assert [row[0] for row in again or []] == [0, 1, 2]


def test_loads_of_this_process_into_duckdb_merge_keys_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        DuckDbClient, "_create_merge_followup_jobs", SqlJobClientBase._create_merge_followup_jobs
    )
    loading.install()
    installed = DuckDbClient._create_merge_followup_jobs
    assert installed is loading._keys_first_merge_jobs  # type: ignore[comparison-overlap]


def test_a_full_memory_cap_is_one_line_that_names_the_setting() -> None:
    message = "Out of Memory Error: could not allocate block of size 256.0 KiB (52.0 MiB/52.0 MiB)"
    assert out_of_memory(message, "in table report_time_entries", "52MB") == (
        "in table report_time_entries: DuckDB ran out of memory (memory_limit 52MB): raise it in "
        "destination.duckdb.credentials.global_config, e.g. "
        'DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=\'{"memory_limit": "1GB"}\'; the next '
        "run loads what this one extracted"
    )
    assert out_of_memory(message, "", None) == (
        "DuckDB ran out of memory (memory_limit not set): raise it in "
        "destination.duckdb.credentials.global_config, e.g. "
        'DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=\'{"memory_limit": "1GB"}\'; the next '
        "run loads what this one extracted"
    )
    assert out_of_memory("Catalog Error: no table", "in table x", "52MB") is None


def _open_elsewhere(path: Path) -> bool:
    """Whether DuckDB is open in this process: a connection with other settings is refused
    only while the database is (DuckDB shares one open database per file and process)."""
    try:
        duckdb.connect(str(path), config={"threads": 3}).close()
    except duckdb.ConnectionException:
        return True
    return False


@pytest.mark.parametrize(
    ("rows", "held"),
    [(0, True), (loading.HELD_OPEN_ROWS, True), (loading.HELD_OPEN_ROWS + 1, False)],
)
def test_duckdb_stays_open_through_a_small_load_only(tmp_path: Path, rows: int, held: bool) -> None:
    path = tmp_path / "held.duckdb"
    pipeline = dlt.pipeline(
        "held", destination=dlt.destinations.duckdb(str(path)), pipelines_dir=str(tmp_path)
    )
    pipeline.run([{"id": 1}], table_name="t")
    assert not _open_elsewhere(path), "closed between steps"
    with loading.held_open(pipeline, rows):
        assert _open_elsewhere(path) is held
    assert not _open_elsewhere(path), "closed again after the load"


def test_other_destinations_are_left_as_dlt_opens_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = dlt.pipeline(
        "files",
        destination=dlt.destinations.filesystem(str(tmp_path / "files")),
        pipelines_dir=str(tmp_path),
    )

    def opened() -> None:
        raise AssertionError("a filesystem (or PostgreSQL) has nothing worth holding open")

    monkeypatch.setattr(pipeline, "sql_client", opened)
    with loading.held_open(pipeline, 1):
        pipeline.run([{"id": 1}], table_name="t")
    assert list((tmp_path / "files").rglob("*.jsonl*")), "loaded as usual"
