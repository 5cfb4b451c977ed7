"""The place a run fills, resolved without a run (timetrack.destination.target): another DuckDB
file is another place, with a pipeline (so a state) of its own. That a new place's first run is
complete is tests/test_targets.py's, end to end (a new dataset in the same file)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import dlt
import duckdb
import pytest

from timetrack.destination import target
from timetrack.destination.target import RECORD, Target, resolve_target
from timetrack.errors import ConfigurationError


def test_another_duckdb_file_is_another_place_with_a_pipeline_of_its_own(tmp_path: Path) -> None:
    state = tmp_path / "pipelines"
    folder = tmp_path / "a"
    folder.mkdir()
    first = resolve_target("duckdb", "time_tracking", cwd=folder, pipelines_dir=str(state))
    assert (first.pipeline_name, first.location) == ("timetrack", str(folder / "timetrack.duckdb"))
    # The first place's run writes down the place its pipeline fills.
    first.remember(SimpleNamespace(working_dir=str(state / "timetrack")))

    other = resolve_target(
        "duckdb", "time_tracking", duckdb_file="other.duckdb", cwd=folder, pipelines_dir=str(state)
    )
    assert other.location == str(folder / "other.duckdb"), "relative to the working folder"
    assert other.describe() == f"DuckDB file {folder / 'other.duckdb'}, dataset 'time_tracking'"
    assert other.pipeline_name.startswith("timetrack_"), "another file, another state"
    again = resolve_target(
        "duckdb", "time_tracking", duckdb_file="other.duckdb", cwd=folder, pipelines_dir=str(state)
    )
    assert again.pipeline_name == other.pipeline_name, "the same file, the same state"
    back = resolve_target("duckdb", "time_tracking", cwd=folder, pipelines_dir=str(state))
    assert back.pipeline_name == "timetrack", "the first place keeps its own"


# --- what a place is called and shows ----------------------------------------------------------


def _target(kind: str, location: str, table_format: str | None = None) -> Target:
    return Target(kind, kind, location, "tracking", "timetrack", table_format=table_format)


def test_each_kind_of_place_describes_where_its_data_is() -> None:
    assert _target("duckdb", "/data/tt.duckdb").describe() == (
        "DuckDB file /data/tt.duckdb, dataset 'tracking'"
    )
    assert _target("filesystem", "s3://b/lake", "delta").describe() == (
        "Delta tables at s3://b/lake, dataset 'tracking'"
    )
    assert _target("filesystem", "/lake").describe() == "Parquet files at /lake, dataset 'tracking'"
    assert _target("postgres", "db:5432/wh").describe() == "postgres db:5432/wh, dataset 'tracking'"
    assert _target("bigquery", "bigquery").describe() == "bigquery, dataset 'tracking'"


def test_a_place_is_its_kind_location_dataset_and_table_format() -> None:
    assert _target("duckdb", "/data/tt.duckdb").key == {
        "kind": "duckdb",
        "location": "/data/tt.duckdb",
        "dataset": "tracking",
        "table_format": "",
    }
    assert _target("filesystem", "/lake", "delta").key["table_format"] == "delta"


def test_a_pipeline_named_after_a_place_keeps_its_name_across_releases(tmp_path: Path) -> None:
    """The digest names the state of every place but the first: were it computed otherwise by
    a later release, each of those places would start its sync over."""
    state = tmp_path / "pipelines"
    (state / "timetrack").mkdir(parents=True)
    (state / "timetrack" / RECORD).write_text('{"kind": "postgres"}')  # the name is taken
    duck = target._pipeline_name(
        "timetrack", target._place("duckdb", "/data/tt.duckdb", "time_tracking", None), str(state)
    )
    lake = target._pipeline_name(
        "timetrack",
        target._place("filesystem", "s3://bucket/lake", "time_tracking", "delta"),
        str(state),
    )
    assert (duck, lake) == ("timetrack_4591aa6ce5", "timetrack_9df2d617d0")


def test_the_pipeline_of_a_place_is_named_keeps_its_dataset_and_folder(tmp_path: Path) -> None:
    place = resolve_target(
        "duckdb", "tracking", cwd=tmp_path, pipelines_dir=str(tmp_path / "state")
    )
    assert place.pipelines_folder == tmp_path / "state"
    pipeline = place.pipeline()
    assert (pipeline.pipeline_name, pipeline.dataset_name) == ("timetrack", "tracking")
    assert Path(pipeline.pipelines_dir) == tmp_path / "state"
    assert pipeline.destination.config_params["credentials"] == str(tmp_path / "timetrack.duckdb")


def test_the_default_pipelines_folder_is_dlts() -> None:
    from dlt.common.pipeline import get_dlt_pipelines_dir

    assert target.default_pipelines_dir() == str(get_dlt_pipelines_dir())
    assert _target("duckdb", "/x.duckdb").pipelines_folder == Path(get_dlt_pipelines_dir())


def test_a_place_is_written_down_in_its_pipelines_folder(tmp_path: Path) -> None:
    place = _target("postgres", "db:5432/wh")
    folder = tmp_path / "new" / "timetrack"
    place.remember(SimpleNamespace(working_dir=str(folder)))
    place.remember(SimpleNamespace(working_dir=str(folder)))  # the folder exists: written again
    assert (folder / RECORD).read_text() == (
        '{"dataset": "tracking", "kind": "postgres", "location": "db:5432/wh", "table_format": ""}'
    )


# --- the destination's kind ----------------------------------------------------------------------


def test_the_kind_of_a_destination_named_or_given_as_a_factory(tmp_path: Path) -> None:
    assert target.destination_kind("duckdb") == "duckdb"
    assert target.destination_kind("postgres") == "postgres"
    assert target.destination_kind(dlt.destinations.filesystem(str(tmp_path))) == "filesystem"
    assert target.destination_kind(None) == ""


def test_a_destination_dlt_does_not_know_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigurationError) as refused:
        target.destination_kind("nosuchdb")
    assert str(refused.value) == (
        "unknown destination 'nosuchdb': use duckdb, postgres, filesystem or another of dlt's "
        "destinations (bigquery, snowflake, motherduck, ...)"
    )
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_destination_that_fails_otherwise_is_refused_in_one_short_line() -> None:
    def broken() -> None:
        raise ValueError("cannot reach\n\n   the warehouse: " + "x" * 400)

    with pytest.raises(ConfigurationError) as refused:
        target.destination_kind(broken)
    said = ("cannot reach the warehouse: " + "x" * 400)[:300]
    assert str(refused.value) == f"cannot use destination {broken!r}: {said}"
    assert refused.value.__suppress_context__


# --- a DuckDB file -------------------------------------------------------------------------------


def _duckdb(tmp_path: Path, destination: object = "duckdb", **options: object) -> Target:
    options.setdefault("pipelines_dir", str(tmp_path / "state"))
    return resolve_target(destination, "tracking", cwd=tmp_path, **options)  # type: ignore[arg-type]


def test_the_duckdb_file_is_in_the_working_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    place = resolve_target(pipelines_dir=str(tmp_path / "state"))
    assert (place.kind, place.location, place.dataset, place.pipeline_name) == (
        "duckdb",
        str(tmp_path / "timetrack.duckdb"),
        "time_tracking",
        "timetrack",
    )
    assert place.pipelines_dir == str(tmp_path / "state") and place.table_format is None
    assert place.destination.config_params["credentials"] == str(tmp_path / "timetrack.duckdb")
    named = resolve_target(name="mine", duckdb_file="", pipelines_dir=str(tmp_path / "state"))
    assert (named.location, named.pipeline_name) == (str(tmp_path / "mine.duckdb"), "mine")


def test_the_duckdb_file_as_configured_or_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "duckdb:///conf/a.duckdb")
    (tmp_path / "conf").mkdir()
    assert _duckdb(tmp_path).location == str(tmp_path / "conf" / "a.duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", f"duckdb:///{tmp_path}/b.duckdb")
    assert _duckdb(tmp_path).location == str(tmp_path / "b.duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "~/home.duckdb")
    assert _duckdb(tmp_path).location == str(tmp_path / "home.duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "conf/nosuffix")
    assert _duckdb(tmp_path).location == str(tmp_path / "conf" / "nosuffix.duckdb")
    (tmp_path / "conf" / "plain").touch()
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "conf" / "plain"))
    assert _duckdb(tmp_path).location == str(tmp_path / "conf" / "plain"), "an existing file"
    given = _duckdb(tmp_path, duckdb_file="conf/given.duckdb")
    assert given.location == str(tmp_path / "conf" / "given.duckdb"), "the option comes first"
    factory = _duckdb(tmp_path, dlt.destinations.duckdb(str(tmp_path / "f.duckdb")))
    assert factory.location == str(tmp_path / "f.duckdb"), "a factory's own file"
    bare = _duckdb(tmp_path, dlt.destinations.duckdb())
    assert bare.location == str(tmp_path / "timetrack.duckdb")


def test_a_credentials_section_names_the_duckdb_file_by_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `[destination.duckdb.credentials]` with `database = ...` in secrets.toml reads."""
    section = {"database": str(tmp_path / "section.duckdb")}
    asked = []

    def get(key: str) -> object:
        asked.append(key)
        return section

    monkeypatch.setattr(target.dlt.secrets, "get", get)
    assert _duckdb(tmp_path).location == str(tmp_path / "section.duckdb")
    assert asked == ["destination.duckdb.credentials"]
    section.clear()
    assert _duckdb(tmp_path).location == str(tmp_path / "timetrack.duckdb"), "no database in it"


