"""Answers of the wrong shape, unreadable cursors and odd quota answers, in the service's own
(`bare`) layout: none of them is read as "nothing exists", none deletes what landed, and a run
after the service recovers holds the emulator's records value by value.

A mutating HTTP proxy sits between the source and the emulator; the truth is read from the
emulator directly (tests/truth.py). The shapes share one pipeline: each broken run breaks
tables that do not meet, and each check names the shape it is about.
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
TAGS = re.compile(r"^/api/v9/workspaces/\d+/tags$")
PROJECTS = re.compile(r"^/api/v9/workspaces/\d+/projects$")


def _raw(body: bytes) -> Callable[[Reply], Reply]:
    return lambda _: Reply(200, body, {"Content-Type": "application/json"})


def _wrapped(reply: Reply) -> Reply:
    return reply.with_json({"data": reply.json()})


class Armed:
    """Mutations that, once armed, answer requests to their path with `change(forwarded)`;
    `fired` counts the answers each changed, by name."""

    def __init__(self, **changes: tuple[re.Pattern[str], Callable[[Reply], Reply]]) -> None:
        self.changes = changes
        self.armed: set[str] = set()
        self.fired: dict[str, int] = dict.fromkeys(changes, 0)

    def arm(self, *names: str) -> None:
        self.armed = set(names)

    def __call__(self, seen: Seen, forward: Forward) -> Reply | None:
        for name in self.armed:
            path, change = self.changes[name]
            if path.match(seen.path):
                self.fired[name] += 1
                return change(forward(seen))
        return None


def _bare(sync: Sync, base_url: str, **source_args: Any) -> Any:
    return sync(base_url, layout="bare", **source_args)


def _landed_equal_truth(server: EmulatorServer, db: Path) -> None:
    problems = differences(expected_tables(server.base_url, TOKEN), duckdb_rows(db))
    assert not problems, "\n".join(problems[:20])


def _odd_names(named: dict[int, str]) -> Callable[[Reply], Reply]:
    """The first two clients' names written as raw JSON text the way the service might (a lone
    surrogate, which orjson refuses, and a number beyond a double); `named` gets each one's id
    and what must land."""

    def change(reply: Reply) -> Reply:
        rows = reply.json()
        named.update({rows[i]["id"]: landed for i, (_, landed) in enumerate(ODD)})
        raw = iter(text for text, _ in ODD)
        body = re.sub(rb'"name":\s*"[^"]*"', lambda _: b'"name": ' + next(raw), reply.body, count=2)
        assert body != reply.body
        return Reply(200, body, reply.headers)

    return change


ODD = [(b'"\\ud83d rest"', "\ufffd rest"), (b"1e400", "1e400")]  # a pair: test_retry_policy
"""Raw JSON a client's name is served as, and what lands."""
SECRET = {"plain": TOKEN, "basic": base64.b64encode(f"{TOKEN}:api_token".encode()).decode()}
"""The token as an error text may echo it: as it is, and in a Basic Authorization header."""


def _echo(status: int, echo: str) -> Callable[[Reply], Reply]:
    text = f"Incorrect username and/or password ({SECRET[echo]}:api_token)"
    return lambda _: json_reply(text, status)


WRONG_SHAPES: dict[str, tuple[str, re.Pattern[str], Callable[[Reply], Reply]]] = {
    "list-data-null": ("workspace_clients", CLIENTS, _raw(b'{"data": null}')),
    "list-wrapped": ("workspace_clients", CLIENTS, _wrapped),
    "list-empty-body": ("workspace_clients", CLIENTS, _raw(b"")),
    "record-error-object": ("workspace", STATISTICS, _raw(b'{"error": "internal"}')),
    "me-wrapped": ("time_entries", ME_ENTRIES, _wrapped),
    "report-wrapped": ("report_time_entries", REPORT, _wrapped),
    "report-unreadable-cursor": (
        "report_time_entries",
        REPORT,
        lambda r: replace(r, headers={**r.headers, "X-Next-ID": "n/a"}),
    ),
}
ROUNDS = [
    ["list-data-null", "record-error-object", "me-wrapped", "report-wrapped"],
    ["list-wrapped", "report-unreadable-cursor"],
    ["list-empty-body"],
]
"""The broken runs, each breaking tables that do not meet (one shape a table a run)."""


