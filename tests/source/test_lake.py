"""Delta tables on the filesystem destination: repeated runs merge on keys and delete what the
service deleted, as in DuckDB, on a local path and on an S3-compatible server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from tests.helpers import Api, S3Server, delta_rows, expected_counts, fast_options
from tests.truth import KEYS, differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.emulator.config import Scale
from timetrack.run.pipeline import RunOptions, run

SCALE = Scale(
    organizations=2,
    workspaces=2,
    users=20,
    projects_per_workspace=30,
    tasks_per_workspace=260,
    time_entries=500,
    days=100,
)
"""Small, but with tasks over two pages: a task deleted just before a run makes the run list
them all again, so that one load holds every task twice."""
WS = 4000001


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _change(api: Api) -> dict[str, Any]:
    """Edits, additions and deletions of every kind a run must carry over; the ids touched."""
    now = datetime.fromtimestamp(api.admin("GET", "/clock")["unix"], UTC)
    mine = api.ok("/me/time_entries", since=int(now.timestamp()) - 80 * 86400)
    live = [e for e in mine if e["server_deleted_at"] is None and e["stop"]]
    edited, removed = live[0], live[1]
    api.call(
        "PUT",
        f"/workspaces/{edited['workspace_id']}/time_entries/{edited['id']}",
        json={"description": "edited between runs"},
    )
    api.call("DELETE", f"/workspaces/{removed['workspace_id']}/time_entries/{removed['id']}")
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{WS}/time_entries",
            json={"start": _iso(now - timedelta(hours=3)), "duration": 600, "description": "new"},
        )
    )
    task = api.ok(f"/workspaces/{WS}/tasks")["data"][0]
    api.admin("DELETE", f"/tasks/{task['id']}")
    client = api.ok(f"/workspaces/{WS}/clients")[0]
    api.admin("DELETE", f"/clients/{client['id']}")
    project = api.ok(f"/workspaces/{WS}/projects")[0]
    api.admin("PATCH", f"/projects/{project['id']}", json={"name": "Renamed between runs"})
    return {
        "time_entries": [removed["id"]],
        "report_time_entries": [removed["id"]],
        "workspace_tasks": [task["id"]],
        "workspace_clients": [client["id"]],
        "edited": edited["id"],
        "created": created["id"],
    }


def _converged(server: EmulatorServer, landed: dict[str, list[dict[str, Any]]]) -> None:
    assert differences(expected_tables(server.base_url, "demo-token"), landed) == []


def _two_runs(
    server: EmulatorServer, options: RunOptions, read: Callable[[], dict[str, list[Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """A first run, changes, a second run; both converged to the truth. What landed last."""
    api = Api(server.base_url, "envelope")
    task = api.ok(f"/workspaces/{WS}/tasks")["data"][-1]
    api.admin("DELETE", f"/tasks/{task['id']}")  # inside the overlap: tasks are listed twice
    first = run(options)
    assert first.exit_code == 0, first.stats.errors
    assert first.rows["workspace_tasks"] > expected_counts(server.base_url)["workspace_tasks"]
    _converged(server, read())

    gone = _change(api)
    second = run(options)
    assert second.exit_code == 0, second.stats.errors
    # Rows of keys already there land again (the edited entry, the renamed project): with no
    # duplicate key below (`differences` counts one as a difference), merged, not appended.
    relanded = {t: second.rows.get(t, 0) for t in ("time_entries", "workspace_projects")}
    assert all(relanded.values()), ("the second run lands changed rows again", relanded)
    landed = read()
    _converged(server, landed)
    for table in ("time_entries", "report_time_entries", "workspace_tasks", "workspace_clients"):
        keys = {row[KEYS[table]] for row in landed[table]}
        assert not keys & set(gone[table]), f"{table}: a deleted record is still there"
    descriptions = {r["id"]: r["description"] for r in landed["time_entries"]}
    assert descriptions[gone["edited"]] == "edited between runs"
    assert gone["created"] in descriptions
    return landed


@pytest.mark.timeout(120)
def test_delta_tables_on_a_local_path_merge_and_delete(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    server = make_emulator(EmulatorConfig(scale=SCALE))
    lake = dlt.destinations.filesystem(bucket_url=str(tmp_path / "lake"))
    options = fast_options(server.base_url, tmp_path, name="delta", destination=lake)
    options.table_format = "delta"
    root = str(tmp_path / "lake" / "timetrack")
    # Merged, not appended: the second run lands again rows of keys the first landed, and
    # `differences` counts a duplicate key as a difference (a third, unchanged, run checked
    # this before).
    _two_runs(server, options, lambda: delta_rows(root, KEYS))


@pytest.mark.timeout(120)
def test_delta_tables_on_an_s3_compatible_server_merge_and_delete(
    make_emulator: Callable[..., EmulatorServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_emulator(EmulatorConfig(scale=SCALE))
    with S3Server() as s3:
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DESTINATION__FILESYSTEM__TABLE_FORMAT", "delta")  # as configured
        options = fast_options(server.base_url, tmp_path, name="s3", destination="filesystem")
        root = f"s3://{s3.bucket}/timetrack"
        _two_runs(server, options, lambda: delta_rows(root, KEYS, s3.storage_options))
