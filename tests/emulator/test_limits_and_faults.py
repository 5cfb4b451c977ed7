"""Rate limit, hourly quota, plan features and fault injection."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests

from tests.helpers import Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, Faults, Limits, Scale


def test_rate_limit_answers_429_with_optional_retry_after(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    for send in (True, False):
        limits = Limits(rate_per_second=2, burst=2, send_retry_after=send)
        api = Api(make_emulator(EmulatorConfig(limits=limits)).base_url, "envelope")
        statuses = [api.get("/me") for _ in range(6)]
        limited = [r for r in statuses if r.status_code == 429]
        assert [r.status_code for r in statuses[:2]] == [200, 200]
        assert limited
        assert all(("Retry-After" in r.headers) == send for r in limited)
        time.sleep(1.1)
        assert api.get("/me").status_code == 200, "the bucket leaks"
        assert api.get("/me", token="partial-token").status_code == 200, "per token"


def test_quota_402_with_headers_and_reset_by_clock(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    limits = Limits(quota=True, quota_per_hour=5, me_quota_per_hour=3)
    api = Api(make_emulator(EmulatorConfig(limits=limits)).base_url, "bare")
    ws = api.ok("/me/workspaces")[0]["id"]
    remaining = []
    for _ in range(5):
        response = api.get(f"/workspaces/{ws}/clients")
        assert response.status_code == 200
        remaining.append(int(response.headers["X-Quota-Remaining"]))
        assert 0 < int(response.headers["X-Quota-Resets-In"]) <= 3600
    assert remaining == [4, 3, 2, 1, 0]
    spent = api.get(f"/workspaces/{ws}/clients")
    assert spent.status_code == 402
    assert spent.headers["X-Quota-Remaining"] == "0"
    assert isinstance(spent.json(), str)
    # /me paths count against their own bucket
    assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 402]
    api.admin("POST", "/clock", json={"advance": 3601})
    assert api.get(f"/workspaces/{ws}/clients").status_code == 200
    assert api.get("/me").status_code == 200


def test_plan_quota_differs_per_organization(make_emulator: Callable[..., EmulatorServer]) -> None:
    config = EmulatorConfig(scale=Scale(organizations=3, workspaces=3), limits=Limits(quota=True))
    api = Api(make_emulator(config).base_url, "envelope")
    seen = {}
    for org in api.ok("/me/organizations"):
        response = api.get(f"/organizations/{org['id']}")
        seen[org["pricing_plan_id"]] = int(response.headers["X-Quota-Remaining"])
    assert seen == {2: 599, 1: 239, 0: 29}


def test_feature_not_on_plan_is_plain_402(make_emulator: Callable[..., EmulatorServer]) -> None:
    config = EmulatorConfig(
        scale=Scale(organizations=3, workspaces=3),
        limits=Limits(restricted_features=frozenset({"groups", "reports"})),
    )
    api = Api(make_emulator(config).base_url, "envelope")
    orgs = api.ok("/me/organizations")
    free = next(o for o in orgs if o["pricing_plan_id"] == 0)
    paid = next(o for o in orgs if o["pricing_plan_id"] != 0)
    response = api.get(f"/organizations/{free['id']}/groups")
    assert response.status_code == 402
    assert "X-Quota-Remaining" not in response.headers
    assert "X-Quota-Resets-In" not in response.headers
    assert api.get(f"/organizations/{paid['id']}/groups").status_code == 200
    free_ws = next(w for w in api.ok("/me/workspaces") if w["organization_id"] == free["id"])
    assert api.report(free_ws["id"], {"start_date": "2026-01-01"}).status_code == 402


def test_quota_headers_on_every_api_response(api: Api) -> None:
    for response in (api.get("/me"), api.get("/me/workspaces"), api.get("/workspaces/1/clients")):
        assert "X-Quota-Remaining" in response.headers
        assert "X-Quota-Resets-In" in response.headers


def _statuses(server: EmulatorServer, paths: list[str]) -> list[str]:
    api = Api(server.base_url, "envelope")
    out = []
    for path in paths:
        try:
            response = api.get(path)
            try:
                response.json()
                out.append(str(response.status_code))
            except ValueError:
                out.append("truncated")
        except requests.ConnectionError:
            out.append("dropped")
    return out


FAULTS = Faults(
    rates={
        "429": 0.05,
        "500": 0.05,
        "502": 0.05,
        "503": 0.05,
        "504": 0.05,
        "drop": 0.05,
        "truncate": 0.05,
        "slow": 0.05,
    },
    slow_seconds=0.01,
)


def test_faults_are_reproducible_from_the_seed(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    paths = [f"/workspaces/{w}/tasks?page={p}" for w in (4000001, 4000002) for p in range(1, 40)]
    first = _statuses(make_emulator(EmulatorConfig(seed=11, faults=FAULTS)), paths)
    second = _statuses(make_emulator(EmulatorConfig(seed=11, faults=FAULTS)), paths)
    other = _statuses(make_emulator(EmulatorConfig(seed=12, faults=FAULTS)), paths)
    assert first == second
    assert first != other
    kinds = Counter(first)
    assert {"200", "429", "500", "502", "503", "504", "dropped", "truncated"} <= set(kinds)
    assert 0.2 < 1 - kinds["200"] / len(first) < 0.6


def test_a_retry_gets_a_fresh_draw(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(EmulatorConfig(faults=Faults(rates={"503": 0.5})))
    statuses = _statuses(server, ["/me"] * 40)
    assert set(statuses) == {"200", "503"}
    log = Api(server.base_url, "envelope").admin("GET", "/requests")
    assert log["faults_injected"]["503"] == statuses.count("503")
    assert log["by_status"]["503"] == statuses.count("503")


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "429"])
def test_every_status_fault(make_emulator: Callable[..., EmulatorServer], kind: str) -> None:
    server = make_emulator(EmulatorConfig(faults=Faults(rates={kind: 1.0})))
    assert _statuses(server, ["/me"]) == [kind]


def test_request_log_counts_by_route_path_and_status(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    api = Api(make_emulator(EmulatorConfig()).base_url, "envelope")
    api.get("/me")
    api.get("/me")
    api.get("/me", token="wrong")
    ws = api.ok("/me/workspaces")[0]["id"]
    api.ok(f"/workspaces/{ws}/tasks")
    log = api.admin("GET", "/requests")
    assert log["total"] == 5
    assert log["by_path"]["GET /v1/me"] == 3
    assert log["by_path_status"]["GET /v1/me 403"] == 1
    assert log["by_route"]["GET /v1/workspaces/{workspace_id}/tasks"] == 1
    api.admin("DELETE", "/requests")
    assert api.admin("GET", "/requests")["total"] == 0


def test_quota_headers_on_limit_and_fault_answers_and_404s_cost_nothing(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    limits = Limits(quota=True, rate_per_second=1, burst=1)
    api = Api(make_emulator(EmulatorConfig(limits=limits)).base_url, "envelope")
    first = api.get("/me")
    limited = api.get("/me")
    assert limited.status_code == 429
    assert limited.headers["X-Quota-Remaining"] == first.headers["X-Quota-Remaining"] == "29"
    time.sleep(1.1)
    unknown = api.get("/organizations/123")
    assert unknown.status_code == 404 and unknown.headers["X-Quota-Remaining"] == "29"
    faulty = Api(
        make_emulator(EmulatorConfig(faults=Faults(rates={"502": 1.0}))).base_url, "envelope"
    ).get("/me")
    assert faulty.status_code == 502 and "X-Quota-Remaining" in faulty.headers
