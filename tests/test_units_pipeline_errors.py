"""run/pipeline.py's steps around a sync, in the test's process and without one: the run lock
(a second run refused, a listener's batch waited for), the source a destination gets (its
tables, hints, the token it lacks), a destination dlt cannot use, views that cannot be built,
the state restored from the destination, and DuckDB's memory cap beside the user's settings.
tests/test_units_run.py and the end-to-end tests run the same steps in real syncs."""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dlt
import duckdb
import pytest

from tests.helpers import db_counts, fast_options
from timetrack.destination.target import Target
from timetrack.emulator import EmulatorServer
from timetrack.errors import NO_TOKEN, ConfigurationError, TimetrackError
from timetrack.live.journal import Journal, SubscriptionRecord, journal_path
from timetrack.run import loading as loading_module
from timetrack.run import pipeline as pipeline_module
from timetrack.run.pipeline import RunOptions, run
from timetrack.run.progress import RunProgress
from timetrack.source import RequestStats, source_tables
from timetrack.source.core import SourceArgs

TOKEN = SourceArgs(api_token="t", base_url="https://timetrack.invalid")  # never asked: no sync


def _options(root: Path, **given: Any) -> RunOptions:
    return RunOptions(
        duckdb_file=str(root / "x.duckdb"),
        dataset="d",
        pipeline_name="mine",
        pipelines_dir=str(root / "state"),
        **given,
    )


