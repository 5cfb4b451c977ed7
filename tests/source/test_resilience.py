"""Retries, backoff, Retry-After, pacing and quota against a misbehaving emulator."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.utils import formatdate
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.helpers import TOKEN, ClockSleep, FakeTime, StubServer, Sync, clock, duckdb_rows
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Faults, Limits, Scale
from timetrack.errors import FeatureNotOnPlanError, QuotaExhaustedError, ServiceError
from timetrack.source.client import ApiClient, ClientSettings

MIXED = Faults(
    rates={
        "429": 0.02,
        "500": 0.015,
        "502": 0.01,
        "503": 0.01,
        "504": 0.01,
        "drop": 0.02,
        "slow": 0.015,
    },
    slow_seconds=0.05,
)
MIXED_AND_TRUNCATED = Faults(rates={**MIXED.rates, "truncate": 0.05}, slow_seconds=0.05)
SMALL = Scale(users=12, projects_per_workspace=20, tasks_per_workspace=20, time_entries=600)
"""A small team: the runs below are about faults, not volume."""


def test_tables_equal_the_truth_despite_failures_and_truncated_bodies(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    """One sync for what were two: ten percent of requests fail (every status, dropped and
    slow answers) and five percent more answer a truncated body; every failure and every
    truncated body is retried, and what landed is the emulator's records, value by value."""
    server = make_emulator(EmulatorConfig(scale=SMALL, faults=MIXED_AND_TRUNCATED))
    summary = sync(server.base_url, backoff_factor=0.01)
    log = requests.get(server.base_url + "/_emulator/requests", timeout=10).json()
    injected = log["faults_injected"]
    assert sum(injected.values()) - injected.get("truncate", 0) >= 2, "faults must have happened"
    assert injected.get("truncate", 0) > 0, "bodies must really have been truncated"
    failed = sum(n for s, n in log["by_status"].items() if s != "200")
    # a truncated body comes with a 200: the client notices the JSON cut short and asks again
    assert summary.stats.retries == failed + injected["truncate"]
    assert summary.stats.requests == log["total"]
    problems = differences(
        expected_tables(server.base_url, TOKEN), duckdb_rows(tmp_path / "db.duckdb")
    )
    assert not problems, "\n".join(problems[:40])


def _client(server: EmulatorServer, waits: list[float], **settings: float) -> ApiClient:
    return ApiClient(
        "demo-token",
        ClientSettings(base_url=server.base_url, requests_per_second=0, **settings),  # type: ignore[arg-type]
        sleep=waits.append,
    )


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "504", "drop", "truncate"])
def test_three_retries_with_backoff_factor_two(
    make_emulator: Callable[..., EmulatorServer], kind: str
) -> None:
    server = make_emulator(EmulatorConfig(faults=Faults(rates={kind: 1.0})))
    waits: list[float] = []
    client = _client(server, waits)
    with pytest.raises(ServiceError, match="failed 4 times"):
        client.get("/me")
    assert waits == [2.0, 4.0, 8.0]
    assert client.stats.requests == 4 and client.stats.retries == 3


def test_retry_after_is_honoured(make_emulator: Callable[..., EmulatorServer]) -> None:
    limits = Limits(send_retry_after=True)
    server = make_emulator(EmulatorConfig(limits=limits, faults=Faults(rates={"503": 1.0})))
    waits: list[float] = []
    with pytest.raises(ServiceError):
        _client(server, waits).get("/me")
    assert waits == [1.0, 1.0, 1.0]


def test_a_fault_then_success_returns_the_data(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(seed=5, faults=Faults(rates={"502": 0.3})))
    waits: list[float] = []
    client = _client(server, waits)
    results = [client.get("/me")["id"] for _ in range(10)]
    assert results == [6000001] * 10
    assert client.stats.retries == len(waits) > 0


