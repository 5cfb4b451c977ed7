"""Reading back what landed, on a small DuckDB dataset loaded here by dlt: live rows by scope
and start, whole rows by key (JSON decoded, dlt's columns left out), rows gone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.destinations.exceptions import DatabaseTerminalException

from tests.helpers import units_pipeline
from timetrack.source import landed as landed_module
from timetrack.source.landed import (
    _DeltaReader,
    _json_columns,
    _same_value,
    changed_rows,
    gone_rows,
    landed_rows,
    landed_values,
    landed_versions,
    landed_where,
    reading,
)
from timetrack.source.schema import column_hints

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def landed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The same rows in DuckDB and in PostgreSQL (whose quoted names are case-sensitive, and
    whose driver reads a list as an array, not as a list of values)."""
    root: Path = tmp_path_factory.mktemp("landed")
    with units_pipeline(request.param, root, f"landed_units_{request.param}") as pipeline:
        tags = [
            {"id": 1, "workspace_id": 10, "name": "a"},
            {"id": 2, "workspace_id": 10, "name": "b", "server_deleted_at": T1},
            {"id": 3, "workspace_id": 11, "name": "c", "colourName": "red"},  # not declared
            {"id": 4, "workspace_id": 10, "name": "d", "creator_id": 7},
        ]
        entries = [
            {"id": 1, "workspace_id": 10, "start": T1, "tags": ["x", "y"], "description": "one"},
            {"id": 2, "workspace_id": 10, "start": T2, "tags": [], "description": "two"},
            {"id": 3, "workspace_id": 11, "start": T2, "description": "three"},
        ]
        pipeline.run(
            [
                dlt.resource(tags, name="workspace_tags", columns=column_hints("workspace_tags")),
                dlt.resource(entries, name="time_entries", columns=column_hints("time_entries")),
            ]
        )
        yield pipeline
        if pipeline.is_active:  # another test's pipeline may have taken its place meanwhile
            pipeline.deactivate()  # later tests must not read this dataset as "what landed"


def test_live_rows_of_one_scope(landed: Any) -> None:
    assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {1: (), 4: ()}
    assert landed_versions("workspace_tags", "id", "workspace_id", 12) == {}
    assert landed_versions("workspace_tags", "id", None, None, ("name",)) == {
        1: ("a",),
        3: ("c",),
        4: ("d",),
    }


def test_live_rows_from_a_start(landed: Any) -> None:
    assert landed_versions("time_entries", "id", None, None, ("description",), T2) == {
        2: ("two",),
        3: ("three",),
    }
    in_scope = landed_versions("time_entries", "id", "workspace_id", 10, ("workspace_id",), T1)
    assert in_scope == {1: (10,), 2: (10,)}


def test_a_table_that_never_landed_has_no_rows(landed: Any) -> None:
    assert landed_versions("workspace_clients", "id", "workspace_id", 10) == {}
    assert landed_rows("workspace_clients", "id", [1]) == []


def test_whole_rows_by_key_with_json_decoded(landed: Any) -> None:
    rows = sorted(landed_rows("time_entries", "id", [3, 1, 99]), key=lambda r: r["id"])
    declared = {
        *("id", "workspace_id", "project_id", "task_id", "user_id", "billable", "start"),
        *("stop", "duration", "description", "tags", "tag_ids", "duronly", "at"),
        "server_deleted_at",
    }
    assert [set(r) for r in rows] == [declared] * 2, "every column, none of dlt's"
    assert rows[0]["tags"] == ["x", "y"]
    assert rows[0]["start"] == T1
    assert rows[1]["tags"] is None
    assert rows[0]["tag_ids"] is None
    assert landed_rows("time_entries", "id", []) == []
    deleted = landed_rows("workspace_tags", "id", [2])
    assert deleted == [], "a row marked deleted is no longer live"


