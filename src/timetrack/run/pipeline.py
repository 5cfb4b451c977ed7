"""Running the source into a destination: the job behind `timetrack run` and `timetrack demo`."""

from __future__ import annotations

import fcntl
import json
import os
import re
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

from timetrack.answers.analytics import analytics_schema, build_views
from timetrack.destination import lake
from timetrack.destination.target import (
    DEFAULT_DATASET,
    DEFAULT_NAME,
    Target,
    resolve_target,
)
from timetrack.errors import (
    NO_TOKEN,
    ConfigurationError,
    TimetrackError,
    find_in_chain,
    find_timetrack_error,
    mask_secret,
    unreadable_settings,
)
from timetrack.live import live_workspaces
from timetrack.run import loading
from timetrack.run.environ import unless_set
from timetrack.run.progress import RunProgress
from timetrack.source import RequestStats, source_tables, timetrack_source
from timetrack.source.core import SourceArgs
from timetrack.source.endpoints import REJECTED_TABLE
from timetrack.source.landed import reading

EXIT_OK, EXIT_FAILED, EXIT_QUOTA, EXIT_INTERRUPTED = 0, 1, 75, 130
"""Exit codes: 75 (EX_TEMPFAIL) tells a scheduler to retry later rather than alert; 130 is the
shell's code for Ctrl-C."""


@dataclass
class RunOptions:
    """What `timetrack run` was asked for; None means: take it from dlt's configuration."""

    destination: Any = "duckdb"
    dataset: str = DEFAULT_DATASET
    pipeline_name: str = DEFAULT_NAME
    """The pipeline's name for the first place it fills; another place (destination, file,
    dataset) gets this name with a digest of the place (timetrack.destination.target)."""
    pipelines_dir: str | None = None
    duckdb_file: str | None = None
    """The DuckDB file (default: PIPELINE_NAME.duckdb where the user stands)."""
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
    quiet: bool = False
    """Print nothing but errors while running."""


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
    where: str = ""
    """Where the data went: the DuckDB file, host/database or bucket, and the dataset."""
    pipeline_name: str = ""

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
            "where": self.where,
            "pipeline": self.pipeline_name,
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
            f"loaded {total:,} rows into {self.where or self.destination} in {self.elapsed:.1f} s"
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
            schema = analytics_schema(self.dataset)  # where _rebuild_views names them
            names = ", ".join(view.removeprefix(f"{schema}.") for view in self.views)
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


def options_target(options: RunOptions) -> Target:
    """Where a run with these options sends its data, and the pipeline of that place."""
    return resolve_target(
        options.destination,
        options.dataset,
        name=options.pipeline_name,
        duckdb_file=options.duckdb_file,
        pipelines_dir=options.pipelines_dir,
        table_format=options.table_format,
    )


def run(options: RunOptions, out: TextIO | None = None) -> RunSummary:
    """Extract, normalize and load; raises TimetrackError with a one-line message on failure.
    Progress goes to `out`, by default the `sys.stderr` of the moment (not of the import: a
    caller that redirected it finds the lines where it looks).

    A run the quota or Ctrl-C stopped halfway still loads what it fetched: its summary's
    `exit_code` says so."""
    _check_pipelines_dir(options.pipelines_dir)
    target = options_target(options)
    with _one_run_at_a_time(target):
        return _run(options, target, out if out is not None else sys.stderr)


LISTENER_BATCH_WAIT = 30.0
"""Seconds a run waits while `timetrack listen` holds the run lock to land a batch."""


def run_lock_path(target: Target) -> Path:
    """The lock a run holds for its whole length (and the listener for each batch it lands)."""
    return target.pipelines_folder / f".{target.pipeline_name}.lock"


def batch_marker_path(target: Target) -> Path:
    """Beside the lock while `timetrack listen` holds it for a batch: a run then waits."""
    return target.pipelines_folder / f".{target.pipeline_name}.lock.batch"


