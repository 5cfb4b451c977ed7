"""Other destinations and what a run shows while it works."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import dlt
import pyarrow.parquet as pq
import pytest

from tests.helpers import expected_counts, fast_options
from timetrack.emulator import EmulatorConfig, EmulatorServer, Faults, Scale
from timetrack.run.pipeline import run


def test_parquet_files_hold_every_row(emulator: EmulatorServer, tmp_path: Path) -> None:
    lake = dlt.destinations.filesystem(bucket_url=str(tmp_path / "lake"))
    summary = run(fast_options(emulator.base_url, tmp_path, name="parquet", destination=lake))
    expected = expected_counts(emulator.base_url)
    assert summary.rows == expected
    for table, count in expected.items():
        files = list((tmp_path / "lake" / "timetrack" / table).glob("*.parquet"))
        assert files, table
        assert sum(pq.read_metadata(f).num_rows for f in files) == count, table


def test_long_runs_show_progress(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    # A small team: every request slowed, the run still lasts several progress intervals.
    small = Scale(users=12, projects_per_workspace=20, tasks_per_workspace=20, time_entries=300)
    slow = Faults(rates={"slow": 1.0}, slow_seconds=0.01)
    server = make_emulator(EmulatorConfig(scale=small, faults=slow))
    out = io.StringIO()
    options = fast_options(server.base_url, tmp_path, name="progress")
    options.progress_every = 0.2
    summary = run(options, out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2, f"a line every 0.2 s of a {summary.elapsed:.1f} s run: {lines}"
    assert all(line.startswith("... ") and "requests" in line for line in lines)
    text = "\n".join(summary.lines())
    assert f"requests {summary.stats.requests:,}" in text
    assert all(table in text for table in summary.rows)


def test_duckdb_memory_is_capped_unless_configured(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def limit(name: str) -> str:
        path = tmp_path / f"{name}.duckdb"
        run(fast_options(emulator.base_url, tmp_path, name=name, resources=["workspace_tags"]))
        # Reopen the very file that was loaded: dlt.attach() would open <cwd>/<name>.duckdb.
        pipeline = dlt.pipeline(
            f"test_{name}",
            destination=dlt.destinations.duckdb(str(path)),
            pipelines_dir=str(tmp_path / "state"),
        )
        with pipeline.sql_client() as client:
            files = client.execute_sql("select path from duckdb_databases() where path is not null")
            rows = client.execute_sql("select current_setting('memory_limit')")
            tags = client.execute_sql("select count(*) from timetrack.workspace_tags")
        assert [Path(f).resolve() for (f,) in files] == [path.resolve()]  # type: ignore[union-attr]
        assert tags[0][0] > 0  # type: ignore[index]
        return str(rows[0][0])  # type: ignore[index]

    assert limit("capped") == "122.0 MiB"  # 128 MB
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "1GB"}')
    assert limit("configured") == "953.6 MiB"
