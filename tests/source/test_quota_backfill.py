"""Issue 9, smaller: a first sync that needs several hours of an organization's hourly API quota.

Every run is made with `max_quota_wait=0` and the emulator's clock is moved 3,700 s between
runs (the source takes "now" from the service's Date header). Each run must land what it
fetched and go on where the last one stood, until the dataset equals the truth in about as many
runs as the quota strictly needs."""

from __future__ import annotations

import functools
import itertools
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from tests.helpers import TOKEN, Sync, db_counts, expected_counts, fast_options
from tests.source.killable_run import finished_run, forked_run
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale
from timetrack.run.pipeline import RunSummary, run

HOUR = 3700
"""Seconds the clock moves between runs: a little more than the quota's sliding hour."""
SCALE = Scale(
    organizations=1,
    workspaces=2,
    users=30,
    groups_per_organization=2,
    projects_per_workspace=40,
    tasks_per_workspace=30,
    time_entries=3000,
    days=3 * 365,
)
"""One organization, two workspaces, 3,000 entries over three years: the killed backfill's."""
PLANS = Scale(
    organizations=3,
    workspaces=6,
    users=30,
    groups_per_organization=2,
    projects_per_workspace=20,
    tasks_per_workspace=20,
    time_entries=1500,
    days=2 * 365,
)
"""Three organizations of two workspaces each, one on the Free plan and two paid: the backfill
and the plan change (what a sync asks is mostly the report's history walk, whatever the size)."""
Q = 30
"""The Free plan's hourly quota (and the killed backfill's): a first sync of PLANS needs about
three hours of it for the free organization."""
KEYS = {"organizations_groups": "group_id", "workspace": "workspace_id"}
REPORT_ROUTE = "POST /v1/reports/workspace/{workspace_id}/search/time_entries"


@pytest.fixture
def sync(sync: Sync) -> Sync:
    """These tests are about the service's own 402: each run may spend the whole quota
    (quota_share=1); tests/source/test_cadence.py tests the share a run leaves."""
    return functools.partial(sync, quota_share=1.0)


