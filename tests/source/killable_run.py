"""A sync that kills itself with SIGKILL at a chosen moment, for the crash-safety tests.

    python killable_run.py BASE_URL DB STATE_DIR {extract|normalize|load|never} N

DB is a DuckDB file, or postgres:DATASET.

extract: after the N-th API request; normalize: as it starts (N=0) or once its files are written
(N=1); load: after the N-th load job ran. Nothing here is product code: it only wraps dlt
and the client from outside.

Tests in this process call `forked_run` instead: the same run in a forked child, which skips
the seconds of a new interpreter's start-up (dlt's imports) and dies the same way.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.client import RunnableLoadJob
from dlt.normalize.normalize import Normalize

from timetrack.run.pipeline import RunOptions, RunSummary, run
from timetrack.source.client import ApiClient

PIPELINE = "killable"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(n: int, original: Any) -> Any:
    count = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        result = original(*args, **kwargs)
        if count >= n:
            _die()
        return result

    return wrapper


def _during(n: int, original: Any) -> Any:
    count = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count >= n:
            _die()
        return original(*args, **kwargs)

    return wrapper


def arm(kill_at: str, n: int) -> None:
    """Make this process SIGKILL itself at `kill_at` (see the module's docstring)."""
    if kill_at == "extract":
        ApiClient.request = _after(n, ApiClient.request)  # type: ignore[method-assign]
    elif kill_at == "normalize":
        # n=0: as normalizing starts; n=1: with every file normalized, before the package moves on
        wrap = _during(1, Normalize.spool_files) if n == 0 else _after(1, Normalize.spool_files)
        Normalize.spool_files = wrap  # type: ignore[method-assign]
    elif kill_at == "load":
        RunnableLoadJob.run_managed = _after(n, RunnableLoadJob.run_managed)  # type: ignore[method-assign]
    elif kill_at != "never":
        raise ValueError(f"no such moment: {kill_at}")


def options(base_url: str, db: str, state_dir: str, **source_args: Any) -> RunOptions:
    """The run's options; DB is a DuckDB file, or postgres:DATASET (credentials from
    DESTINATION__POSTGRES__...)."""
    destination: Any = dlt.destinations.duckdb(db)
    dataset = "timetrack"
    if db.startswith("postgres:"):
        destination, dataset = "postgres", db.split(":", 1)[1]
    return RunOptions(
        destination=destination,
        dataset=dataset,
        pipeline_name=PIPELINE,
        pipelines_dir=state_dir,
        progress_every=0,
        source_args={
            "api_token": "demo-token",
            "base_url": base_url,
            "requests_per_second": 0,
            "reconcile_hours": 0,  # every run reads everything: convergence in one run
            "quota_share": 1.0,  # the quota tests kill it after a set number of requests
            **source_args,
        },
    )


def finished_run(base_url: str, root: Path) -> RunSummary:
    """The run that follows a killed one, in this process, into `root/db.duckdb`."""
    return run(options(base_url, str(root / "db.duckdb"), str(root / "state")))


def in_forked_child(work: Callable[[], object]) -> int:
    """`work()` in a forked child (a process of its own, without a new interpreter's
    start-up), which never returns into the caller's code; the child's wait status as
    `subprocess` gives it (-9 for SIGKILL, 0 when `work` returned, 1 when it raised)."""
    pid = os.fork()
    if pid == 0:  # the child: never back into the test
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def forked_run(base_url: str, root: Path, kill_at: str, n: int) -> int:
    """The run into `root/db.duckdb` in a forked child armed to die at `kill_at`; the child's
    wait status (-9 for SIGKILL, 0 for a run that ended)."""

    def work() -> None:
        arm(kill_at, n)
        run(options(base_url, str(root / "db.duckdb"), str(root / "state")))

    return in_forked_child(work)


def main() -> None:
    base_url, db, state_dir, kill_at, n = sys.argv[1:6]
    arm(kill_at, int(n))
    summary = run(options(base_url, db, state_dir))
    print(sum(summary.rows.values()))


if __name__ == "__main__":
    main()
