"""One run's own plumbing, on a small sync: what it borrows from dlt it gives back."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import duckdb
import pytest

from tests.helpers import fast_options
from timetrack.emulator import EmulatorServer
from timetrack.run.pipeline import run


def test_a_duckdb_run_builds_its_views_and_leaves_the_destination_as_given(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    options = fast_options(emulator.base_url, tmp_path)
    given = dict(options.destination.config_params)
    for attempt in ("first", "second"):
        summary = run(options)
        assert summary.stats.warnings == [], f"{attempt} run: {summary.stats.warnings}"
        assert options.destination.config_params == given, (
            f"{attempt} run left its load's connection in the destination"
        )
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as db:
        views = {
            name
            for (name,) in db.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'timetrack_analytics'"
            ).fetchall()
        }
        tags = db.execute("select count(*) from timetrack.workspace_tags").fetchone()
    assert views, "the analytics views were built"
    assert {f"timetrack_analytics.{v}" for v in views} == set(summary.views)
    assert tags is not None and tags[0] == summary.rows.get("workspace_tags", tags[0]) > 0


def test_progress_goes_to_the_stderr_of_the_moment(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)  # after the import, as a caller redirects it
    options = fast_options(emulator.base_url, tmp_path, resources=["workspace_tags"])
    options.progress_every = 0.001
    run(options)
    assert "extract" in replaced.getvalue(), "the run's progress reached the redirected stderr"
