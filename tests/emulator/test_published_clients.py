"""What published clients of the service read, as the service's reference documents it (issue
26): report paging by the documented cursor headers, `meta=true` on the user's entries, the
fields of `/me`, `at_tz` on report entries, and the single-record routes.

The reference (shared/service-reference.md, beside the repository's clone) is parsed here,
never copied: a field it lists and the emulator does not serve fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.helpers import MEMBER_TOKEN, Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale, views
from timetrack.emulator.config import Limits
from timetrack.emulator.model import Dataset

REFERENCE = Path(__file__).parents[2].parent / "shared" / "service-reference.md"
"""Beside the repository's clone, as on the machines that work on it and in CI."""
CURSOR = ("first_id", "first_row_number", "first_timestamp")
HEADER = {
    "first_id": "X-Next-ID",
    "first_row_number": "X-Next-Row-Number",
    "first_timestamp": "X-Next-Timestamp",
}


def documented(endpoint: str, part: str = "answers") -> set[str]:
    """The names the reference lists under `part` ("answers", "headers", "each row's
    `time_entries`", ...) of `endpoint` ("GET /api/v9/me")."""
    assert REFERENCE.is_file(), f"the service's reference is missing: {REFERENCE}"
    section = REFERENCE.read_text(encoding="utf-8").split(f"\n### {endpoint}\n", 1)
    assert len(section) == 2, f"the reference has no section {endpoint}"
    body = section[1].split("\n### ", 1)[0]
    for line in body.splitlines():
        if line.startswith(f"- {part}"):
            names = set(re.findall(r"`([^`]+)`", line.partition(":")[2]))
            assert names, f"{endpoint}: nothing under {part}"
            return names
    raise AssertionError(f"{endpoint}: the reference lists no {part}")


# --- report paging ------------------------------------------------------------------------------