def test_pacing_avoids_429(
    make_emulator: Callable[..., EmulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pacer and the emulator's leaky bucket read one fake clock that only the client's
    # sleeps move: arrival times are exactly what pacing makes them, with no real waiting.
    fake = FakeTime()
    monkeypatch.setattr("timetrack.source.client.time", fake)
    monkeypatch.setattr("timetrack.emulator.limits.time", fake)
    server = make_emulator(EmulatorConfig(limits=Limits(rate_per_second=8, burst=1)))
    unpaced = ApiClient(
        "demo-token",
        ClientSettings(base_url=server.base_url, requests_per_second=0, backoff_factor=0.1),
        sleep=fake.sleep,
    )
    for _ in range(10):
        unpaced.get("/me")
    assert unpaced.stats.by_status["429"] > 0, "without pacing the limit is hit"
    paced = ApiClient(
        "partial-token",
        ClientSettings(base_url=server.base_url, requests_per_second=8),
        sleep=fake.sleep,
    )
    for _ in range(24):
        paced.get("/me")
    assert paced.stats.by_status["429"] == 0
    assert paced.stats.requests == 24
    # 23 gaps, each a little longer than 1/8 s
    assert 23 / 8 < paced.stats.pacing_seconds < 23 / 8 * 1.1


def test_quota_waits_for_the_reset_and_a_second_more(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True, me_quota_per_hour=4)))
    clock(server.base_url, now=float(int(clock(server.base_url))), frozen=True)
    sleep = ClockSleep(server.base_url)
    client = ApiClient(
        "demo-token",
        ClientSettings(base_url=server.base_url, requests_per_second=0, max_quota_wait=4000),
        sleep=sleep,
    )
    assert [client.get("/me")["id"] for _ in range(6)] == [6000001] * 6
    # the four requests were made at one frozen instant: the quota resets 3,600 s later, and
    # the client waits one second more, as the header's whole seconds may round down
    assert sleep.waits == [3601.0]


def test_a_quota_that_never_resets_stops_after_three_waits(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True, me_quota_per_hour=2)))
    clock(server.base_url, now=float(int(clock(server.base_url))), frozen=True)
    other = requests.Session()

    def spend() -> None:
        """Another client of the same token takes whatever the quota frees."""
        for _ in range(10):
            answer = other.get(
                server.base_url + "/api/v9/me", auth=("demo-token", "api_token"), timeout=10
            )
            if answer.status_code == 402:
                return
        raise AssertionError("the quota does not run out")

    spend()
    sleep = ClockSleep(server.base_url, then=spend)
    client = ApiClient(
        "demo-token",
        ClientSettings(base_url=server.base_url, requests_per_second=0, max_quota_wait=4000),
        sleep=sleep,
    )
    with pytest.raises(
        QuotaExhaustedError,
        match=r"hourly API quota is spent \(/v1/me\); it resets in 60 min: "
        r"run again after \d\d:\d\d UTC",
    ):
        client.get("/me")
    assert sleep.waits == [3601.0, 3601.0, 3601.0]
    assert client.stats.by_status["402"] == 4


def test_a_run_against_a_quota_that_never_resets_stops_with_the_quota_message(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True, me_quota_per_hour=3)))
    clock(server.base_url, now=float(int(clock(server.base_url))), frozen=True)
    other = requests.Session()

    def spend() -> None:
        """Another client of the same token takes whatever the quota frees."""
        while (
            other.get(
                server.base_url + "/api/v9/me", auth=("demo-token", "api_token"), timeout=10
            ).status_code
            != 402
        ):
            pass

    sleep = ClockSleep(server.base_url, then=spend)
    monkeypatch.setattr("timetrack.source.core.ApiClient", partial(ApiClient, sleep=sleep))
    spend()
    summary = sync(server.base_url, max_quota_wait=4000)
    assert summary.exit_code == 75, "stopped for the quota, progress saved: retry later"
    [closing] = summary.closing_lines()
    assert re.search(r"hourly API quota is spent .* run again after", closing), closing
    assert sleep.waits == [3601.0, 3601.0, 3601.0]


def test_retry_after_as_a_future_http_date_is_waited_for() -> None:
    later = formatdate(time.time() + 120, usegmt=True)
    with StubServer([(503, {"Retry-After": later}, "busy"), (200, {}, {"id": 1})]) as stub:
        waits: list[float] = []
        client = ApiClient(
            "demo-token",
            ClientSettings(base_url=stub.base_url, requests_per_second=0),
            sleep=waits.append,
        )
        assert client.get("/me") == {"id": 1}
    assert len(waits) == 1
    assert 115 <= waits[0] <= 120, waits  # the date has whole seconds


