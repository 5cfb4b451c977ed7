"""The public API: one handler per endpoint of the contract, layout-agnostic.

Each handler returns a Reply or raises ErrorReply; the server wraps it in the layout's envelope.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from aiohttp import web

from timetrack.emulator import views
from timetrack.emulator.drift import DriftPlan
from timetrack.emulator.http import ErrorReply, Reply, int_param, json_object, page_params, tristate
from timetrack.emulator.limits import QuotaState
from timetrack.emulator.model import (
    NO_ID,
    RATE_LEVELS,
    RATE_TYPES,
    RUNNING,
    Dataset,
    Membership,
    Organization,
    Tag,
    User,
    Workspace,
)
from timetrack.emulator.rates import rate_book
from timetrack.emulator.timefmt import (
    MAX_UNIX,
    MIN_UNIX,
    format_date,
    format_ts_many,
    parse_date,
    parse_date_or_ts,
)

DAY = 86_400
HISTORY_DAYS = 90
DEFAULT_ME_DAYS = 9
REPORT_MAX_SPAN_DAYS = 366


@dataclass
class Ctx:
    """What a handler needs: the request, the data, the caller and the present."""

    request: web.Request
    data: Dataset
    user: User
    now: float
    restricted_features: frozenset[str]
    plan: DriftPlan
    quota_of: Callable[[Organization], tuple[int, QuotaState]] | None = None
    """An organization's hourly quota for the caller and its state, without using it up (for
    GET /me/quota)."""

    def out(self, entity: str, key: int, record: dict[str, Any], context: int = 0) -> Any:
        """A record as served: with drift on, maybe departing from the contract."""
        if self.plan.active:
            self.plan.apply(entity, key, record, context)
        return record

    async def body(self) -> dict[str, Any]:
        """The JSON object body; 400 when it is not one."""
        return await json_object(self.request)


Handler = Callable[[Ctx], Awaitable[Reply]]


def _path_id(ctx: Ctx, name: str, label: str) -> int:
    try:
        return int(ctx.request.match_info[name])
    except ValueError:
        raise ErrorReply(404, f"Invalid {label} ID") from None


def organization_of(ctx: Ctx) -> tuple[Organization, Membership]:
    """The organization in the path, checked for the caller's membership."""
    org_id = _path_id(ctx, "organization_id", "organization")
    org = ctx.data.organizations.get(org_id)
    if org is None:
        raise ErrorReply(404, "Invalid organization ID")
    member = ctx.data.memberships[org_id].get(ctx.user.id)
    if member is None or member.inactive:
        raise ErrorReply(403, "User does not have access to this resource.")
    return org, member


def workspace_of(ctx: Ctx) -> Workspace:
    """The workspace in the path, checked for the caller's membership."""
    ws_id = _path_id(ctx, "workspace_id", "workspace")
    ws = ctx.data.workspaces.get(ws_id)
    if ws is None:
        raise ErrorReply(404, "Invalid workspace ID")
    if ctx.user.id not in ws.members:
        raise ErrorReply(403, "User does not have access to this resource.")
    return ws


ADMIN_ONLY: dict[str, tuple[str, str]] = {
    "organization_users": ("organization", "not authorized to list the organization users"),
    "statistics": ("workspace", "not authorized to see the workspace statistics"),
    "workspace_users": ("workspace", "not authorized to list the workspace users"),
    "project_users": ("workspace", "not authorized to list the project users"),
    "rates": ("workspace", "not authorized to see the rates"),
}
"""Endpoints only an admin of their organization or workspace reads: endpoint -> (whose admin,
the 403's text). The service's reference documents a 403 on each, and for organization users
says why ("not authorized to list the organization users", a member who is no admin gets it);
the other texts are ours. Its groups list documents no 403 (only 400), so a member reads
groups here. Project users and rates carry the same money as workspace users (rates, labor
costs), so they are guarded like them *(ours: the reference lists a 403 without saying for
whom)*; project groups carry none, and a member reads them."""


def refused(data: Dataset, user_id: int, kind: str, scope_id: int) -> list[str]:
    """The admin-only endpoints of one organization or workspace (`kind`) that the user, a
    member of it, is refused."""
    admin = (
        data.organization_admin(user_id, scope_id)
        if kind == "organization"
        else data.workspace_admin(user_id, scope_id)
    )
    return [] if admin else [name for name, (need, _) in ADMIN_ONLY.items() if need == kind]


def report_of_own_entries(data: Dataset, user_id: int, workspace_id: int) -> bool:
    """Whether the user's report search of a workspace holds only their own entries.

    A choice, not the service's word: its reference lists a 403 for the search without saying
    for whom, and the contract says only that it holds "every member's entries". Members see
    their own time in the service's reports, and other people's time (with its rates) is what
    the admin-only endpoints guard; so a member who is no admin of the workspace gets their
    own entries, and an admin every member's."""
    return not data.workspace_admin(user_id, workspace_id)


def _admin_only(ctx: Ctx, endpoint: str, scope_id: int) -> None:
    kind, text = ADMIN_ONLY[endpoint]
    if endpoint in refused(ctx.data, ctx.user.id, kind, scope_id):
        raise ErrorReply(403, text)


def _feature_gate(ctx: Ctx, org: Organization, feature: str) -> None:
    if feature in ctx.restricted_features and org.plan.id == 0:
        raise ErrorReply(402, "This feature is not available on your organization's plan.")


def _since(ctx: Ctx) -> int | None:
    return int_param(ctx.request.query, "since")


def _paged(items: list[Any], page: int, per_page: int) -> list[Any]:
    return items[(page - 1) * per_page : page * per_page]


async def me(ctx: Ctx) -> Reply:
    return Reply(ctx.out("me", ctx.user.id, views.me(ctx.data, ctx.user)))


