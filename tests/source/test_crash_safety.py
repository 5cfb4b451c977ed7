"""SIGKILL during a run loses nothing: the next run converges, no dupes.

One killed run end to end per kind of run: a first sync killed while it loads (a package half
loaded), then an incremental run after changes killed while it extracts (nothing committed).
What the next run does with what a kill at every other moment leaves (a package extracted, a
package normalized, a package loaded but for its last jobs) is tested on a small pipeline of
its own in test_units_runs_pending.py."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from tests.helpers import Api, duckdb_rows
from tests.source.killable_run import finished_run, forked_run
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

SMALL = Scale(users=12, projects_per_workspace=20, tasks_per_workspace=20, time_entries=600)
"""A small team: every table still takes a load job of its own and an incremental run still
makes dozens of requests, which is all a kill needs."""
KEYS = {"organizations_groups": "group_id", "workspace": "workspace_id"}


def _assert_converged(server: EmulatorServer, db: Path, when: str) -> None:
    problems = differences(expected_tables(server.base_url, "demo-token"), duckdb_rows(db))
    assert not problems, f"{when}: the tables differ from the truth\n" + "\n".join(problems[:40])
    with duckdb.connect(str(db), read_only=True) as connection:
        tables = [
            t
            for (t,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'timetrack' and table_name not like '_dlt%'"
            ).fetchall()
        ]
        for table in tables:
            key = KEYS.get(table, "id")
            dupes = connection.execute(
                f'select count(*) - count(distinct "{key}") from timetrack."{table}"'
            ).fetchone()
            assert dupes == (0,), f"{when}: a key landed twice in {table}"


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


def test_killed_runs_converge(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(scale=SMALL)) as server:
        api = Api(server.base_url, "envelope")
        db = tmp_path / "db.duckdb"
        # a first run killed after its first load job, then finished
        assert forked_run(server.base_url, tmp_path, "load", 1) == -signal.SIGKILL
        assert finished_run(server.base_url, tmp_path).exit_code == 0
        _assert_converged(server, db, "after a first run killed while loading")
        # an incremental run killed in the middle of its requests after changes, then finished
        _change(api)
        assert forked_run(server.base_url, tmp_path, "extract", 18) == -signal.SIGKILL
        assert finished_run(server.base_url, tmp_path).exit_code == 0
        _assert_converged(server, db, "after an incremental run killed while extracting")