@pytest.mark.timeout(300)
def test_wrong_shaped_answers_fail_their_table_and_delete_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # One emulator and one pipeline: a first run whose own entries fail every retry and whose
    # clients have names orjson cannot read; a clean run; three runs, each breaking some tables
    # with a wrong shape (the last one also with errors that echo the token); a clean run
    # that lands the truth value by value.
    server = make_emulator(EmulatorConfig(scale=SMALL))
    db = tmp_path / "db.duckdb"
    changes = {name: (path, change) for name, (_, path, change) in WRONG_SHAPES.items()}
    named: dict[int, str] = {}
    mutation = Armed(
        **changes,
        entries_down=(ME_ENTRIES, lambda _: json_reply("down", 500)),
        odd_names=(CLIENTS, _odd_names(named)),
        echo_basic_404=(TAGS, _echo(404, "basic")),
        echo_plain_400=(PROJECTS, _echo(400, "plain")),
    )
    with HttpProxy(server.base_url, mutation) as proxy:
        mutation.arm("entries_down", "odd_names")
        first = _bare(sync, proxy.base_url, backoff_factor=0)
        assert first.exit_code == 1
        assert _failed(first.stats.errors, "time_entries"), first.stats.errors
        landed = duckdb_rows(db)
        expected = expected_tables(server.base_url, TOKEN)
        assert "time_entries" not in landed, "the token owner's entries failing fail that table"
        names = {row["id"]: row["name"] for row in landed["workspace_clients"]}
        assert mutation.fired["odd_names"] == 1, "a readable body is not asked again"
        assert {k: names[k] for k in named} == named, "a field orjson cannot read lands as text"
        assert set(names) == set(expected["workspace_clients"]), "and costs only that field"
        del expected["time_entries"], expected["workspace_clients"]
        landed.pop("workspace_clients")
        problems = differences(expected, landed)
        assert not problems, "the other tables land: " + "\n".join(problems[:20])

        mutation.arm()
        assert _bare(sync, proxy.base_url).exit_code == 0
        for round in ROUNDS:
            before = duckdb_rows(db)
            fired = dict(mutation.fired)
            echoes = round == ROUNDS[-1]
            mutation.arm(*round, *(("echo_basic_404", "echo_plain_400") if echoes else ()))
            broken = _bare(sync, proxy.base_url, backoff_factor=0)  # retried at once: no sleeps
            assert broken.exit_code == 1
            after = duckdb_rows(db)
            for name in round:
                table = WRONG_SHAPES[name][0]
                # a wrong shape is asked again before it fails; an unreadable cursor cannot be
                assert mutation.fired[name] - fired[name] >= (
                    1 if table == "report_time_entries" else 2
                ), name
                assert _failed(broken.stats.errors, table), (name, broken.stats.errors)
                assert after[table] == before[table], f"{table} changed on {name}"
            assert not after.get("rejected_records"), "a wrapper's keys are no records"
            if echoes:
                assert mutation.fired["echo_basic_404"] and mutation.fired["echo_plain_400"]
                shown = " ".join([*broken.closing_lines(), *broken.lines()])
                _assert_masked(shown, tmp_path, "plain", "basic")
        mutation.arm()
        assert _bare(sync, proxy.base_url).exit_code == 0
    _landed_equal_truth(server, db)


def _failed(errors: list[str], table: str) -> bool:
    """Whether `table` failed (in one of its scopes, for a table read per scope)."""
    return any(re.match(rf"{table}( of \w+ \d+)?: ", e) for e in errors)


def _assert_masked(shown: str, root: Path, *echoes: str) -> None:
    assert "*****" in shown, shown  # the echo is there, masked
    for echo in echoes:
        assert SECRET[echo] not in shown, f"the token, {echo}, is shown"
        for file in root.rglob("*"):
            if file.is_file():
                assert SECRET[echo].encode() not in file.read_bytes(), (echo, file)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reset", [None, "soon"])  # more spellings: test_retry_policy
def test_a_quota_answer_without_a_usable_reset_is_a_quota_stop_not_a_missing_feature(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, reset: str | None
) -> None:
    server = make_emulator(EmulatorConfig(scale=SMALL))
    headers = {"X-Quota-Remaining": "0"} | ({} if reset is None else {"X-Quota-Resets-In": reset})
    mutation = Armed(spent=(CLIENTS, lambda _: json_reply("quota spent", 402, **headers)))
    mutation.arm("spent")
    with HttpProxy(server.base_url, mutation) as proxy:
        summary = sync(proxy.base_url, layout="bare")
    assert summary.exit_code == 75
    assert any(d.startswith("workspace_clients") for d in summary.stats.deferred), summary
    assert not any("plan" in e for e in summary.stats.errors), summary.stats.errors
    assert "run again" in " ".join(summary.closing_lines()), summary.closing_lines()


@pytest.mark.timeout(120)
def test_a_403_that_echoes_the_token_never_shows_it(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # every status with both spellings: test_units_client; a 404 and a 400 in a whole run:
    # test_wrong_shaped_answers_fail_their_table_and_delete_nothing
    server = make_emulator(EmulatorConfig(scale=SMALL))
    mutation = Armed(echo=(CLIENTS, _echo(403, "plain")))
    mutation.arm("echo")
    with (
        HttpProxy(server.base_url, mutation) as proxy,
        pytest.raises(TimetrackError) as caught,  # a 403 naming the password
    ):
        sync(proxy.base_url, layout="bare")
    _assert_masked(str(caught.value), tmp_path, "plain")