def _held(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_the_target_is_the_one_the_options_name(tmp_path: Path) -> None:
    target = pipeline_module.options_target(_options(tmp_path))
    assert (target.kind, target.location, target.dataset, target.pipeline_name) == (
        "duckdb",
        str(tmp_path / "x.duckdb"),
        "d",
        "mine",
    )
    assert target.pipelines_folder == tmp_path / "state"
    lake = pipeline_module.options_target(
        RunOptions(
            destination=dlt.destinations.filesystem(bucket_url=str(tmp_path / "lake")),
            table_format="delta",
        )
    )
    assert (lake.kind, lake.table_format) == ("filesystem", "delta")


def test_a_second_run_of_a_pipeline_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    held = _held(tmp_path / "state" / ".mine.lock")  # what the first run holds
    try:
        with pytest.raises(ConfigurationError) as caught:
            run(_options(tmp_path))
    finally:
        held.close()
    assert str(caught.value) == (
        f"another run of pipeline mine (DuckDB file {tmp_path / 'x.duckdb'}, dataset 'd') is "
        "running: wait for it to end"
    )
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(ConfigurationError) as caught:
        run(_options(tmp_path / "file"))
    assert str(caught.value) == f"--pipelines-dir {file / 'state'}: {file} is a file, not a folder"


def test_a_run_waits_for_a_listeners_batch_and_not_for_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pipeline_module.options_target(_options(tmp_path))
    lock, marker = tmp_path / "state" / ".mine.lock", tmp_path / "state" / ".mine.lock.batch"
    held = _held(lock)
    marker.write_text("")

    def batch_ends() -> None:
        time.sleep(0.3)
        marker.unlink()
        held.close()

    ending = threading.Thread(target=batch_ends)
    with open(lock, "a+") as mine:
        started = time.monotonic()
        ending.start()
        pipeline_module._take(mine, target)
        waited = time.monotonic() - started
        ending.join()
    assert 0.3 <= waited < 1, "the lock was taken once the batch ended, soon after"

    held = _held(lock)
    try:
        with open(lock, "a+") as mine:
            started = time.monotonic()
            with pytest.raises(BlockingIOError):
                pipeline_module._take(mine, target)
            assert time.monotonic() - started < 1, "another run: refused at once"
            marker.write_text("")
            monkeypatch.setattr(pipeline_module, "LISTENER_BATCH_WAIT", 0.4)
            started = time.monotonic()
            with pytest.raises(BlockingIOError):
                pipeline_module._take(mine, target)
            assert 0.4 <= time.monotonic() - started < 3, "a batch that never ends: given up"
    finally:
        held.close()


def _target(root: Path, kind: str = "duckdb", table_format: str | None = None) -> Target:
    return Target(kind, kind, kind, "d", "mine", str(root / "state"), table_format)


def _hints(source: Any) -> dict[str, tuple[Any, Any, Any]]:
    """Each selected table: its write disposition, table format and whether a row marked
    deleted deletes its key."""
    return {
        name: (
            resource.write_disposition,
            resource._hints.get("table_format"),
            (resource.columns or {}).get("server_deleted_at", {}).get("hard_delete", False),
        )
        for name, resource in source.resources.items()
        if resource.selected
    }


def test_each_destination_gets_the_tables_asked_for_with_the_hints_it_can_load(
    tmp_path: Path,
) -> None:
    options = RunOptions(source_args=TOKEN, resources=["workspace_tags", "time_entries"])

    def hints(target: Target) -> dict[str, tuple[Any, Any, Any]]:
        return _hints(pipeline_module._source(options, target, RequestStats()))

    assert hints(_target(tmp_path)) == {
        "workspace_tags": ("merge", None, True),
        "time_entries": ("merge", None, True),
        "rejected_records": ("append", None, False),
    }, "a database merges, and a row marked deleted deletes its key"
    assert hints(_target(tmp_path, "filesystem")) == {
        "workspace_tags": ("append", None, False),
        "time_entries": ("append", None, False),
        "rejected_records": ("append", None, False),
    }, "plain files append, and keep deleted rows, marked"
    upsert = {"disposition": "merge", "strategy": "upsert"}
    assert hints(_target(tmp_path, "filesystem", "delta")) == {
        "workspace_tags": (upsert, "delta", True),
        "time_entries": (upsert, "delta", True),
        "rejected_records": ("append", "delta", False),
    }
    every = pipeline_module._source(
        RunOptions(source_args=TOKEN), _target(tmp_path), RequestStats()
    )
    assert {n for n, r in every.resources.items() if r.selected} == {
        *source_tables(),
        "rejected_records",
    } - {"rates"}, "no resource named: every table (rates only when the rates setting asks)"


def test_an_unknown_table_is_refused_with_the_tables_there_are(tmp_path: Path) -> None:
    options = RunOptions(source_args=TOKEN, resources=["time_entries", "nope", "clients"])
    with pytest.raises(ConfigurationError) as caught:
        pipeline_module._source(options, _target(tmp_path), RequestStats())
    assert str(caught.value) == (
        f"unknown resource clients, nope; choose from {', '.join(source_tables())}"
    )


def test_a_run_without_a_token_says_where_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here
    for name in ("SOURCES__TIMETRACK__API_TOKEN", "SOURCES__API_TOKEN", "API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        pipeline_module._source(RunOptions(), _target(tmp_path), RequestStats())
    assert str(caught.value) == NO_TOKEN


def test_workspaces_webhooks_keep_live_are_noted(tmp_path: Path) -> None:
    target = _target(tmp_path)
    journal = Journal(journal_path(target))
    try:
        for sub, workspace in ((1, 11), (2, 22), (3, 22)):
            record = SubscriptionRecord(sub, workspace, None, False, ["tag"], "", "now", True)
            journal.record_subscription(record)
        journal.beat()
    finally:
        journal.close()
    stats = RequestStats()
    pipeline_module._source(RunOptions(source_args=TOKEN), target, stats)
    assert stats.notes == ["webhooks keep 2 workspace(s) live: their hourly reads are skipped"]
    quiet = RequestStats()
    pipeline_module._source(RunOptions(source_args=TOKEN), _target(tmp_path / "o"), quiet)
    assert quiet.notes == [], "no listener: nothing said"


def test_a_destination_dlt_cannot_use_is_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        pipeline_module._open(_target(tmp_path, "nosuch"))
    said = str(caught.value)
    assert said.startswith("cannot use destination 'nosuch': Destination 'nosuch' was first ")
    assert "\n" not in said and said.endswith(" ...") and len(said) <= 34 + 404


def test_views_that_cannot_be_built_are_a_warning_with_the_whole_error_in_a_log(
    tmp_path: Path,
) -> None:
    stats = RequestStats()
    nowhere = SimpleNamespace(working_dir=str(tmp_path / "p"))  # no destination to build in
    views = pipeline_module._rebuild_views(nowhere, _target(tmp_path), stats, RunOptions())
    log = tmp_path / "p" / "last_error.log"
    assert views == [] and len(stats.warnings) == 1
    assert stats.warnings[0].startswith("the analytics views were not rebuilt: ")
    assert stats.warnings[0].endswith(f" (full detail: {log})")
    assert "Traceback" in log.read_text()


class _Pipeline:
    def __init__(self, first_run: bool) -> None:
        self.first_run = first_run
        self.synced = 0

    def sync_destination(self) -> None:
        self.synced += 1


@pytest.mark.parametrize(
    ("first_run", "full_refresh", "synced"),
    [(True, False, 1), (True, True, 0), (False, False, 0), (False, True, 0)],
)
def test_a_new_pipeline_folder_takes_its_state_from_the_destination(
    first_run: bool, full_refresh: bool, synced: int
) -> None:
    pipeline = _Pipeline(first_run)
    pipeline_module._restore_state(pipeline, RunOptions(full_refresh=full_refresh))
    assert pipeline.synced == synced


def test_duckdbs_memory_cap_yields_to_the_users_settings_and_only_to_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"
    monkeypatch.setattr(pipeline_module, "_written_duckdb_config", None)
    ours = {"memory_limit": "128MB", "preserve_insertion_order": False, "threads": 1}
    try:
        monkeypatch.setenv(key, '{"memory_limit": "1GB", "threads": 2}')
        pipeline_module._cap_duckdb_memory()
        # dlt reads the variable first; what DuckDB is given is what was written under it.
        user = {"memory_limit": "1GB", "preserve_insertion_order": False, "threads": 2}
        assert pipeline_module._written_duckdb_config == user
        monkeypatch.delenv(key)
        pipeline_module._cap_duckdb_memory()
        assert dlt.secrets["destination.duckdb.credentials.global_config"] == ours, (
            "what the last run wrote is not taken for the user's setting"
        )
    finally:
        monkeypatch.delenv(key, raising=False)
        pipeline_module._cap_duckdb_memory()
    assert dlt.secrets["destination.duckdb.credentials.global_config"] == ours


def test_a_failed_load_says_the_way_out_the_next_run_finishes_it_and_a_refresh_starts_anew(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Small runs, the tags alone: a load the destination refuses, the next run failing on the
    load left pending, then, the fault cleared, one that lands it and says what it did; then a
    run that keeps the table as it is (and fails, a column dropped by hand), and a full refresh
    of another table that drops the load left pending and loads the dataset anew."""
    db, log = tmp_path / "db.duckdb", tmp_path / "state" / "test_db" / "last_error.log"
    with duckdb.connect(str(db)) as conn:  # a view where the table goes: its load fails
        conn.execute(
            "create schema timetrack; create view timetrack.workspace_tags as select 1::bigint "
            "as id, null::timestamp as server_deleted_at, 1::bigint as workspace_id where false"
        )
    options = fast_options(emulator.base_url, tmp_path, resources=["workspace_tags"])
    options.strict = True
    way_out = f"; {pipeline_module.FIX_PENDING} (full detail: {log})"
    with pytest.raises(TimetrackError) as failed:
        run(options, out=io.StringIO())
    assert str(failed.value).startswith("the run failed: at load: ")
    assert str(failed.value).endswith(way_out), "a failed load names the way out"
    with pytest.raises(TimetrackError) as pending:
        run(options, out=io.StringIO())
    assert str(pending.value).startswith("the load an earlier run left pending fails: at load: ")
    assert str(pending.value).endswith(way_out)
    assert "Traceback" in log.read_text()

    with duckdb.connect(str(db)) as conn:
        conn.execute("drop view timetrack.workspace_tags")
    out = io.StringIO()
    started = time.monotonic()
    summary = run(options, out=out)
    took = time.monotonic() - started
    assert out.getvalue() == "finishing the load of an interrupted run first\n"
    assert db_counts(db)["workspace_tags"] > 0
    # The pending load landed every tag; this run's own reading finds them there and writes
    # none again. dlt's own tables (the state it writes every run) are left out of the count.
    assert summary.rows == {}, "dlt's own tables left out"
    assert (summary.destination, summary.dataset, summary.pipeline_name) == (
        "duckdb",
        "timetrack",
        "test_db",
    )
    assert summary.where == f"DuckDB file {db}, dataset 'timetrack'"
    assert (summary.strict, summary.exit_code, summary.stats.phase) == (True, 0, "load")
    assert 0 < summary.elapsed < took and summary.stats.requests > 0
    loaded = tmp_path / "state" / "test_db" / "load" / "loaded"
    files = {f.name.split(".")[-1] for f in loaded.glob("*/completed_jobs/workspace_tags.*")}
    assert "parquet" in files and "insert_values" not in files, "DuckDB loads Parquet"

    with duckdb.connect(str(db)) as conn:  # a column dropped by hand: the next load fails
        conn.execute("alter table timetrack.workspace_tags drop column name")
    with pytest.raises(TimetrackError) as kept:
        run(options, out=io.StringIO())
    assert str(kept.value).startswith("the run failed: at load"), "a run keeps the table"
    options.full_refresh, options.resources = True, ["workspace_clients"]
    refreshed = run(options, out=io.StringIO())
    assert refreshed.stats.notes == ["dropped the pending load of an earlier run (--full-refresh)"]
    landed = db_counts(db)
    assert refreshed.rows == {"workspace_clients": landed["workspace_clients"]}
    assert "workspace_tags" not in landed, "--full-refresh loads the dataset anew, every table"


@pytest.mark.parametrize(
    ("step", "hint"), [("extract", False), ("normalize", True), ("load", True)]
)
def test_a_step_that_fails_in_a_run_says_the_way_out_only_when_data_waits(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, hint: bool
) -> None:
    """A failure once data is extracted leaves it pending for the next run, which the error
    says; a failed extract leaves nothing behind to say it of."""

    def failing(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{step} broke")

    monkeypatch.setattr(dlt.Pipeline, step, failing)
    options = fast_options(emulator.base_url, tmp_path, resources=["workspace_tags"])
    log = tmp_path / "state" / "test_db" / "last_error.log"
    with pytest.raises(TimetrackError) as failed:
        run(options, out=io.StringIO())
    way_out = f"; {pipeline_module.FIX_PENDING}" if hint else ""
    assert str(failed.value) == f"the run failed: {step} broke{way_out} (full detail: {log})"


def test_a_run_shows_each_step_as_it_starts_and_ends_in_the_last(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress line names the step the run is in (read mid-step, every few seconds)."""
    steps: list[str] = []
    shown = RunProgress.step

    def step(self: RunProgress, name: str) -> None:
        steps.append(name)
        shown(self, name)

    monkeypatch.setattr(RunProgress, "step", step)
    settings: dict[str, str | None] = {}
    load = dlt.Pipeline.load

    def loading(self: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        settings.update({k: os.environ.get(k) for k in loading_module.DUCKDB_LOAD_SETTINGS})
        return load(self, *args, **kwargs)

    monkeypatch.setattr(dlt.Pipeline, "load", loading)
    for key in loading_module.DUCKDB_LOAD_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    options = fast_options(emulator.base_url, tmp_path, resources=["workspace_tags"])
    summary = run(options, out=io.StringIO())
    assert steps == ["extract", "normalize", "load"]
    assert summary.stats.phase == "load"
    assert settings == loading_module.DUCKDB_LOAD_SETTINGS, "DuckDB loads one job at a time"


def test_views_that_fail_in_a_run_are_its_warning_and_the_data_still_lands(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(pipeline: Any, kind: str) -> list[str]:
        raise RuntimeError("no views today")

    monkeypatch.setattr(pipeline_module, "build_views", failing)
    options = fast_options(emulator.base_url, tmp_path, resources=["workspace_tags"])
    summary = run(options, out=io.StringIO())
    log = tmp_path / "state" / "test_db" / "last_error.log"
    assert summary.stats.warnings == [
        f"the analytics views were not rebuilt: no views today (full detail: {log})"
    ]
    assert summary.views == [] and summary.exit_code == 0
    assert db_counts(tmp_path / "db.duckdb")["workspace_tags"] == summary.rows["workspace_tags"]
