"""What a run finishes first (`pipeline._settle_pending`) when an earlier run was SIGKILLed, at
every moment tests/source/killable_run.py can kill one: before its package was committed, as it
began to normalize, with its files normalized, and with some of its load jobs run.

The killed run is a small pipeline of its own (two merge tables and the state that goes with
their rows) in a forked child that dies with SIGKILL exactly where the crash-safety test's runs
die; the next run's first step then runs here. tests/source/test_crash_safety.py kills the whole
sync end to end."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from tests.source.killable_run import arm, in_forked_child
from timetrack.run.pipeline import RunOptions, _open, _settle_pending, options_target
from timetrack.source import RequestStats

ROWS = {
    "projects": [{"id": i, "name": f"project {i}"} for i in range(1, 6)],
    "tasks": [{"id": i, "name": f"task {i}", "project_id": 1 + i % 5} for i in range(1, 9)],
}
CURSOR = "2026-12-01T00:00:00Z"
"""What the killed run would have remembered: its state goes with its data, or not at all."""


@dlt.source(name="small")
def _small(die_after: int | None = None) -> Any:
    @dlt.resource(primary_key="id", write_disposition="merge", table_name="projects")
    def projects() -> Iterator[dict[str, Any]]:
        for number, row in enumerate(ROWS["projects"], 1):
            if die_after is not None and number > die_after:
                os.kill(os.getpid(), signal.SIGKILL)  # killed while extracting
            yield row
        dlt.current.resource_state()["cursor"] = CURSOR

    @dlt.resource(primary_key="id", write_disposition="merge", table_name="tasks")
    def tasks() -> Iterator[dict[str, Any]]:
        yield from ROWS["tasks"]

    return projects, tasks


def _options(root: Path, full_refresh: bool = False) -> RunOptions:
    return RunOptions(
        destination=dlt.destinations.duckdb(str(root / "db.duckdb")),
        dataset="small",
        pipeline_name="pending",
        pipelines_dir=str(root / "state"),
        full_refresh=full_refresh,
        progress_every=0,
    )


def _killed_run(root: Path, kill_at: str, n: int) -> int:
    """A run of the small source in a forked child, killed at `kill_at`; its wait status."""

    def work() -> None:
        pipeline = _open(options_target(_options(root)))
        if kill_at == "extract":
            pipeline.extract(_small(die_after=n))
        else:
            arm(kill_at, n)
            pipeline.extract(_small())
            pipeline.normalize()
            pipeline.load()

    return in_forked_child(work)


def _landed(root: Path) -> dict[str, list[tuple[Any, ...]]]:
    if not (root / "db.duckdb").exists():
        return {}
    with duckdb.connect(str(root / "db.duckdb"), read_only=True) as db:
        listed = {
            t
            for (t,) in db.execute(
                "select table_name from information_schema.tables where table_schema = 'small'"
            ).fetchall()
        }
        return {
            table: db.execute(
                f"select * exclude (_dlt_id, _dlt_load_id) from small.{table}"
            ).fetchall()
            for table in sorted(ROWS)
            if table in listed
        }


def _expected() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "projects": [(r["id"], r["name"]) for r in ROWS["projects"]],
        "tasks": [(r["id"], r["name"], r["project_id"]) for r in ROWS["tasks"]],
    }


def _settle(root: Path, full_refresh: bool = False) -> tuple[Any, str, RequestStats]:
    options = _options(root, full_refresh)
    target = options_target(options)
    pipeline = _open(target)
    out, stats = io.StringIO(), RequestStats()
    _settle_pending(pipeline, target, options, stats, out)
    return pipeline, out.getvalue(), stats


@pytest.mark.parametrize(
    ("kill_at", "n"),
    [("normalize", 0), ("normalize", 1), ("load", 1), ("load", 2)],
    ids=["normalize-starts", "normalize-wrote-its-files", "load-after-1-job", "load-after-2-jobs"],
)
def test_a_package_a_killed_run_left_is_loaded_once_with_its_state(
    tmp_path: Path, kill_at: str, n: int
) -> None:
    assert _killed_run(tmp_path, kill_at, n) == -signal.SIGKILL, "the run was killed"
    pipeline, said, stats = _settle(tmp_path)
    assert said == "finishing the load of an interrupted run first\n", said
    assert not pipeline.has_pending_data, "nothing is left pending"
    landed = {t: sorted(rows) for t, rows in _landed(tmp_path).items()}
    assert landed == _expected(), "every row of the killed run's package landed once"
    state = pipeline.state["sources"]["small"]["resources"]["projects"]
    assert state["cursor"] == CURSOR, "the state the package carried is the pipeline's"
    assert stats.notes == []


def test_a_run_killed_before_its_package_was_committed_leaves_nothing_to_finish(
    tmp_path: Path,
) -> None:
    assert _killed_run(tmp_path, "extract", 3) == -signal.SIGKILL
    pipeline, said, _ = _settle(tmp_path)
    assert said == "", "nothing to finish, nothing said"
    assert not pipeline.has_pending_data
    assert _landed(tmp_path) == {}, "no row of the killed run landed"
    assert "small" not in pipeline.state.get("sources", {}), "nor did its state"


def test_a_full_refresh_drops_the_pending_package_instead(tmp_path: Path) -> None:
    assert _killed_run(tmp_path, "load", 1) == -signal.SIGKILL
    pipeline, said, stats = _settle(tmp_path, full_refresh=True)
    assert said == ""
    assert not pipeline.has_pending_data, "the package is dropped"
    assert stats.notes == ["dropped the pending load of an earlier run (--full-refresh)"]
