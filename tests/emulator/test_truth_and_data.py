"""The ground truth agrees with what the endpoints return; the data is deterministic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import PARTIAL_TOKEN, TOKEN, Api
from timetrack.emulator import EmulatorConfig, EmulatorServer


def _all(api: Api, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        body = api.ok(path, token=token, page=page, per_page=200, **params)
        items = body["data"] if isinstance(body, dict) else body
        found.extend(items)
        if len(items) < 200:
            return found
        page += 1


@pytest.mark.parametrize("token", [TOKEN, PARTIAL_TOKEN])
def test_truth_matches_the_endpoints(api: Api, token: str) -> None:
    truth = api.admin("GET", "/truth", params={"token": token})
    orgs = api.ok("/me/organizations", token=token)
    workspaces = api.ok("/me/workspaces", token=token)
    assert truth["organizations"]["live"] == len(orgs)
    assert truth["workspaces"]["live"] == len(workspaces)
    for org in orgs:
        key = str(org["id"])
        users = _all(api, f"/organizations/{org['id']}/users", token)
        assert truth["organization_users"]["by_organization"][key]["total"] == len(users)
        assert truth["organization_users"]["by_organization"][key]["inactive"] == sum(
            u["inactive"] for u in users
        )
        groups = api.ok(f"/organizations/{org['id']}/groups", token=token)
        assert truth["groups"]["by_organization"].get(key, {"live": 0})["live"] == len(groups)
    for ws in workspaces:
        key = str(ws["id"])
        clients = api.ok(f"/workspaces/{ws['id']}/clients", token=token, status="both")
        assert truth["clients"]["by_workspace"][key]["live"] == len(clients)
        for entity in ("projects", "tasks"):
            live = _all(api, f"/workspaces/{ws['id']}/{entity}", token, active="both")
            assert truth[entity]["by_workspace"][key]["live"] == len(live)
            changed = _all(api, f"/workspaces/{ws['id']}/{entity}", token, active="both", since=0)
            assert truth[entity]["by_workspace"][key]["total"] == len(changed)
        tags = api.ok(f"/workspaces/{ws['id']}/tags", token=token)
        assert truth["tags"]["by_workspace"][key]["live"] == len(tags)
    totals = sum(v["total"] for v in truth["time_entries"]["by_workspace"].values())
    assert totals == truth["time_entries"]["total"]
    records = api.admin("GET", "/records/time_entries", params={"token": token})
    assert len(records) == truth["time_entries"]["total"]
    me = api.ok("/me", token=token)["id"]
    mine = [r for r in records if r["user_id"] == me]
    assert len(mine) == truth["my_time_entries"]["total"]
    running = sum(r["stop"] is None and r["server_deleted_at"] is None for r in mine)
    assert running == truth["my_time_entries"]["running"] == (1 if token == TOKEN else 0)


def test_partial_truth_is_a_part(api: Api) -> None:
    full = api.admin("GET", "/truth")
    part = api.admin("GET", "/truth", params={"token": PARTIAL_TOKEN})
    for entity in ("workspaces", "clients", "projects", "tasks", "time_entries"):
        assert 0 < part[entity]["total"] < full[entity]["total"], entity


def test_truth_follows_admin_edits(make_emulator: Callable[..., EmulatorServer]) -> None:
    api = Api(make_emulator(EmulatorConfig()).base_url, "envelope")
    ws = api.ok("/me/workspaces")[0]["id"]
    before = api.admin("GET", "/truth")["clients"]["by_workspace"][str(ws)]
    client = api.admin("POST", f"/workspaces/{ws}/clients", json={"name": "Brand new"})
    api.admin("PATCH", f"/clients/{client['id']}", json={"archived": True})
    after = api.admin("GET", "/truth")["clients"]["by_workspace"][str(ws)]
    assert after["archived"] == before["archived"] + 1
    archived = api.ok(f"/workspaces/{ws}/clients", status="archived")
    assert client["id"] in {c["id"] for c in archived}
    api.admin("DELETE", f"/clients/{client['id']}")
    assert api.admin("GET", "/truth")["clients"]["by_workspace"][str(ws)]["deleted"] == 1
    removed = api.admin("DELETE", f"/workspaces/{ws}/members/6000002")
    assert 6000002 not in removed["members"]
    assert api.ok("/me/workspaces", token=PARTIAL_TOKEN) is None, "an empty list is null"


def test_same_seed_same_data_other_seed_other_data(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    now = 1_790_000_000.0
    first = Api(make_emulator(EmulatorConfig(seed=3, now=now)).base_url, "bare")
    second = Api(make_emulator(EmulatorConfig(seed=3, now=now)).base_url, "bare")
    third = Api(make_emulator(EmulatorConfig(seed=4, now=now)).base_url, "bare")
    for entity in ("time_entries", "projects", "organization_users"):
        a = first.admin("GET", f"/records/{entity}")
        b = second.admin("GET", f"/records/{entity}")
        c = third.admin("GET", f"/records/{entity}")
        assert a == b
        assert a != c


def test_clock_can_be_set_frozen_and_advanced(make_emulator: Callable[..., EmulatorServer]) -> None:
    api = Api(make_emulator(EmulatorConfig()).base_url, "envelope")
    set_to = api.admin("POST", "/clock", json={"now": "2027-01-01T00:00:00Z", "frozen": True})
    assert set_to["now"] == "2027-01-01T00:00:00Z" and set_to["frozen"]
    moved = api.admin("POST", "/clock", json={"advance": 86400})
    assert moved["now"] == "2027-01-02T00:00:00Z"
    response = api.session.post(api.base_url + "/_emulator/clock", json={"now": "never"})
    assert response.status_code == 400