async def me_organizations(ctx: Ctx) -> Reply:
    data = ctx.data
    return Reply(
        [
            ctx.out(
                "organizations",
                org_id,
                views.organization_with_count(
                    data, data.organizations[org_id], data.memberships[org_id][ctx.user.id]
                ),
            )
            for org_id in data.organization_ids_of(ctx.user.id)
        ]
    )


async def me_workspaces(ctx: Ctx) -> Reply:
    since = _since(ctx)
    items = [
        ctx.out(
            "workspaces", ws_id, views.workspace(ctx.data, ctx.data.workspaces[ws_id], ctx.user.id)
        )
        for ws_id in ctx.data.workspace_ids_of(ctx.user.id)
        if since is None or ctx.data.workspaces[ws_id].at >= since
    ]
    return Reply(items)


def _history_start(now: float) -> float:
    """Midnight UTC of the oldest day /me/time_entries still serves."""
    return parse_date(format_date(now - HISTORY_DAYS * DAY))


async def me_time_entries(ctx: Ctx) -> Reply:
    query = ctx.request.query
    store = ctx.data.entries
    oldest = _history_start(ctx.now)
    with store.lock:
        rows = ctx.data.entries.user_rows(ctx.user.id)
        start = store.col("start")[rows]
        deleted = store.col("deleted_us")[rows] != 0
        if "since" in query:
            if "before" in query:
                raise ErrorReply(400, "since and before cannot be used together")
            since = int_param(query, "since")
            assert since is not None
            if since < ctx.now - HISTORY_DAYS * DAY:
                raise ErrorReply(400, "since cannot be older than 3 months")
            keep = store.col("at_us")[rows] >= since * 1_000_000
        elif "start_date" in query or "end_date" in query:
            if "start_date" not in query or "end_date" not in query:
                raise ErrorReply(400, "start_date and end_date must be given together")
            begin = _parse_time(query["start_date"], "start_date")
            end = _parse_time(query["end_date"], "end_date")
            if begin < oldest:
                raise ErrorReply(400, f"start_date must not be earlier than {format_date(oldest)}")
            if end < begin:
                raise ErrorReply(400, "end_date must not be earlier than start_date")
            keep = ~deleted & (start >= begin) & (start < end)
        elif "before" in query:
            before = _parse_time(query["before"], "before")
            keep = ~deleted & (start < before) & (start >= oldest)
        else:
            keep = ~deleted & (start >= ctx.now - DEFAULT_ME_DAYS * DAY)
        chosen = rows[keep]
        order = np.lexsort((store.col("id")[chosen], store.col("start")[chosen]))[::-1]
        items = []
        for pos in chosen[order].tolist():
            item = views.time_entry(ctx.data, pos)
            items.append(_with_meta(ctx, pos, ctx.out("time_entries", item["id"], item)))
    return Reply(items)


def _parse_time(text: str, name: str) -> float:
    try:
        return parse_date_or_ts(text)
    except ValueError:
        raise ErrorReply(400, f"{name} must be a date (YYYY-MM-DD) or an RFC3339 time") from None


async def organization(ctx: Ctx) -> Reply:
    org, member = organization_of(ctx)
    return Reply(
        ctx.out("organizations", org.id, views.organization_with_count(ctx.data, org, member))
    )


async def organization_users(ctx: Ctx) -> Reply:
    org, _ = organization_of(ctx)
    _admin_only(ctx, "organization_users", org.id)
    page, per_page = page_params(ctx.request.query, 50, 200)
    members = sorted(ctx.data.memberships[org.id].values(), key=lambda m: m.id)
    return Reply(
        [
            ctx.out("organization_users", m.id, views.organization_user(ctx.data, m))
            for m in _paged(members, page, per_page)
        ],
        headers=paging_headers(page, per_page, len(members)),
    )


