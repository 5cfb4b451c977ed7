"""SIGKILL during extract, normalize or load loses nothing: the next run converges, no dupes."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.helpers import Api, db_counts, expected_counts, killable_run
from timetrack.emulator import EmulatorConfig, EmulatorServer


def _assert_converged(server: EmulatorServer, db: Path) -> None:
    assert db_counts(db) == expected_counts(server.base_url)
    with duckdb.connect(str(db), read_only=True) as connection:
        for table in db_counts(db):
            key = {"organizations_groups": "group_id", "workspace": "workspace_id"}.get(table, "id")
            dupes = connection.execute(
                f'select count(*) - count(distinct "{key}") from timetrack."{table}"'
            ).fetchone()
            assert dupes == (0,), table


def _change(api: Api) -> None:
    now = datetime.fromtimestamp(api.admin("GET", "/clock")["unix"], UTC)
    entry = next(e for e in api.ok("/me/time_entries") if e["stop"])
    api.call("DELETE", f"/workspaces/{entry['workspace_id']}/time_entries/{entry['id']}")
    api.call(
        "POST",
        "/workspaces/4000002/time_entries",
        json={"start": (now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": 900},
    )
    task = api.ok("/workspaces/4000003/tasks")["data"][0]
    api.admin("PATCH", f"/tasks/{task['id']}", json={"name": "renamed while crashing"})


@pytest.mark.parametrize(
    ("kill_at", "n"),
    [("extract", 5), ("extract", 18), ("normalize", 0), ("normalize", 1), ("load", 1), ("load", 6)],
)
def test_killed_runs_converge(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path, kill_at: str, n: int
) -> None:
    server = make_emulator(EmulatorConfig())
    api = Api(server.base_url, "envelope")
    # a first run killed, then finished
    assert killable_run(server, tmp_path, kill_at, n) == -signal.SIGKILL
    killable_run(server, tmp_path)
    _assert_converged(server, tmp_path / "db.duckdb")
    # an incremental run killed after changes, then finished
    _change(api)
    assert killable_run(server, tmp_path, kill_at, n) == -signal.SIGKILL
    killable_run(server, tmp_path)
    _assert_converged(server, tmp_path / "db.duckdb")