def test_retry_after_as_a_date_follows_the_services_clock() -> None:
    served = time.time() + 86400  # the service's clock runs a day ahead of ours
    headers = {
        "Date": formatdate(served, usegmt=True),
        "Retry-After": formatdate(served + 30, usegmt=True),
    }
    with StubServer([(503, headers, "busy"), (200, {"Date": headers["Date"]}, {"id": 1})]) as stub:
        waits: list[float] = []
        client = ApiClient(
            "demo-token",
            ClientSettings(base_url=stub.base_url, requests_per_second=0),
            sleep=waits.append,
        )
        assert client.get("/me") == {"id": 1}
    assert len(waits) == 1 and 28 <= waits[0] <= 31, waits


def test_quota_beyond_the_limit_stops_with_when_to_run_again(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True, me_quota_per_hour=2)))
    waits: list[float] = []
    client = _client(server, waits, max_quota_wait=300)
    client.get("/me")
    client.get("/me")
    with pytest.raises(
        QuotaExhaustedError, match=r"resets in 60 min: run again after \d\d:\d\d UTC"
    ):
        client.get("/me")
    assert waits == []


def test_plain_402_is_not_retried(make_emulator: Callable[..., EmulatorServer]) -> None:
    """A run against such a plan loads all but that part: tests/source/test_cli_errors.py."""
    config = EmulatorConfig(
        scale=Scale(organizations=3, workspaces=3),
        limits=Limits(restricted_features=frozenset({"groups"})),
    )
    server = make_emulator(config)
    waits: list[float] = []
    client = _client(server, waits)
    free = next(o for o in client.get("/me/organizations") if o["pricing_plan_id"] == 0)
    with pytest.raises(FeatureNotOnPlanError, match="not included in the organization's plan"):
        client.get(f"/organizations/{free['id']}/groups")
    assert waits == [] and client.stats.requests == 2


def test_a_run_stopped_by_the_quota_lands_what_it_fetched(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    now = float(int(time.time()))  # the source's 90-day window follows the real clock
    stingy = make_emulator(
        EmulatorConfig(now=now, scale=SMALL, limits=Limits(quota=True, quota_per_hour=6))
    )
    summary = sync(stingy.base_url, max_quota_wait=0)
    assert summary.exit_code == 75 and summary.stats.deferred
    assert summary.stats.quota_stops, "the spent quota is named"
    database = tmp_path / "db.duckdb"
    landed = duckdb_rows(database)
    truth = expected_tables(stingy.base_url, TOKEN)
    problems = differences(
        {"organizations": truth["organizations"]}, {"organizations": landed["organizations"]}
    )
    assert not problems, "cheap tables come first:\n" + "\n".join(problems[:40])
    assert 0 < sum(map(len, landed.values())) < sum(map(len, truth.values()))
    healthy = make_emulator(EmulatorConfig(now=now, scale=SMALL))
    sync(healthy.base_url)
    problems = differences(expected_tables(healthy.base_url, TOKEN), duckdb_rows(database))
    assert not problems, "the next run lands the rest:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 27 Nov 2026 20:18:08 GMT",
        "Fri Nov 27 20:18:08 2026",
        "Fri, 27 Nov 2026 20:18:08 -0000",
    ],
)
def test_retry_after_dates_in_every_http_form(value: str) -> None:
    from timetrack.source.client import delay_seconds

    assert delay_seconds(value) == 0.0  # in the past: retry at once
    assert delay_seconds("7") == 7.0
    assert delay_seconds("soon") is None


def test_default_pacing_provokes_no_429_at_the_services_rate(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One fake clock for the source's pacer and the emulator's leaky bucket (see above).
    fake = FakeTime()
    monkeypatch.setattr("timetrack.source.client.time", fake)
    monkeypatch.setattr("timetrack.emulator.limits.time", fake)
    monkeypatch.setattr("timetrack.source.core.ApiClient", partial(ApiClient, sleep=fake.sleep))
    server = make_emulator(EmulatorConfig(limits=Limits(rate_per_second=1, burst=1)))
    summary = sync(
        server.base_url,
        requests_per_second=1,
        workspace_ids=[4000001],
        resources=["workspace_clients", "workspace_tags", "workspace"],
    )
    log = requests.get(server.base_url + "/_emulator/requests", timeout=10).json()
    assert log["total"] >= 4
    assert "429" not in log["by_status"]
    assert summary.stats.retries == 0
    assert summary.stats.pacing_seconds >= log["total"] - 1
