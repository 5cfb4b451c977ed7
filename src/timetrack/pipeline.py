"""Running the source into a destination: the job behind `timetrack run` and `timetrack demo`."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import UnknownDestinationModule

from timetrack import lake, loading
from timetrack.analytics import analytics_schema, build_views
from timetrack.errors import (
    NO_TOKEN,
    ConfigurationError,
    TimetrackError,
    find_in_chain,
    find_timetrack_error,
    mask_secret,
)
from timetrack.progress import RunProgress
from timetrack.source import RequestStats, source_tables, timetrack_source
from timetrack.source.core import SourceArgs
from timetrack.source.endpoints import REJECTED_TABLE

EXIT_OK, EXIT_FAILED, EXIT_QUOTA, EXIT_INTERRUPTED = 0, 1, 75, 130
"""Exit codes: 75 (EX_TEMPFAIL) tells a scheduler to retry later rather than alert; 130 is the
shell's code for Ctrl-C."""


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
    strict: bool = False
    """Exit non-zero when records were rejected."""
    source_args: SourceArgs = field(default_factory=lambda: SourceArgs())
    """Overrides of the source's settings (api_token, base_url, layout, ...)."""
    table_format: str | None = None
    """"delta": filesystem tables as Delta tables, which merge; None: take it from dlt's
    configuration (destination.filesystem.table_format), else plain files."""


@dataclass
class RunSummary:
    """What a run loaded and what it cost."""

    rows: dict[str, int]
    stats: RequestStats
    elapsed: float
    destination: str
    dataset: str
    strict: bool = False
    views: list[str] = field(default_factory=list)
    """The analytics views rebuilt over what landed (schema.view)."""

    @property
    def exit_code(self) -> int:
        """0 when everything landed; 1 for errors (and, with strict, rejected records); 75
        when the quota stopped the run with its progress saved; 130 after Ctrl-C."""
        if self.stats.stop_reason == INTERRUPTED:
            return EXIT_INTERRUPTED
        if self.stats.errors or (self.strict and self.stats.rejected):
            return EXIT_FAILED
        if self.stats.deferred or self.stats.quota_stops:
            return EXIT_QUOTA
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The summary as one JSON-ready object, for schedulers (`timetrack run --json`)."""
        stats = self.stats
        return {
            "exit_code": self.exit_code,
            "destination": self.destination,
            "dataset": self.dataset,
            "elapsed_seconds": round(self.elapsed, 3),
            "rows": dict(sorted(self.rows.items())),
            "requests": stats.requests,
            "retries": stats.retries,
            "waits": len(stats.waits),
            "wait_seconds": round(sum(stats.waits), 3),
            "rejected": dict(stats.rejected),
            "deferred": list(stats.deferred),
            "warnings": list(stats.warnings),
            "errors": list(stats.errors),
            "notes": list(stats.notes),
            "views": list(self.views),
        }

    def closing_lines(self) -> list[str]:
        """The lines that say why the run did not end cleanly, for stderr."""
        out = [f"Error: {message}" for message in self.stats.errors]
        rejected = sum(self.stats.rejected.values())
        if self.strict and rejected:
            out.append(f"Error: {rejected} records could not land (--strict); see {REJECTED_TABLE}")
        if self.exit_code == EXIT_INTERRUPTED:
            out.append(
                "interrupted: what was fetched before Ctrl-C has landed; the next run resumes "
                "from there"
            )
        elif self.stats.quota_stops or self.stats.deferred:
            soonest = min(
                (e for e in self.stats.quota_stops.values()),
                key=lambda e: e.resets_in,
                default=None,
            )
            landed = sum(self.rows.values())
            when = f"; {soonest}" if soonest is not None else ""
            out.append(
                f"stopped for the hourly API quota with progress saved: {landed:,} rows landed, "
                f"{len(self.stats.deferred)} parts left for the next run{when}"
            )
        return out

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
        rejected = sum(self.stats.rejected.values())
        if rejected:
            by_table = ", ".join(f"{t} {n}" for t, n in sorted(self.stats.rejected.items()))
            out.append(
                f"warning: {rejected} records could not land (no usable key): {by_table}; "
                f"kept with their reasons in {REJECTED_TABLE}"
            )
        if self.views:
            schema = self.views[0].split(".")[0]
            names = ", ".join(view.split(".", 1)[1] for view in self.views)
            out.append(f"analytics views in {schema}: {names}")
        out += [f"warning: {message}" for message in self.stats.warnings]
        out += [f"note: {message}" for message in self.stats.notes]
        return out


PARQUET_NATIVE = frozenset({"duckdb", "motherduck", "filesystem", "ducklake"})
"""Destinations that load Parquet without extra drivers or staging: about four times faster
than row inserts, in a fraction of the memory. Others keep dlt's default format."""


