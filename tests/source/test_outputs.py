"""Other destinations and what a run shows while it works."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import dlt
import pyarrow.parquet as pq
import pytest

from tests.source.conftest import expected_counts
from timetrack.emulator import EmulatorConfig, EmulatorServer, Faults
from timetrack.pipeline import RunOptions, run


def test_parquet_files_hold_every_row(emulator: EmulatorServer, tmp_path: Path) -> None:
    summary = run(
        RunOptions(
            destination=dlt.destinations.filesystem(bucket_url=str(tmp_path / "lake")),
            dataset="timetrack",
            pipeline_name="parquet",
            pipelines_dir=str(tmp_path / "state"),
            progress_every=0,
            source_args={
                "api_token": "demo-token",
                "base_url": emulator.base_url,
                "requests_per_second": 0,
            },
        )
    )
    expected = expected_counts(emulator.base_url)
    assert summary.rows == expected
    for table, count in expected.items():
        files = list((tmp_path / "lake" / "timetrack" / table).glob("*.parquet"))
        assert files, table
        assert sum(pq.read_metadata(f).num_rows for f in files) == count, table


def test_long_runs_show_progress(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    server = make_emulator(EmulatorConfig(faults=Faults(rates={"slow": 1.0}, slow_seconds=0.05)))
    out = io.StringIO()
    summary = run(
        RunOptions(
            destination=dlt.destinations.duckdb(str(tmp_path / "db.duckdb")),
            pipeline_name="progress",
            pipelines_dir=str(tmp_path / "state"),
            progress_every=0.2,
            source_args={
                "api_token": "demo-token",
                "base_url": server.base_url,
                "requests_per_second": 0,
            },
        ),
        out=out,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("... ") and "requests" in line for line in lines)
    text = "\n".join(summary.lines())
    assert f"requests {summary.stats.requests:,}" in text
    assert all(table in text for table in summary.rows)


def test_duckdb_memory_is_capped_unless_configured(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit(name: str) -> str:
        run(
            RunOptions(
                destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
                pipeline_name=name,
                pipelines_dir=str(tmp_path / "state"),
                resources=["workspace_tags"],
                progress_every=0,
                source_args={
                    "api_token": "demo-token",
                    "base_url": emulator.base_url,
                    "requests_per_second": 0,
                },
            )
        )
        pipeline = dlt.attach(name, pipelines_dir=str(tmp_path / "state"))
        with pipeline.sql_client() as client:
            rows = client.execute_sql("select current_setting('memory_limit')")
        return str(rows[0][0])  # type: ignore[index]

    assert limit("capped") == "91.5 MiB"
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "1GB"}')
    assert limit("configured") == "953.6 MiB"
