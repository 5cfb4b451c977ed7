"""Answers of the wrong shape, unreadable cursors and odd quota answers, in the service's own
(`bare`) layout: none of them is read as "nothing exists", none deletes what landed, and a run
after the service recovers holds the emulator's records value by value.

A mutating HTTP proxy sits between the source and the emulator; the truth is read from the
emulator directly (tests/truth.py). The shapes share one pipeline on two workspaces: each
broken run reads the tables it breaks, one shape a table in each workspace, and each check
names the shape it is about.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TOKEN, Api, Sync, duckdb_rows
from tests.source.proxies import Forward, HttpProxy, Reply, Seen, json_reply
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.emulator.config import Scale
from timetrack.errors import TimetrackError

SMALL = Scale(
    organizations=1,
    workspaces=2,
    users=5,
    projects_per_workspace=10,
    tasks_per_workspace=10,
    time_entries=100,
    days=60,
)
"""Two workspaces: a table read per workspace takes a different wrong shape in each."""
CLIENTS = "/api/v9/workspaces/{ws}/clients"
STATISTICS = "/api/v9/workspaces/{ws}/statistics"
ME_ENTRIES = "/api/v9/me/time_entries"
REPORT = "/reports/api/v3/workspace/{ws}/search/time_entries"
TAGS = "/api/v9/workspaces/{ws}/tags"
PROJECTS = "/api/v9/workspaces/{ws}/projects"


def _path(template: str, ws: int | None = None) -> re.Pattern[str]:
    """The path `template` of workspace `ws` (of any workspace when None)."""
    return re.compile("^" + template.format(ws=r"\d+" if ws is None else ws) + "$")


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


WRONG_SHAPES: dict[str, tuple[str, str, int | None, Callable[[Reply], Reply]]] = {
    "list-data-null": ("workspace_clients", CLIENTS, 0, _raw(b'{"data": null}')),
    "list-wrapped": ("workspace_clients", CLIENTS, 1, _wrapped),
    "list-empty-body": ("workspace_clients", CLIENTS, 0, _raw(b"")),
    "record-error-object": ("workspace", STATISTICS, 0, _raw(b'{"error": "internal"}')),
    "me-wrapped": ("time_entries", ME_ENTRIES, None, _wrapped),
    "report-wrapped": ("report_time_entries", REPORT, 0, _wrapped),
    "report-unreadable-cursor": (
        "report_time_entries",
        REPORT,
        1,
        lambda r: replace(r, headers={**r.headers, "X-Next-ID": "n/a"}),
    ),
}
"""Each wrong shape: the table it breaks, its path, the index of the workspace whose answers
it breaks (None: a path of no workspace), and the change."""
ROUNDS: list[tuple[list[str], list[str]]] = [
    (
        ["record-error-object", "list-data-null", "list-wrapped", "report-wrapped"],
        ["workspace", "workspace_clients", "time_entries", "report_time_entries"],
    ),
    (
        ["list-empty-body", "me-wrapped", "report-unreadable-cursor"],
        [
            "workspace_clients",
            "workspace_tags",
            "workspace_projects",
            "time_entries",
            "report_time_entries",
        ],
    ),
]
"""The broken runs: the shapes each serves, and the tables it reads (`resources`: those it
breaks, and the token owner's entries, which the first run failed and which land in the first
of them, to break in the second). A table read per workspace takes one shape in each
workspace. Reads go table after table (statistics, clients, ..., entries, report), one
workspace after another, and a successful read always comes between two that fail every
retry: three such in a row would stop the run (FAILURES_BEFORE_STOP)."""


@pytest.mark.timeout(300)
def test_wrong_shaped_answers_fail_their_table_and_delete_nothing(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # One emulator and one pipeline: a first run whose own entries fail every retry and whose
    # clients (of one workspace) have names orjson cannot read; two runs, each reading the
    # tables it breaks with a wrong shape (the last one also with errors that echo the
    # token); a clean run that lands the truth value by value.
    server = make_emulator(EmulatorConfig(scale=SMALL))
    db = tmp_path / "db.duckdb"
    spaces = sorted(w["id"] for w in Api(server.base_url, "bare").ok("/me/workspaces"))
    assert len(spaces) == 2
    scope = {
        name: None if index is None else spaces[index]
        for name, (_, _, index, _) in WRONG_SHAPES.items()
    }
    changes = {
        name: (_path(path, scope[name]), change)
        for name, (_, path, _, change) in WRONG_SHAPES.items()
    }
    named: dict[int, str] = {}
    mutation = Armed(
        **changes,
        entries_down=(_path(ME_ENTRIES), lambda _: json_reply("down", 500)),
        odd_names=(_path(CLIENTS, spaces[0]), _odd_names(named)),
        echo_basic_404=(_path(TAGS), _echo(404, "basic")),
        echo_plain_400=(_path(PROJECTS), _echo(400, "plain")),
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

        for round, tables in ROUNDS:
            before = duckdb_rows(db)
            fired = dict(mutation.fired)
            echoes = round == ROUNDS[-1][0]
            mutation.arm(*round, *(("echo_basic_404", "echo_plain_400") if echoes else ()))
            # retried at once: no sleeps
            broken = _bare(sync, proxy.base_url, resources=tables, backoff_factor=0)
            assert broken.exit_code == 1
            assert broken.stats.stop_reason is None, broken.stats.stop_reason
            after = duckdb_rows(db)
            for name in round:
                table = WRONG_SHAPES[name][0]
                # a wrong shape is asked again before it fails; an unreadable cursor cannot be
                assert mutation.fired[name] - fired[name] >= (
                    1 if table == "report_time_entries" else 2
                ), name
                failed = _failed(broken.stats.errors, table, scope[name])
                assert failed, (name, broken.stats.errors)
                kept = _of(before, table, scope[name])
                assert kept, f"{table} held rows of that workspace before {name}"
                assert _of(after, table, scope[name]) == kept, f"{table} changed on {name}"
            assert not after.get("rejected_records"), "a wrapper's keys are no records"
            if round == ROUNDS[0][0]:  # the entries the first run failed land beside the shapes
                assert (
                    differences(
                        {"time_entries": expected_tables(server.base_url, TOKEN)["time_entries"]},
                        {"time_entries": after["time_entries"]},
                    )
                    == []
                )
            if echoes:
                assert mutation.fired["echo_basic_404"] and mutation.fired["echo_plain_400"]
                shown = " ".join([*broken.closing_lines(), *broken.lines()])
                _assert_masked(shown, tmp_path, "plain", "basic")
        mutation.arm()
        assert _bare(sync, proxy.base_url).exit_code == 0
    _landed_equal_truth(server, db)


def _of(landed: dict[str, list[Any]], table: str, ws: int | None) -> list[Any]:
    """The rows of `table` of workspace `ws` (all of them when None)."""
    return [row for row in landed[table] if ws is None or row["workspace_id"] == ws]


def _failed(errors: list[str], table: str, scope: int | None = None) -> bool:
    """Whether `table` failed (in one of its scopes, for a table read per scope; in the one of
    id `scope` when given)."""
    where = r"( of \w+ \d+)?" if scope is None else rf" of \w+ {scope}"
    return any(re.match(rf"{table}{where}: ", e) for e in errors)


def _assert_masked(shown: str, root: Path, *echoes: str) -> None:
    assert "*****" in shown, shown  # the echo is there, masked
    for echo in echoes:
        assert SECRET[echo] not in shown, f"the token, {echo}, is shown"
        for file in root.rglob("*"):
            if file.is_file():
                assert SECRET[echo].encode() not in file.read_bytes(), (echo, file)


@pytest.mark.timeout(120)
def test_a_quota_answer_without_a_reset_is_a_quota_stop_not_a_missing_feature(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    # other spellings of no usable reset ("soon", "inf", 1e308), at the client:
    # tests/source/test_units_hostile_quota.py; and test_retry_policy
    server = make_emulator(EmulatorConfig(scale=SMALL))
    headers = {"X-Quota-Remaining": "0"}
    spent = (_path(CLIENTS), lambda _: json_reply("quota spent", 402, **headers))
    mutation = Armed(spent=spent)
    mutation.arm("spent")
    with HttpProxy(server.base_url, mutation) as proxy:
        summary = sync(proxy.base_url, layout="bare")
    assert summary.exit_code == 75
    assert mutation.fired["spent"] >= 1
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
    mutation = Armed(echo=(_path(CLIENTS), _echo(403, "plain")))
    mutation.arm("echo")
    with (
        HttpProxy(server.base_url, mutation) as proxy,
        pytest.raises(TimetrackError) as caught,  # a 403 naming the password
    ):
        sync(proxy.base_url, layout="bare")
    _assert_masked(str(caught.value), tmp_path, "plain")
