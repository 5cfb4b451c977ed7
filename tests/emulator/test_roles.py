"""Roles: a plain member is refused what only admins read, and its report holds its own entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import MEMBER_TOKEN, PARTIAL_TOKEN, TOKEN, Api
from timetrack.emulator import EmulatorConfig
from timetrack.errors import EmulatorError

REFUSED = {
    "/organizations/{org}/users": "not authorized to list the organization users",
    "/workspaces/{ws}/statistics": "not authorized to see the workspace statistics",
    "/workspaces/{ws}/workspace_users": "not authorized to list the workspace users",
}
READABLE = (
    "/organizations/{org}",
    "/organizations/{org}/groups",
    "/workspaces/{ws}/clients",
    "/workspaces/{ws}/projects",
    "/workspaces/{ws}/tasks",
    "/workspaces/{ws}/tags",
)


def _scopes(api: Api, token: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return api.ok("/me/organizations", token=token), api.ok("/me/workspaces", token=token)


def _walk(api: Api, ws: int, token: str) -> list[dict[str, Any]]:
    """Every entry of the workspace's report for `token` in this year and the last (where the
    default data lies), page by page, each with the user of its row."""
    entries: list[dict[str, Any]] = []
    this_year = int(api.admin("GET", "/truth")["now"][:4])
    for year in range(this_year - 1, this_year + 1):
        body: dict[str, Any] = {
            "start_date": f"{year}-01-01",
            "end_date": f"{year}-12-31",
            "page_size": 1000,
        }
        while True:
            response = api.report(ws, body, token=token)
            for row in api.data(response) or []:
                entries += [{**e, "user_id": row["user_id"]} for e in row["time_entries"]]
            if "X-Next-ID" not in response.headers:
                break
            body.update(
                first_id=int(response.headers["X-Next-ID"]),
                first_row_number=int(response.headers["X-Next-Row-Number"]),
                first_timestamp=int(response.headers["X-Next-Timestamp"]),
            )
    return entries


def test_a_member_is_admin_of_nothing_and_refused_what_admins_read(api: Api) -> None:
    organizations, workspaces = _scopes(api, MEMBER_TOKEN)
    assert organizations and workspaces
    assert not any(o["admin"] or o["owner"] for o in organizations)
    assert not any(w["admin"] for w in workspaces)
    assert all(w["role"] == "user" for w in workspaces)
    for path, text in REFUSED.items():
        for org in organizations:
            for ws in workspaces:
                answer = api.get(path.format(org=org["id"], ws=ws["id"]), token=MEMBER_TOKEN)
                assert answer.status_code == 403, path
                assert answer.json() == text
                assert answer.headers["Content-Type"].startswith("application/json")
    for path in READABLE:
        for org in organizations:
            for ws in workspaces:
                assert api.get(path.format(org=org["id"], ws=ws["id"]), token=MEMBER_TOKEN).ok


def test_admins_read_what_members_are_refused(api: Api) -> None:
    for token in (TOKEN, PARTIAL_TOKEN):
        organizations, workspaces = _scopes(api, token)
        assert all(o["admin"] for o in organizations) and all(w["admin"] for w in workspaces)
        for path in REFUSED:
            for org in organizations:
                for ws in workspaces:
                    answer = api.get(path.format(org=org["id"], ws=ws["id"]), token=token)
                    assert answer.status_code == 200, (token, path, answer.text)


def test_a_members_own_entries_and_report_hold_only_its_entries(api: Api) -> None:
    member = api.ok("/me", token=MEMBER_TOKEN)["id"]
    truth = api.admin("GET", "/truth", params={"token": MEMBER_TOKEN})
    assert truth["user_id"] == member
    records = api.admin(
        "GET", "/records/time_entries", params={"token": MEMBER_TOKEN, "user": "me"}
    )
    mine = api.ok("/me/time_entries", token=MEMBER_TOKEN)
    assert mine and {e["user_id"] for e in mine} == {member}
    everyone = api.admin("GET", "/records/time_entries", params={"token": MEMBER_TOKEN})
    for ws in api.ok("/me/workspaces", token=MEMBER_TOKEN):
        stopped_live = {
            r["id"]
            for r in records
            if r["workspace_id"] == ws["id"] and r["stop"] and r["server_deleted_at"] is None
        }
        others = {
            r["id"]
            for r in everyone
            if r["workspace_id"] == ws["id"]
            and r["user_id"] != member
            and r["stop"]
            and r["server_deleted_at"] is None
        }
        assert others, "the workspace has other members' entries to leave out"
        seen = _walk(api, ws["id"], MEMBER_TOKEN)
        assert {e["user_id"] for e in seen} <= {member}
        assert sorted(e["id"] for e in seen) == sorted(stopped_live)
        access = truth["access"]["workspaces"][str(ws["id"])]
        assert access == {
            "admin": False,
            "refused": ["statistics", "workspace_users", "project_users", "rates"],
            "report": "own entries",
            "report_stopped_entries": len(stopped_live),
        }
        # the owner, an admin, sees every member's entries in the same workspace
        assert others <= {e["id"] for e in _walk(api, ws["id"], TOKEN)}
    for org in truth["access"]["organizations"].values():
        assert org == {"admin": False, "refused": ["organization_users"]}


def test_the_truth_tells_an_admins_access(api: Api) -> None:
    truth = api.admin("GET", "/truth", params={"token": TOKEN})
    workspaces = truth["access"]["workspaces"]
    assert workspaces and all(
        w["admin"] and w["refused"] == [] and w["report"] == "every member's entries"
        for w in workspaces.values()
    )
    assert (
        sum(w["report_stopped_entries"] for w in workspaces.values())
        == (truth["time_entries"]["stopped"])
    )


@pytest.mark.parametrize(
    "tokens",
    [
        {"member_token": "demo-token"},
        {"member_token": "partial-token"},
        {"member_token": ""},
        {"partial_token": "member-token"},
    ],
)
def test_the_three_tokens_must_differ(tokens: dict[str, str]) -> None:
    with pytest.raises(EmulatorError, match="three tokens"):
        EmulatorConfig(**tokens).validate()  # type: ignore[arg-type]
