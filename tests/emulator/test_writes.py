"""The public write endpoints for time entries, seen through `since` and the other filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.helpers import MEMBER_TOKEN, PARTIAL_TOKEN, Api
from timetrack.emulator import EmulatorConfig, EmulatorServer


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(params=["envelope", "bare"])
def fresh(request: pytest.FixtureRequest, make_emulator: Callable[..., EmulatorServer]) -> Api:
    """A client of an emulator of its own, so writes do not leak into other tests."""
    return Api(make_emulator(EmulatorConfig()).base_url, request.param)


def _since(api: Api, seconds_ago: int = 60) -> list[dict[str, object]]:
    now = api.admin("GET", "/clock")["unix"]
    result: list[dict[str, object]] = api.ok("/me/time_entries", since=int(now) - seconds_ago)
    return result


def test_create_update_stop_delete_round_trip(fresh: Api) -> None:
    api = fresh
    ws = api.ok("/me/workspaces")[0]["id"]
    project = api.ok(f"/workspaces/{ws}/projects")[0]["id"]
    now = api.admin("GET", "/clock")["unix"]
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={
                "start": _iso(now - 3600),
                "duration": 1800,
                "description": "written by a test",
                "project_id": project,
                "tags": ["brand-new-tag"],
                "billable": True,
            },
        )
    )
    assert created["duration"] == 1800 and created["pid"] == project
    assert created["tags"] == ["brand-new-tag"] and created["tag_ids"]
    assert _ts(created["at"]) >= now - 1
    assert created["id"] in {e["id"] for e in _since(api)}
    tags = {t["name"] for t in api.ok(f"/workspaces/{ws}/tags")}
    assert "brand-new-tag" in tags

    updated = api.data(
        api.call(
            "PUT",
            f"/workspaces/{ws}/time_entries/{created['id']}",
            json={"description": "edited", "project_id": None},
        )
    )
    assert updated["description"] == "edited" and updated["project_id"] is None
    assert "pid" not in updated and updated["duration"] == 1800

    running = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={"start": _iso(now - 600), "duration": -1, "description": "running"},
        )
    )
    assert running["stop"] is None and running["duration"] < 0
    current = [e for e in api.ok("/me/time_entries") if e["stop"] is None]
    assert [e["id"] for e in current] == [running["id"]], "starting one stops the other"
    stopped = api.data(api.call("PATCH", f"/workspaces/{ws}/time_entries/{running['id']}/stop"))
    assert stopped["stop"] is not None and stopped["duration"] >= 600
    again = api.call("PATCH", f"/workspaces/{ws}/time_entries/{running['id']}/stop")
    assert again.status_code == 409

    deleted = api.call("DELETE", f"/workspaces/{ws}/time_entries/{created['id']}")
    assert deleted.status_code == 200 and deleted.content == b""
    seen = {e["id"]: e for e in _since(api)}
    assert seen[created["id"]]["server_deleted_at"] is not None
    assert created["id"] not in {e["id"] for e in api.ok("/me/time_entries")}
    assert api.call("DELETE", f"/workspaces/{ws}/time_entries/{created['id']}").status_code == 404


def test_write_errors(fresh: Api) -> None:
    api = fresh
    workspaces = api.ok("/me/workspaces")
    ws = workspaces[0]["id"]
    other_ws = workspaces[1]["id"]
    foreign_project = api.ok(f"/workspaces/{other_ws}/projects")[0]["id"]
    path = f"/workspaces/{ws}/time_entries"
    assert api.call("POST", path, json={"duration": 10}).status_code == 400
    assert api.call("POST", path, json={"start": "2026-01-01T00:00:00Z"}).status_code == 400
    bad_project = {"start": "2026-11-01T00:00:00Z", "duration": 60, "project_id": foreign_project}
    assert api.call("POST", path, json=bad_project).status_code == 400
    assert api.call("POST", path, data=b"{not json").status_code == 400
    assert api.call("PUT", f"{path}/1", json={}).status_code == 404
    mine = api.ok("/me/time_entries")[0]
    assert api.call(
        "PUT", f"/workspaces/{other_ws}/time_entries/{mine['id']}", json={}
    ).status_code in (403, 404)


def test_report_sees_writes(fresh: Api) -> None:
    api = fresh
    ws = api.ok("/me/workspaces")[0]["id"]
    now = api.admin("GET", "/clock")["unix"]
    day = datetime.fromtimestamp(now - 86400, UTC).strftime("%Y-%m-%d")
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={"start": day + "T10:00:00Z", "stop": day + "T11:00:00Z"},
        )
    )
    rows = api.data(api.report(ws, {"start_date": day, "end_date": day, "page_size": 1000}))
    assert created["id"] in {e["id"] for r in rows for e in r["time_entries"]}
    api.call("DELETE", f"/workspaces/{ws}/time_entries/{created['id']}")
    rows = api.data(api.report(ws, {"start_date": day, "end_date": day, "page_size": 1000}))
    assert created["id"] not in {e["id"] for r in rows for e in r["time_entries"]}


def test_other_users_entries_are_forbidden_to_a_member_not_to_an_admin(fresh: Api) -> None:
    api = fresh
    ws = api.ok("/me/workspaces", token=PARTIAL_TOKEN)[0]["id"]
    member_ws = {w["id"]: w for w in api.ok("/me/workspaces", token=MEMBER_TOKEN)}
    assert ws in member_ws and not member_ws[ws]["admin"]
    owners_entry = next(
        e for e in api.ok("/me/time_entries") if e["workspace_id"] == ws and e["stop"]
    )
    path = f"/workspaces/{ws}/time_entries/{owners_entry['id']}"
    assert api.call("PUT", path, token=MEMBER_TOKEN, json={}).status_code == 403
    # the partial user administers this workspace: it may edit anyone's entry there
    assert api.call("PUT", path, token=PARTIAL_TOKEN, json={}).status_code == 200


def test_deleted_tags_are_not_reused_and_updates_keep_entries_consistent(fresh: Api) -> None:
    api = fresh
    ws = api.ok("/me/workspaces")[0]["id"]
    tag = api.ok(f"/workspaces/{ws}/tags")[0]
    api.admin("DELETE", f"/tags/{tag['id']}")
    now = api.admin("GET", "/clock")["unix"]
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={"start": _iso(now - 7200), "duration": 60, "tags": [tag["name"]]},
        )
    )
    assert created["tags"] == [tag["name"]] and created["tag_ids"] != [tag["id"]]
    bad = api.call(
        "POST",
        f"/workspaces/{ws}/time_entries",
        json={"start": _iso(now - 7200), "duration": 60, "tag_ids": [tag["id"]]},
    )
    assert bad.status_code == 400
    # restarting a stopped entry through PUT stops the running one
    api.call("PUT", f"/workspaces/{ws}/time_entries/{created['id']}", json={"duration": -1})
    running = [e for e in api.ok("/me/time_entries") if e["stop"] is None]
    assert [e["id"] for e in running] == [created["id"]]
    # moving an entry to another project drops a task of the old one
    task = api.ok(f"/workspaces/{ws}/tasks")["data"][0]
    other = next(p for p in api.ok(f"/workspaces/{ws}/projects") if p["id"] != task["project_id"])
    api.call(
        "PUT",
        f"/workspaces/{ws}/time_entries/{created['id']}",
        json={"project_id": task["project_id"], "task_id": task["id"]},
    )
    moved = api.data(
        api.call(
            "PUT",
            f"/workspaces/{ws}/time_entries/{created['id']}",
            json={"project_id": other["id"]},
        )
    )
    assert moved["project_id"] == other["id"] and moved["task_id"] is None
