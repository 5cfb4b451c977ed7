"""Live tables measured: change-to-row latency at a steady rate of changes, events lost and
duplicated across kill -9 of the listener, and requests per hourly run with webhooks live.

    bench/run --webhooks [--webhooks-seconds S] [--rate R] [--kills K]

Two phases of S seconds (default 120) at R changes a second (default 50), each change a new
time entry, an edit of one made earlier, or a deletion, through the emulator's public API:
1. steady: latency from the change (the entity's `at`, the emulator's real clock) to its row
   landing (the journal's `landed_at`, when the batch's load returned);
2. K (default 5) kill -9 of the listener, evenly spread, each restarted a second later:
   afterwards every entry touched must be in the tables as the emulator has it (or gone when
   deleted): lost = those that are not, duplicated = keys landed twice.
Then `timetrack run --json` with webhooks live, an hour after a first such run: its requests,
and how many of them read tables the webhooks keep live (which it skips while they are live).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import requests

TOKEN = "demo-token"
DATASET = "tt"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _timetrack(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "timetrack", *args],
        cwd=work,
        env={**os.environ, "SOURCES__TIMETRACK__API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise SystemExit(f"timetrack {' '.join(args[:2])} failed: {result.stderr[-2000:]}")
    return result


class Listener:
    def __init__(self, work: Path, place: list[str], port: int) -> None:
        self.work, self.place, self.port = work, place, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "timetrack", "listen", "--port", str(self.port), *self.place],
            cwd=self.work,
            stdout=subprocess.PIPE,
            stderr=open(self.work / "listener.err", "ab"),  # noqa: SIM115
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)


class Changes:
    """Changes at a steady rate: creations, edits of earlier entries, deletions."""

    def __init__(self, base_url: str, workspace: int, rate: float, seed: int) -> None:
        self.base = f"{base_url}/api/v9/workspaces/{workspace}/time_entries"
        self.rate = rate
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.session.auth = (TOKEN, "api_token")
        self.live: list[int] = []
        self.touched: set[int] = set()
        self.count = 0

    def one(self) -> None:
        roll = self.random.random()
        if self.live and roll < 0.3:
            key = self.random.choice(self.live)
            body = {"description": f"edit {self.count}"}
            answer = self.session.put(f"{self.base}/{key}", json=body, timeout=30)
        elif self.live and roll < 0.4:
            key = self.live.pop(self.random.randrange(len(self.live)))
            answer = self.session.delete(f"{self.base}/{key}", timeout=30)
        else:
            body = {
                "start": "2026-11-30T09:00:00Z",
                "duration": 60 + self.count,
                "description": f"new {self.count}",
            }
            answer = self.session.post(self.base, json=body, timeout=30)
            key = int(answer.json()["id"])
            self.live.append(key)
        answer.raise_for_status()
        self.touched.add(key)
        self.count += 1

    def run(self, seconds: float, during: Any = None) -> None:
        start = time.monotonic()
        n = 0
        while (now := time.monotonic()) - start < seconds:
            due = start + n / self.rate
            if due > now:
                time.sleep(due - now)
            self.one()
            n += 1
            if during is not None:
                during(time.monotonic() - start)


def _drain(base_url: str, journal: Path, timeout: float = 180.0) -> None:
    """Until the service has nothing pending and the listener has landed everything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = requests.get(f"{base_url}/_emulator/webhooks", timeout=30).json()["pending"]
        with sqlite3.connect(journal) as db:
            (backlog,) = db.execute("select count(*) from events where landed = 0").fetchone()
        if not pending and not backlog:
            return
        time.sleep(0.5)
    raise SystemExit("the events did not drain")


