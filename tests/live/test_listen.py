"""Live tables through the CLI: `webhooks setup` (twice), `listen` landing changes into the
tables `run` filled, a forged event refused, an entry made while the listener was down, the
Free plan's limits, `status` and `remove`; values compared with the emulator's records.

The dead-listener test runs every command as a process of its own (moved into this process, its
late entry once failed to land under a full suite's load); the member's setup and the faults run
in this process (tests/test_units_cli_inprocess.py), which saves a Python start-up each."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import requests
from click.testing import Result

from tests.helpers import MEMBER_TOKEN, TOKEN, rows_by_id
from tests.test_units_cli_inprocess import invoke
from tests.truth import instant
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

DATASET = "tt"
SMALL = Scale(
    organizations=3,
    workspaces=3,
    users=12,
    clients_per_workspace=2,
    projects_per_workspace=5,
    tasks_per_workspace=3,
    time_entries=120,
    days=200,
)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=11, scale=SMALL)) as emulator:
        yield emulator


def cli(
    tmp: Path, *args: str, token: str = TOKEN, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "timetrack", *args],
        cwd=tmp,
        env={**os.environ, "SOURCES__TIMETRACK__API_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stderr
    return result


def in_process(tmp: Path, *args: str, token: str | None = TOKEN, check: bool = True) -> Result:
    """`timetrack ARGS` in this process (tests/test_units_cli_inprocess.py): for commands whose
    own process would show nothing more than their output and exit code."""
    result = invoke(tmp, *args, SOURCES__TIMETRACK__API_TOKEN=token)
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.exit_code == 0, result.stderr
    return result


def place(tmp: Path, name: str = "db") -> list[str]:
    return [
        "--duckdb-file",
        str(tmp / f"{name}.duckdb"),
        "--pipelines-dir",
        str(tmp / "state"),
        "--dataset",
        DATASET,
    ]


class Listening:
    """`timetrack listen` in a process of its own."""

    def __init__(self, tmp: Path, args: list[str], token: str = TOKEN, port: int = 0) -> None:
        self.tmp, self.args, self.token = tmp, args, token
        self.port = port
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Listening:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "timetrack", "listen", "--port", str(self.port), *self.args],
            cwd=self.tmp,
            env={**os.environ, "SOURCES__TIMETRACK__API_TOKEN": self.token},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + self.process.stderr.read()  # type: ignore[union-attr]
        self.port = int(found.group(1))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=10)

    def stop(self) -> str:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        assert "Traceback" not in err, err
        return err


def tables(path: Path, *names: str) -> list[dict[int, dict[str, Any]]]:
    """Some tables' rows by id, read together; the listener may hold the file for a moment."""
    for _ in range(100):
        try:
            with duckdb.connect(str(path), read_only=True) as db:
                return [rows_by_id(db, f"{DATASET}.{table}") for table in names]
        except duckdb.IOException:
            time.sleep(0.1)
    raise AssertionError("the DuckDB file stayed locked")


def rows(path: Path, table: str) -> dict[int, dict[str, Any]]:
    """A table's rows by id."""
    return tables(path, table)[0]


def until(check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)  # each look opens DuckDB: twice a second is soon enough
    raise AssertionError(f"not within {seconds} s: {last!r}")


def api(server: EmulatorServer, method: str, path: str, token: str = TOKEN, **kw: Any) -> Any:
    answer = requests.request(
        method, server.base_url + "/api/v9" + path, auth=(token, "api_token"), timeout=10, **kw
    )
    assert answer.status_code == 200, answer.text
    return answer.json() if answer.content else None


def record(server: EmulatorServer, entity: str, key: int) -> dict[str, Any]:
    """The emulator's own record of one entity (deleted ones included)."""
    found = requests.get(f"{server.base_url}/_emulator/records/{entity}", timeout=30).json()
    return next(r for r in found if r["id"] == key)


def failed(server: EmulatorServer, entry_id: int) -> bool:
    """Whether a delivery of the entry's event was tried and failed (and waits for a retry)."""
    listing = requests.get(f"{server.base_url}/_emulator/webhooks", timeout=10).json()
    return any(d.get("id") == entry_id and d["attempts"] >= 1 for d in listing["pending"])


def same_entry(row: dict[str, Any] | None, truth: dict[str, Any]) -> bool:
    return (
        row is not None
        and row["description"] == truth["description"]
        and row["start"] == instant(truth["start"])
        and row["stop"] == instant(truth["stop"])
        and row["at"] == instant(truth["at"])
        and row["project_id"] == truth.get("project_id")
    )