DUCKDB_SETTINGS = {"memory_limit": "128MB", "preserve_insertion_order": False, "threads": 1}
"""DuckDB takes up to 80% of RAM by default, and merging a million rows filled 500 MB with
cache; capped (and free to reorder inserts), it spills to disk instead and a sync's memory stays
flat (bench/run --incremental). dlt's own merge ran out of 256 MB at a million report entries;
timetrack's (loading.py) merges them in 64 MB, so 128 MB leaves room. Each DuckDB thread holds
memory beyond the cap: one thread keeps a sync's peak at the floor's, and loads as fast on two
cores (bench/run --scale 1000000). Settings in dlt's configuration
(destination.duckdb.credentials.global_config) win over these."""


_RUN_SETTINGS = {
    "EXTRACT__NEXT_ITEM_MODE": "fifo",
    "DESTINATION__POSTGRES__CREATE_INDEXES": "false",
}
"""Settings of dlt every run uses unless the user set them:
- resources are extracted in their declared order, cheap tables first, so that a run stopped
  by the quota still leaves a usable dataset (dlt's default interleaves them);
- no UNIQUE index on PostgreSQL's `_dlt_id`: a load cut off mid-COPY leaves rows in the staging
  table, and the retried job then hits that index for good (`UniqueViolation ..._dlt_id_key`),
  --full-refresh included; merges deduplicate on the primary key without it."""

_DUCKDB_CONFIG = "destination.duckdb.credentials.global_config"
_written_duckdb_config: dict[str, Any] | None = None
"""What the last run wrote: read back later, it is ours, not the user's."""


def _cap_duckdb_memory() -> None:
    global _written_duckdb_config
    configured: Any = dlt.config.get(_DUCKDB_CONFIG)  # reads every provider, secrets included
    if isinstance(configured, str):
        configured = json.loads(configured)
    if configured == _written_duckdb_config:
        configured = None  # our own earlier write, not a setting of the user's
    merged = {**DUCKDB_SETTINGS, **(configured or {})}
    # Credentials are secrets to dlt: their parts may only live in a secrets provider.
    dlt.secrets[_DUCKDB_CONFIG] = merged
    _written_duckdb_config = merged


@contextmanager
def _run_settings() -> Iterator[None]:
    """dlt settings for the length of one run, set where the user has not set them and put
    back afterwards, so that nothing leaks into the next run of the process."""
    values = {key: value for key, value in _RUN_SETTINGS.items() if key not in os.environ}
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


INTERRUPTED = "interrupted by Ctrl-C"


@contextmanager
def _stop_on_ctrl_c(stats: RequestStats) -> Iterator[None]:
    """The first Ctrl-C stops sending requests: what was fetched still lands, with the state
    that says where each walk stood. A second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (a scheduler may run us in another)
        return

    def handle(signum: int, frame: Any) -> None:
        # From another thread: the handler interrupts the main thread wherever it is, and it
        # may be holding the stats' lock (counting a request), which stop() takes.
        threading.Thread(target=stats.stop, args=(INTERRUPTED,), daemon=True).start()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def destination_kind(destination: Any) -> str:
    """The destination's kind (duckdb, postgres, filesystem, ...)."""
    resolved = Destination.from_reference(destination)
    return "" if resolved is None else str(resolved.destination_type.split(".")[-1])


