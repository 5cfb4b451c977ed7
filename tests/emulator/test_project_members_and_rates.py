"""Project members, project groups, rate histories and GET /me/quota: what they hold, who reads
them, and that they agree with the records they describe."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any

from tests.helpers import MEMBER_TOKEN, Api
from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer, Limits, Scale


def _ws(api: Api, token: str | None = None) -> int:
    return int(api.ok("/me/workspaces", token=token)[0]["id"])


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def test_project_users_hold_members_with_rates_and_labor_costs(api: Api) -> None:
    ws = _ws(api)
    direct = api.ok(f"/workspaces/{ws}/project_users")
    every = api.ok(f"/workspaces/{ws}/project_users", with_group_members="true")
    assert direct and len(every) > len(direct), "some members come through a group"
    assert all(m["group_id"] is None for m in direct)
    assert all(m["gid"] == m["group_id"] for m in every)
    assert any(m["rate"] is not None for m in direct)
    assert any(m["labor_cost"] is not None for m in direct)
    assert any(m["manager"] for m in direct)
    for member in every:
        assert member["workspace_id"] == ws
        assert (member["rate"] is None) == (member["rate_last_updated"] is None)
        assert (member["labor_cost"] is None) == (member["labor_cost_last_updated"] is None)
    project = direct[0]["project_id"]
    only = api.ok(f"/workspaces/{ws}/project_users", project_ids=f"{project},1")
    assert only and {m["project_id"] for m in only} == {project}
    user = direct[0]["user_id"]
    theirs = api.ok(f"/workspaces/{ws}/project_users", user_id=user)
    assert theirs and {m["user_id"] for m in theirs} == {user}
    assert api.get(f"/workspaces/{ws}/project_users", project_ids="x").status_code == 400
    records = {r["id"] for r in api.admin("GET", "/records/project_users")}
    assert {m["id"] for m in every} <= records


def test_project_groups_name_groups_of_the_organization(api: Api) -> None:
    links = [
        link
        for ws in api.ok("/me/workspaces")
        for link in api.ok(f"/workspaces/{ws['id']}/project_groups") or []
    ]
    assert links
    groups = {g["group_id"]: g for g in api.admin("GET", "/records/groups")}
    projects = {p["id"]: p for p in api.admin("GET", "/records/projects")}
    for link in links:
        assert set(link) == {"id", "group_id", "pid", "wid"}
        assert link["wid"] in groups[link["group_id"]]["workspaces"]
        assert projects[link["pid"]]["workspace_id"] == link["wid"]


def test_rate_histories_end_in_the_rate_in_force(api: Api) -> None:
    ws = _ws(api)
    members = api.ok(f"/workspaces/{ws}/workspace_users")
    member = next(m for m in members if m["rate"] is not None)
    history = api.ok(f"/workspaces/{ws}/rates/workspace_user/{member['id']}", type="billable_rates")
    assert history and history[-1]["end"] is None
    assert history[-1]["amount"] == member["rate"]
    assert all(r["workspace_user_id"] == member["id"] for r in history)
    for earlier, later in pairwise(history):
        assert _at(earlier["end"]) == _at(later["start"])
    records = api.admin("GET", "/records/rates")
    lengths: dict[tuple[str, int, str], int] = {}
    for r in records:
        key = (r["level"], r["level_id"], r["type"])
        lengths[key] = lengths.get(key, 0) + 1
    assert set(lengths.values()) == {1, 2, 3}
    assert {level for level, _, _ in lengths} == {
        "workspace",
        "workspace_user",
        "project",
        "project_user",
        "task",
    }
    projects = {p["id"]: p for p in api.admin("GET", "/records/projects")}
    for r in records:
        if r["level"] == "project" and r["end"] is None:
            assert projects[r["level_id"]]["rate"] == r["amount"]


def test_rates_refuse_what_they_cannot_name(api: Api) -> None:
    ws = _ws(api)
    assert api.get(f"/workspaces/{ws}/rates/planet/1", type="billable_rates").status_code == 400
    assert api.get(f"/workspaces/{ws}/rates/workspace/{ws}").status_code == 400
    assert api.get(f"/workspaces/{ws}/rates/project/1", type="billable_rates").status_code == 404
    labor = api.ok(f"/workspaces/{ws}/rates/workspace/{ws}", type="labor_costs")
    assert labor is None, "no labor cost is set on a workspace: an empty list"


def test_a_member_reads_project_groups_but_not_members_or_rates(api: Api) -> None:
    ws = _ws(api, MEMBER_TOKEN)
    assert api.get(f"/workspaces/{ws}/project_groups", token=MEMBER_TOKEN).status_code == 200
    for path, params in (
        (f"/workspaces/{ws}/project_users", {}),
        (f"/workspaces/{ws}/rates/workspace/{ws}", {"type": "billable_rates"}),
    ):
        response = api.get(path, token=MEMBER_TOKEN, **params)
        assert response.status_code == 403, (path, response.text)


def test_me_quota_tells_each_organizations_quota_and_costs_none(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(limits=Limits(quota=True)))
    api = Api(server.base_url, "bare")
    orgs = [o["id"] for o in api.ok("/me/organizations")]
    before = {q["organization_id"]: q for q in api.ok("/me/quota")}
    assert set(before) == set(orgs)
    for quota in before.values():
        assert quota["remaining"] == quota["total"] > 0 and quota["resets_in_secs"] == 0
    ws = api.ok("/me/workspaces")[0]
    api.ok(f"/workspaces/{ws['id']}/tags")
    api.ok("/me/quota")
    after: dict[int, Any] = {q["organization_id"]: q for q in api.ok("/me/quota")}
    spent = after[ws["organization_id"]]
    assert spent["remaining"] == spent["total"] - 1, "one request spent, none for /me/quota"
    assert 0 < spent["resets_in_secs"] <= 3600
    told = [api.get("/me/quota").headers["X-Quota-Remaining"] for _ in range(3)]
    assert len(set(told)) == 1, "its headers tell the /me window, which it does not use up"


def test_they_answer_while_other_records_drift(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(drift=Drift(rate=0.5)))
    api = Api(server.base_url, "bare")
    ws = api.admin("GET", "/records/workspaces")[0]["id"]
    for path, params in (
        (f"/workspaces/{ws}/project_users", {}),
        (f"/workspaces/{ws}/project_groups", {}),
        (f"/workspaces/{ws}/rates/workspace/{ws}", {"type": "billable_rates"}),
        ("/me/quota", {}),
    ):
        assert api.get(path, **params).status_code == 200, path


def test_the_report_bills_each_entry_at_the_rate_in_force_when_it_started(api: Api) -> None:
    histories: dict[int, list[dict[str, Any]]] = {}
    for rate in api.admin("GET", "/records/rates"):
        if rate["level"] == "project" and rate["type"] == "billable_rates":
            histories.setdefault(rate["level_id"], []).append(rate)
    changed = {p: sorted(h, key=lambda r: r["start"]) for p, h in histories.items() if len(h) > 1}
    checked = {"earlier": 0, "current": 0}
    for ws in api.ok("/me/workspaces"):
        clock = api.admin("GET", "/clock")["now"][:10]
        body = {"start_date": f"{int(clock[:4]) - 1}{clock[4:]}", "end_date": clock}
        for row in api.data(api.report(ws["id"], {**body, "page_size": 1000})) or []:
            history = changed.get(row["project_id"])
            if history is None or not row["billable"]:
                continue
            for entry in row["time_entries"]:
                start = _at(entry["start"])
                assert start is not None
                in_force = [r for r in history if _at(r["start"]) <= start] or history[:1]
                assert row["hourly_rate_in_cents"] == round(in_force[-1]["amount"] * 100)
                checked["current" if in_force[-1]["end"] is None else "earlier"] += 1
    assert checked["earlier"] and checked["current"], checked


def test_rates_can_be_a_feature_the_free_plan_lacks(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(
        EmulatorConfig(
            scale=Scale(organizations=3, workspaces=3),  # the third on the free plan
            limits=Limits(restricted_features=frozenset({"rates"})),
        )
    )
    api = Api(server.base_url, "bare")
    plans = {o["id"]: o["pricing_plan_id"] for o in api.ok("/me/organizations")}
    statuses = {
        plans[ws["organization_id"]] == 0: api.get(
            f"/workspaces/{ws['id']}/rates/workspace/{ws['id']}", type="billable_rates"
        ).status_code
        for ws in api.ok("/me/workspaces")
    }
    assert statuses.get(False) == 200
    assert statuses.get(True) == 402


def test_the_truth_counts_them(api: Api) -> None:
    truth = api.admin("GET", "/truth")
    for entity in ("project_users", "project_groups", "rates"):
        records = api.admin("GET", f"/records/{entity}")
        assert truth[entity]["total"] == len(records) > 0, entity
        by_workspace = truth[entity]["by_workspace"]
        assert sum(w["total"] for w in by_workspace.values()) == len(records)
