"""The place a run fills, resolved without a run (timetrack.destination.target): another DuckDB
file is another place, with a pipeline (so a state) of its own. That a new place's first run is
complete is tests/test_targets.py's, end to end (a new dataset in the same file)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from timetrack.destination.target import resolve_target


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