def run(options: RunOptions, out: TextIO = sys.stderr) -> RunSummary:
    """Extract, normalize and load; raises TimetrackError with a one-line message on failure.

    A run the quota or Ctrl-C stopped halfway still loads what it fetched: its summary's
    `exit_code` says so."""
    stats = RequestStats()
    try:
        kind = destination_kind(options.destination)
    except UnknownDestinationModule:
        raise ConfigurationError(
            f"unknown destination {options.destination!r}: use duckdb, postgres, filesystem or "
            "another of dlt's destinations (bigquery, snowflake, motherduck, ...)"
        ) from None
    except Exception as error:  # dlt raises many kinds for a destination it cannot use
        raise ConfigurationError(
            f"cannot use destination {options.destination!r}: {one_line(error)}"
        ) from None
    file_format = "parquet" if kind in PARQUET_NATIVE else None
    table_format = lake.table_format(options.table_format, kind)
    _check_pipelines_dir(options.pipelines_dir)
    try:
        args = SourceArgs(**options.source_args)
        if kind == "filesystem" and table_format is None:
            args["keep_deleted"] = True  # appended files cannot delete: deletions are marked
        source = timetrack_source(stats=stats, arrow=file_format == "parquet", **args)
    except ConfigFieldMissingException as error:
        if "api_token" in str(error):
            raise ConfigurationError(NO_TOKEN) from None
        raise ConfigurationError(f"missing setting: {error.fields}") from None
    if options.resources:
        unknown = sorted(set(options.resources) - set(source_tables()))
        if unknown:
            raise ConfigurationError(
                f"unknown resource {', '.join(unknown)}; choose from {', '.join(source_tables())}"
            )
        source = source.with_resources(*options.resources, REJECTED_TABLE)
    if table_format is not None:
        lake.as_lake_tables(source, table_format)
    elif kind == "filesystem":
        # Plain files cannot merge (dlt would fall back to append, with a warning per table
        # and load): append is what happens, so it is what is asked for.
        for resource in source.resources.values():
            resource.apply_hints(write_disposition="append")
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
        _cap_duckdb_memory()
        loading.install()
    except Exception as error:  # dlt raises many kinds for an unknown destination
        raise ConfigurationError(
            f"cannot use destination {options.destination!r}: {one_line(error)}"
        ) from None
    started = time.monotonic()
    progress = RunProgress(stats, options.progress_every, out)
    counts: dict[str, int] = {}
    views: list[str] = []
    try:
        with _run_settings(), loading.bounded(kind), _stop_on_ctrl_c(stats), progress.shown():
            if pipeline.has_pending_data:
                # An earlier run was interrupted after extracting: land its data first, so
                # this run starts from the state that data carries.
                print("finishing the load of an interrupted run first", file=out, flush=True)
                pipeline.normalize()
                if table_format is not None:
                    lake.one_row_per_key(pipeline)
                loading.refresh_pending_merges(pipeline)
                pipeline.load()
            progress.step("extract")
            pipeline.extract(
                source,
                loader_file_format=file_format,
                **({"refresh": "drop_sources"} if options.full_refresh else {}),
            )
            progress.step("normalize")
            normalized = pipeline.normalize()
            counts = dict(normalized.row_counts) if normalized else {}
            if table_format is not None:
                lake.one_row_per_key(pipeline)
            progress.step("load")
            pipeline.load()
            views = _rebuild_views(pipeline, kind, stats, options)
    except Exception as error:
        found = find_timetrack_error(error)
        if found is not None:
            raise found from None
        log = _write_log(pipeline, error, options)
        missing = find_in_chain(error, ConfigFieldMissingException)
        if missing is not None:
            raise ConfigurationError(f"{missing_settings(missing)} (full detail: {log})") from None
        raise TimetrackError(f"the run failed: {_cause(error)} (full detail: {log})") from None
    elapsed = time.monotonic() - started
    rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
    return RunSummary(
        rows,
        stats,
        elapsed,
        str(pipeline.destination.destination_name),
        options.dataset,
        strict=options.strict,
        views=views,
    )


def _rebuild_views(pipeline: Any, kind: str, stats: RequestStats, options: RunOptions) -> list[str]:
    """The analytics views over what landed; a failure to build them is a warning, since the
    data itself is in."""
    try:
        return [
            f"{analytics_schema(options.dataset)}.{name}" for name in build_views(pipeline, kind)
        ]
    except Exception as error:
        log = _write_log(pipeline, error, options)
        stats.warnings.append(
            f"the analytics views were not rebuilt: {_cause(error)} (full detail: {log})"
        )
        return []