def test_whole_rows_in_batches_of_a_thousand(landed: Any) -> None:
    keys = [*range(1000, 2000), 4, *range(3000, 3999), 1]  # 4 opens the second thousand
    rows = landed_rows("workspace_tags", "id", keys)
    assert sorted(r["id"] for r in rows) == [1, 4], "each once: batches neither overlap nor skip"
    assert {r["id"]: r.get("creator_id") for r in rows} == {1: None, 4: 7}


def test_gone_rows_are_the_landed_keys_not_present(landed: Any) -> None:
    gone = gone_rows("workspace_tags", "id", {1: (), 4: ()}, {1}, T2)
    assert [(r["id"], r["name"], r["server_deleted_at"]) for r in gone] == [(4, "d", T2)]
    assert gone_rows("workspace_tags", "id", {1: ()}, {1}, T2) == []


def test_changed_rows_leave_out_only_what_landed_as_it_is(landed: Any) -> None:
    same = [
        {"id": 1, "workspace_id": 10, "name": "a"},
        {"id": 4, "workspace_id": 10, "name": "d", "creator_id": 7},
        # a field dlt lands under its own name for it (colour_name)
        {"id": 3, "workspace_id": 11, "name": "c", "creator_id": None, "colourName": "red"},
    ]
    assert changed_rows("workspace_tags", "id", same) == []
    # the key that opens the second thousand is read back once, like the others
    many = [{"id": k, "workspace_id": 10, "name": "?"} for k in range(1000, 2000)]
    assert changed_rows("workspace_tags", "id", [*many, same[0]]) == many
    changed = [
        {"id": 1, "workspace_id": 10, "name": "A"},  # another value
        {"id": 4, "workspace_id": 10, "name": "d"},  # a landed value left out: it would go
        {"id": 3, "workspace_id": 11, "name": "c", "creator_id": 5},  # set where null landed
        {"id": 2, "workspace_id": 10, "name": "b"},  # landed, but marked deleted
        {"id": 9, "workspace_id": 10, "name": "z"},  # never landed
        {"id": 1, "workspace_id": 10, "name": "a", "colour": "red"},  # a column not landed
        {"id": 4, "workspace_id": 10, "name": "d", "creator_id": None},  # null where 7 landed
        {"id": 4, "workspace_id": 10, "name": "d", "creator_id": 7, "creatorId": 7},  # twice
        {"id": 3, "workspace_id": 11, "name": "c"},  # a landed field no longer sent
    ]
    assert changed_rows("workspace_tags", "id", changed) == changed
    assert changed_rows("workspace_tags", "id", []) == []
    with reading(landed, dropping=True):  # a full refresh: nothing stays landed
        assert changed_rows("workspace_tags", "id", same) == same
        assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {}

    entry = {
        "id": 1,
        "workspace_id": 10,
        "start": T1.astimezone(timezone(timedelta(hours=5))),  # the same instant
        "tags": ["x", "y"],
        "description": "one",
    }
    assert changed_rows("time_entries", "id", [entry]) == []
    for change in (
        {"tags": ["y", "x"]},
        {"tags": '["x", "y"]'},  # the JSON as text: a string, not a list
        {"start": T1.isoformat()},  # a time as text lands in another column
        {"start": T1 + timedelta(microseconds=1)},
        {"description": 1},
    ):
        assert changed_rows("time_entries", "id", [{**entry, **change}]) == [{**entry, **change}]


def test_two_live_rows_of_one_key_are_written_again(landed: Any) -> None:
    row = {"id": 50, "workspace_id": 10, "name": "twice"}
    with landed.sql_client() as client:
        table = client.make_qualified_table_name("workspace_tags")
        insert = f"insert into {table} (id, workspace_id, name, _dlt_load_id, _dlt_id) values "
        client.execute_sql(insert + "(50, 10, 'twice', 'x', 'a'), (50, 10, 'twice', 'x', 'b')")
        try:
            assert changed_rows("workspace_tags", "id", [row]) == [row], "a merge mends it"
        finally:
            client.execute_sql(f"delete from {table} where id = 50")


