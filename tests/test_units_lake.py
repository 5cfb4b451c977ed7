"""destination/lake.py on its own: which table format a run gets (and the one-line refusals), the
hints that make every table a Delta table, and the rewrite that leaves one row per key, the
last one read, before an upsert (tests/source/test_lake.py runs it all end to end)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from timetrack.destination.lake import _keep_last, as_lake_tables, one_row_per_key, table_format
from timetrack.errors import ConfigurationError

SETTING = "DESTINATION__FILESYSTEM__TABLE_FORMAT"


@pytest.fixture(autouse=True)
def no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING, raising=False)


@pytest.mark.parametrize(
    ("asked", "kind", "said"),
    [
        ("delta", "duckdb", "--table-format delta needs --destination filesystem, not duckdb"),
        ("delta", "", "--table-format delta needs --destination filesystem, not this destination"),
    ],
)
def test_a_table_format_off_the_filesystem_is_refused(asked: str, kind: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        table_format(asked, kind)
    assert str(caught.value) == said


@pytest.mark.parametrize(
    ("asked", "setting", "kind", "fmt"),
    [
        (None, None, "filesystem", None),  # plain Parquet files
        (None, "", "filesystem", None),
        (None, "delta", "duckdb", None),  # the filesystem's setting: other destinations ignore it
        (None, " Delta ", "filesystem", "delta"),
        ("DELTA", None, "filesystem", "delta"),
        ("delta", "nonsense", "filesystem", "delta"),  # what is asked wins over the setting
    ],
)
def test_the_table_format_asked_for_else_dlts_setting_on_the_filesystem(
    asked: str | None,
    setting: str | None,
    kind: str,
    fmt: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if setting is not None:
        monkeypatch.setenv(SETTING, setting)
    assert table_format(asked, kind) == fmt


def test_an_unknown_format_is_refused_with_what_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING, "Iceberg")
    with pytest.raises(ConfigurationError) as caught:
        table_format(None, "filesystem")
    assert str(caught.value) == (
        "table format 'Iceberg' is not supported: use delta, or none for plain Parquet files "
        "(DESTINATION__FILESYSTEM__TABLE_FORMAT)"
    )


def test_delta_without_deltalake_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "deltalake", None)  # import fails as if not installed
    with pytest.raises(ConfigurationError) as caught:
        table_format("delta", "filesystem")
    assert str(caught.value) == (
        "Delta tables need the deltalake package: pip install 'timetrack[delta]'"
    )


def test_every_table_becomes_a_delta_table_and_merges_by_upsert() -> None:
    @dlt.resource(primary_key="id", write_disposition="merge")
    def merged() -> Any:
        yield {"id": 1}

    @dlt.resource(write_disposition="replace")
    def replaced() -> Any:
        yield {"id": 1}

    @dlt.source
    def both() -> Any:
        return merged, replaced

    source = both()
    as_lake_tables(source, "delta")
    merge = source.resources["merged"].compute_table_schema()
    replace = source.resources["replaced"].compute_table_schema()
    assert (merge["table_format"], merge["write_disposition"]) == ("delta", "merge")
    assert merge.get("x-merge-strategy") == "upsert"
    assert (replace["table_format"], replace["write_disposition"]) == ("delta", "replace")
    assert "x-merge-strategy" not in replace


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def test_each_key_keeps_its_last_row_across_files_in_the_order_given(tmp_path: Path) -> None:
    first = _write(
        tmp_path / "1.parquet",
        [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 1, "v": "c"}],
    )
    second = _write(tmp_path / "2.parquet", [{"id": 2, "v": "d"}, {"id": 3, "v": "e"}])
    _keep_last([first, second], ["id"], None)
    assert _read(first) == [{"id": 1, "v": "c"}]
    assert _read(second) == [{"id": 2, "v": "d"}, {"id": 3, "v": "e"}]


def test_a_key_of_two_columns_is_one_key(tmp_path: Path) -> None:
    only = _write(
        tmp_path / "1.parquet",
        [
            {"ws": 1, "id": 1, "v": "a"},
            {"ws": 2, "id": 1, "v": "b"},
            {"ws": 1, "id": 1, "v": "c"},
        ],
    )
    _keep_last([only], ["ws", "id"], None)
    assert _read(only) == [{"ws": 2, "id": 1, "v": "b"}, {"ws": 1, "id": 1, "v": "c"}]


def test_a_key_whose_last_row_is_deleted_keeps_no_row(tmp_path: Path) -> None:
    first = _write(
        tmp_path / "1.parquet",
        [
            {"id": 1, "v": "a", "server_deleted_at": None},
            {"id": 2, "v": "b", "server_deleted_at": "2026-01-01"},
        ],
    )
    second = _write(
        tmp_path / "2.parquet",
        [
            {"id": 1, "v": "c", "server_deleted_at": "2026-01-02"},
            {"id": 2, "v": "d", "server_deleted_at": None},
        ],
    )
    _keep_last([first, second], ["id"], "server_deleted_at")
    assert _read(first) == []
    assert _read(second) == [{"id": 2, "v": "d", "server_deleted_at": None}]


def test_a_deletion_column_the_files_lack_deletes_nothing(tmp_path: Path) -> None:
    only = _write(tmp_path / "1.parquet", [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}])
    _keep_last([only], ["id"], "server_deleted_at")
    assert _read(only) == [{"id": 1, "v": "b"}]


def test_a_file_that_keeps_every_row_is_not_rewritten(tmp_path: Path) -> None:
    kept = _write(tmp_path / "1.parquet", [{"id": 1, "v": "a"}])
    cut = _write(tmp_path / "2.parquet", [{"id": 2, "v": "b"}, {"id": 2, "v": "c"}])
    before = (kept.stat().st_mtime_ns, kept.read_bytes())
    _keep_last([kept, cut], ["id"], None)
    assert (kept.stat().st_mtime_ns, kept.read_bytes()) == before
    assert _read(cut) == [{"id": 2, "v": "c"}]


def _normalized(tmp_path: Path, rows: list[dict[str, Any]], fmt: str | None = "delta") -> Any:
    """A pipeline onto a local filesystem whose one package is normalized, not yet loaded."""

    @dlt.resource(
        primary_key="id",
        write_disposition="merge",
        columns={"gone": {"hard_delete": True, "data_type": "text", "nullable": True}},
    )
    def things() -> Any:
        yield rows

    @dlt.source
    def lake() -> Any:
        return things

    source = lake()
    if fmt is not None:
        as_lake_tables(source, fmt)
    pipeline = dlt.pipeline(
        "lake_units",
        destination=dlt.destinations.filesystem(str(tmp_path / "lake")),
        pipelines_dir=str(tmp_path / "state"),
        dataset_name="d",
    )
    pipeline.extract(source, loader_file_format="parquet")
    pipeline.normalize()
    return pipeline


def _package_rows(pipeline: Any, table: str) -> list[dict[str, Any]]:
    (load_id,) = pipeline.list_normalized_load_packages()
    jobs = pipeline.get_load_package_info(load_id).jobs["new_jobs"]
    paths = [Path(j.file_path) for j in jobs if j.job_file_info.table_name == table]
    return [
        {k: r[k] for k in ("id", "v", "gone")}
        for path in paths
        for r in pq.read_table(path).to_pylist()
    ]


ROWS = [
    {"id": 1, "v": "a", "gone": None},
    {"id": 1, "v": "b", "gone": None},
    {"id": 2, "v": "c", "gone": "2026-01-01"},
]


def test_a_first_delta_load_keeps_one_row_per_key_and_no_deleted_rows(tmp_path: Path) -> None:
    pipeline = _normalized(tmp_path, ROWS)
    one_row_per_key(pipeline)
    assert _package_rows(pipeline, "things") == [{"id": 1, "v": "b", "gone": None}]


def test_a_table_that_exists_gets_its_deleted_rows_for_the_merge(tmp_path: Path) -> None:
    pipeline = _normalized(tmp_path, [{"id": 2, "v": "x", "gone": None}])
    pipeline.load()
    pipeline = _normalized(tmp_path, ROWS)
    one_row_per_key(pipeline)
    assert _package_rows(pipeline, "things") == [
        {"id": 1, "v": "b", "gone": None},
        {"id": 2, "v": "c", "gone": "2026-01-01"},
    ]


def test_plain_files_are_left_as_they_were_read(tmp_path: Path) -> None:
    pipeline = _normalized(tmp_path, ROWS, fmt=None)
    one_row_per_key(pipeline)
    assert _package_rows(pipeline, "things") == ROWS