def _check_pipelines_dir(folder: str | None) -> None:
    """A pipelines folder that cannot be one (a file stands on its path) is the user's to fix:
    dlt would blame the destination."""
    if folder is None:
        return
    path = Path(folder)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigurationError(
                    f"--pipelines-dir {folder}: {part} is a file, not a folder"
                )
            if not os.access(part, os.W_OK):
                raise ConfigurationError(f"--pipelines-dir {folder}: {part} is not writable")
            return


def _env_key(lookups: Any) -> str | None:
    """The most specific environment variable dlt looked for, without a pipeline prefix."""
    keys = [
        t.key
        for t in lookups or []
        if getattr(t, "provider", "") == "Environment Variables"
        and str(t.key).startswith(("DESTINATION__", "SOURCES__", "CREDENTIALS__"))
    ]
    return max(keys, key=lambda k: k.count("__"), default=None)


def missing_settings(error: ConfigFieldMissingException) -> str:
    """Which settings a destination lacks, and the environment variables that set them."""
    names: list[str] = []
    for field_name, traces in error.traces.items():
        parts = [getattr(t, "traces", None) for t in traces or []]
        nested: list[dict[str, Any]] = [p for p in parts if isinstance(p, dict)]
        if nested:  # credentials, with the parts that are missing
            names += [
                _env_key(lookups) or f"{field_name}.{sub}"
                for found in nested
                for sub, lookups in found.items()
            ]
        else:
            names.append(_env_key(traces) or field_name)
    text = f"missing setting{'s' if len(names) > 1 else ''}: set {', '.join(names)}"
    if any("POSTGRES__CREDENTIALS" in name for name in names):
        text += (
            " (or the whole DESTINATION__POSTGRES__CREDENTIALS="
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE)"
        )
    return text


def one_line(error: BaseException, limit: int = 400) -> str:
    """An error on one line, cut at a word boundary if it must be cut at all."""
    text = " ".join(str(error).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _cause(error: BaseException) -> str:
    """What went wrong, from the innermost exception dlt wrapped, with the table named when a
    job of one table failed."""
    innermost: BaseException = error
    seen = {id(error)}
    while True:
        nested = getattr(innermost, "exception", None) or innermost.__cause__
        if not isinstance(nested, BaseException) or id(nested) in seen:
            break
        seen.add(id(nested))
        innermost = nested
    text = " ".join(str(error).split())
    step = text.split("`step=", 1)[1].split("`", 1)[0] if "`step=" in text else None
    job = text.split("job_id=", 1)[1].split(".", 1)[0] if "job_id=" in text else None
    message = " ".join(str(innermost).split())
    for marker in ("with message:", "The actual reason given is:"):
        if marker in message:
            message = message.split(marker, 1)[1].strip()
    if "Could not set lock on file" in message or "Conflicting lock" in message:
        return "another run holds this DuckDB file: wait for it to end, or use another file"
    if "Cannot open file" in message:
        message += (
            " (the DuckDB file's folder must exist and be writable: check "
            "DESTINATION__DUCKDB__CREDENTIALS)"
        )
    where = " ".join(
        p for p in (f"at {step}" if step else "", f"in table {job}" if job else "") if p
    )
    cap = (_written_duckdb_config or {}).get("memory_limit")
    short = loading.out_of_memory(message, where, cap)
    if short is not None:
        return short
    return one_line(Exception(f"{where + ': ' if where else ''}{message}"), 300)


def _write_log(pipeline: Any, error: BaseException, options: RunOptions) -> str:
    """Write the whole error to a file beside the pipeline's state; returns its path. The
    token, if it appears anywhere, is masked."""
    text = "".join(traceback.format_exception(error))
    token = options.source_args.get("api_token") or os.environ.get("SOURCES__TIMETRACK__API_TOKEN")
    if token:
        text = text.replace(str(token), mask_secret(str(token)))
    try:
        folder = Path(pipeline.working_dir)
        folder.mkdir(parents=True, exist_ok=True)
    except Exception:
        folder = Path(tempfile.gettempdir())
    path = folder / "last_error.log"
    path.write_text(text)
    return str(path)
