"""Running the source into a destination: the job behind `timetrack run` and `timetrack demo`."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination import Destination

from timetrack.errors import ConfigurationError, TimetrackError, find_timetrack_error
from timetrack.source import RequestStats, source_tables, timetrack_source


@dataclass
class RunOptions:
    """What `timetrack run` was asked for; None means: take it from dlt's configuration."""

    destination: Any = "duckdb"
    dataset: str = "time_tracking"
    pipeline_name: str = "timetrack"
    pipelines_dir: str | None = None
    resources: list[str] = field(default_factory=list)
    full_refresh: bool = False
    progress_every: float = 10.0
    source_args: dict[str, Any] = field(default_factory=dict)
    """Overrides of the source's settings (api_token, base_url, layout, ...)."""


@dataclass
class RunSummary:
    """What a run loaded and what it cost."""

    rows: dict[str, int]
    stats: RequestStats
    elapsed: float
    destination: str
    dataset: str

    def lines(self) -> list[str]:
        """The summary printed at the end of every run."""
        total = sum(self.rows.values())
        out = [
            f"loaded {total:,} rows into {self.destination} dataset {self.dataset!r} "
            f"in {self.elapsed:.1f} s"
        ]
        width = max([len(t) for t in self.rows] + [5])
        out += [f"  {table:<{width}}  {count:>9,}" for table, count in sorted(self.rows.items())]
        waits = self.stats.waits
        out.append(
            f"requests {self.stats.requests:,}, retries {self.stats.retries}, "
            f"waits {len(waits)} ({sum(waits):.1f} s), pacing {self.stats.pacing_seconds:.1f} s"
        )
        out += [f"warning: {message}" for message in self.stats.warnings]
        return out


PARQUET_NATIVE = frozenset({"duckdb", "motherduck", "filesystem", "ducklake"})
"""Destinations that load Parquet without extra drivers or staging: about four times faster
than row inserts, in a fraction of the memory. Others keep dlt's default format."""


DUCKDB_SETTINGS = {"memory_limit": "96MB", "preserve_insertion_order": False}
"""DuckDB takes up to 80% of RAM by default, and merging a million rows filled 500 MB with
cache; capped (and free to reorder inserts), it spills to disk instead and a sync's memory stays
flat with no loss of speed (bench/run --incremental). Settings in dlt's configuration
(destination.duckdb.credentials.global_config) win over these."""


def _cap_duckdb_memory() -> None:
    key = "destination.duckdb.credentials.global_config"
    configured: Any = dlt.config.get(key)  # reads every provider, secrets included
    if isinstance(configured, str):
        configured = json.loads(configured)
    # Credentials are secrets to dlt: their parts may only live in a secrets provider.
    dlt.secrets[key] = {**DUCKDB_SETTINGS, **(configured or {})}


def _file_format(destination: Any) -> str | None:
    resolved = Destination.from_reference(destination)
    if resolved is None:
        return None
    return "parquet" if resolved.destination_type.split(".")[-1] in PARQUET_NATIVE else None


@contextmanager
def _progress(stats: RequestStats, every: float, out: TextIO) -> Iterator[None]:
    """Print a progress line every `every` seconds while the block runs."""
    done = threading.Event()

    def report() -> None:
        while not done.wait(every):
            rows = sum(stats.rows.values())
            print(
                f"... {stats.requests:,} requests, {rows:,} rows extracted, "
                f"{stats.retries} retries",
                file=out,
                flush=True,
            )

    thread = threading.Thread(target=report, daemon=True)
    if every > 0:
        thread.start()
    try:
        yield
    finally:
        done.set()


def run(options: RunOptions, out: TextIO = sys.stderr) -> RunSummary:
    """Extract, normalize and load; raises TimetrackError with a one-line message on failure."""
    stats = RequestStats()
    try:
        source = timetrack_source(stats=stats, **options.source_args)
    except ConfigFieldMissingException as error:
        if "api_token" in str(error):
            raise ConfigurationError(
                "no API token: set SOURCES__TIMETRACK__API_TOKEN or api_token in "
                ".dlt/secrets.toml under [sources.timetrack]"
            ) from None
        raise ConfigurationError(f"missing setting: {error.fields}") from None
    if options.resources:
        unknown = sorted(set(options.resources) - set(source_tables()))
        if unknown:
            raise ConfigurationError(
                f"unknown resource {', '.join(unknown)}; choose from {', '.join(source_tables())}"
            )
        source = source.with_resources(*options.resources)
    if options.destination == "duckdb" and options.dataset == options.pipeline_name:
        duckdb_file: Any = dlt.secrets.get("destination.duckdb.credentials")
        if not duckdb_file:  # the file is then NAME.duckdb, and DuckDB mixes up the two
            raise ConfigurationError(
                f"dataset {options.dataset!r} has the name of its DuckDB file "
                f"{options.pipeline_name}.duckdb, which DuckDB cannot tell apart: choose "
                "another --dataset or --pipeline-name"
            )
    try:
        settings: dict[str, Any] = {
            "pipeline_name": options.pipeline_name,
            "destination": options.destination,
            "dataset_name": options.dataset,
        }
        if options.pipelines_dir:
            settings["pipelines_dir"] = options.pipelines_dir
        pipeline = dlt.pipeline(**settings)
        file_format = _file_format(options.destination)
        _cap_duckdb_memory()
    except Exception as error:  # dlt raises many kinds for an unknown destination
        raise ConfigurationError(
            f"cannot use destination {options.destination!r}: {error}"
        ) from None
    started = time.monotonic()
    try:
        with _progress(stats, options.progress_every, out):
            if pipeline.has_pending_data:
                # An earlier run was interrupted after extracting: land its data first, so
                # this run starts from the state that data carries.
                print("finishing the load of an interrupted run first", file=out, flush=True)
                pipeline.run()
            pipeline.run(
                source,
                loader_file_format=file_format,
                **({"refresh": "drop_sources"} if options.full_refresh else {}),
            )
    except Exception as error:
        found = find_timetrack_error(error)
        if found is not None:
            raise found from None
        raise TimetrackError(f"the run failed: {_one_line(error)}") from None
    elapsed = time.monotonic() - started
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace else None
    counts = dict(normalize.row_counts) if normalize else {}
    rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
    return RunSummary(
        rows, stats, elapsed, str(pipeline.destination.destination_name), options.dataset
    )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300]