def test_a_database_in_memory_or_a_connection_has_no_file(tmp_path: Path) -> None:
    for credentials in (":memory:", ":external:", duckdb.connect()):
        factory = dlt.destinations.duckdb(credentials)
        place = _duckdb(tmp_path, factory)
        assert (place.location, place.destination) == ("duckdb", factory)


def test_a_duckdb_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _duckdb(tmp_path, duckdb_file="missing/t.duckdb")
    assert str(refused.value) == (
        f"the DuckDB file's folder {tmp_path / 'missing'} does not exist: create it, or choose "
        "another file (--duckdb-file, DESTINATION__DUCKDB__CREDENTIALS)"
    )


def test_a_dataset_with_the_name_of_its_duckdb_file_is_refused(tmp_path: Path) -> None:
    for dataset, file in (("Tracking", "tracking.duckdb"), ("tracking", "TRACKING.duckdb")):
        with pytest.raises(ConfigurationError) as refused:
            resolve_target("duckdb", dataset, duckdb_file=file, cwd=tmp_path)
        assert str(refused.value) == (
            f"dataset {dataset!r} has the name of its DuckDB file {file}, which DuckDB cannot "
            "tell apart: choose another --dataset or --duckdb-file"
        )


def test_a_duckdb_file_for_another_destination_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        resolve_target("filesystem", duckdb_file="a.duckdb", cwd=tmp_path)
    assert str(refused.value) == "--duckdb-file needs --destination duckdb, not filesystem"


