"""Every endpoint's shape and types, in both layouts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.helpers import Api

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?(Z|[+-]\d{2}:\d{2})$")


def _is_ts(value: Any) -> bool:
    """An RFC3339 timestamp with a zone: `Z` or any offset, with or without a fraction."""
    if not isinstance(value, str) or not TS.match(value):
        return False
    return datetime.fromisoformat(value).utcoffset() is not None


def _types(record: dict[str, Any], spec: dict[str, type | tuple[type, ...]]) -> None:
    for key, kind in spec.items():
        assert key in record, key
        assert isinstance(record[key], kind), (key, record[key])


def _now(api: Api) -> int:
    return int(api.admin("GET", "/clock")["unix"])


def _first_ws(api: Api) -> int:
    return int(api.ok("/me/workspaces")[0]["id"])


def test_me(api: Api) -> None:
    me = api.ok("/me")
    _types(
        me,
        {
            "id": int,
            "email": str,
            "fullname": str,
            "timezone": str,
            "default_workspace_id": int,
            "beginning_of_week": int,
        },
    )
    assert all(_is_ts(me[k]) for k in ("created_at", "updated_at", "at"))


def test_organizations(api: Api) -> None:
    orgs = api.ok("/me/organizations")
    for org in orgs:
        _types(
            org,
            {
                "id": int,
                "name": str,
                "pricing_plan_id": int,
                "user_count": int,
                "max_workspaces": int,
                "is_multi_workspace_enabled": bool,
                "is_unified": bool,
                "admin": bool,
                "owner": bool,
                "trial_info": dict,
            },
        )
        assert _is_ts(org["created_at"]) and _is_ts(org["at"])
        assert org["server_deleted_at"] is None and org["suspended_at"] is None
        assert api.ok(f"/organizations/{org['id']}") == org


def test_workspaces_carry_their_organization(api: Api) -> None:
    orgs = {o["id"] for o in api.ok("/me/organizations")}
    for ws in api.ok("/me/workspaces"):
        _types(
            ws,
            {
                "id": int,
                "organization_id": int,
                "name": str,
                "premium": bool,
                "admin": bool,
                "default_currency": str,
            },
        )
        assert ws["organization_id"] in orgs
        assert _is_ts(ws["at"])


def test_organization_users_and_groups(api: Api) -> None:
    org = api.ok("/me/organizations")[0]["id"]
    users = api.ok(f"/organizations/{org}/users")
    for user in users:
        _types(
            user,
            {
                "id": int,
                "user_id": int,
                "name": str,
                "email": str,
                "avatar_url": str,
                "2fa_enabled": bool,
                "inactive": bool,
                "joined": bool,
                "admin": bool,
                "owner": bool,
                "can_edit_email": bool,
                "workspaces": list,
            },
        )
        assert "organization_id" not in user, "the real service leaves it out"
        assert user["invitation_code"] is None or isinstance(user["invitation_code"], str)
        assert user["groups"] is None or all("group_id" in g for g in user["groups"])
        for ws in user["workspaces"]:
            _types(ws, {"workspace_id": int, "workspace_name": str, "role": str, "admin": bool})
    assert any(u["inactive"] for u in users), "inactive members are listed too"
    groups = api.ok(f"/organizations/{org}/groups")
    assert groups == sorted(groups, key=lambda g: (g["name"].lower(), g["group_id"]))
    for group in groups:
        assert "id" not in group
        _types(group, {"group_id": int, "name": str, "workspaces": list})
        assert _is_ts(group["at"])
        assert group["users"] is None or all(isinstance(u["user_id"], int) for u in group["users"])


def test_workspace_statistics(api: Api) -> None:
    stats = api.ok(f"/workspaces/{_first_ws(api)}/statistics")
    assert set(stats) == {"admins", "groups_count", "members_count"}
    _types(stats, {"groups_count": int, "members_count": int, "admins": list})
    assert stats["admins"] and all(set(a) == {"user_id", "name"} for a in stats["admins"])


def test_clients_use_wid_and_leave_notes_out_when_unset(api: Api) -> None:
    clients = api.ok(f"/workspaces/{_first_ws(api)}/clients", status="both")
    for client in clients:
        _types(client, {"id": int, "wid": int, "name": str, "archived": bool, "creator_id": int})
        assert "workspace_id" not in client
        assert _is_ts(client["at"])
        assert "notes" not in client or isinstance(client["notes"], str)
    assert any("notes" not in c for c in clients) and any("notes" in c for c in clients)


def test_projects_carry_legacy_aliases_and_optional_end_date(api: Api) -> None:
    projects = api.ok(f"/workspaces/{_first_ws(api)}/projects", active="both", per_page=200)
    for project in projects:
        _types(
            project,
            {
                "id": int,
                "workspace_id": int,
                "wid": int,
                "name": str,
                "color": str,
                "status": str,
                "active": bool,
                "is_private": bool,
                "recurring": bool,
                "start_date": str,
                "pinned": bool,
                "can_track_time": bool,
                "is_shared": bool,
                "tasks_count": int,
            },
        )
        assert project["billable"] is None or isinstance(project["billable"], bool)
        assert project["template_id"] is None
        assert project["permissions"] is None or {type(p) for p in project["permissions"]} == {str}
        assert project["first_time_entry"] is None or _is_ts(project["first_time_entry"])
        period = project["current_period"]
        assert period is None or isinstance(period["start_date"], str)
        assert project["wid"] == project["workspace_id"]
        assert project["cid"] == project["client_id"]
        for key in ("template", "auto_estimates"):
            assert project[key] is None or isinstance(project[key], bool)
        for key in ("estimated_hours", "estimated_seconds", "actual_hours", "actual_seconds"):
            assert project[key] is None or isinstance(project[key], int)
        for key in ("rate", "fixed_fee"):
            assert project[key] is None or isinstance(project[key], float | int)
        assert _is_ts(project["at"]) and _is_ts(project["created_at"])
    assert any("end_date" not in p for p in projects) and any("end_date" in p for p in projects)
    assert any(p["client_id"] is None for p in projects)
    assert any(p["billable"] is None for p in projects), "billable may be null"
    assert any(p["billable"] is not None for p in projects)


def test_tasks_keep_their_wrapper_in_both_layouts(api: Api) -> None:
    body = api.data(api.get(f"/workspaces/{_first_ws(api)}/tasks"))
    assert set(body) == {"data", "total_count", "page", "per_page", "sort_field", "sort_order"}
    assert body["page"] == 1 and body["per_page"] == 50
    for task in body["data"]:
        _types(
            task,
            {
                "id": int,
                "workspace_id": int,
                "project_id": int,
                "name": str,
                "active": bool,
                "recurring": bool,
                "tracked_seconds": int,
            },
        )
        assert task["user_id"] is None or isinstance(task["user_id"], int)
        assert _is_ts(task["at"])


def test_tags(api: Api) -> None:
    tags = api.ok(f"/workspaces/{_first_ws(api)}/tags")
    assert tags
    for tag in tags:
        assert set(tag) == {
            "id",
            "workspace_id",
            "name",
            "at",
            "creator_id",
            "deleted_at",
            "integration_provider",
            "integration_ext_id",
            "integration_ext_type",
            "permissions",
        }
        assert tag["deleted_at"] is None


def test_tags_page_as_documented(api: Api) -> None:
    ws = _first_ws(api)
    every = api.ok(f"/workspaces/{ws}/tags")
    assert len(every) > 3, "a client that does not page gets every tag"
    pages = [api.ok(f"/workspaces/{ws}/tags", page=n, per_page=3) for n in (1, 2, 3, 4)]
    paged = [t["id"] for page in pages for t in page or []]
    assert paged == [t["id"] for t in every]
    assert len(pages[0]) == 3
    assert api.ok(f"/workspaces/{ws}/tags", page=99) is None
    assert api.get(f"/workspaces/{ws}/tags", page=0).status_code == 400


def test_time_entries_shape_aliases_and_absent_keys(api: Api) -> None:
    entries = api.ok("/me/time_entries", since=_now(api) - 80 * 86400)
    assert entries
    for entry in entries:
        _types(
            entry,
            {
                "id": int,
                "workspace_id": int,
                "user_id": int,
                "billable": bool,
                "duration": int,
                "tags": list,
                "tag_ids": list,
                "duronly": bool,
                "wid": int,
                "uid": int,
            },
        )
        assert entry["wid"] == entry["workspace_id"] and entry["uid"] == entry["user_id"]
        assert _is_ts(entry["start"]) and _is_ts(entry["at"])
        if entry["project_id"] is None:
            assert "pid" not in entry
        else:
            assert entry["pid"] == entry["project_id"]
        if entry["task_id"] is None:
            assert "tid" not in entry
        else:
            assert entry["tid"] == entry["task_id"]
        assert len(entry["tags"]) == len(entry["tag_ids"])
    assert any("pid" not in e for e in entries) and any("tid" in e for e in entries)
    assert any(e["id"] > 2**31 for e in entries), "ids do not fit 32 bits"


def test_running_entry_has_null_stop_and_negative_duration(api: Api) -> None:
    entries = api.ok("/me/time_entries")
    running = [e for e in entries if e["stop"] is None]
    assert len(running) == 1
    start = datetime.fromisoformat(running[0]["start"].replace("Z", "+00:00"))
    assert running[0]["duration"] == -int(start.timestamp())


def test_timestamps_come_in_several_spellings(api: Api) -> None:
    entries = api.ok("/me/time_entries", since=_now(api) - 80 * 86400)
    zones, fractions = set(), set()
    for entry in entries:
        for value in (entry["start"], entry["at"]):
            match = TS.match(value)
            assert match, value
            fractions.add(len(match.group(1) or ""))
            zones.add(match.group(2))
            moment = datetime.fromisoformat(value)
            assert moment.astimezone(UTC).year >= 2000
    assert fractions == {0, 4, 7}, "none, milliseconds and microseconds"
    assert {"Z", "+00:00", "+02:00", "-05:30", "+05:45"} <= zones, zones
