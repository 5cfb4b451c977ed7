"""`timetrack demo`: the whole product on one machine, no account needed."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import duckdb

from timetrack.answers.report import open_pipeline, write_report
from timetrack.destination.target import DEFAULT_DATASET, resolve_target
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.emulator.expected import expected_rows
from timetrack.run.pipeline import RunOptions, run

DATASET = DEFAULT_DATASET
"""The dataset `timetrack run` loads into by default: the demo's tables sit where run's would."""


def _python() -> str:
    """The interpreter that has duckdb (this one), as a user can type it from where they are:
    `python` may be another one, without duckdb, when no virtual environment is active."""
    here = Path.cwd()
    executable = Path(sys.executable)
    if executable.is_relative_to(here):
        return str(executable.relative_to(here))
    return str(executable)


TIME_ENTRIES, SEED = 4000, 7
"""The demo's size and data unless told otherwise."""


def run_demo(path: str, time_entries: int = TIME_ENTRIES, seed: int = SEED) -> list[str]:
    """Sync a fresh emulator into a new DuckDB file; lines of rows per table against the truth."""
    target = Path(path)
    _clear(target)
    with _emulator(time_entries, seed) as server, tempfile.TemporaryDirectory() as state_dir:
        summary = run(_options(target, state_dir, server))
        expected = expected_rows(server.base_url, server.emulator.config.token)
    counts = _counts(target, summary.rows)
    lines = _synced(server, target, summary.lines(), counts, expected)
    lines.append(_report(target))
    return lines


def _clear(target: Path) -> None:
    """Remove the DuckDB file and its write-ahead log: a demo starts from neither."""
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)


def _emulator(time_entries: int, seed: int) -> EmulatorServer:
    """The emulator the demo syncs (not started): its seed, and the time entries it holds."""
    return EmulatorServer(EmulatorConfig(seed=seed, scale=Scale(time_entries=time_entries)))


def _report(target: Path) -> str:
    """Write the report page beside the DuckDB file; the line that says where it is."""
    page = target.with_suffix(".html")
    with tempfile.TemporaryDirectory() as state_dir:
        place = resolve_target(duckdb_file=str(target), pipelines_dir=state_dir)
        data = write_report(open_pipeline(place, state_dir), page)
    return (
        f"report of the last {len(data.weeks)} full weeks ({data.entries:,} entries): open {page}"
    )


def _options(target: Path, state_dir: str, server: EmulatorServer) -> RunOptions:
    """The demo's run: into the DuckDB file and the dataset `timetrack run` uses, from the
    emulator at full speed, its state in a folder of its own."""
    return RunOptions(
        duckdb_file=str(target),
        pipeline_name="timetrack_demo",
        pipelines_dir=state_dir,
        source_args={
            "api_token": server.emulator.config.token,
            "base_url": server.base_url,
            "requests_per_second": 0,
        },
    )


def _counts(target: Path, tables: Iterable[str]) -> dict[str, int]:
    """Rows of each table in the demo's DuckDB file."""
    with duckdb.connect(str(target), read_only=True) as db:
        return {
            table: db.execute(f'select count(*) from {DATASET}."{table}"').fetchall()[0][0]
            for table in tables
        }


def _synced(
    server: EmulatorServer,
    target: Path,
    summary: list[str],
    counts: dict[str, int],
    expected: dict[str, int],
) -> list[str]:
    """What the demo says of its sync: the run's summary, each table's rows against the
    emulator's truth (where it knows one), and how to look at the data."""
    lines = [f"emulator at {server.base_url}: synced into {target}", *summary]
    lines.append("rows per table in the DuckDB file, against the emulator's truth:")
    for table in sorted(counts):
        count, want = counts[table], expected.get(table)
        verdict = "" if want is None else ("  = truth" if count == want else f"  != truth {want}")
        lines.append(f"  {table:<22} {count:>7,}{verdict}")
    query = f"select * from {DATASET}_analytics.hours_by_week limit 5"
    lines.append(
        f'explore it: {_python()} -c "import duckdb; '
        f"duckdb.connect('{target}').sql('{query}').show()\""
    )
    return lines
