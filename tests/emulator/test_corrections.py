"""The contract's corrections from real responses: what the emulator serves since then."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.helpers import PARTIAL_TOKEN, Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _ws(api: Api, token: str | None = None) -> int:
    return int(api.ok("/me/workspaces", token=token)[0]["id"])


def test_organization_users_have_no_organization_id(api: Api) -> None:
    org = api.ok("/me/organizations")[0]["id"]
    users = api.ok(f"/organizations/{org}/users", per_page=200)
    assert users and all("organization_id" not in u for u in users)
    assert {type(u["2fa_enabled"]) for u in users} == {bool}
    assert {u["2fa_enabled"] for u in users} == {True, False}
    records = api.admin("GET", "/records/organization_users")
    assert {r["organization_id"] for r in records if r["id"] in {u["id"] for u in users}} == {
        org
    }, "the truth knows the organization the API leaves out"


EMPTY = [
    ("/me/workspaces", {"since": 4_000_000_000}),
    ("/me/time_entries", {}),
    ("/workspaces/{ws}/clients", {"status": "archived"}),
    ("/workspaces/{ws}/projects", {"page": 99}),
    ("/workspaces/{ws}/tags", {}),
    ("/organizations/{org}/users", {"page": 99}),
    ("/organizations/{org}/groups", {}),
]


@pytest.mark.parametrize(("path", "params"), EMPTY)
def test_empty_lists_are_null(
    make_emulator: Callable[..., EmulatorServer], path: str, params: dict[str, Any]
) -> None:
    """Every list endpoint answers an empty list as null, never [], in both layouts."""
    scale = Scale(groups_per_organization=0, clients_per_workspace=2, time_entries=0)
    server = make_emulator(EmulatorConfig(scale=scale))
    for layout in ("envelope", "bare"):
        api = Api(server.base_url, layout)
        ws, org = _ws(api), api.ok("/me/organizations")[0]["id"]
        for tag in api.admin("GET", "/records/tags"):
            if tag["workspace_id"] == ws:
                api.admin("DELETE", f"/tags/{tag['id']}")
        response = api.get(path.format(ws=ws, org=org), **params)
        body = response.json()
        assert response.status_code == 200, body
        assert (body["data"] if layout == "envelope" else body) is None, (path, body)


def test_empty_task_list_is_null_in_its_wrapper(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(scale=Scale(tasks_per_workspace=0)))
    for layout in ("envelope", "bare"):
        api = Api(server.base_url, layout)
        body = api.ok(f"/workspaces/{_ws(api)}/tasks")
        assert body["data"] is None and body["total_count"] == 0


def test_empty_lists_can_be_served_as_lists(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(
        EmulatorConfig(scale=Scale(tasks_per_workspace=0), empty_lists_null=False)
    )
    api = Api(server.base_url, "envelope")
    assert api.ok(f"/workspaces/{_ws(api)}/tasks")["data"] == []
    now = api.admin("GET", "/clock")["unix"]
    assert api.ok("/me/workspaces", since=int(now) + 10) == []


def test_empty_report_page_is_null(api: Api) -> None:
    response = api.report(_ws(api), {"start_date": "2001-01-01", "end_date": "2001-01-02"})
    assert api.data(response) is None


def test_workspaces_carry_credentials_and_more_fields(api: Api) -> None:
    workspaces = api.ok("/me/workspaces")
    secrets = {s["workspace_id"]: s for s in api.admin("GET", "/secrets")}
    records = {r["id"]: r for r in api.admin("GET", "/records/workspaces")}
    tokens = set()
    for ws in workspaces:
        assert HEX32.match(ws["api_token"])
        tokens.add(ws["api_token"])
        assert ws["ical_url"].startswith("https://track.example.com/ical/workspace_user/")
        secret = ws["ical_url"].rsplit("/", 1)[1]
        assert HEX32.match(secret)
        assert secrets[ws["id"]] == {
            "workspace_id": ws["id"],
            "api_token": ws["api_token"],
            "ical_secret": secret,
            "ical_url": ws["ical_url"],
        }
        assert records[ws["id"]]["api_token"] == ws["api_token"]
        assert records[ws["id"]]["ical_url"] == ws["ical_url"]
        for key, kind in {
            "ical_enabled": bool,
            "business_ws": bool,
            "only_admins_may_create_tags": bool,
            "only_admins_see_billable_rates": bool,
            "projects_billable_by_default": bool,
            "reports_collapse": bool,
            "rounding": int,
            "rounding_minutes": int,
            "last_modified": str,
        }.items():
            assert isinstance(ws[key], kind), key
        for key in ("working_hours_in_minutes", "csv_upload", "subscription", "suspended_at"):
            assert key in ws
    assert len(tokens) == len(workspaces), "every workspace has its own token"


def test_workspace_secrets_are_deterministic(make_emulator: Callable[..., EmulatorServer]) -> None:
    first = make_emulator(EmulatorConfig(seed=11, now=1_790_000_000.0))
    second = make_emulator(EmulatorConfig(seed=11, now=1_790_000_000.0))
    third = make_emulator(EmulatorConfig(seed=12, now=1_790_000_000.0))
    get = [
        requests.get(s.base_url + "/_emulator/secrets", timeout=30).json()
        for s in (first, second, third)
    ]
    assert get[0] == get[1] != get[2]


def test_projects_tasks_and_entries_carry_the_new_fields(api: Api) -> None:
    ws = _ws(api)
    projects = api.ok(f"/workspaces/{ws}/projects", active="both", per_page=200)
    counts = {}
    for task in api.admin("GET", "/records/tasks"):
        if task["server_deleted_at"] is None:
            counts[task["project_id"]] = counts.get(task["project_id"], 0) + 1
    for project in projects:
        assert project["tasks_count"] == counts.get(project["id"], 0)
        for key in ("pinned", "can_track_time", "is_shared", "template_id", "current_period"):
            assert key in project
    assert any(p["pinned"] for p in projects)
    assert any(p["current_period"] for p in projects)
    tasks = api.admin("GET", "/records/tasks")
    assert {t["integration_provider"] for t in tasks} == {None, "github"}
    entry = api.ok("/me/time_entries")[0]
    assert "permissions" in entry


def test_workspace_users_endpoint(api: Api) -> None:
    ws = _ws(api)
    users = api.ok(f"/workspaces/{ws}/users")
    members = api.ok(f"/workspaces/{ws}/workspace_users")
    assert len(users) == len(members) > 3
    for user in users:
        assert set(user) == {
            "id",
            "email",
            "fullname",
            "timezone",
            "inactive",
            "is_active",
            "is_admin",
            "role",
            "2fa_enabled",
        }
        assert user["is_active"] is not user["inactive"]
        assert user["is_admin"] == (user["role"] == "admin")
    expected_keys = {
        "id",
        "user_id",
        "workspace_id",
        "uid",
        "wid",
        "name",
        "email",
        "timezone",
        "active",
        "inactive",
        "admin",
        "organization_admin",
        "workspace_admin",
        "role",
        "role_id",
        "group_ids",
        "rate",
        "rate_last_updated",
        "labor_cost",
        "labor_cost_last_updated",
        "working_hours_in_minutes",
        "at",
        "invitation_code",
        "invite_url",
        "is_direct",
        "avatar_file_name",
        "view_edit_billable_rates",
        "view_edit_labor_costs",
        "2fa_enabled",
    }
    user_ids = {u["id"] for u in users}
    for member in members:
        assert set(member) == expected_keys
        assert member["id"] != member["user_id"] and member["id"] not in user_ids
        assert member["uid"] == member["user_id"] and member["wid"] == member["workspace_id"] == ws
        assert member["rate"] is None or isinstance(member["rate"], float)
        assert member["labor_cost"] is None or isinstance(member["labor_cost"], float)
        assert member["group_ids"] is None or all(isinstance(g, int) for g in member["group_ids"])
        assert (member["rate"] is None) == (member["rate_last_updated"] is None)
        hours = member["working_hours_in_minutes"]
        assert hours is None or isinstance(hours, int)
    assert {m["user_id"] for m in members} == user_ids
    for key in ("rate", "labor_cost", "working_hours_in_minutes", "group_ids"):
        assert any(m[key] is None for m in members) and any(m[key] is not None for m in members)
    records = [r for r in api.admin("GET", "/records/workspace_users") if r["workspace_id"] == ws]
    assert sorted(members, key=lambda m: m["id"]) == sorted(records, key=lambda m: m["id"])


def test_workspace_users_auth_and_errors(api: Api) -> None:
    everything = {w["id"] for w in api.ok("/me/workspaces")}
    partial = {w["id"] for w in api.ok("/me/workspaces", token=PARTIAL_TOKEN)}
    foreign = next(iter(everything - partial))
    for path in ("users", "workspace_users"):
        assert api.get(f"/workspaces/{foreign}/{path}", token=PARTIAL_TOKEN).status_code == 403
        assert api.get(f"/workspaces/123/{path}").status_code == 404
        assert api.get(f"/workspaces/abc/{path}").status_code == 404
        response = api.session.get(api.url(f"/workspaces/{foreign}/{path}"), timeout=30)
        assert response.status_code == 401
        assert api.get(f"/workspaces/{foreign}/{path}", token="wrong").status_code == 403


def test_workspace_users_count_against_the_organization_quota(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True, quota_per_hour=3)))
    api = Api(server.base_url, "bare")
    ws = _ws(api)
    remaining = [
        api.get(f"/workspaces/{ws}/{path}").headers["X-Quota-Remaining"]
        for path in ("users", "workspace_users", "clients")
    ]
    assert remaining == ["2", "1", "0"]
    refused = api.get(f"/workspaces/{ws}/workspace_users")
    assert refused.status_code == 402 and refused.headers["X-Quota-Remaining"] == "0"


def test_membership_edits_keep_workspace_users_consistent(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    api = Api(make_emulator(EmulatorConfig()).base_url, "envelope")
    ws = _ws(api)
    before = api.ok(f"/workspaces/{ws}/workspace_users")
    truth = api.admin("GET", "/truth")["workspace_users"]["by_workspace"][str(ws)]
    assert truth["total"] == len(before)
    outsider = next(
        u for u in range(6_000_003, 6_000_120) if u not in {m["user_id"] for m in before}
    )
    added = api.admin("PUT", f"/workspaces/{ws}/members/{outsider}", json={"role": "admin"})
    assert outsider in added["members"]
    after = {m["user_id"]: m for m in api.ok(f"/workspaces/{ws}/workspace_users")}
    assert len(after) == len(before) + 1
    new = after[outsider]
    assert new["role"] == "admin" and new["admin"] and new["id"] not in {m["id"] for m in before}
    assert outsider in {u["id"] for u in api.ok(f"/workspaces/{ws}/users")}
    assert api.admin("GET", "/truth")["workspace_users"]["by_workspace"][str(ws)]["total"] == len(
        after
    )
    demoted = api.admin("PUT", f"/workspaces/{ws}/members/{outsider}", json={"role": "user"})
    same = next(m for m in demoted["workspace_users"] if m["user_id"] == outsider)
    assert same["id"] == new["id"] and same["role"] == "user"
    api.admin("DELETE", f"/workspaces/{ws}/members/{outsider}")
    assert api.ok(f"/workspaces/{ws}/workspace_users") == before
    records = api.admin("GET", "/records/workspace_users")
    assert outsider not in {r["user_id"] for r in records if r["workspace_id"] == ws}
    refused = api.session.put(
        api.base_url + f"/_emulator/workspaces/{ws}/members/{outsider}",
        json={"role": "owner"},
        timeout=30,
    )
    assert refused.status_code == 400


def test_workspace_members_in_truth_and_records(api: Api) -> None:
    truth = api.admin("GET", "/truth")
    records = api.admin("GET", "/records/workspace_members")
    for ws in api.ok("/me/workspaces"):
        listed = api.ok(f"/workspaces/{ws['id']}/users")
        counts = truth["workspace_members"]["by_workspace"][str(ws["id"])]
        assert counts["total"] == len(listed)
        assert counts["inactive"] == sum(u["inactive"] for u in listed)
        mine = [
            {k: v for k, v in r.items() if k != "workspace_id"}
            for r in records
            if r["workspace_id"] == ws["id"]
        ]
        assert sorted(mine, key=lambda u: u["id"]) == sorted(listed, key=lambda u: u["id"])
