"""dlt's own read API works on what a sync loaded: the pinned sqlglot and duckdb keep it so."""

from __future__ import annotations

from pathlib import Path

import dlt

from tests.helpers import Sync, db_counts
from timetrack.emulator import EmulatorServer


def test_pipeline_dataset_reads_the_loaded_tables(
    emulator: EmulatorServer, sync: Sync, tmp_path: Path
) -> None:
    sync(emulator.base_url, resources=["time_entries", "workspace_projects"])
    counts = db_counts(tmp_path / "db.duckdb")
    pipeline = dlt.pipeline(
        "test_db",
        destination=dlt.destinations.duckdb(str(tmp_path / "db.duckdb")),
        pipelines_dir=str(tmp_path / "state"),
        dataset_name="timetrack",
    )
    dataset = pipeline.dataset()
    entries = dataset.time_entries.df()
    assert len(entries) == counts["time_entries"] > 0
    assert set(entries["id"]) == {row[0] for row in dataset.time_entries.select("id").fetchall()}
    projects = dataset.workspace_projects.arrow()
    assert projects.num_rows == counts["workspace_projects"] > 0
    assert "name" in projects.column_names