def _windows(first: date, last: date) -> list[tuple[date, date]]:
    out = []
    while first <= last:
        end = min(first + timedelta(days=365), last)
        out.append((first, end))
        first = end + timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def entry_records(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """The shared emulator's time entry records, read once for the module: it only reads, so
    they stay as they are (4000 records, read again by every walk before)."""
    records: list[dict[str, Any]] = Api(emulator.base_url, "bare").admin(
        "GET", "/records/time_entries"
    )
    return records


def _report_truth(entries: list[dict[str, Any]], ws: int) -> list[int]:
    """The ids of the workspace's live, stopped entries, from the emulator's records, in the
    report's order (start, then id)."""
    records = [
        r
        for r in entries
        if r["workspace_id"] == ws and r["server_deleted_at"] is None and r["stop"] is not None
    ]
    records.sort(key=lambda r: (datetime.fromisoformat(r["start"]), r["id"]))
    return [r["id"] for r in records]


def _walk_with(
    api: Api, ws: int, sent: tuple[str, ...], page_size: int
) -> list[list[dict[str, Any]]]:
    """Every page of the workspace's report (over the last three years), sending back only the
    cursor fields `sent`."""
    now = datetime.fromisoformat(api.admin("GET", "/truth")["now"]).date()
    pages: list[list[dict[str, Any]]] = []
    for first, last in _windows(now - timedelta(days=3 * 365), now):
        body: dict[str, Any] = {
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "page_size": page_size,
        }
        window_rows: list[dict[str, Any]] = []
        for _ in range(1_000):
            response = api.report(ws, body)
            page = api.data(response) or []
            pages.append(page)
            window_rows += page
            if "X-Next-ID" not in response.headers:
                break
            assert "X-Next-Row-Number" in response.headers
            for name in CURSOR:
                body.pop(name, None)
            body.update({name: int(response.headers[HEADER[name]]) for name in sent})
        else:
            raise AssertionError(f"the walk sending {sent} never ended")
        numbers = [row["row_number"] for row in window_rows]
        assert numbers == list(range(1, len(window_rows) + 1)), "rows numbered 1, 2, ... in order"
    return pages


@pytest.mark.parametrize(
    "sent",
    [
        ("first_id", "first_row_number"),
        ("first_id", "first_row_number", "first_timestamp"),
        ("first_row_number",),
        ("first_id",),
    ],
    ids=["documented", "all-three", "row-number-alone", "id-alone"],
)
def test_a_walk_by_any_cursor_field_gets_every_entry_once_in_order(
    api: Api, sent: tuple[str, ...], entry_records: list[dict[str, Any]]
) -> None:
    for ws in (w["id"] for w in api.ok("/me/workspaces")):
        # ~16 pages a workspace (37 before: ~38; every page boundary is one more cursor sent)
        pages = _walk_with(api, ws, sent, page_size=97)
        assert len([page for page in pages if page]) > 10, "the walk crosses many pages"
        walked = [[e["id"] for row in page for e in row["time_entries"]] for page in pages]
        every = [i for page in walked for i in page]
        truth = _report_truth(entry_records, ws)
        assert len(every) == len(set(every)), f"workspace {ws}: entries came twice"
        assert sorted(every) == sorted(truth), f"workspace {ws}: the walk differs from records"
        # Rows group a page's entries, so order holds page by page: each page holds the
        # entries that follow the page before's, in the report's order (start, then id).
        place = {entry_id: n for n, entry_id in enumerate(truth)}
        spans = [sorted(place[i] for i in page) for page in walked if page]
        assert [n for span in spans for n in span] == list(range(len(truth))), "out of order"


@pytest.mark.parametrize("sent", [("first_id", "first_row_number"), ("first_row_number",)])
def test_a_members_walk_by_the_documented_cursor_gets_their_own_entries_once(
    api: Api, sent: tuple[str, ...], entry_records: list[dict[str, Any]]
) -> None:
    member = Api(api.base_url, api.layout, token=MEMBER_TOKEN)
    me = member.ok("/me")["id"]
    own = {r["id"] for r in entry_records if r["user_id"] == me}
    for ws in (w["id"] for w in member.ok("/me/workspaces") if not w["admin"]):
        pages = _walk_with(member, ws, sent, page_size=7)
        every = [e["id"] for page in pages for row in page for e in row["time_entries"]]
        truth = [i for i in _report_truth(entry_records, ws) if i in own]
        assert truth, f"workspace {ws}: the member has entries"
        assert len(every) == len(set(every)), f"workspace {ws}: entries came twice"
        assert sorted(every) == sorted(truth), f"workspace {ws}: the walk differs from records"


def test_a_cursor_the_report_cannot_place_is_refused(api: Api) -> None:
    ws = api.ok("/me/workspaces")[0]["id"]
    now = datetime.fromisoformat(api.admin("GET", "/truth")["now"]).date()
    body = {"start_date": (now - timedelta(days=300)).isoformat(), "page_size": 37}
    first = api.report(ws, body)
    rows = api.data(first)
    assert "X-Next-ID" in first.headers
    # A row number that begins no page of this size (the second row of the first page).
    response = api.report(ws, {**body, "first_row_number": 2})
    assert response.status_code == 400, response.text
    assert "first_row_number" in response.json()
    response = api.report(ws, {**body, "first_id": 1})
    assert response.status_code == 400, response.text
    assert "first_id" in response.json()
    # The first row number alone is the first page, as if nothing were sent.
    assert api.data(api.report(ws, {**body, "first_row_number": 1})) == rows


# --- at_tz on the report's entries ------------------------------------------------------------


def test_every_report_entry_carries_at_tz_in_its_users_timezone(api: Api) -> None:
    endpoint = "POST /reports/api/v3/workspace/{workspace_id}/search/time_entries"
    inner = documented(endpoint, "each row's `time_entries`")
    zones = {
        (m["workspace_id"], m["id"]): m["timezone"]
        for m in api.admin("GET", "/records/workspace_members")
    }
    seen_zones = set()
    for ws in (w["id"] for w in api.ok("/me/workspaces")):
        for page in _walk_with(api, ws, ("first_id", "first_row_number"), page_size=1000):
            for row in page:
                zone = ZoneInfo(zones[(ws, row["user_id"])])
                for entry in row["time_entries"]:
                    assert inner <= set(entry), inner - set(entry)
                    local = datetime.fromisoformat(entry["at_tz"])
                    at = datetime.fromisoformat(entry["at"])
                    assert local == at, (entry["at"], entry["at_tz"])
                    assert local.utcoffset() == at.astimezone(zone).utcoffset(), entry
                    assert re.fullmatch(r".+T.+[+-]\d\d:\d\d", entry["at_tz"]), entry["at_tz"]
                    seen_zones.add(zone.key)
    assert {"UTC", "Europe/Berlin", "America/New_York"} <= seen_zones


# --- /me, and meta=true on the user's entries -----------------------------------------------

RELATED = frozenset({"clients", "projects", "tags", "tasks", "time_entries", "workspaces"})
"""What /me lists only with `with_related_data=true`, which the emulator does not serve."""


def test_me_serves_every_field_the_reference_lists(api: Api) -> None:
    me = api.ok("/me")
    assert documented("GET /api/v9/me") - RELATED <= set(me), documented("GET /api/v9/me") - set(me)
    assert type(me["has_password"]) is bool and type(me["openid_enabled"]) is bool
    assert datetime.fromisoformat(me["authorization_updated_at"]).tzinfo is not None
    # Not in the reference, but published clients read it there.
    assert isinstance(me["toggl_accounts_id"], str) and me["toggl_accounts_id"]


def test_meta_adds_the_names_the_reference_lists(api: Api) -> None:
    listed = documented("GET /api/v9/me/time_entries")
    plain = api.ok("/me/time_entries")
    with_meta = api.ok("/me/time_entries", meta="true")
    assert [e["id"] for e in with_meta] == [e["id"] for e in plain]
    assert not listed - set().union(*map(set, with_meta)), listed - set().union(
        *map(set, with_meta)
    )
    assert "user_name" not in set().union(*map(set, plain)), "meta only when asked"
    me = api.ok("/me")
    projects = {p["id"]: p for p in api.admin("GET", "/records/projects")}
    clients = {c["id"]: c for c in api.admin("GET", "/records/clients")}
    tasks = {t["id"]: t for t in api.admin("GET", "/records/tasks")}
    for bare, entry in zip(plain, with_meta, strict=True):
        assert {k: v for k, v in entry.items() if k in bare} == bare, "meta changes nothing else"
        assert entry["user_name"] == me["fullname"]
        assert entry["user_avatar_url"].startswith("https://")
        project = projects.get(entry["project_id"])
        assert entry["project_name"] == (project and project["name"])
        assert entry["project_color"] == (project and project["color"])
        assert entry["project_active"] == (project and project["active"])
        assert entry["client_id"] == (project and project["client_id"])
        client = clients.get(entry["client_id"])
        assert entry["client_name"] == (client and client["name"])
        task = tasks.get(entry["task_id"])
        assert entry["task_name"] == (task and task["name"])
        assert entry["expense_ids"] == [] and entry["shared_with"] is None
    assert any(e["project_name"] for e in with_meta) and any(e["task_name"] for e in with_meta)
    shared = api.ok("/me/time_entries", meta="true", include_sharing="true")
    assert all(e["shared_with"] == [] for e in shared)
    assert api.get("/me/time_entries", meta="maybe").status_code == 400


# --- single records ---------------------------------------------------------------------------


def test_get_workspaces_answers_as_me_workspaces(api: Api) -> None:
    assert api.ok("/workspaces") == api.ok("/me/workspaces")
    assert api.ok("/workspaces", token="partial-token") == api.ok(
        "/me/workspaces", token="partial-token"
    )


def test_a_workspace_by_id_is_its_record_in_me_workspaces(api: Api) -> None:
    listed = api.ok("/me/workspaces")
    for ws in listed:
        assert api.ok(f"/workspaces/{ws['id']}") == ws
    partial = {w["id"] for w in api.ok("/me/workspaces", token="partial-token")}
    foreign = next(w["id"] for w in listed if w["id"] not in partial)
    assert api.get(f"/workspaces/{foreign}", token="partial-token").status_code == 403
    assert api.get("/workspaces/999999999").status_code == 404
    assert api.get("/workspaces/nope").status_code == 404


def _all_pages(api: Api, path: str, key: str | None = None, **params: Any) -> list[Any]:
    items: list[Any] = []
    for page in range(1, 100):
        answer = api.ok(path, page=page, per_page=200, **params)
        found = (answer or {}).get(key) if key else answer
        if not found:
            return items
        items += found
    raise AssertionError(f"{path}: more than 99 pages")


def test_clients_projects_and_tasks_by_id_are_their_list_records(api: Api) -> None:
    workspaces = [w["id"] for w in api.ok("/me/workspaces")]
    ws, other = workspaces[0], workspaces[1]
    clients = api.ok(f"/workspaces/{ws}/clients", status="both")
    projects = _all_pages(api, f"/workspaces/{ws}/projects", active="both")
    tasks = _all_pages(api, f"/workspaces/{ws}/tasks", "data", active="both")
    assert clients and projects and tasks
    assert any(c["archived"] for c in clients) and any(not p["active"] for p in projects)
    assert any(not t["active"] for t in tasks)
    for client in clients:
        # `total_count` counts the list a record came in: a single record has no list.
        single_client = api.ok(f"/workspaces/{ws}/clients/{client['id']}")
        assert single_client == {k: v for k, v in client.items() if k != "total_count"}
    for project in projects:
        # `total_count` counts the list a record came in: a single record has no list.
        single = api.ok(f"/workspaces/{ws}/projects/{project['id']}")
        assert single == {k: v for k, v in project.items() if k != "total_count"}
    for task in tasks:
        path = f"/workspaces/{ws}/projects/{task['project_id']}/tasks/{task['id']}"
        assert api.ok(path) == task
    # Another workspace's records, unknown ids, a task under another project: 404.
    foreign_client = api.ok(f"/workspaces/{other}/clients", status="both")[0]["id"]
    assert api.get(f"/workspaces/{ws}/clients/{foreign_client}").status_code == 404
    assert api.get(f"/workspaces/{ws}/projects/999999999").status_code == 404
    task = tasks[0]
    elsewhere = next(p["id"] for p in projects if p["id"] != task["project_id"])
    assert api.get(f"/workspaces/{ws}/projects/{elsewhere}/tasks/{task['id']}").status_code == 404
    # The v9 reference has no single tag: no route.
    tag = api.ok(f"/workspaces/{ws}/tags")[0]["id"]
    assert api.get(f"/workspaces/{ws}/tags/{tag}").status_code == 404


def test_single_records_follow_membership(api: Api) -> None:
    listed = {w["id"] for w in api.ok("/me/workspaces")}
    partial = {w["id"] for w in api.ok("/me/workspaces", token="partial-token")}
    foreign = next(iter(listed - partial))
    client = api.ok(f"/workspaces/{foreign}/clients", status="both")[0]["id"]
    project = api.ok(f"/workspaces/{foreign}/projects", active="both")[0]["id"]
    for path in (
        f"/workspaces/{foreign}/clients/{client}",
        f"/workspaces/{foreign}/projects/{project}",
    ):
        assert api.get(path, token="partial-token").status_code == 403
        assert api.get(path).status_code == 200


def test_an_entry_by_id_and_the_current_one_are_the_users_own(
    api: Api, entry_records: list[dict[str, Any]]
) -> None:
    entries = api.ok("/me/time_entries")
    for entry in entries:
        assert api.ok(f"/me/time_entries/{entry['id']}") == entry
    running = [e for e in entries if e["stop"] is None]
    assert len(running) == 1
    assert api.ok("/me/time_entries/current") == running[0]
    with_meta = api.ok("/me/time_entries/current", meta="true")
    assert with_meta["user_name"] == api.ok("/me")["fullname"]
    single = api.ok(f"/me/time_entries/{entries[0]['id']}", meta="true")
    assert single == api.ok("/me/time_entries", meta="true")[0]
    me = api.ok("/me")["id"]
    others = [r for r in entry_records if r["user_id"] != me]
    # An admin reads another member's entry in the report, never under /me.
    assert api.get(f"/me/time_entries/{others[0]['id']}").status_code == 404
    assert api.get("/me/time_entries/1").status_code == 404
    # The member user has no running entry: null, not a 404.
    member = api.get("/me/time_entries/current", token="member-token")
    assert member.status_code == 200 and api.data(member) is None


def test_deleted_records_are_gone_from_the_single_routes(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    server = make_emulator(EmulatorConfig(scale=Scale(organizations=1, workspaces=1, users=4)))
    api = Api(server.base_url, "bare")
    ws = api.ok("/me/workspaces")[0]["id"]
    client = api.ok(f"/workspaces/{ws}/clients", status="both")[0]["id"]
    task = api.ok(f"/workspaces/{ws}/tasks", active="both")["data"][0]
    project = task["project_id"]
    entry = next(e for e in api.ok("/me/time_entries") if e["stop"] is not None)["id"]
    paths = {
        "clients": (client, f"/workspaces/{ws}/clients/{client}"),
        "tasks": (task["id"], f"/workspaces/{ws}/projects/{project}/tasks/{task['id']}"),
        "projects": (project, f"/workspaces/{ws}/projects/{project}"),
    }
    for entity, (key, path) in paths.items():
        assert api.get(path).status_code == 200
        api.admin("DELETE", f"/{entity}/{key}")
        assert api.get(path).status_code == 404, entity
    assert api.get(f"/me/time_entries/{entry}").status_code == 200
    assert api.call("DELETE", f"/workspaces/{ws}/time_entries/{entry}").status_code == 200
    assert api.get(f"/me/time_entries/{entry}").status_code == 404
    running = api.ok("/me/time_entries/current")
    assert running is not None
    api.call("PATCH", f"/workspaces/{ws}/time_entries/{running['id']}/stop")
    assert api.ok("/me/time_entries/current") is None


def test_at_tz_follows_a_change_of_offset_within_a_day() -> None:
    # Berlin moves from +01:00 to +02:00 at 01:00 UTC on 2026-03-29; New York from -05:00 to
    # -04:00 at 07:00 UTC on 2026-03-08. Offsets are asked once per day except on such days.
    users = {1: SimpleNamespace(timezone="Europe/Berlin"), 2: SimpleNamespace(timezone="UTC")}
    users[3] = SimpleNamespace(timezone="America/New_York")
    data = cast(Dataset, SimpleNamespace(users=users))
    moments = ["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-03-29T12:00:00.5Z"]
    moments += ["2026-03-08T06:59:59.001Z", "2026-03-08T07:00:00Z"]
    unix_us = np.array(
        [round(datetime.fromisoformat(m).timestamp() * 1_000_000) for m in moments],
        dtype=np.int64,
    )
    spelled = views.in_users_zones(data, np.array([1, 1, 2, 3, 3]), unix_us)
    assert spelled == [
        "2026-03-29T01:59:59+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T12:00:00.500+00:00",
        "2026-03-08T01:59:59.001-05:00",
        "2026-03-08T03:00:00-04:00",
    ]


def test_single_records_count_against_the_quota_of_their_scope(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    limits = Limits(quota=True, quota_per_hour=50, me_quota_per_hour=3)
    api = Api(make_emulator(EmulatorConfig(limits=limits)).base_url, "bare")
    ws = api.ok("/me/workspaces")[0]["id"]  # one of the user's three
    # GET /workspaces and the user's entries by id count as /me paths do; a workspace's
    # records count against its organization.
    assert api.get(f"/workspaces/{ws}").headers["X-Quota-Remaining"] == "49"
    paths = ("/workspaces", "/me/time_entries/current", "/me")
    assert [api.get(p).status_code for p in paths] == [200, 200, 402]
    assert api.get(f"/workspaces/{ws}").status_code == 200