def _take(handle: TextIO, target: Target) -> None:
    """The run lock; while a listener's batch holds it, wait for the batch to end."""
    deadline = time.monotonic() + LISTENER_BATCH_WAIT
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not batch_marker_path(target).exists() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def _one_run_at_a_time(target: Target) -> Iterator[None]:
    """Two runs of one pipeline would take each other's load packages from its folder (both
    then fail on files the other moved): the second is refused while the first runs. A
    listener landing a batch into the same place holds the lock a moment: the run waits."""
    folder = target.pipelines_folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(run_lock_path(target), "a+")  # noqa: SIM115
    except OSError as error:
        raise ConfigurationError(
            f"cannot write in the pipelines folder {folder}: {error.strerror}"
        ) from None
    try:
        try:
            _take(handle, target)
        except BlockingIOError:
            raise ConfigurationError(
                f"another run of pipeline {target.pipeline_name} ({target.describe()}) is "
                "running: wait for it to end"
            ) from None
        yield
    finally:
        handle.close()


def _run(options: RunOptions, target: Target, out: TextIO) -> RunSummary:
    stats = RequestStats()
    source = _source(options, target, stats)
    pipeline = _open(target)
    started = time.monotonic()
    progress = RunProgress(stats, options.progress_every, out)
    step = "extract"
    try:
        with (
            unless_set(_RUN_SETTINGS),
            loading.bounded(target.kind),
            _stop_on_ctrl_c(stats),
            progress.shown(),
        ):
            step = "pending"
            _settle_pending(pipeline, target, options, stats, out)
            step = "extract"
            _restore_state(pipeline, options)
            progress.step("extract")
            with reading(pipeline, dropping=options.full_refresh):
                pipeline.extract(
                    source,
                    loader_file_format="parquet" if target.kind in PARQUET_NATIVE else None,
                    **({"refresh": "drop_sources"} if options.full_refresh else {}),
                )
            step = "normalize"
            progress.step("normalize")
            normalized = pipeline.normalize()
            counts: dict[str, int] = dict(normalized.row_counts) if normalized else {}
            if target.table_format is not None:
                lake.one_row_per_key(pipeline)
            step = "load"
            progress.step("load")
            with loading.held_open(pipeline, sum(counts.values())):
                pipeline.load()
                views = _rebuild_views(pipeline, target, stats, options)
    except Exception as error:
        raise _run_error(error, pipeline, options, step) from None
    rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
    return RunSummary(
        rows,
        stats,
        time.monotonic() - started,
        str(pipeline.destination.destination_name),
        options.dataset,
        strict=options.strict,
        views=views,
        where=target.describe(),
        pipeline_name=target.pipeline_name,
    )


def _source(options: RunOptions, target: Target, stats: RequestStats) -> Any:
    """The source with the resources asked for, its hints fitted to the destination."""
    try:
        args = SourceArgs(**options.source_args)
        if target.kind == "filesystem" and target.table_format is None:
            args["keep_deleted"] = True  # appended files cannot delete: deletions are marked
        live = live_workspaces(target)
        if live:  # webhooks keep these live: the hourly run skips their reads
            stats.notes.append(
                f"webhooks keep {len(live)} workspace(s) live: their hourly reads are skipped"
            )
        source = timetrack_source(
            stats=stats,
            arrow=target.kind in PARQUET_NATIVE,
            live_tables={ws: sorted(tables) for ws, tables in live.items()},
            **args,
        )
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
    if target.table_format is not None:
        lake.as_lake_tables(source, target.table_format)
    elif target.kind == "filesystem":
        # Plain files cannot merge (dlt would fall back to append, with a warning per table
        # and load): append is what happens, so it is what is asked for.
        for resource in source.resources.values():
            resource.apply_hints(write_disposition="append")
    return source


def _open(target: Target) -> Any:
    """The pipeline of the target's place, which remembers the place it fills."""
    try:
        pipeline = target.pipeline()
        _cap_duckdb_memory()
        loading.install()
        target.remember(pipeline)
    except TimetrackError:
        raise
    except Exception as error:  # dlt raises many kinds for a destination it cannot use
        raise unreadable_settings(error) or ConfigurationError(
            f"cannot use destination {target.kind!r}: {one_line(error)}"
        ) from None
    return pipeline


