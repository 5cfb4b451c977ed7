"""Answers of the wrong shape, unreadable cursors and odd quota answers, in the service's own
(`bare`) layout: none of them is read as "nothing exists", none deletes what landed, and a run
after the service recovers holds the emulator's records value by value.

A mutating HTTP proxy sits between the source and the emulator; the truth is read from the
emulator directly (tests/truth.py).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TOKEN, Sync, duckdb_rows
from tests.source.proxies import Forward, HttpProxy, Reply, Seen, json_reply
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.emulator.config import Scale
from timetrack.errors import TimetrackError

SMALL = Scale(
    organizations=1,
    workspaces=1,
    users=5,
    projects_per_workspace=10,
    tasks_per_workspace=10,
    time_entries=100,
    days=60,
)
CLIENTS = re.compile(r"^/api/v9/workspaces/\d+/clients$")
STATISTICS = re.compile(r"^/api/v9/workspaces/\d+/statistics$")
ME_ENTRIES = re.compile(r"^/api/v9/me/time_entries$")
REPORT = re.compile(r"^/reports/api/v3/workspace/\d+/search/time_entries$")


def _raw(body: bytes) -> Callable[[Reply], Reply]:
    return lambda _: Reply(200, body, {"Content-Type": "application/json"})


def _wrapped(reply: Reply) -> Reply:
    return reply.with_json({"data": reply.json()})


class Armed:
    """A mutation that, once armed, answers requests to `path` with `change(forwarded)`."""

    def __init__(self, path: re.Pattern[str], change: Callable[[Reply], Reply]) -> None:
        self.path, self.change = path, change
        self.armed = False
        self.fired = 0

    def __call__(self, seen: Seen, forward: Forward) -> Reply | None:
        if not (self.armed and self.path.match(seen.path)):
            return None
        self.fired += 1
        return self.change(forward(seen))


def _bare(sync: Sync, base_url: str, **source_args: Any) -> Any:
    return sync(base_url, layout="bare", **source_args)


def _landed_equal_truth(server: EmulatorServer, db: Path) -> None:
    problems = differences(expected_tables(server.base_url, TOKEN), duckdb_rows(db))
    assert not problems, "\n".join(problems[:20])


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("table", "path", "change"),
    [
        ("workspace_clients", CLIENTS, _raw(b'{"data": null}')),
        ("workspace_clients", CLIENTS, _wrapped),
        ("workspace_clients", CLIENTS, _raw(b"")),
        ("workspace", STATISTICS, _raw(b'{"error": "internal"}')),
        ("time_entries", ME_ENTRIES, _wrapped),
        ("report_time_entries", REPORT, _wrapped),
        (
            "report_time_entries",
            REPORT,
            lambda r: replace(r, headers={**r.headers, "X-Next-ID": "n/a"}),
        ),
    ],
    ids=[
        "list-data-null",
        "list-wrapped",
        "list-empty-body",
        "record-error-object",
        "me-wrapped",
        "report-wrapped",
        "report-unreadable-cursor",
    ],
)
def test_a_wrong_shaped_answer_fails_its_table_and_deletes_nothing(
    make_emulator: Callable[..., EmulatorServer],
    sync: Sync,
    tmp_path: Path,
    table: str,
    path: re.Pattern[str],
    change: Callable[[Reply], Reply],
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    db = tmp_path / "db.duckdb"
    mutation = Armed(path, change)
    with HttpProxy(server.base_url, mutation) as proxy:
        assert _bare(sync, proxy.base_url).exit_code == 0
        before = duckdb_rows(db)
        mutation.armed = True
        broken = _bare(sync, proxy.base_url, backoff_factor=0)  # retried at once: no sleeps
        # a wrong shape is asked again before it fails; an unreadable cursor cannot be retried
        assert mutation.fired >= (1 if table == "report_time_entries" else 2)
        assert broken.exit_code == 1
        assert [e for e in broken.stats.errors if e.startswith(f"{table}")], broken.stats.errors
        after = duckdb_rows(db)
        assert after[table] == before[table], f"{table} changed on a broken answer"
        assert not after.get("rejected_records"), "a wrapper's keys are no records"
        mutation.armed = False
        assert _bare(sync, proxy.base_url).exit_code == 0
    _landed_equal_truth(server, db)


@pytest.mark.timeout(120)
def test_the_token_owners_entries_failing_every_retry_fail_that_table_alone(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    mutation = Armed(ME_ENTRIES, lambda _: json_reply("down", 500))
    mutation.armed = True
    with HttpProxy(server.base_url, mutation) as proxy:
        summary = sync(proxy.base_url, layout="bare", backoff_factor=0)
    assert summary.exit_code == 1
    assert [e for e in summary.stats.errors if e.startswith("time_entries: ")], summary
    landed = duckdb_rows(tmp_path / "db.duckdb")
    expected = expected_tables(server.base_url, TOKEN)
    del expected["time_entries"]
    assert "time_entries" not in landed
    problems = differences(expected, landed)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reset", [None, "soon"])  # more spellings: test_retry_policy
def test_a_quota_answer_without_a_usable_reset_is_a_quota_stop_not_a_missing_feature(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, reset: str | None
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    headers = {"X-Quota-Remaining": "0"} | ({} if reset is None else {"X-Quota-Resets-In": reset})
    mutation = Armed(CLIENTS, lambda _: json_reply("quota spent", 402, **headers))
    mutation.armed = True
    with HttpProxy(server.base_url, mutation) as proxy:
        summary = sync(proxy.base_url, layout="bare")
    assert summary.exit_code == 75
    assert any(d.startswith("workspace_clients") for d in summary.stats.deferred), summary
    assert not any("plan" in e for e in summary.stats.errors), summary.stats.errors
    assert "run again" in " ".join(summary.closing_lines()), summary.closing_lines()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("status", "echo"), [(403, "plain"), (404, "basic"), (400, "plain")]
)  # every status with both spellings: test_units_client
def test_an_error_body_that_echoes_the_token_never_shows_it(
    make_emulator: Callable[..., EmulatorServer],
    sync: Sync,
    tmp_path: Path,
    status: int,
    echo: str,
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    secret = TOKEN if echo == "plain" else base64.b64encode(f"{TOKEN}:api_token".encode()).decode()
    text = f"Incorrect username and/or password ({secret}:api_token)"
    mutation = Armed(CLIENTS, lambda _: json_reply(text, status))
    mutation.armed = True
    with HttpProxy(server.base_url, mutation) as proxy:
        try:
            summary = sync(proxy.base_url, layout="bare")
        except TimetrackError as error:  # a 403 naming the password: the token was rejected
            assert status == 403
            shown = str(error)
        else:
            assert summary.exit_code == 1
            shown = " ".join([*summary.closing_lines(), *summary.lines()])
    assert "*****" in shown, shown  # the echo is there, masked
    assert secret not in shown
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("raw", "landed"),
    [(b'"\\ud83d rest"', "\ufffd rest"), (b"1e400", "1e400")],  # a pair: test_retry_policy
    ids=["lone-surrogate", "beyond-a-double"],
)
def test_a_field_orjson_cannot_read_costs_only_that_field(
    make_emulator: Callable[..., EmulatorServer],
    sync: Sync,
    tmp_path: Path,
    raw: bytes,
    landed: str,
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    named: dict[str, Any] = {}

    def odd_name(reply: Reply) -> Reply:
        named["id"] = reply.json()[0]["id"]
        # the first client's name, written as raw JSON text the way the service might
        body = re.sub(rb'"name":\s*"[^"]*"', lambda _: b'"name": ' + raw, reply.body, count=1)
        assert body != reply.body
        return Reply(200, body, reply.headers)

    mutation = Armed(CLIENTS, odd_name)
    mutation.armed = True
    with HttpProxy(server.base_url, mutation) as proxy:
        summary = sync(proxy.base_url, layout="bare")
    assert summary.exit_code == 0, summary.stats.errors
    assert summary.stats.retries == 0, "a readable body is not asked again"
    clients = {r["id"]: r for r in duckdb_rows(tmp_path / "db.duckdb")["workspace_clients"]}
    assert clients[named["id"]]["name"] == landed
    expected = expected_tables(server.base_url, TOKEN)["workspace_clients"]
    assert set(clients) == set(expected)
