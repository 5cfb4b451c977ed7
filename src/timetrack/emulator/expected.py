"""What a complete sync of an emulator must hold, table by table, from its ground truth.

Shared by the demo, the tests and the benchmark, which all check a destination against it.
It takes nothing from `timetrack.source`: the window is the emulator's own, so a wrong window in
the source cannot become the truth too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from timetrack.emulator.api import HISTORY_DAYS


def expected_rows(base_url: str, token: str = "demo-token") -> dict[str, int]:
    """Rows each table must hold after a complete sync with `token` (deletions removed)."""
    truth = requests.get(f"{base_url}/_emulator/truth", params={"token": token}, timeout=120).json()
    records = requests.get(
        f"{base_url}/_emulator/records/time_entries",
        params={"token": token, "user": "me"},
        timeout=600,
    ).json()
    me = truth["user_id"]
    now = datetime.fromisoformat(truth["now"])
    first_day = datetime.combine(
        now.date() - timedelta(days=HISTORY_DAYS), datetime.min.time(), UTC
    )
    mine = [
        r
        for r in records
        if r["user_id"] == me
        and r["server_deleted_at"] is None
        and datetime.fromisoformat(r["start"]) >= first_day
    ]
    # What the token's user may not read (a member who is no admin): those scopes add nothing.
    access = truth["access"]
    orgs = access["organizations"]
    spaces = access["workspaces"]
    by_org = truth["organization_users"]["by_organization"]
    by_ws = truth["workspace_users"]["by_workspace"]
    return {
        "time_entries": len(mine),
        "organizations": truth["organizations"]["live"],
        "organizations_users": sum(
            by_org[o]["total"] for o in by_org if "organization_users" not in orgs[o]["refused"]
        ),
        "organizations_groups": truth["groups"]["live"],
        "workspaces": truth["workspaces"]["live"],
        "workspace": truth["workspaces"]["live"]
        - sum(1 for w in spaces.values() if "statistics" in w["refused"]),
        "workspace_clients": truth["clients"]["live"],
        "workspace_projects": truth["projects"]["live"],
        "workspace_tasks": truth["tasks"]["live"],
        "workspace_tags": truth["tags"]["live"],
        "workspace_users": sum(
            by_ws[w]["live"] for w in by_ws if "workspace_users" not in spaces[w]["refused"]
        ),
        "report_time_entries": sum(w["report_stopped_entries"] for w in spaces.values()),
        **_project_members(base_url, token, spaces),
    }


def _project_members(base_url: str, token: str, spaces: dict[str, Any]) -> dict[str, int]:
    """Project users and groups of live projects (members still in the workspace), as the
    lists show them; a workspace that refuses project users to this token adds none."""

    def records(entity: str) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{base_url}/_emulator/records/{entity}", params={"token": token}, timeout=120
        )
        found: list[dict[str, Any]] = answer.json()
        return found

    live = {p["id"] for p in records("projects") if p.get("server_deleted_at") is None}
    members = {(m["workspace_id"], m["user_id"]) for m in records("workspace_users")}
    users = [
        m
        for m in records("project_users")
        if m["project_id"] in live
        and (m["workspace_id"], m["user_id"]) in members
        and "project_users" not in spaces[str(m["workspace_id"])]["refused"]
    ]
    groups = [g for g in records("project_groups") if g["pid"] in live]
    return {"project_users": len(users), "project_groups": len(groups)}