def _now() -> float:
    """One in the morning today (UTC): the hours a test moves its clock on never cross midnight.
    Own entries are read over a window of days; one that leaves it as the day turns stays
    landed (it was not deleted) while the emulator's truth of the window drops it, so a start
    late in the evening failed the comparison."""
    return float(int(time.time()) // 86400 * 86400 + 3600)


def _advance(server: EmulatorServer, seconds: float = HOUR) -> None:
    response = requests.post(
        server.base_url + "/_emulator/clock", json={"advance": seconds}, timeout=30
    )
    assert response.status_code == 200, response.text


def _log(server: EmulatorServer) -> dict[str, Any]:
    log: dict[str, Any] = requests.get(server.base_url + "/_emulator/requests", timeout=30).json()
    return log


def _clear_log(server: EmulatorServer) -> None:
    requests.delete(server.base_url + "/_emulator/requests", timeout=30)


def _records(server: EmulatorServer, entity: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = requests.get(
        f"{server.base_url}/_emulator/records/{entity}", timeout=120
    ).json()
    return found


def _duplicates(db: Path) -> dict[str, int]:
    out = {}
    with duckdb.connect(str(db), read_only=True) as connection:
        for table in db_counts(db):
            key = KEYS.get(table, "id")
            row = connection.execute(
                f'select count(*) - count(distinct "{key}") from timetrack."{table}"'
            ).fetchone()
            assert row is not None
            if row[0]:
                out[table] = int(row[0])
    return out


def _scoped_count(db: Path, table: str, column: str, ids: set[int]) -> int:
    with duckdb.connect(str(db), read_only=True) as connection:
        marks = ",".join("?" * len(ids))
        row = connection.execute(
            f'select count(*) from timetrack."{table}" where "{column}" in ({marks})', sorted(ids)
        ).fetchone()
        assert row is not None
        return int(row[0])


def _names(path: str) -> set[int]:
    """The organization and workspace ids a logged request's path names."""
    return {int(p) for p in path.split()[-1].split("/") if p.isdigit()}


def _requests_of(by_path: dict[str, int], ids: set[int]) -> int:
    """Requests of a log's `by_path` whose path names one of these organization or workspace
    ids."""
    return sum(count for path, count in by_path.items() if _names(path) & ids)


def _report_pages(log: dict[str, Any], ids: set[int] | None = None) -> int:
    """Report pages the service answered (200), of these workspaces or of all."""
    return sum(
        count
        for path, count in log["by_path_status"].items()
        if "/search/time_entries" in path
        and path.endswith(" 200")
        and (ids is None or _names(path.removesuffix(" 200")) & ids)
    )


@dataclass(frozen=True)
class Unlimited:
    """What a sync of PLANS costs without a quota, on an emulator of the same clock (so the
    same data) as the quota tests' own: its request log, and the requests of the incremental
    run an hour later."""

    now: float
    log: dict[str, Any]
    incremental: int


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unlimited]:
    root = tmp_path_factory.mktemp("unlimited")
    now = _now()

    def sync(base_url: str, **kwargs: Any) -> RunSummary:
        return run(fast_options(base_url, root, name="unlimited", quota_share=1.0, **kwargs))

    with EmulatorServer(EmulatorConfig(now=now, scale=PLANS)) as server:
        first = sync(server.base_url)
        assert first.exit_code == 0, first.closing_lines()
        log = _log(server)
        _advance(server)
        _clear_log(server)
        assert sync(server.base_url).exit_code == 0
        yield Unlimited(now, log, int(_log(server)["total"]))


def test_a_free_plan_organization_backfills_run_by_run_while_the_paid_ones_land_at_once(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, unlimited: Unlimited
) -> None:
    """Each organization has a quota of its own: the free one's spent quota stops its own reads
    alone, and everything of the paid ones lands in the first run. Each run lands what it
    fetched and goes on where the last one stood, until the dataset equals the truth in about
    as many runs as the free organization's quota strictly needs."""
    planned = make_emulator(
        EmulatorConfig(now=unlimited.now, scale=PLANS, limits=Limits(quota=True))
    )
    organizations = _records(planned, "organizations")
    workspaces = _records(planned, "workspaces")
    free = next(o["id"] for o in organizations if o["pricing_plan_id"] == 0)
    free_ids = {free} | {w["id"] for w in workspaces if w["organization_id"] == free}
    paid = {o["id"] for o in organizations} - {free}
    paid_ws = {w["id"] for w in workspaces if w["organization_id"] in paid}
    assert paid and paid_ws, "the scenario needs paid organizations beside the free one"
    quotas = requests.get(
        planned.base_url + "/v1/me/quota", auth=(TOKEN, "api_token"), timeout=30
    ).json()["data"]
    assert {q["organization_id"]: q["total"] for q in quotas}[free] == Q
    n_free = _requests_of(unlimited.log["by_path"], free_ids)
    assert n_free > 2 * Q, f"the free organization must need several hours: {n_free} requests"
    free_pages = _report_pages(unlimited.log, free_ids)

    db = tmp_path / "db.duckdb"
    summaries: list[RunSummary] = []
    rows: list[int] = []  # after each run
    spent: list[int] = []  # the free organization's requests in each run
    bound = math.ceil(n_free / Q) + 1
    for _ in range(3 * bound):
        before = _requests_of(_log(planned)["by_path"], free_ids)
        summary = sync(planned.base_url, max_quota_wait=0)
        summaries.append(summary)
        rows.append(sum(db_counts(db).values()))
        spent.append(_requests_of(_log(planned)["by_path"], free_ids) - before)
        if len(summaries) == 1:
            _everything_of_the_paid_landed(planned, db, paid, paid_ws)
        _advance(planned)
        if summary.exit_code != 75:
            break

    # converged: every table equals the truth, no key twice
    assert summaries[-1].exit_code == 0, summaries[-1].closing_lines()
    assert db_counts(db) == expected_counts(planned.base_url)
    assert _duplicates(db) == {}
    # every run before the last was stopped by the free organization's quota alone, with its
    # progress saved, naming only the free organization and its workspaces
    assert len(summaries) > 2, "the scenario needs several runs"
    for summary in summaries[:-1]:
        assert summary.exit_code == 75
        assert set(summary.stats.quota_stops) == {f"org:{free}"}, "only the free one stops"
        named = {
            int(word)
            for label in summary.stats.deferred
            for word in label.split()
            if word.isdigit()
        }
        assert named and named <= free_ids, summary.stats.deferred
        assert not summary.stats.errors
    # no landed report page of the free organization was asked again: as many answered pages
    # as one unlimited walk, give or take an empty (`null`) page per stop, whose confirming
    # second ask was refused
    answered = _report_pages(_log(planned), free_ids)
    stops = len(summaries) - 1
    assert free_pages <= answered <= free_pages + stops, (answered, free_pages, stops)

    # an incremental run afterwards costs what it costs without a quota
    _clear_log(planned)
    after = sync(planned.base_url, max_quota_wait=0)
    assert after.exit_code == 0, after.closing_lines()
    assert _log(planned)["total"] <= unlimited.incremental + 2, (
        _log(planned)["total"],
        unlimited.incremental,
    )
    assert db_counts(db) == expected_counts(planned.base_url)

    # as few runs as the quota needs, each but the last landing something new (a stop may fall
    # among the history's empty windows: the last run then walks those to their end)
    assert len(summaries) <= bound, (
        f"{len(summaries)} runs for {n_free} requests at {Q} an hour (at most {bound}); "
        f"the free organization's requests per run {spent}, rows after each {rows}"
    )
    assert all(b > a for a, b in itertools.pairwise([0, *rows[:-1]])), (
        f"a run landed nothing new: rows after each run {rows}"
    )
    assert spent[-1] < Q, f"the last run finishes what is left, within a quota: {spent}"


def _everything_of_the_paid_landed(
    server: EmulatorServer, db: Path, paid: set[int], paid_ws: set[int]
) -> None:
    """Every table of the paid organizations equals the truth's count of them."""
    truth = requests.get(server.base_url + "/_emulator/truth", timeout=60).json()
    for table, entity, state in (
        ("workspace_clients", "clients", "live"),
        ("workspace_projects", "projects", "live"),
        ("workspace_tasks", "tasks", "live"),
        ("workspace_tags", "tags", "live"),
        ("workspace_users", "workspace_users", "live"),
        ("report_time_entries", "time_entries", "stopped"),
    ):
        expected = sum(truth[entity]["by_workspace"][str(w)][state] for w in paid_ws)
        landed = _scoped_count(db, table, "workspace_id", paid_ws)
        assert landed == expected, f"{table} of the paid organizations landed in the first run"
    assert _scoped_count(db, "workspace", "workspace_id", paid_ws) == len(paid_ws)
    for table, entity, state in (
        ("organizations_groups", "groups", "live"),
        ("organizations_users", "organization_users", "total"),
    ):
        expected = sum(truth[entity]["by_organization"][str(o)][state] for o in paid)
        landed = _scoped_count(db, table, "organization_id", paid)
        assert landed == expected, f"{table} of the paid organizations landed in the first run"


def test_a_plan_change_between_runs(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path, unlimited: Unlimited
) -> None:
    """The emulator cannot change an organization's plan while it runs (plans come from the
    generator, `Limits` is frozen, no admin endpoint changes either); two emulators of the same
    seed, clock and scale serve the same data, so the plan change is a switch between them
    (every organization's quota at once)."""
    now = unlimited.now
    plans = {
        quota: make_emulator(
            EmulatorConfig(now=now, scale=PLANS, limits=Limits(quota=True, quota_per_hour=quota))
        )
        for quota in (20, 10, 600)
    }
    db = tmp_path / "db.duckdb"
    outcomes = []
    stops = 0
    for quota in (20, 10, 600):  # a downgrade, then an upgrade
        summary = sync(plans[quota].base_url, max_quota_wait=0)
        outcomes.append((quota, summary.exit_code, sum(db_counts(db).values())))
        stops += len(summary.stats.quota_stops)
        for server in plans.values():  # one service: its clocks move together
            _advance(server)
    assert [code for _, code, _ in outcomes] == [75, 75, 0], outcomes
    assert outcomes[0][2] <= outcomes[1][2] <= outcomes[2][2], outcomes
    for server in plans.values():
        assert db_counts(db) == expected_counts(server.base_url)
    assert _duplicates(db) == {}
    # what the first two plans answered was not asked again on the third: as many as one sync
    # without a quota (of the same data) answered, give or take an empty (`null`) page per
    # organization stopped, whose confirming ask was refused
    answered = sum(_report_pages(_log(server)) for server in plans.values())
    once = _report_pages(unlimited.log)
    assert once <= answered <= once + stops, (answered, once, stops)


def test_a_resumed_backfill_killed_with_sigkill_converges(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    server = make_emulator(
        EmulatorConfig(now=_now(), scale=SCALE, limits=Limits(quota=True, quota_per_hour=Q))
    )
    db = tmp_path / "db.duckdb"
    # stopped by the quota (its default wait is far too short)
    assert finished_run(server.base_url, tmp_path).exit_code == 75
    first = sum(db_counts(db).values())
    assert 0 < first < sum(expected_counts(server.base_url).values())
    _advance(server)
    # the second run resumes the report walk (after discovery and the whole lists) and dies
    _clear_log(server)
    assert forked_run(server.base_url, tmp_path, "extract", 22) == -signal.SIGKILL
    assert _log(server)["by_route"].get(REPORT_ROUTE, 0) >= 2, "killed inside the report walk"
    _advance(server)
    for _ in range(8):
        finished_run(server.base_url, tmp_path)
        _advance(server)
        if db_counts(db) == expected_counts(server.base_url):
            break
    assert db_counts(db) == expected_counts(server.base_url)
    assert _duplicates(db) == {}