def test_changes_land_within_seconds_and_survive_a_dead_listener(
    server: EmulatorServer, tmp_path: Path
) -> None:
    where = place(tmp_path)
    service = ["--base-url", server.base_url]
    in_process(tmp_path, "run", *where, *service, "--requests-per-second", "0", "-q")
    db = tmp_path / "db.duckdb"
    listener = Listening(tmp_path, where).start()
    try:
        setup = ["webhooks", "setup", "--callback-url", listener.url, *where, *service]
        first = cli(tmp_path, *setup).stdout
        data = server.emulator.data
        plan = {
            ws.id: data.organizations[ws.organization_id].plan.name
            for ws in data.workspaces.values()
        }
        free = next(w for w, p in plan.items() if p == "Free")
        assert f"workspace {free}: subscribed (time_entry, project, client)" in first
        assert first.count("validated by the listener") == 3, first
        hub = data.webhooks
        before = {s.subscription_id: (s.secret, s.updated_at) for s in hub.subscriptions.values()}
        again = in_process(tmp_path, *setup).stdout
        assert again.count("subscribed already") == 3, again
        after = {s.subscription_id: (s.secret, s.updated_at) for s in hub.subscriptions.values()}
        assert after == before  # the second setup changed nothing
        secrets_file = (tmp_path / ".dlt" / "secrets.toml").read_text()
        assert all(secret in secrets_file for secret, _ in before.values())
        assert oct((tmp_path / ".dlt" / "secrets.toml").stat().st_mode & 0o777) == "0o600"

        premium = next(w for w, p in plan.items() if p == "Premium")
        report = rows(db, "report_time_entries")
        oldest = min(
            (r for r in report.values() if r["workspace_id"] == premium), key=lambda r: r["start"]
        )
        doomed = max(
            (r for r in report.values() if r["workspace_id"] == premium), key=lambda r: r["start"]
        )
        created = api(
            server,
            "POST",
            f"/workspaces/{premium}/time_entries",
            json={"start": "2026-11-30T09:00:00Z", "duration": 1800, "description": "live one"},
        )
        api(
            server,
            "PUT",
            f"/workspaces/{premium}/time_entries/{oldest['id']}",
            json={"description": "edited \x00 oldest"},
        )
        api(server, "DELETE", f"/workspaces/{premium}/time_entries/{doomed['id']}")
        project = next(p for p in data.projects.values() if p.workspace_id == premium)
        requests.patch(
            f"{server.base_url}/_emulator/projects/{project.id}",
            json={"name": "Renamed live"},
            timeout=10,
        ).raise_for_status()

        new_truth = record(server, "time_entries", created["id"])
        old_truth = record(server, "time_entries", oldest["id"])
        assert old_truth["description"] == "edited \x00 oldest"

        def landed() -> Any:
            report, own, projects = tables(
                db, "report_time_entries", "time_entries", "workspace_projects"
            )
            return (
                same_entry(report.get(created["id"]), new_truth)
                and same_entry(own.get(created["id"]), new_truth)
                and report[created["id"]]["seconds"] == 1800
                and report.get(oldest["id"], {}).get("description") == "edited  oldest"
                and report[oldest["id"]]["at"] == instant(old_truth["at"])
                and doomed["id"] not in report
                and projects[project.id]["name"] == "Renamed live"
                and projects[project.id]["at"]
                == instant(record(server, "projects", project.id)["at"])
                and (report, projects)
            )

        report, _ = until(landed)
        # What the event does not carry keeps what `run` landed (the report's amounts).
        assert report[oldest["id"]]["currency"] == oldest["currency"]
        assert report[oldest["id"]]["hourly_rate_in_cents"] == oldest["hourly_rate_in_cents"]

        # A forged event: unsigned, or signed with another secret: 401, nothing journalled.
        forged = {
            "event_id": 10**9,
            "subscription_id": next(iter(before)),
            "metadata": {"model": "project", "action": "created", "workspace_id": premium},
            "payload": {"id": 999_999, "name": "forged", "at": "2030-01-01T00:00:00Z"},
            "timestamp": "2030-01-01T00:00:00Z",
        }
        body = orjson.dumps(forged)
        wrong = hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()
        for headers in ({}, {"X-Webhook-Signature-256": f"sha256={wrong}"}):
            answer = requests.post(listener.url, data=body, headers=headers, timeout=10)
            assert answer.status_code == 401
        huge = requests.post(listener.url, data=b"x" * (2 * 1024 * 1024), timeout=10)
        assert huge.status_code == 413

        # Down: an entry made meanwhile arrives after the restart (the service retries).
        listener.kill()
        late = api(
            server,
            "POST",
            f"/workspaces/{premium}/time_entries",
            json={"start": "2026-11-30T11:00:00Z", "duration": 600, "description": "while down"},
        )
        until(lambda: failed(server, late["id"]))  # the service tried, and failed
        listener = Listening(tmp_path, where, port=listener.port).start()
        late_truth = record(server, "time_entries", late["id"])
        until(lambda: same_entry(rows(db, "report_time_entries").get(late["id"]), late_truth))
        # The forged events came before this one: had one been journalled, it would have
        # landed by now.
        assert 999_999 not in rows(db, "workspace_projects"), "a forged event landed"

        status = in_process(tmp_path, "webhooks", "status", *where, *service).stdout
        assert status.count("validated;") == 3, status
        free_lines = status.split(f"workspace {free}:")[1].splitlines()
        assert "relying on the hourly run:" in free_lines[1] and "workspace_tasks" in free_lines[1]
        assert "listener: last seen" in status

        # `run` beside the listener, on the same DuckDB file, keeps working; the first one
        # live reads once what the webhooks cover, and the next skips it: the report and
        # projects everywhere, tasks but on Free (its three filters leave tasks out).
        in_process(tmp_path, "run", *where, *service, "--requests-per-second", "0", "-q")
        requests.delete(f"{server.base_url}/_emulator/requests", timeout=10)
        in_process(tmp_path, "run", *where, *service, "--requests-per-second", "0", "-q")
        asked = requests.get(f"{server.base_url}/_emulator/requests", timeout=10).json()
        assert asked["by_route"] == {
            "GET /v1/me/time_entries": 1,
            "GET /v1/workspaces/{workspace_id}/tasks": 1,
        }, asked["by_route"]
        assert [k for k in asked["by_path_status"] if "/tasks" in k] == [
            f"GET /v1/workspaces/{free}/tasks 200"
        ]
    finally:
        err = listener.stop()
    for secret, _ in before.values():
        assert secret not in err
    removed = in_process(tmp_path, "webhooks", "remove", *where, *service).stdout
    assert removed.count("removed") == 3
    assert all(s.deleted_at for s in server.emulator.data.webhooks.subscriptions.values())
    left = (tmp_path / ".dlt" / "secrets.toml").read_text()
    assert not any(secret in left for secret, _ in before.values())