# --- other destinations --------------------------------------------------------------------------


def test_other_places_are_named_by_their_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://bucket/lake")
    lake = _duckdb(tmp_path, "filesystem", table_format="delta")
    assert (lake.kind, lake.location, lake.table_format) == (
        "filesystem",
        "s3://bucket/lake",
        "delta",
    )
    assert lake.key["table_format"] == "delta"
    monkeypatch.setenv("DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID", "analytics-1")
    assert _duckdb(tmp_path, "bigquery").location == "analytics-1"
    given = dlt.destinations.postgres("postgresql://u:secret@db.example/wh")
    assert _duckdb(tmp_path, given).location == "db.example:5432/wh"
    no_port = dlt.destinations.postgres("postgresql://u:secret@db.example:0/wh")
    assert target._location(no_port, "postgres") == "db.example/wh"
    assert target._location(dlt.destinations.mssql(), "mssql") == "mssql", "nothing configured"
    assert target._location(lambda: 1 / 0, "weird") == "weird", "not even a configuration"


# --- whose state a pipeline's folder holds -------------------------------------------------------


def _state(folder: Path, **state: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state.json").write_text(json.dumps(state))
    return folder


def test_a_pipeline_fills_the_place_its_record_names(tmp_path: Path) -> None:
    key = target._place("duckdb", str(tmp_path / "t.duckdb"), "tracking", None)
    folder = tmp_path / "timetrack"
    assert target._fills(folder, "timetrack", key) is True, "no pipeline yet: this place is first"
    folder.mkdir()
    (folder / RECORD).write_text(json.dumps(key))
    assert target._fills(folder, "timetrack", key) is True
    assert target._fills(folder, "timetrack", {**key, "dataset": "other"}) is False
    (folder / RECORD).write_text("{not json")
    assert target._fills(folder, "timetrack", key) is False
    (folder / RECORD).unlink()
    (folder / RECORD).mkdir()  # unreadable
    assert target._fills(folder, "timetrack", key) is False


def test_a_pipeline_of_an_earlier_version_fills_the_place_its_state_names(
    tmp_path: Path,
) -> None:
    file = tmp_path / "t.duckdb"
    duck = target._place("duckdb", str(file), "tracking", None)
    pg = target._place("postgres", "db:5432/wh", "tracking", None)
    folder = tmp_path / "timetrack"
    _state(folder, destination_type="dlt.destinations.postgres", dataset_name="tracking")
    assert target._fills(folder, "timetrack", pg) is True, "the same kind and dataset"
    assert target._fills(folder, "timetrack", {**pg, "dataset": "other"}) is False
    assert target._fills(folder, "timetrack", duck) is False
    _state(folder, dataset_name="tracking")
    assert target._fills(folder, "timetrack", pg) is False, "no destination recorded"

    kind = "dlt.destinations.duckdb"
    _state(folder, destination_type=kind, dataset_name="tracking")
    assert target._fills(folder, "timetrack", duck) is False, "no file recorded"
    _state(folder, destination_type=kind, dataset_name="tracking", _local={"duckdb_database": ""})
    assert target._fills(folder, "timetrack", duck) is False
    local = {"duckdb_database": str(file)}
    _state(folder, destination_type=kind, dataset_name="tracking", _local=local)
    assert target._fills(folder, "timetrack", duck) is True
    other = target._place("duckdb", str(tmp_path / "u.duckdb"), "tracking", None)
    assert target._fills(folder, "timetrack", other) is False
    # Before dlt recorded the file: <name>.duckdb in the folder the pipeline first ran from.
    _state(folder, destination_type=kind, dataset_name="tracking", _local={"initial_cwd": "/x"})
    assert target._fills(folder, "t", duck) is False
    _state(
        folder,
        destination_type=kind,
        dataset_name="tracking",
        _local={"initial_cwd": str(tmp_path)},
    )
    assert target._fills(folder, "t", duck) is True
    (folder / "state.json").write_text("{not json")
    assert target._fills(folder, "timetrack", duck) is False


def test_the_parts_of_a_location_that_are_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """What credentials say, in the order host, port, database, warehouse, where they do not
    name a host and a database."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__HOST", "db.example")
    assert target._location("postgres", "postgres") == "db.example/5432"
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS__HOST")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS__DATABASE", "wh")
    assert target._location("postgres", "postgres") == "5432/wh"
    monkeypatch.setenv("DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE", "sales")
    monkeypatch.setenv("DESTINATION__SNOWFLAKE__CREDENTIALS__WAREHOUSE", "compute")
    assert target._location("snowflake", "snowflake") == "sales/compute"
    monkeypatch.setenv("DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE", "")
    assert target._location("snowflake", "snowflake") == "compute", "an empty part is none"


def test_a_place_nothing_locates_is_named_by_its_kind(tmp_path: Path) -> None:
    for kind in ("mssql", "dummy"):  # mssql's driver is not installed; dummy has no credentials
        place = _duckdb(tmp_path, kind)
        assert (place.kind, place.location) == (kind, kind)
        assert place.describe() == f"{kind}, dataset 'tracking'"


def test_a_destination_given_as_a_callable_is_the_duckdb_it_returns(tmp_path: Path) -> None:
    place = _duckdb(tmp_path, lambda: dlt.destinations.duckdb())
    assert (place.kind, place.location) == ("duckdb", str(tmp_path / "timetrack.duckdb"))


def test_delta_tables_are_another_place_than_parquet_files_at_the_same_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "lake"))
    monkeypatch.delenv("DESTINATION__FILESYSTEM__TABLE_FORMAT", raising=False)
    files = _duckdb(tmp_path, "filesystem")
    assert (files.table_format, files.pipeline_name) == (None, "timetrack")
    files.remember(SimpleNamespace(working_dir=str(tmp_path / "state" / "timetrack")))
    assert _duckdb(tmp_path, "filesystem").pipeline_name == "timetrack"
    delta = _duckdb(tmp_path, "filesystem", table_format="delta")
    assert delta.pipeline_name.startswith("timetrack_"), "another place, another state"