def _latencies(journal: Path, since: float, until: float) -> list[float]:
    out = []
    with sqlite3.connect(journal) as db:
        for landed_at, body in db.execute("select landed_at, body from events where landed = 1"):
            event = json.loads(body)
            payload = event.get("payload")
            if not isinstance(payload, dict) or not payload.get("at"):
                continue
            from timetrack.source.schema import parse_timestamp

            changed = parse_timestamp(payload["at"])
            if changed is None or not since <= changed.timestamp() <= until:
                continue
            out.append(landed_at - changed.timestamp())
    return out


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _check(base_url: str, db_path: Path, touched: set[int]) -> tuple[int, int]:
    """Entries touched that are not as the emulator has them (lost), keys landed twice."""
    records = requests.get(f"{base_url}/_emulator/records/time_entries", timeout=120).json()
    truth = {r["id"]: r for r in records if r["id"] in touched}
    from timetrack.source.schema import parse_timestamp

    for _ in range(100):
        try:
            db = duckdb.connect(str(db_path), read_only=True)
            break
        except duckdb.IOException:  # the listener holds it for a batch
            time.sleep(0.1)
    with db:
        rows = {
            r[0]: r
            for r in db.execute(
                f'select id, description, "at" from {DATASET}.report_time_entries'
            ).fetchall()
        }
        twice = 0
        for table in ("report_time_entries", "time_entries"):
            (n,) = db.execute(  # type: ignore[misc]
                f"select count(*) from (select id from {DATASET}.{table} group by id "
                "having count(*) > 1)"
            ).fetchone()
            twice += n
    lost = 0
    for key, record in truth.items():
        row = rows.get(key)
        if record.get("server_deleted_at"):
            lost += row is not None
        elif (
            row is None
            or row[1] != record["description"]
            or row[2] != parse_timestamp(record["at"])
        ):
            lost += 1
    return lost, twice


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", action="store_true")
    parser.add_argument("--webhooks-seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="timetrack-webhooks-"))
    emulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "timetrack", "emulator", "--port", "0"),
            *("--organizations", "1", "--workspaces", "1", "--users", "30"),
            *("--time-entries", "5000", "--projects-per-workspace", "100"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    listener: Listener | None = None
    try:
        assert emulator.stdout is not None
        base_url = re.search(r"http://127\.0\.0\.1:\d+", emulator.stdout.readline()).group(0)  # type: ignore[union-attr]
        place = ["--duckdb-file", str(work / "db.duckdb"), "--pipelines-dir", str(work / "state")]
        place += ["--dataset", DATASET]
        service = ["--base-url", base_url]
        _timetrack(work, "run", *place, *service, "--requests-per-second", "0", "-q")
        port = _free_port()
        listener = Listener(work, place, port)
        listener.start()
        callback = f"http://127.0.0.1:{port}/hooks"
        print(
            _timetrack(
                work, "webhooks", "setup", "--callback-url", callback, *place, *service
            ).stdout.strip()
        )
        workspace = int(
            requests.get(
                f"{base_url}/api/v9/me/workspaces", auth=(TOKEN, "api_token"), timeout=30
            ).json()[0]["id"]
        )
        journal = work / "state" / "timetrack.live-journal.sqlite"
        changes = Changes(base_url, workspace, args.rate, seed=1)

        started = time.time()
        changes.run(args.webhooks_seconds)
        steady_end = time.time()
        _drain(base_url, journal)
        steady = _latencies(journal, started, steady_end)

        spacing = args.webhooks_seconds / (args.kills + 1)
        kills: list[float] = [spacing * (i + 1) for i in range(args.kills)]
        done: list[float] = []
        restarts: list[threading.Thread] = []

        def maybe_kill(elapsed: float) -> None:
            if kills and elapsed >= kills[0]:
                kills.pop(0)
                listener.kill()
                done.append(elapsed)
                # Restarted a second later, beside the changes going on.
                thread = threading.Timer(1.0, listener.start)
                thread.start()
                restarts.append(thread)

        killed_from = time.time()
        changes.run(args.webhooks_seconds, during=maybe_kill)
        killed_to = time.time()
        for thread in restarts:
            thread.join()
        _drain(base_url, journal)
        under_kills = _latencies(journal, killed_from, killed_to)
        lost, twice = _check(base_url, work / "db.duckdb", changes.touched)
        delivered = requests.get(
            f"{base_url}/_emulator/webhooks?delivered=true", timeout=60
        ).json()["delivered"]
        with sqlite3.connect(journal) as db:
            journalled = {str(e) for (e,) in db.execute("select event_id from events")}
        lost_events = sum(str(d["event_id"]) not in journalled for d in delivered)

        # The first run with webhooks live reads once what they cover (its cadence starts
        # then); an hour later, the hourly run as it is from then on is measured.
        _timetrack(work, "run", *place, *service, "--requests-per-second", "0", "-q")
        requests.post(f"{base_url}/_emulator/clock", json={"advance": 3600}, timeout=30)
        requests.delete(f"{base_url}/_emulator/requests", timeout=30)
        summary = json.loads(
            _timetrack(work, "run", *place, *service, "--requests-per-second", "0", "--json").stdout
        )
        by_path = requests.get(f"{base_url}/_emulator/requests", timeout=30).json()["by_path"]
        live = ("/clients", "/projects", "/tasks", "/tags", "/time_entries", "/search/")
        skippable = sum(n for path, n in by_path.items() if any(p in path for p in live))
        result = {
            "changes": changes.count,
            "rate_per_s": args.rate,
            "seconds_per_phase": args.webhooks_seconds,
            "latency_p50_s": round(_percentile(steady, 0.5), 3),
            "latency_p99_s": round(_percentile(steady, 0.99), 3),
            "latency_events": len(steady),
            "kills": len(done),
            "latency_under_kills_p50_s": round(_percentile(under_kills, 0.5), 3),
            "latency_under_kills_p99_s": round(_percentile(under_kills, 0.99), 3),
            "entries_touched": len(changes.touched),
            "events_delivered": len(delivered),
            "events_lost": lost_events,
            "entries_not_as_the_service_has_them": lost,
            "duplicated": twice,
            "hourly_run_requests": summary["requests"],
            "hourly_run_requests_on_live_tables": skippable,
            "webhook_deliveries_quota_cost": 0,
        }
        print(
            f"latency at {args.rate:g} changes/s: p50 {result['latency_p50_s']} s, p99 "
            f"{result['latency_p99_s']} s ({len(steady)} events); under {len(done)} kill -9: "
            f"p50 {result['latency_under_kills_p50_s']} s, "
            f"p99 {result['latency_under_kills_p99_s']} s"
        )
        print(
            f"events delivered {len(delivered)}, lost {lost_events}; entries touched "
            f"{len(changes.touched)}, not as the service has them {lost}, landed twice {twice}"
        )
        print(
            f"hourly run with webhooks live: {summary['requests']} requests, {skippable} of them "
            "on tables the webhooks keep live"
        )
        print(json.dumps(result))
    finally:
        if listener is not None:
            listener.stop()
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=30)


if __name__ == "__main__":
    main()
