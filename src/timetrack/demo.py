"""`timetrack demo`: the whole product on one machine, no account needed."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb

from timetrack.answers.report import open_pipeline, write_report
from timetrack.destination.target import resolve_target
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.emulator.expected import expected_rows
from timetrack.run.pipeline import RunOptions, run

DATASET = "time_tracking"
"""The dataset `timetrack run` loads into by default: the demo's tables sit where run's would."""


def _python() -> str:
    """The interpreter that has duckdb (this one), as a user can type it from where they are:
    `python` may be another one, without duckdb, when no virtual environment is active."""
    here = Path.cwd()
    executable = Path(sys.executable)
    if executable.is_relative_to(here):
        return str(executable.relative_to(here))
    return str(executable)


def run_demo(path: str, time_entries: int = 4000, seed: int = 7) -> list[str]:
    """Sync a fresh emulator into a new DuckDB file; lines of rows per table against the truth."""
    target = Path(path)
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    config = EmulatorConfig(seed=seed, scale=Scale(time_entries=time_entries))
    with EmulatorServer(config) as server, tempfile.TemporaryDirectory() as state_dir:
        summary = run(
            RunOptions(
                duckdb_file=str(target),
                dataset=DATASET,
                pipeline_name="timetrack_demo",
                pipelines_dir=state_dir,
                source_args={
                    "api_token": config.token,
                    "base_url": server.base_url,
                    "requests_per_second": 0,
                },
            )
        )
        expected = expected_rows(server.base_url, config.token)
    lines = [f"emulator at {server.base_url}: synced into {target}"]
    lines += summary.lines()
    lines.append("rows per table in the DuckDB file, against the emulator's truth:")
    with duckdb.connect(str(target), read_only=True) as db:
        for table in sorted(summary.rows):
            (count,) = db.execute(f'select count(*) from {DATASET}."{table}"').fetchone() or (0,)
            want = expected.get(table)
            verdict = (
                "" if want is None else ("  = truth" if count == want else f"  != truth {want}")
            )
            lines.append(f"  {table:<22} {count:>7,}{verdict}")
    query = f"select * from {DATASET}_analytics.hours_by_week limit 5"
    lines.append(
        f'explore it: {_python()} -c "import duckdb; '
        f"duckdb.connect('{target}').sql('{query}').show()\""
    )
    page = target.with_suffix(".html")
    with tempfile.TemporaryDirectory() as state_dir:
        place = resolve_target(dataset=DATASET, duckdb_file=str(target), pipelines_dir=state_dir)
        data = write_report(open_pipeline(place, state_dir), page)
    lines.append(
        f"report of the last {len(data.weeks)} full weeks ({data.entries:,} entries): open {page}"
    )
    return lines