def paging_headers(page: int, per_page: int, records: int) -> dict[str, str]:
    """The paging headers the reference documents for organization users."""
    return {
        "X-Page": str(page),
        "X-Page-Size": str(per_page),
        "X-Pages": str(max(1, -(-records // per_page))),
        "X-Records": str(records),
        "X-Sort-Order": "ASC",
    }


async def organization_groups(ctx: Ctx) -> Reply:
    org, _ = organization_of(ctx)
    _feature_gate(ctx, org, "groups")
    groups = sorted(
        (g for g in ctx.data.groups.values() if g.organization_id == org.id),
        key=lambda g: (g.name.lower(), g.group_id),
    )
    return Reply([ctx.out("groups", g.group_id, views.group(ctx.data, g)) for g in groups])


async def workspace_statistics(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    _admin_only(ctx, "statistics", ws.id)
    return Reply(ctx.out("statistics", ws.id, views.statistics(ctx.data, ws)))


def _members(data: Dataset, ws: Workspace) -> list[int]:
    """A workspace's member ids by name, then id."""
    return sorted(ws.members, key=lambda uid: (data.users[uid].fullname.lower(), uid))


async def workspace_members(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    return Reply(
        [
            ctx.out("workspace_members", uid, views.workspace_member(ctx.data, ws, uid), ws.id)
            for uid in _members(ctx.data, ws)
        ]
    )


async def workspace_users(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    _admin_only(ctx, "workspace_users", ws.id)
    items = []
    for uid in _members(ctx.data, ws):
        member = ctx.data.workspace_users[(ws.id, uid)]
        items.append(
            ctx.out("workspace_users", member.id, views.workspace_user(ctx.data, ws, member))
        )
    return Reply(items)


async def workspace_clients(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    status = tristate(ctx.request.query, "status", "active", ("active", "archived", "both"))
    clients = [
        c
        for c in ctx.data.in_workspace("clients", ws.id)
        if c.server_deleted_at is None
        and (status == "both" or c.archived == (status == "archived"))
    ]
    # Each record carries the count of the whole list, as the reference documents (as projects).
    return Reply(
        [
            {**ctx.out("clients", c.id, views.client(ctx.data, c)), "total_count": len(clients)}
            for c in clients
        ]
    )


def _active_filter(active: str, is_active: bool) -> bool:
    return active == "both" or is_active == (active == "true")


async def workspace_projects(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    query = ctx.request.query
    active = tristate(query, "active", "true", ("true", "false", "both"))
    since = _since(ctx)
    page, per_page = page_params(query, 151, 200)
    projects = [
        p
        for p in ctx.data.in_workspace("projects", ws.id)
        if _visible(p.server_deleted_at, p.at, since)
        and (p.server_deleted_at is not None or _active_filter(active, p.active))
    ]
    # Each record carries the count of the whole list, as the reference documents.
    return Reply(
        [
            {**ctx.out("projects", p.id, views.project(ctx.data, p)), "total_count": len(projects)}
            for p in _paged(projects, page, per_page)
        ]
    )


def _visible(deleted_at: float | None, at: float, since: int | None) -> bool:
    """Deleted records show only to `since`; `since` shows only what changed after it."""
    if since is None:
        return deleted_at is None
    return at >= since


async def workspace_tasks(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    query = ctx.request.query
    active = tristate(query, "active", "true", ("true", "false", "both"))
    since = _since(ctx)
    page, per_page = page_params(query, 50, 200)
    tasks = [
        t
        for t in ctx.data.in_workspace("tasks", ws.id)
        if _visible(t.server_deleted_at, t.at, since)
        and (t.server_deleted_at is not None or _active_filter(active, t.active))
    ]
    payload = {
        "data": [
            ctx.out("tasks", t.id, views.task(ctx.data, t)) for t in _paged(tasks, page, per_page)
        ],
        "total_count": len(tasks),
        "page": page,
        "per_page": per_page,
        "sort_field": "name",
        "sort_order": "ASC",
    }
    return Reply(payload, wrap=False)


TAGS_PER_PAGE = 200
"""Tags' default and largest page *(ours: the reference documents `page` and `per_page` and no
sizes)*. A workspace holds at most 60 tags here, so a client that does not page still gets
every tag, as before tags paged."""


async def workspace_tags(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    page, per_page = page_params(ctx.request.query, TAGS_PER_PAGE, TAGS_PER_PAGE)
    live = [
        tag_id
        for tag_id in ctx.data.workspace_tags[ws.id]
        if ctx.data.tags[tag_id].server_deleted_at is None
    ]
    tags = [
        ctx.out("tags", tag_id, views.tag(ctx.data, ctx.data.tags[tag_id]))
        for tag_id in _paged(live, page, per_page)
    ]
    return Reply(tags)


# --- single records (issue 26: what published clients read) ---------------------------------


def _flag(ctx: Ctx, name: str) -> bool:
    """A boolean query parameter (`true`/`false`, `1`/`0`); absent is false."""
    value = ctx.request.query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ErrorReply(400, f"{name} must be true or false")
    return value in ("true", "1")


def _with_meta(ctx: Ctx, pos: int, item: Any) -> Any:
    """A served time entry, with what `meta=true` adds when asked (after drift, which decides
    on the entry as the list without meta renders it, so both agree on it)."""
    if _flag(ctx, "meta") and isinstance(item, dict):
        item.update(views.time_entry_meta(ctx.data, pos, _flag(ctx, "include_sharing")))
    return item


async def workspaces_of_user(ctx: Ctx) -> Reply:
    """GET /workspaces: not in the reference, but published clients call it first; answered
    as /me/workspaces (ours)."""
    return await me_workspaces(ctx)


async def single_workspace(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    return Reply(ctx.out("workspaces", ws.id, views.workspace(ctx.data, ws, ctx.user.id)))


async def me_time_entry(ctx: Ctx) -> Reply:
    """One of the user's own live entries, of any age; another user's, a deleted one or an
    unknown id: 404, as /me/time_entries holds none of them."""
    entry_id = _path_id(ctx, "time_entry_id", "time entry")
    store = ctx.data.entries
    with store.lock:
        pos = store.position(entry_id)
        if (
            pos is None
            or store.value(pos, "user_id") != ctx.user.id
            or store.value(pos, "deleted_us")
        ):
            raise ErrorReply(404, "Time entry not found")
        return Reply(_with_meta(ctx, pos, _entry_out(ctx, pos)))


async def me_current_time_entry(ctx: Ctx) -> Reply:
    """The user's running entry, or null (200) when none runs."""
    store = ctx.data.entries
    with store.lock:
        rows = store.user_rows(ctx.user.id)
        running = rows[(store.col("stop")[rows] == RUNNING) & (store.col("deleted_us")[rows] == 0)]
        if len(running) == 0:
            return Reply(None)
        pos = int(running[-1])
        return Reply(_with_meta(ctx, pos, _entry_out(ctx, pos)))


def _live_in(ctx: Ctx, ws: Workspace, entity: str, name: str, label: str) -> Any:
    """A live client, project or task of the workspace in the path; 404 otherwise, as its
    list (without `since`) holds no deleted record and no other workspace's."""
    item = getattr(ctx.data, entity).get(_path_id(ctx, name, label))
    if item is None or item.workspace_id != ws.id or item.server_deleted_at is not None:
        raise ErrorReply(404, f"{label.capitalize()} not found")
    return item


async def single_client(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    item = _live_in(ctx, ws, "clients", "client_id", "client")
    return Reply(ctx.out("clients", item.id, views.client(ctx.data, item)))


async def single_project(ctx: Ctx) -> Reply:
    """A project as its list gives it (archived ones too), without the list's `total_count`."""
    ws = workspace_of(ctx)
    item = _live_in(ctx, ws, "projects", "project_id", "project")
    return Reply(ctx.out("projects", item.id, views.project(ctx.data, item)))


async def single_task(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    project = _live_in(ctx, ws, "projects", "project_id", "project")
    item = _live_in(ctx, ws, "tasks", "task_id", "task")
    if item.project_id != project.id:
        raise ErrorReply(404, "Task not found")
    return Reply(ctx.out("tasks", item.id, views.task(ctx.data, item)))


SINGLE_ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", "/workspaces", workspaces_of_user, "me"),
    ("GET", "/workspaces/{workspace_id}", single_workspace, "org"),
    ("GET", "/me/time_entries/current", me_current_time_entry, "me"),
    ("GET", "/me/time_entries/{time_entry_id}", me_time_entry, "me"),
    ("GET", "/workspaces/{workspace_id}/clients/{client_id}", single_client, "org"),
    ("GET", "/workspaces/{workspace_id}/projects/{project_id}", single_project, "org"),
    (
        "GET",
        "/workspaces/{workspace_id}/projects/{project_id}/tasks/{task_id}",
        single_task,
        "org",
    ),
]
"""Single-record routes the reference documents (and `GET /workspaces`, ours). Tags have none:
the v9 reference knows no `GET /workspaces/{workspace_id}/tags/{tag_id}`, so it answers 404."""


async def me_quota(ctx: Ctx) -> Reply:
    """Each organization's hourly quota for the caller: what is left, when the oldest counted
    request leaves the window, and the plan's total. Costs no quota itself *(ours)*: it is how
    a client finds out what it may spend."""
    assert ctx.quota_of is not None
    items = []
    for org_id in ctx.data.organization_ids_of(ctx.user.id):
        total, state = ctx.quota_of(ctx.data.organizations[org_id])
        items.append(
            {
                "organization_id": org_id,
                "remaining": state.remaining,
                "resets_in_secs": state.resets_in,
                "total": total,
            }
        )
    return Reply(items)


def _id_list(ctx: Ctx, name: str) -> set[int] | None:
    """A comma-separated list of ids (`project_ids=1,2`); None when not given; 400 on nonsense."""
    raw = ctx.request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise ErrorReply(400, f"{name} must be a comma-separated list of ids") from None


async def workspace_project_users(ctx: Ctx) -> Reply:
    """Project members with their rate and labor cost on the project. `with_group_members`
    (default false) adds those who are members only through a group *(ours: the reference
    names the flag without its default)*. Project users, project groups and rates do not
    drift (drift.KEY_FIELDS names what does): no reader of them is tested against drift yet."""
    ws = workspace_of(ctx)
    _admin_only(ctx, "project_users", ws.id)
    projects = _id_list(ctx, "project_ids")
    user_id = int_param(ctx.request.query, "user_id")
    groups = tristate(ctx.request.query, "with_group_members", "false", ("true", "false"))
    items = [
        views.project_user(ctx.data, m)
        for m in sorted(ctx.data.project_users.values(), key=lambda m: m.id)
        if m.workspace_id == ws.id
        and m.user_id in ws.members
        and (projects is None or m.project_id in projects)
        and (user_id is None or m.user_id == user_id)
        and (groups == "true" or m.group_id is None)
        and _live_project(ctx.data, m.project_id)
    ]
    return Reply(items)


def _live_project(data: Dataset, project_id: int) -> bool:
    project = data.projects.get(project_id)
    return project is not None and project.server_deleted_at is None


async def workspace_project_groups(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    projects = _id_list(ctx, "project_ids")
    items = [
        views.project_group(g)
        for g in sorted(ctx.data.project_groups.values(), key=lambda g: g.id)
        if g.workspace_id == ws.id
        and (projects is None or g.project_id in projects)
        and _live_project(ctx.data, g.project_id)
    ]
    return Reply(items)


def rate_target_exists(data: Dataset, ws: Workspace, level: str, level_id: int) -> bool:
    """Whether a rate level's id names a record of the workspace."""
    if level == "workspace":
        return level_id == ws.id
    if level == "workspace_user":
        return any(m.id == level_id for (w, _), m in data.workspace_users.items() if w == ws.id)
    found: Any
    if level == "project":
        found = data.projects.get(level_id)
    elif level == "project_user":
        found = data.project_users.get(level_id)
    else:
        found = data.tasks.get(level_id)
    return found is not None and found.workspace_id == ws.id


async def workspace_rates(ctx: Ctx) -> Reply:
    """A rate's history at one level: every period, oldest first, `end` null on the one in
    force. Levels *(ours, from the reference's fields)*: `workspace`, `workspace_user` (the
    membership's id, as workspace_users' `id`), `project`, `project_user` (project_users'
    `id`) and `task`; `type` is `billable_rates` or `labor_costs` (the latter only on
    workspace_user and project_user)."""
    ws = workspace_of(ctx)
    _admin_only(ctx, "rates", ws.id)
    _feature_gate(ctx, ctx.data.organizations[ws.organization_id], "rates")
    level = ctx.request.match_info["level"]
    if level not in RATE_LEVELS:
        raise ErrorReply(400, f"level must be one of: {', '.join(RATE_LEVELS)}")
    level_id = _path_id(ctx, "level_id", level)
    kind = ctx.request.query.get("type")
    if kind not in RATE_TYPES:
        raise ErrorReply(400, f"type must be one of: {', '.join(RATE_TYPES)}")
    if not rate_target_exists(ctx.data, ws, level, level_id):
        raise ErrorReply(404, f"Invalid {level} ID")
    periods = sorted(
        (
            r
            for r in ctx.data.rates.values()
            if r.workspace_id == ws.id
            and r.level == level
            and r.level_id == level_id
            and r.type == kind
        ),
        key=lambda r: (r.start, r.id),
    )
    return Reply([views.rate(ctx.data, r) for r in periods])


# --- writes -----------------------------------------------------------------------------------


def _tag_bits(ctx: Ctx, ws: Workspace, body: dict[str, Any]) -> int | None:
    """The bit mask for `tags` (names, created when new) and `tag_ids`; None if neither given."""
    if "tags" not in body and "tag_ids" not in body:
        return None
    names = body.get("tags") or []
    tag_ids = body.get("tag_ids") or []
    if not isinstance(names, list) or not isinstance(tag_ids, list):
        raise ErrorReply(400, "tags and tag_ids must be lists")
    order = ctx.data.workspace_tags[ws.id]
    live = [t for t in order if ctx.data.tags[t].server_deleted_at is None]
    by_name = {ctx.data.tags[t].name: t for t in live}
    bits = 0
    for name in names:
        if not isinstance(name, str) or not name:
            raise ErrorReply(400, "tags must be non-empty strings")
        tag_id = by_name.get(name)
        if tag_id is None:
            if len(order) >= 60:
                raise ErrorReply(400, "Too many tags in this workspace")
            tag_id = ctx.data.new_id("tag")
            tag = Tag(tag_id, ws.id, name, ctx.now, ctx.user.id)
            ctx.data.tags[tag_id] = tag
            ctx.data.touch()
            render = partial(views.tag, ctx.data, tag)
            ctx.data.changed("tag", "created", ws.id, ctx.user.id, render)
            order.append(tag_id)
            by_name[name] = tag_id
        bits |= 1 << order.index(tag_id)
    for tag_id in tag_ids:
        if tag_id not in live:
            raise ErrorReply(400, f"Tag {tag_id} does not belong to this workspace")
        bits |= 1 << order.index(tag_id)
    return bits


def _entry_values(
    ctx: Ctx, ws: Workspace, body: dict[str, Any], current: dict[str, int]
) -> dict[str, int | bool]:
    """Validate a create or update body into column values, starting from `current`."""
    values: dict[str, int | bool] = {}
    start = current.get("start")
    if "start" in body:
        start = int(_parse_time(str(body["start"]), "start"))
        values["start"] = start
    if start is None:
        raise ErrorReply(400, "start is required")
    stop: int | None = current.get("stop")
    if "stop" in body and body["stop"] is not None:
        stop = int(_parse_time(str(body["stop"]), "stop"))
    elif "duration" in body:
        duration = body["duration"]
        if not isinstance(duration, int) or isinstance(duration, bool):
            raise ErrorReply(400, "duration must be an integer")
        stop = RUNNING if duration < 0 else start + duration
    elif "stop" in body:
        stop = RUNNING
    if stop is None:
        raise ErrorReply(400, "duration or stop is required")
    if stop != RUNNING and stop < start:
        raise ErrorReply(400, "stop must not be before start")
    if not MIN_UNIX <= start <= MAX_UNIX or (stop != RUNNING and stop > MAX_UNIX):
        raise ErrorReply(400, "start and stop must lie in the years 1 to 9999")
    values["stop"] = stop
    if "description" in body:
        description = body["description"]
        if description is not None and not isinstance(description, str):
            raise ErrorReply(400, "description must be a string")
        values["description"] = ctx.data.entries.description_id(description)
    project_id = current.get("project_id", NO_ID)
    if "project_id" in body:
        project_id = int_param(body, "project_id", NO_ID) or NO_ID
        if project_id != NO_ID:
            project = ctx.data.projects.get(project_id)
            if project is None or project.workspace_id != ws.id or project.server_deleted_at:
                raise ErrorReply(400, "Invalid project_id")
        values["project_id"] = project_id
    if "task_id" in body or ("project_id" in body and project_id != current.get("project_id")):
        # A task belongs to one project: moving the entry drops a task it does not name anew.
        task_id = int_param(body, "task_id", NO_ID) or NO_ID
        if task_id != NO_ID:
            task = ctx.data.tasks.get(task_id)
            if task is None or task.workspace_id != ws.id or task.project_id != project_id:
                raise ErrorReply(400, "Invalid task_id")
        values["task_id"] = task_id
    for flag in ("billable", "duronly"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise ErrorReply(400, f"{flag} must be a boolean")
            values[flag] = body[flag]
    bits = _tag_bits(ctx, ws, body)
    if bits is not None:
        values["tags"] = bits
    return values


def _stop_running(ctx: Ctx, at_us: int) -> None:
    """A user has at most one running entry: starting another stops it."""
    store = ctx.data.entries
    rows = store.user_rows(ctx.user.id)
    running = rows[(store.col("stop")[rows] == RUNNING) & (store.col("deleted_us")[rows] == 0)]
    for pos in running.tolist():
        store.update(pos, {"stop": max(int(ctx.now), store.value(pos, "start")), "at_us": at_us})
        _entry_changed(ctx, pos, "updated")


async def create_time_entry(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    body = await ctx.body()
    at_us = int(ctx.now * 1_000_000)
    store = ctx.data.entries
    with store.lock:
        values = _entry_values(ctx, ws, body, {})
        values.setdefault("description", -1)
        if values["stop"] == RUNNING:
            _stop_running(ctx, at_us)
        values.update(
            id=store.next_id(),
            workspace_id=ws.id,
            user_id=ctx.user.id,
            at_us=at_us,
            deleted_us=0,
        )
        pos = store.append(values)
        _entry_changed(ctx, pos, "created")
        return Reply(_entry_out(ctx, pos))


def _entry_changed(ctx: Ctx, pos: int, action: str) -> None:
    """Tell the webhooks of a change to one entry (its payload rendered as /me/time_entries
    renders it, undrifted)."""
    data = ctx.data
    data.changed(
        "time_entry",
        action,
        data.entries.value(pos, "workspace_id"),
        ctx.user.id,
        lambda: views.time_entry(data, pos),
        owner_id=data.entries.value(pos, "user_id"),
    )


def _entry_out(ctx: Ctx, pos: int) -> Any:
    item = views.time_entry(ctx.data, pos)
    return ctx.out("time_entries", item["id"], item)


def _entry_of(ctx: Ctx, ws: Workspace) -> int:
    entry_id = _path_id(ctx, "time_entry_id", "time entry")
    store = ctx.data.entries
    pos = store.position(entry_id)
    if pos is None or store.value(pos, "workspace_id") != ws.id or store.value(pos, "deleted_us"):
        raise ErrorReply(404, "Time entry not found")
    owner = store.value(pos, "user_id")
    if owner != ctx.user.id and not ctx.data.workspace_admin(ctx.user.id, ws.id):
        raise ErrorReply(403, "User does not have access to this resource.")
    return pos


async def update_time_entry(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    body = await ctx.body()
    store = ctx.data.entries
    with store.lock:
        pos = _entry_of(ctx, ws)
        current = {name: store.value(pos, name) for name in ("start", "stop", "project_id")}
        values = _entry_values(ctx, ws, body, current)
        values["at_us"] = int(ctx.now * 1_000_000)
        if values["stop"] == RUNNING and current["stop"] != RUNNING:
            _stop_running(ctx, int(values["at_us"]))
        store.update(pos, values)
        _entry_changed(ctx, pos, "updated")
        return Reply(_entry_out(ctx, pos))


async def stop_time_entry(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    store = ctx.data.entries
    with store.lock:
        pos = _entry_of(ctx, ws)
        if store.value(pos, "stop") != RUNNING:
            raise ErrorReply(409, "Time entry is already stopped")
        stop = max(int(ctx.now), store.value(pos, "start"))
        store.update(pos, {"stop": stop, "at_us": int(ctx.now * 1_000_000)})
        _entry_changed(ctx, pos, "updated")
        return Reply(_entry_out(ctx, pos))


async def delete_time_entry(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    store = ctx.data.entries
    with store.lock:
        pos = _entry_of(ctx, ws)
        now_us = int(ctx.now * 1_000_000)
        store.update(pos, {"deleted_us": now_us, "at_us": now_us})
        _entry_changed(ctx, pos, "deleted")
    return Reply(None, empty=True)


# --- report search ----------------------------------------------------------------------------


async def report_search(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    _feature_gate(ctx, ctx.data.organizations[ws.organization_id], "reports")
    body = await ctx.body()
    if not body.get("start_date"):
        raise ErrorReply(400, "start_date is required")
    try:
        begin = parse_date(str(body["start_date"]))
        end = parse_date(str(body.get("end_date") or format_date(ctx.now)))
    except ValueError:
        raise ErrorReply(400, "start_date and end_date must be dates (YYYY-MM-DD)") from None
    if end < begin:
        raise ErrorReply(400, "end_date must not be earlier than start_date")
    if (end - begin) / DAY > REPORT_MAX_SPAN_DAYS:
        raise ErrorReply(400, f"Maximum allowed date range is {REPORT_MAX_SPAN_DAYS} days")
    page_size = int_param(body, "page_size", 50)
    assert page_size is not None
    if page_size < 1:
        raise ErrorReply(400, "page_size must be at least 1")
    page_size = min(page_size, 1000)

    order_by = str(body.get("order_by") or "date")
    order_dir = str(body.get("order_dir") or "asc").lower()
    if order_by not in ORDERS or order_dir not in ("asc", "desc"):
        raise ErrorReply(400, f"order_by must be one of {', '.join(ORDERS)}, order_dir asc or desc")
    store = ctx.data.entries
    with store.lock:
        rows, starts, ids = store.report_index(ws.id)
        if report_of_own_entries(ctx.data, ctx.user.id, ws.id):
            own = store.col("user_id")[rows] == ctx.user.id
            rows, starts, ids = rows[own], starts[own], ids[own]
        first = int(np.searchsorted(starts, begin, side="left"))
        hi = int(np.searchsorted(starts, end + DAY, side="left"))
        span = (rows[first:hi], starts[first:hi], ids[first:hi])
        if order_by == "last_update" or order_dir == "desc":
            return _ordered_page(ctx, ws, body, span, page_size, order_by, order_dir)
        lo, first_row = report_cursor(ctx.data, ws.id, body, span, page_size)
        lo += first
        chosen = rows[lo : min(hi, lo + page_size)]
        more = lo + page_size < hi
        payload = _report_rows(ctx.data, ws, chosen, first_row, ctx.plan)
        headers: dict[str, str] = {}
        if more:
            nxt = lo + page_size
            headers = {
                "X-Next-ID": str(int(ids[nxt])),
                "X-Next-Row-Number": str(first_row + len(payload)),
                "X-Next-Timestamp": str(int(starts[nxt])),
            }
    return Reply(payload, headers=headers)


ORDERS = ("date", "last_update")
"""The report's orders: by start (the default) or by each entry's last change (`at`)."""


def _ordered_page(
    ctx: Ctx,
    ws: Workspace,
    body: dict[str, Any],
    span: tuple[Any, Any, Any],
    page_size: int,
    order_by: str,
    order_dir: str,
) -> Reply:
    """A page of the window in another order than by start ascending: `order_by:
    "last_update"` sorts by each entry's `at` (then id), as the reference documents, and
    `order_dir: "desc"` turns the order round. The cursor is `first_id` (where that entry now
    stands in the order) or `first_row_number`; `X-Next-Timestamp` is not sent *(ours: the
    reference documents only X-Next-ID and X-Next-Row-Number)*. An entry that changed between
    two pages moves in a `last_update` order: a `first_id` that is no longer in the window is
    a 400 *(ours: what the service does is unknown)*."""
    rows, starts, ids = span
    store = ctx.data.entries
    keys = store.col("at_us")[rows] if order_by == "last_update" else starts
    order = np.lexsort((ids, keys))
    if order_dir == "desc":
        order = order[::-1]
    rows, ids = rows[order], ids[order]
    first_id = int_param(body, "first_id")
    first_row = int_param(body, "first_row_number")
    if first_row is not None and first_row < 1:
        raise ErrorReply(400, "first_row_number must be at least 1")
    lo = 0
    if first_id is not None:
        found = np.flatnonzero(ids == first_id)
        if len(found) == 0:
            raise ErrorReply(400, f"first_id {first_id} is not in this report's window")
        lo = int(found[0])
    elif first_row is not None and first_row > 1:
        counts = _rows_per_page(ctx.data, rows, page_size)
        begins = 1 + np.concatenate(([0], np.cumsum(counts)))[:-1]
        page = int(np.searchsorted(begins, first_row))
        if page >= len(begins) or int(begins[page]) != first_row:
            raise ErrorReply(
                400,
                f"first_row_number {first_row} begins no page of {page_size} entries of this "
                "report",
            )
        lo = page * page_size
    if first_row is None:
        first_row = 1 + _rows_before(ctx.data, rows, lo, page_size)
    chosen = rows[lo : lo + page_size]
    payload = _report_rows(ctx.data, ws, chosen, first_row, ctx.plan)
    headers: dict[str, str] = {}
    if lo + page_size < len(rows):
        headers = {
            "X-Next-ID": str(int(ids[lo + page_size])),
            "X-Next-Row-Number": str(first_row + len(payload)),
        }
    return Reply(payload, headers=headers)


_GROUP_COLUMNS = ("user_id", "description", "project_id", "task_id", "tags", "billable")
"""What one report row's entries share (see `_report_rows`)."""


def report_cursor(
    data: Dataset, workspace_id: int, body: dict[str, Any], span: tuple[Any, Any, Any], size: int
) -> tuple[int, int]:
    """Where a page of the report starts within `span` (the rows, starts and ids of the
    window's entries in report order), and the number of its first row.

    The reference documents `X-Next-ID` and `X-Next-Row-Number`, sent back as `first_id` and
    `first_row_number`; `first_timestamp` (ours, with `X-Next-Timestamp`) is taken where it
    comes. Any subset of the three works *(ours: the service's behaviour is unknown)*:
    `first_timestamp` with `first_id` finds the entry by (start, id), as before; `first_id`
    alone finds it by its own start (an entry deleted since the last page still has one);
    `first_timestamp` alone starts at the first entry at or after it; `first_row_number`
    alone names the page that begins with that row when the window is paged by this
    `page_size` from its start (a row number that begins no such page is a 400). Rows are
    numbered from `first_row_number` when it comes, else from where the position falls."""
    rows, starts, ids = span
    first_id = int_param(body, "first_id")
    first_row = int_param(body, "first_row_number")
    first_ts = int_param(body, "first_timestamp")
    if first_row is not None and first_row < 1:
        raise ErrorReply(400, "first_row_number must be at least 1")
    if first_id is not None and first_ts is None:
        store = data.entries
        pos = store.position(first_id)
        if pos is None or store.value(pos, "workspace_id") != workspace_id:
            raise ErrorReply(400, f"first_id {first_id} is not a time entry of this workspace")
        first_ts = store.value(pos, "start")
    if first_ts is not None:
        at = int(np.searchsorted(starts, first_ts, side="left"))
        if first_id is not None:
            same = int(np.searchsorted(starts, first_ts, side="right"))
            at += int(np.searchsorted(ids[at:same], first_id, side="left"))
        if first_row is None:
            first_row = 1 + _rows_before(data, rows, at, size)
        return at, first_row
    if first_row is None or first_row == 1:
        return 0, 1
    counts = _rows_per_page(data, rows, size)
    begins = 1 + np.concatenate(([0], np.cumsum(counts)))[:-1]
    page = int(np.searchsorted(begins, first_row))
    if page >= len(begins) or int(begins[page]) != first_row:
        raise ErrorReply(
            400, f"first_row_number {first_row} begins no page of {size} entries of this report"
        )
    return page * size, first_row


def _rows_per_page(data: Dataset, rows: Any, size: int) -> Any:
    """How many grouped rows each page of `size` entries makes (a page groups only its own)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    store = data.entries
    page = np.arange(len(rows), dtype=np.int64) // size
    keys = [store.col(name)[rows].astype(np.int64) for name in _GROUP_COLUMNS]
    order = np.lexsort((*keys[::-1], page))
    lined = [column[order] for column in (page, *keys)]
    new = np.ones(len(rows), dtype=np.bool_)
    new[1:] = np.any([column[1:] != column[:-1] for column in lined], axis=0)
    return np.bincount(lined[0][new], minlength=int(page[-1]) + 1)


def _rows_before(data: Dataset, rows: Any, at: int, size: int) -> int:
    """Rows the entries before position `at` make, paged by `size` from the window's start."""
    return int(_rows_per_page(data, rows[:at], size).sum())


_REPORT_COLUMNS = (
    "id",
    "user_id",
    "project_id",
    "task_id",
    "start",
    "stop",
    "description",
    "tags",
    "billable",
    "at_us",
)


def _report_rows(
    data: Dataset, ws: Workspace, chosen: Any, first_row: int, plan: DriftPlan | None = None
) -> list[dict[str, Any]]:
    """Group one page of entries into report rows, in the order their first entry comes.

    Timestamps are rendered for the whole page by numpy; drift (when on) is decided for the
    whole page by a vectorized hash and applied only to the few rows and entries it picks."""
    store = data.entries
    arrays = {name: store.col(name)[chosen] for name in _REPORT_COLUMNS}
    cols = {name: column.tolist() for name, column in arrays.items()}
    ids = arrays["id"].astype(np.int64)
    offsets = data.offsets
    starts = format_ts_many(arrays["start"] * 1_000_000, ids, offsets)
    stops = format_ts_many(arrays["stop"] * 1_000_000, ids + 1, offsets)
    ats = format_ts_many(arrays["at_us"], ids + 2, offsets)
    ats_tz = views.in_users_zones(data, arrays["user_id"], arrays["at_us"])
    drifting: set[int] = set()
    if plan is not None and plan.active:
        drifting = set(ids[plan.drifts("report_time_entries", ids)].tolist())
    # One row per user, description, project, task, tags, billable flag and rate: an entry
    # bills at the rate in force when it started (see rates.py), so a rate's change splits rows.
    book = rate_book(data)
    groups: dict[tuple[int, int, int, int, int, bool, int], list[int]] = {}
    for i in range(len(chosen)):
        project_id = cols["project_id"][i]
        rate_cents = book.cents(
            ws, data.projects.get(project_id) if project_id != NO_ID else None, cols["start"][i]
        )
        key = (
            cols["user_id"][i],
            cols["description"][i],
            project_id,
            cols["task_id"][i],
            cols["tags"][i],
            cols["billable"][i],
            rate_cents,
        )
        groups.setdefault(key, []).append(i)
    result: list[dict[str, Any]] = []
    for number, (key, members) in enumerate(groups.items(), start=first_row):
        user_id, description, project_id, task_id, bits, billable, rate_cents = key
        project = data.projects.get(project_id) if project_id != NO_ID else None
        entries = []
        total = 0
        for i in members:
            entry_id = cols["id"][i]
            seconds = cols["stop"][i] - cols["start"][i]
            total += seconds
            entry = {
                "id": entry_id,
                "seconds": seconds,
                "start": starts[i],
                "stop": stops[i],
                "at": ats[i],
                "at_tz": ats_tz[i],
            }
            if entry_id in drifting:
                assert plan is not None
                plan.apply("report_time_entries", entry_id, entry)
            entries.append(entry)
        tags = views.entry_tags(data, ws.id, bits)
        user = data.users[user_id]
        task = data.tasks.get(task_id) if task_id != NO_ID else None
        client = None if project is None or project.client_id is None else project.client_id
        result.append(
            {
                "user_id": user_id,
                "username": user.fullname,
                "email": user.email,
                "toggl_accounts_id": views.accounts_id(data, user_id),
                "description": None if description < 0 else store.descriptions[description],
                "project_id": project_id or None,
                "task_id": task_id or None,
                "billable": billable,
                "tag_ids": [t.id for t in tags],
                "tag_names": [t.name for t in tags],
                "project_name": None if project is None else project.name,
                "project_color": None if project is None else project.color,
                "project_hex": None if project is None else project.color,
                "client_name": views.client_name(data, client),
                "task_name": None if task is None else task.name,
                "billable_amount_in_cents": (
                    math.floor(total * rate_cents / 3600) if billable else None
                ),
                "hourly_rate_in_cents": rate_cents if billable else None,
                "currency": ws.default_currency,
                "row_number": number,
                "time_entries": entries,
            }
        )
    if plan is not None and plan.rate > 0 and result:
        firsts = np.array([cols["id"][m[0]] for m in groups.values()], dtype=np.int64)
        for index in np.flatnonzero(plan.drifts("report_rows", firsts)).tolist():
            plan.apply("report_rows", int(firsts[index]), result[index])
    return result


def report_row_of(data: Dataset, ws: Workspace, pos: int) -> dict[str, Any]:
    """The report row one entry would make alone (for the drift listing), undrifted."""
    return _report_rows(data, ws, np.array([pos], dtype=np.int64), 1)[0]


ROUTES: list[tuple[str, str, Handler, str]] = [
    # (method, path under the prefix, handler, quota bucket: "me", "org", or "free": no cost)
    ("GET", "/me", me, "me"),
    ("GET", "/me/organizations", me_organizations, "me"),
    ("GET", "/me/workspaces", me_workspaces, "me"),
    ("GET", "/me/time_entries", me_time_entries, "me"),
    ("GET", "/me/quota", me_quota, "free"),
    ("GET", "/organizations/{organization_id}", organization, "org"),
    ("GET", "/organizations/{organization_id}/users", organization_users, "org"),
    ("GET", "/organizations/{organization_id}/groups", organization_groups, "org"),
    ("GET", "/workspaces/{workspace_id}/statistics", workspace_statistics, "org"),
    ("GET", "/workspaces/{workspace_id}/users", workspace_members, "org"),
    ("GET", "/workspaces/{workspace_id}/workspace_users", workspace_users, "org"),
    ("GET", "/workspaces/{workspace_id}/clients", workspace_clients, "org"),
    ("GET", "/workspaces/{workspace_id}/projects", workspace_projects, "org"),
    ("GET", "/workspaces/{workspace_id}/tasks", workspace_tasks, "org"),
    ("GET", "/workspaces/{workspace_id}/tags", workspace_tags, "org"),
    ("GET", "/workspaces/{workspace_id}/project_users", workspace_project_users, "org"),
    ("GET", "/workspaces/{workspace_id}/project_groups", workspace_project_groups, "org"),
    ("GET", "/workspaces/{workspace_id}/rates/{level}/{level_id}", workspace_rates, "org"),
    ("POST", "/workspaces/{workspace_id}/time_entries", create_time_entry, "org"),
    ("PUT", "/workspaces/{workspace_id}/time_entries/{time_entry_id}", update_time_entry, "org"),
    (
        "PATCH",
        "/workspaces/{workspace_id}/time_entries/{time_entry_id}/stop",
        stop_time_entry,
        "org",
    ),
    ("DELETE", "/workspaces/{workspace_id}/time_entries/{time_entry_id}", delete_time_entry, "org"),
    *SINGLE_ROUTES,
]

REPORT_PATHS = {
    "envelope": "/v1/reports/workspace/{workspace_id}/search/time_entries",
    "bare": "/reports/api/v3/workspace/{workspace_id}/search/time_entries",
}
PREFIXES = {"envelope": "/v1", "bare": "/api/v9"}