def test_json_columns_are_the_declared_and_those_the_schema_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = dlt.Schema("units")
    schema.update_table(
        {
            "name": "workspace_tags",
            "columns": {
                "permissions": {"name": "permissions", "data_type": "json"},
                "colour": {"name": "colour", "data_type": "text"},
            },
        }
    )
    monkeypatch.setattr(dlt.current, "source_schema", lambda: schema)
    assert _json_columns("workspace_tags") == {"permissions"}
    assert _json_columns("time_entries") == {"tags", "tag_ids"}, "declared, none found"
    monkeypatch.undo()
    assert _json_columns("workspace_tags") == set(), "outside an extract: the declared ones"


@pytest.mark.parametrize(
    ("new", "old", "json_column", "same"),
    [
        (True, True, False, True),
        (True, 1, False, False),  # a bool is not a number: another column of dlt's
        (1, True, False, False),
        (1, 1.0, False, True),
        (1.5, 1.5, False, True),
        (2, Decimal(2), False, True),
        (float("nan"), float("nan"), False, False),
        ("1", 1, False, False),
        (T1, T1.replace(tzinfo=None), False, False),  # no zone: no instant to compare
        (T1.replace(tzinfo=None), T1, False, False),
        (date(2026, 1, 1), T1, False, False),
        (date(2026, 1, 1), date(2026, 1, 1), False, True),
        ({"a": 1}, {"a": 1}, False, False),  # an object outside JSON: spread over columns
        ({"a": 1, "b": [1]}, '{"b": [1], "a": 1}', True, True),
        ({"a": True}, '{"a": 1}', True, False),
        ({"a": 1}, '{"a": 1.0}', True, False),
        # dlt reads a string for a JSON column as JSON text, and puts a number or a bool in a
        # column of its own: only an object or a list is compared
        ("x", "x", True, False),
        ("1", "1", True, False),
        (5, "5", True, False),
        (1.5, "1.5", True, False),
        (True, "true", True, False),
        ([1], "[1]", True, True),
        (object(), object(), True, False),
    ],
)
def test_a_value_is_the_same_only_as_the_same_kind(
    new: Any, old: Any, json_column: bool, same: bool
) -> None:
    assert _same_value(new, old, json_column) is same


