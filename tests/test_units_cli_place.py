"""Where `timetrack webhooks ...` and `timetrack listen` put data (cli._place): the place their
options name, as `run` resolves the same options; the commands themselves run against an
emulator in tests/live/test_listen.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from timetrack import cli
from timetrack.errors import ConfigurationError


def test_the_live_commands_land_where_run_would_with_the_same_options(tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = cli._place(
        destination="duckdb",
        dataset="tracking",
        duckdb_file=str(tmp_path / "live.duckdb"),
        pipeline_name="mine",
        pipelines_dir=str(state),
    )
    assert target.describe() == f"DuckDB file {tmp_path / 'live.duckdb'}, dataset 'tracking'"
    assert (target.kind, target.pipeline_name) == ("duckdb", "mine")
    assert target.pipelines_folder == state


def test_the_live_commands_default_to_the_pipelines_file_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    target = cli._place("duckdb", "time_tracking", None, "north", str(tmp_path / "s"))
    assert target.location == str(tmp_path.resolve() / "north.duckdb"), "NAME.duckdb, here"
    assert target.dataset == "time_tracking"


def test_a_duckdb_file_for_another_destination_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cli._place("postgres", "d", str(tmp_path / "x.duckdb"), "timetrack", None)
    assert str(caught.value) == "--duckdb-file needs --destination duckdb, not postgres"