def test_a_members_subscription_lands_only_the_members_entries(
    server: EmulatorServer, tmp_path: Path
) -> None:
    data = server.emulator.data
    member = data.tokens[MEMBER_TOKEN]
    ws = next(w.id for w in data.workspaces.values() if member in w.members)
    where = place(tmp_path, "member")
    listener = Listening(tmp_path, where, token=MEMBER_TOKEN).start()
    try:
        setup = in_process(
            tmp_path,
            *("webhooks", "setup", "--callback-url", listener.url, "--workspace-id", str(ws)),
            *where,
            *("--base-url", server.base_url),
            token=MEMBER_TOKEN,
        ).stdout
        assert "validated by the listener" in setup, setup
        body = {"start": "2026-11-30T09:00:00Z", "duration": 900, "description": "someone's"}
        theirs = api(server, "POST", f"/workspaces/{ws}/time_entries", json=body)
        body["description"] = "the member's"
        mine = api(server, "POST", f"/workspaces/{ws}/time_entries", token=MEMBER_TOKEN, json=body)
        truth = record(server, "time_entries", mine["id"])
        db = tmp_path / "member.duckdb"
        until(lambda: same_entry(rows(db, "time_entries").get(mine["id"]), truth))
        until(lambda: same_entry(rows(db, "report_time_entries").get(mine["id"]), truth))
        for table in ("time_entries", "report_time_entries"):
            assert theirs["id"] not in rows(db, table)
        hub = requests.get(f"{server.base_url}/_emulator/webhooks?delivered=true", timeout=10)
        # Nothing waits to be delivered and only the member's entry was: the other one was
        # never sent, not merely late.
        assert [d["id"] for d in hub.json()["delivered"]] == [mine["id"]]
        assert hub.json()["pending"] == [], hub.json()["pending"]
    finally:
        listener.stop()


def test_user_faults_are_one_line_errors(tmp_path: Path) -> None:
    """In this process: a fault's one line from a real process is tests/test_cli_first_hour.py's,
    and `listen` runs as a process of its own above."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = in_process(tmp_path, "listen", "--port", str(port), *place(tmp_path), check=False)
    assert busy.exit_code == 1
    assert busy.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    files = in_process(tmp_path, "listen", "--destination", "filesystem", check=False)
    assert files.exit_code == 1 and len(files.stderr.strip().splitlines()) == 1
    assert "listen lands into databases" in files.stderr
    result = in_process(tmp_path, "webhooks", "status", *place(tmp_path), token=None, check=False)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "token" in result.stderr