def test_outside_a_pipeline_nothing_landed(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pipeline() -> Any:
        raise RuntimeError("no active pipeline")

    monkeypatch.setattr(dlt.current, "pipeline", no_pipeline)
    assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {}
    assert landed_rows("workspace_tags", "id", [1]) == []


def test_the_delta_reader_quotes_names_and_binds_values_as_dlts_clients_do() -> None:
    with duckdb.connect() as db:
        db.execute('create table "odd""name" ("a""b" bigint, server_deleted_at bigint)')
        db.execute('insert into "odd""name" values (1, null), (2, 5)')
        reader = _DeltaReader(db)
        assert reader.escape_column_name('a"b') == '"a""b"'
        table = reader.make_qualified_table_name('odd"name')
        assert table == '"odd""name"'
        column = reader.escape_column_name('a"b')
        sql = f"select {column} from {table} where {column} > %s order by 1"
        with reader.execute_query(sql, 0) as cursor:
            assert cursor.fetchall() == [(1,), (2,)]


def test_reads_inside_reading_share_one_connection_and_a_broken_one_is_not_reused(
    landed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    real = landed.sql_client

    def counting_client() -> Any:
        client = real()
        opened.append(client)
        return client

    monkeypatch.setattr(landed, "sql_client", counting_client)
    landed_versions("workspace_tags", "id", "workspace_id", 10)
    landed_versions("workspace_tags", "id", "workspace_id", 11)
    assert len(opened) == 2  # outside `reading`, each read-back opens its own
    with reading():
        assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {1: (), 4: ()}
        assert landed_versions("not_landed_yet", "id", None, None) == {}
        assert landed_values("time_entries", "id", [1, 3], ["description"]) == {
            1: ("one",),
            3: ("three",),
        }
        assert len(opened) == 3  # one for the three, a missing table included
        with pytest.raises(DatabaseTerminalException):
            landed_where("workspace_tags", "no_such_column", [])
        assert landed_versions("workspace_tags", "id", "workspace_id", 11) == {3: ()}
        assert len(opened) == 4  # the failed query's connection was closed, a new one opened
        with opened[-1].execute_query("select 1") as cursor:
            assert cursor.fetchall() == [(1,)]  # open while reading
    assert opened[-1].native_connection is None  # closed on leaving


def test_reading_a_given_pipeline_asks_dlt_for_none(
    landed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_current() -> Any:
        raise AssertionError("dlt.current.pipeline() asked though the run's pipeline was given")

    monkeypatch.setattr(dlt.current, "pipeline", no_current)
    with reading(landed):
        assert landed_versions("workspace_tags", "id", "workspace_id", 11) == {3: ()}
    # Outside, dlt is asked (here it fails, which reads as "nothing landed"):
    assert landed_versions("workspace_tags", "id", "workspace_id", 11) == {}


def test_a_pipeline_with_nowhere_to_land_has_nothing_landed() -> None:
    class NoDestination:
        """Not even the attribute: a pipeline-like object from elsewhere."""

    with reading(NoDestination()):
        assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {}


def test_files_on_a_filesystem_are_read_back_by_their_table(tmp_path: Path) -> None:
    pipeline = dlt.pipeline(
        pipeline_name="landed_units_files",
        destination=dlt.destinations.filesystem(str(tmp_path / "files")),
        dataset_name="units",
        pipelines_dir=str(tmp_path / "state"),
    )
    tags = [
        {"id": 1, "workspace_id": 10, "name": "a"},
        {"id": 2, "workspace_id": 10, "name": "b", "server_deleted_at": T1},
    ]
    pipeline.run(dlt.resource(tags, name="workspace_tags", columns=column_hints("workspace_tags")))
    try:
        with reading(pipeline):
            assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {1: ()}
            assert landed_versions("time_entries", "id", None, None) == {}, "not landed"
            # appended files may keep a key's older row beside the one that marked it deleted:
            # every row is written again, none compared
            assert changed_rows("workspace_tags", "id", tags[:1]) == tags[:1]
    finally:
        pipeline.deactivate()


def test_delta_tables_are_compared_with_what_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delta tables are merged, one row per key: a row as it landed is not written again. Each
    table is opened once in a reading (a big list is read back page by page)."""
    pipeline = dlt.pipeline(
        pipeline_name="landed_units_delta",
        destination=dlt.destinations.filesystem(str(tmp_path / "lake")),
        dataset_name="units",
        pipelines_dir=str(tmp_path / "state"),
    )
    tags = [{"id": 1, "workspace_id": 10, "name": "a"}, {"id": 2, "workspace_id": 10, "name": "b"}]
    resource = dlt.resource(
        tags,
        name="workspace_tags",
        columns=column_hints("workspace_tags"),
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
        table_format="delta",
    )
    pipeline.run(resource)
    opened: list[str] = []
    real = landed_module._delta_reader

    def counting(pipeline: Any, table: str, stack: ExitStack) -> Any:
        opened.append(table)
        return real(pipeline, table, stack)

    monkeypatch.setattr(landed_module, "_delta_reader", counting)
    try:
        with reading(pipeline):
            changed = {"id": 2, "workspace_id": 10, "name": "B"}
            assert changed_rows("workspace_tags", "id", [tags[0], changed]) == [changed]
            assert changed_rows("workspace_tags", "id", tags) == []
            assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {1: (), 2: ()}
            assert landed_versions("time_entries", "id", None, None) == {}, "not landed"
            assert landed_versions("time_entries", "id", None, None) == {}
        assert opened == ["workspace_tags", "time_entries"], "each table opened once a reading"
        assert landed_versions("workspace_tags", "id", "workspace_id", 10) == {1: (), 2: ()}
        assert len(opened) == 3, "outside a reading, each read-back opens its own"
    finally:
        pipeline.deactivate()
