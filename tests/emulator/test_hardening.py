"""The admin endpoints refuse nonsense with a JSON 4xx, never a 500 or corrupted state, and
cannot be driven by a web page cross-origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.helpers import Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, check_host
from timetrack.errors import EmulatorError


@pytest.fixture
def fresh(make_emulator: Callable[..., EmulatorServer]) -> Api:
    return Api(make_emulator(EmulatorConfig()).base_url, "envelope")


def _admin(api: Api, method: str, path: str, **kwargs: Any) -> requests.Response:
    return api.session.request(method, api.base_url + "/_emulator" + path, timeout=30, **kwargs)


def _refused(response: requests.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), str)
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"advance": "NaN"},
        {"advance": 1e20},
        {"advance": "inf"},
        {"advance": "-Infinity"},
        {"advance": True},
        {"advance": None},
        {"advance": [1]},
        {"now": "NaN"},
        {"now": float("inf")},
        {"now": 1e300},
        {"now": -5},
        {"now": "yesterday"},
        {"now": {"unix": 1}},
        {"now": "9999-12-31T23:59:59Z"},
        {"now": "2027-01-01T00:00:00Z", "frozen": "yes"},
        {"now": "2027-01-01T00:00:00Z", "advance": "NaN"},
        {"when": 1},
    ],
)
def test_clock_refuses_nonsense_and_stays_sound(fresh: Api, body: dict[str, Any]) -> None:
    before = fresh.admin("GET", "/clock")
    response = _admin(fresh, "POST", "/clock", data=_json(body), headers=JSON)
    _refused(response, 400)
    after = fresh.admin("GET", "/clock")
    assert after["frozen"] == before["frozen"]
    assert 0 <= after["unix"] - before["unix"] < 60
    assert fresh.get("/me").status_code == 200
    assert fresh.get("/me/time_entries").status_code == 200


JSON = {"Content-Type": "application/json"}


def _json(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, allow_nan=True).encode()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/workspaces/abc/clients", {}),
        ("POST", "/workspaces/1e3/tags", {}),
        ("PATCH", "/clients/abc", {"name": "x"}),
        ("DELETE", "/tasks/1.5", None),
        ("PUT", "/workspaces/abc/members/6000002", {}),
        ("PUT", "/workspaces/4000001/members/abc", {}),
        ("DELETE", "/workspaces/4000001/members/abc", None),
        ("DELETE", "/workspaces/abc/members/6000002", None),
        ("GET", "/records/time_entries?token=nobody", None),
        ("GET", "/records/nothing", None),
        ("GET", "/drift?entity=nothing", None),
    ],
)
def test_admin_ids_must_be_integers(
    fresh: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    if body is None:
        response = _admin(fresh, method, path)
    else:
        response = _admin(fresh, method, path, json=body)
    _refused(response, 400, 404)


@pytest.mark.parametrize(
    ("entity", "change"),
    [
        ("tasks", {"name": {}}),
        ("tasks", {"name": ""}),
        ("tasks", {"active": "yes"}),
        ("tasks", {"estimated_seconds": "10"}),
        ("tasks", {"tracked_seconds": True}),
        ("tasks", {"project_id": 1}),
        ("tasks", {"at": "last tuesday"}),
        ("tasks", {"server_deleted_at": "2026-13-45T00:00:00Z"}),
        ("tasks", {"nonsense": 1}),
        ("tasks", {"id": 5}),
        ("projects", {"client_id": 1}),
        ("projects", {"rate": "NaN"}),
        ("projects", {"billable": 1}),
        ("projects", {"start_date": "soon"}),
        ("projects", {"recurring_parameters": "monthly"}),
        ("clients", {"archived": None}),
        ("clients", {"notes": 5}),
        ("tags", {"name": ["a"]}),
    ],
)
def test_patch_refuses_wrong_types_and_stores_nothing(
    fresh: Api, entity: str, change: dict[str, Any]
) -> None:
    item = fresh.admin("GET", f"/records/{entity}")[0]
    response = _admin(fresh, "PATCH", f"/{entity}/{item['id']}", json=change)
    _refused(response, 400)
    after = next(r for r in fresh.admin("GET", f"/records/{entity}") if r["id"] == item["id"])
    assert after == item
    ws = item.get("workspace_id", item.get("wid"))
    listed = fresh.get(
        f"/workspaces/{ws}/{entity}", **({"status": "both"} if entity == "clients" else {})
    )
    assert listed.status_code == 200


def test_create_refuses_wrong_types_without_leaving_traces(fresh: Api) -> None:
    ws = fresh.ok("/me/workspaces")[0]["id"]
    tags_before = fresh.ok(f"/workspaces/{ws}/tags")
    _refused(_admin(fresh, "POST", f"/workspaces/{ws}/tags", json={"name": {}}), 400)
    _refused(_admin(fresh, "POST", f"/workspaces/{ws}/tasks", json={"project_id": {}}), 400)
    _refused(_admin(fresh, "POST", f"/workspaces/{ws}/tasks", json={"name": "no project"}), 400)
    assert fresh.ok(f"/workspaces/{ws}/tags") == tags_before
    entry = {"start": "2026-01-01T00:00:00Z", "duration": 60, "tags": ["fresh-tag"]}
    assert fresh.call("POST", f"/workspaces/{ws}/time_entries", json=entry).status_code == 200
    good = fresh.admin(
        "PATCH",
        f"/tasks/{fresh.admin('GET', '/records/tasks')[0]['id']}",
        json={"name": "Renamed", "estimated_seconds": None, "at": "2026-01-01T00:00:00+02:00"},
    )
    assert good["name"] == "Renamed" and good["estimated_seconds"] is None


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/clock", {"data": '{"advance": 60}', "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/clock", {"data": {"advance": "60"}}),  # a form post
        ("POST", "/workspaces/4000001/clients", {}),  # no body, no type: a bare fetch()
        (
            "POST",
            "/workspaces/4000001/clients",
            {"data": "{}", "headers": {"Content-Type": "text/plain"}},
        ),
        (
            "PATCH",
            "/clients/50000001",
            {"data": '{"name": "x"}', "headers": {"Content-Type": "text/plain"}},
        ),
        ("PUT", "/workspaces/4000001/members/6000050", {"files": {"role": "admin"}}),
        (
            "DELETE",
            "/clients/50000001",
            {"data": "x=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        ),
    ],
)
def test_changes_need_a_json_content_type(
    fresh: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = fresh.admin("GET", "/truth")
    clock = fresh.admin("GET", "/clock")["unix"]
    _refused(_admin(fresh, method, path, **kwargs), 415)
    after = fresh.admin("GET", "/truth")
    assert {k: v for k, v in after.items() if k != "now"} == {
        k: v for k, v in before.items() if k != "now"
    }
    assert fresh.admin("GET", "/clock")["unix"] - clock < 30


def test_deletes_without_a_body_need_no_content_type(fresh: Api) -> None:
    assert _admin(fresh, "DELETE", "/requests").status_code == 200
    assert _admin(fresh, "DELETE", "/clients/50000001").status_code == 200


def test_admin_token(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(EmulatorConfig(admin_token="s3cret"))
    api = Api(server.base_url, "bare")
    for method, path, body in (
        ("GET", "/truth", None),
        ("GET", "/records/clients", None),
        ("GET", "/drift", None),
        ("GET", "/secrets", None),
        ("GET", "/clock", None),
        ("POST", "/clock", {"advance": 60}),
        ("DELETE", "/requests", None),
        ("GET", "/nowhere", None),
    ):
        for headers in ({}, {"X-Emulator-Admin-Token": "wrong"}, {"X-Emulator-Admin-Token": ""}):
            _refused(_admin(api, method, path, json=body, headers=headers), 401)
    ok = _admin(api, "GET", "/secrets", headers={"X-Emulator-Admin-Token": "s3cret"})
    assert ok.status_code == 200 and ok.json()
    moved = _admin(
        api, "POST", "/clock", json={"advance": 60}, headers={"X-Emulator-Admin-Token": "s3cret"}
    )
    assert moved.status_code == 200
    assert api.ok("/me")["id"], "the public API does not need the admin token"


def test_admin_token_must_not_be_blank() -> None:
    with pytest.raises(EmulatorError):
        EmulatorConfig(admin_token="  ").validate()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_hosts_need_no_admin_token(host: str) -> None:
    check_host(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.com", ""])
def test_other_hosts_need_an_admin_token(host: str) -> None:
    with pytest.raises(EmulatorError) as error:
        check_host(host, None)
    assert "\n" not in str(error.value) and "--admin-token" in str(error.value)
    check_host(host, "s3cret")


def test_a_server_beyond_loopback_is_refused_without_a_token() -> None:
    with pytest.raises(EmulatorError):
        EmulatorServer(EmulatorConfig(), host="0.0.0.0").start()
