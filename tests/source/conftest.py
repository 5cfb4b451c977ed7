"""Fixtures for source tests: a sync into a DuckDB file of the test's own, and the truth to
compare it with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from timetrack.emulator.expected import expected_rows
from timetrack.pipeline import RunOptions, RunSummary, run

Sync = Callable[..., RunSummary]


@pytest.fixture
def sync(tmp_path: Path) -> Sync:
    """Run the source into tmp_path/<name>.duckdb with fast settings unless told otherwise."""

    def go(base_url: str, token: str = "demo-token", name: str = "db", **kwargs: Any) -> RunSummary:
        destination = kwargs.pop("destination", None) or dlt.destinations.duckdb(
            str(tmp_path / f"{name}.duckdb")
        )
        options = RunOptions(
            destination=destination,
            dataset=kwargs.pop("dataset", "timetrack"),
            pipeline_name=kwargs.pop("pipeline_name", f"test_{name}"),
            pipelines_dir=str(tmp_path / "state"),
            resources=kwargs.pop("resources", []),
            full_refresh=kwargs.pop("full_refresh", False),
            progress_every=0,
            source_args={
                "api_token": token,
                "base_url": base_url,
                "requests_per_second": 0,
                **kwargs,
            },
        )
        return run(options)

    return go


def db_counts(path: Path, dataset: str = "timetrack") -> dict[str, int]:
    """Rows per table of a DuckDB file (dlt's own tables left out)."""
    with duckdb.connect(str(path), read_only=True) as db:
        tables = [
            t
            for (t,) in db.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [dataset],
            ).fetchall()
            if not t.startswith("_dlt")
        ]
        return {
            t: db.execute(f'select count(*) from {dataset}."{t}"').fetchone()[0]  # type: ignore[index]
            for t in tables
        }


def expected_counts(base_url: str, token: str = "demo-token") -> dict[str, int]:
    """What every table must hold for `token`, from the emulator's ground truth."""
    return expected_rows(base_url, token)