def _settle_pending(
    pipeline: Any, target: Target, options: RunOptions, stats: RequestStats, out: TextIO
) -> None:
    """A load an earlier run left pending (killed, or failed) is finished first, so this run
    starts from the state that data carries; with --full-refresh it is dropped instead, which
    always gets a pipeline out of a load that fails for good."""
    if not pipeline.has_pending_data:
        return
    if options.full_refresh:
        try:
            pipeline.abort_packages()
        except Exception:  # the abort itself loads: a broken destination cannot take it
            pipeline._delete_pending_packages()
        stats.notes.append("dropped the pending load of an earlier run (--full-refresh)")
        return
    if not options.quiet:
        print("finishing the load of an interrupted run first", file=out, flush=True)
    pipeline.normalize()
    if target.table_format is not None:
        lake.one_row_per_key(pipeline)
    loading.refresh_pending_merges(pipeline)  # a merge an earlier release wrote may not fit
    pipeline.load()


def _restore_state(pipeline: Any, options: RunOptions) -> None:
    """A pipeline whose local folder is new takes its state from the destination, where dlt
    keeps a copy with the data (as dlt's own `run` does): a new machine or pipelines folder
    goes on incrementally instead of starting over."""
    if pipeline.first_run and not options.full_refresh:
        pipeline.sync_destination()


FIX_PENDING = (
    "if it fails again, `timetrack run --full-refresh` with the same options drops the "
    "pending load and loads this dataset anew"
)


def _run_error(error: Exception, pipeline: Any, options: RunOptions, step: str) -> TimetrackError:
    """The one-line error of a failed run; the whole of it goes to last_error.log."""
    found = find_timetrack_error(error)
    if found is not None:
        return found
    log = _write_log(pipeline, error, options)
    missing = find_in_chain(error, ConfigFieldMissingException)
    if missing is not None:
        return ConfigurationError(f"{missing_settings(missing)} (full detail: {log})")
    if step == "pending":
        return TimetrackError(
            f"the load an earlier run left pending fails: {_cause(error)}; {FIX_PENDING} "
            f"(full detail: {log})"
        )
    hint = f"; {FIX_PENDING}" if step in ("normalize", "load") else ""
    return TimetrackError(f"the run failed: {_cause(error)}{hint} (full detail: {log})")


def _rebuild_views(
    pipeline: Any, target: Target, stats: RequestStats, options: RunOptions
) -> list[str]:
    """The analytics views over what landed; a failure to build them is a warning, since the
    data itself is in."""
    try:
        return [
            f"{analytics_schema(options.dataset)}.{name}"
            for name in build_views(pipeline, target.kind)
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
        if t.provider == "Environment Variables"
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


_STEP = re.compile(r"`step=([^`]*)`")
"""The step dlt names in a failed step's message: "... at `step=load` ..."."""
_JOB = re.compile(r"job_id=([^.]*)\.")
"""The table of a failed job, the start of its id: "job_id=workspace_tags.abc123.parquet"."""


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
    text = str(error)
    step, job = _STEP.search(text), _JOB.search(text)
    message = " ".join(str(innermost).split())
    for marker in ("with message:", "The actual reason given is:"):
        if marker in message:
            message = message.split(marker, 1)[1].strip()
    if "Could not set lock on file" in message or "Conflicting lock" in message:
        return "another run holds this DuckDB file: wait for it to end, or use another file"
    if "No space left on device" in message or "Disk is full" in message:
        return (
            "the disk is full: free space where dlt keeps pipelines and where the data goes, "
            "then run again (nothing landed is lost)"
        )
    if "Cannot open file" in message:
        message += (
            " (the DuckDB file's folder must exist and be writable: check "
            "DESTINATION__DUCKDB__CREDENTIALS)"
        )
    where = " ".join(
        p for p in (f"at {step[1]}" if step else "", f"in table {job[1]}" if job else "") if p
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
    try:
        path.write_text(text)
    except OSError as error:  # a full disk, most likely: the error itself still gets out
        return f"not written to {path}: {error.strerror}"
    return str(path)
