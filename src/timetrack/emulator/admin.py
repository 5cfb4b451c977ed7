"""Admin endpoints under /_emulator/: what the public API lacks, for tests and benchmarks.

- GET  /_emulator/truth[?token=T]          ground-truth counts, overall and per workspace/org
- GET  /_emulator/records/{entity}[?token=T] every record of an entity, deleted ones included
                                           (time_entries: `user=me` keeps the token owner's)
- GET  /_emulator/requests, DELETE ...     the request log: counts by route, path and status
- GET  /_emulator/clock, POST ...          read, set ({"now": ..., "frozen": bool}) or
                                           advance ({"advance": seconds}) the clock
- POST /_emulator/workspaces/{id}/{entity} create a client, project, task or tag
- PATCH/DELETE /_emulator/{entity}/{id}    change or delete one
- PUT/DELETE /_emulator/workspaces/{id}/members/{user_id}  add or remove a member
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from aiohttp import web

from timetrack.emulator import views
from timetrack.emulator.http import ApiError, error_response, json_response
from timetrack.emulator.model import RUNNING, Client, Dataset, Project, Tag, Task
from timetrack.emulator.timefmt import format_ts, parse_date_or_ts

if TYPE_CHECKING:
    from timetrack.emulator.server import Emulator

Json = dict[str, Any]
EDITABLE: dict[str, type[Client] | type[Project] | type[Task] | type[Tag]] = {
    "clients": Client,
    "projects": Project,
    "tasks": Task,
    "tags": Tag,
}


def add_routes(app: web.Application, emulator: Emulator) -> None:
    """Register the admin endpoints for one emulator."""

    def guarded(handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                result: web.StreamResponse = await handler(emulator, request)
                return result
            except ApiError as error:
                return error_response(error)

        return run

    app.router.add_get("/_emulator/truth", guarded(truth))
    app.router.add_get("/_emulator/records/{entity}", guarded(records))
    app.router.add_get("/_emulator/requests", guarded(requests_get))
    app.router.add_delete("/_emulator/requests", guarded(requests_clear))
    app.router.add_get("/_emulator/clock", guarded(clock_get))
    app.router.add_post("/_emulator/clock", guarded(clock_set))
    app.router.add_post("/_emulator/workspaces/{workspace_id}/{entity}", guarded(entity_create))
    app.router.add_patch("/_emulator/{entity}/{id}", guarded(entity_update))
    app.router.add_delete("/_emulator/{entity}/{id}", guarded(entity_delete))
    app.router.add_put(
        "/_emulator/workspaces/{workspace_id}/members/{user_id}", guarded(member_put)
    )
    app.router.add_delete(
        "/_emulator/workspaces/{workspace_id}/members/{user_id}", guarded(member_delete)
    )


class Scope:
    """What one token reaches (everything, without a token)."""

    def __init__(self, data: Dataset, token: str | None) -> None:
        self.user_id: int | None = None
        if token is not None:
            user = data.user_for_token(token)
            if user is None:
                raise ApiError(404, "Unknown token")
            self.user_id = user.id
            self.org_ids = set(data.organization_ids_of(user.id))
            self.ws_ids = set(data.workspace_ids_of(user.id))
        else:
            self.org_ids = set(data.organizations)
            self.ws_ids = set(data.workspaces)


def _counts(
    items: Iterable[Any], flag: str | None = None, labels: tuple[str, str] = ("", "")
) -> Json:
    items = list(items)
    live = [i for i in items if getattr(i, "server_deleted_at", None) is None]
    out: Json = {"total": len(items), "live": len(live), "deleted": len(items) - len(live)}
    if flag is not None:
        on = sum(1 for i in live if getattr(i, flag))
        out[labels[0]] = on
        out[labels[1]] = len(live) - on
    return out


def _split(
    items: list[Any], key: str, flag: str | None = None, labels: tuple[str, str] = ("", "")
) -> Json:
    out = _counts(items, flag, labels)
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(str(getattr(item, key)), []).append(item)
    out[f"by_{key.removesuffix('_id')}"] = {k: _counts(v, flag, labels) for k, v in groups.items()}
    return out


def _entry_counts(data: Dataset, rows: Any) -> Json:
    store = data.entries
    deleted = store.col("deleted_us")[rows] != 0
    running = (store.col("stop")[rows] == RUNNING) & ~deleted
    live = int((~deleted).sum())
    return {
        "total": len(rows),
        "live": live,
        "deleted": int(deleted.sum()),
        "running": int(running.sum()),
        "stopped": live - int(running.sum()),
    }


async def truth(emulator: Emulator, request: web.Request) -> web.Response:
    """Counts of every entity, live and deleted, active and archived, as the token sees them."""
    data = emulator.data
    scope = Scope(data, request.query.get("token"))
    members = [m for org in scope.org_ids for m in data.memberships[org].values()]

    class _Member:
        def __init__(self, organization_id: int, active: bool) -> None:
            self.organization_id = organization_id
            self.active = active

    store = data.entries
    with store.lock:
        ws_col = store.col("workspace_id")
        by_ws = {
            str(ws): _entry_counts(data, np.flatnonzero(ws_col == ws))
            for ws in sorted(scope.ws_ids)
        }
        own_user = scope.user_id or data.tokens[emulator.config.token]
        own_rows = store.user_rows(own_user)
        own = _entry_counts(data, own_rows)
        own["by_workspace"] = {
            str(ws): _entry_counts(data, own_rows[ws_col[own_rows] == ws])
            for ws in sorted(set(ws_col[own_rows].tolist()))
        }
        all_rows = np.flatnonzero(np.isin(ws_col, sorted(scope.ws_ids)))
        entries = _entry_counts(data, all_rows)
        entries["by_workspace"] = by_ws

    def in_ws(items: dict[int, Any]) -> list[Any]:
        return [i for i in items.values() if i.workspace_id in scope.ws_ids]

    payload = {
        "now": format_ts(emulator.clock.now(), 0),
        "user_id": scope.user_id,
        "organizations": _counts(data.organizations[o] for o in sorted(scope.org_ids)),
        "workspaces": _split([data.workspaces[w] for w in sorted(scope.ws_ids)], "organization_id"),
        "organization_users": _split(
            [_Member(m.organization_id, not m.inactive) for m in members],
            "organization_id",
            "active",
            ("active", "inactive"),
        ),
        "groups": _split(
            [g for g in data.groups.values() if g.organization_id in scope.org_ids],
            "organization_id",
        ),
        "clients": _split(in_ws(data.clients), "workspace_id", "archived", ("archived", "active")),
        "projects": _split(in_ws(data.projects), "workspace_id", "active", ("active", "inactive")),
        "tasks": _split(in_ws(data.tasks), "workspace_id", "active", ("active", "inactive")),
        "tags": _split(in_ws(data.tags), "workspace_id"),
        "time_entries": entries,
        "my_time_entries": own,
    }
    return json_response(payload)


async def records(emulator: Emulator, request: web.Request) -> web.Response:
    """Every record of one entity in its API shape, deleted and archived ones included."""
    data = emulator.data
    scope = Scope(data, request.query.get("token"))
    entity = request.match_info["entity"]
    viewer = scope.user_id or data.tokens[emulator.config.token]
    items: list[Json]
    if entity == "organizations":
        items = [
            views.organization_with_count(data, data.organizations[o], data.memberships[o][viewer])
            for o in sorted(scope.org_ids)
        ]
    elif entity == "workspaces":
        items = [views.workspace(data.workspaces[w], viewer) for w in sorted(scope.ws_ids)]
    elif entity == "organization_users":
        items = [
            views.organization_user(data, m)
            for o in sorted(scope.org_ids)
            for m in data.memberships[o].values()
        ]
    elif entity == "groups":
        items = [
            views.group(data, g) for g in data.groups.values() if g.organization_id in scope.org_ids
        ]
    elif entity in ("clients", "projects", "tasks", "tags"):
        items = [
            _render(entity, i)
            for i in getattr(data, entity).values()
            if i.workspace_id in scope.ws_ids
        ]
    elif entity == "time_entries":
        store = data.entries
        with store.lock:
            mask = np.isin(store.col("workspace_id"), sorted(scope.ws_ids))
            if request.query.get("user") == "me":  # only the token owner's: cheap at scale
                mask &= store.col("user_id") == viewer
            items = [views.time_entry(data, int(pos)) for pos in np.flatnonzero(mask)]
    else:
        raise ApiError(404, f"Unknown entity {entity}")
    return json_response(items)


async def requests_get(emulator: Emulator, request: web.Request) -> web.Response:
    """The request log, with faults injected so far."""
    snapshot = emulator.log.snapshot()
    snapshot["faults_injected"] = dict(emulator.faults.injected)
    return json_response(snapshot)


async def requests_clear(emulator: Emulator, request: web.Request) -> web.Response:
    """Reset the request log."""
    emulator.log.clear()
    return json_response({"total": 0})


async def clock_get(emulator: Emulator, request: web.Request) -> web.Response:
    """The emulator's time."""
    now = emulator.clock.now()
    return json_response({"now": format_ts(now, 1), "unix": now, "frozen": emulator.clock.frozen})


async def clock_set(emulator: Emulator, request: web.Request) -> web.Response:
    """Set (`now`, as unix seconds or RFC3339; `frozen`) or move (`advance`) the clock."""
    body = await _body(request)
    if "now" in body:
        raw = body["now"]
        try:
            now = float(raw) if isinstance(raw, int | float) else parse_date_or_ts(str(raw))
        except ValueError:
            raise ApiError(400, "now must be unix seconds or an RFC3339 time") from None
        emulator.clock.set(now, frozen=bool(body.get("frozen", False)))
    if "advance" in body:
        emulator.clock.advance(float(body["advance"]))
    return await clock_get(emulator, request)


async def _body(request: web.Request) -> Json:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, "Invalid JSON input") from None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON body must be an object")
    return body


def _entity_kind(request: web.Request) -> str:
    entity = request.match_info["entity"]
    if entity not in EDITABLE:
        raise ApiError(404, f"Only {', '.join(EDITABLE)} can be edited here")
    return entity


_TIME_FIELDS = {
    "at",
    "created_at",
    "start_date",
    "end_date",
    "rate_last_updated",
    "server_deleted_at",
}


def _apply(item: Any, body: Json, now: float) -> None:
    names = {f.name for f in fields(item)}
    for key, value in body.items():
        if key not in names or key in ("id", "workspace_id"):
            raise ApiError(400, f"Field {key} cannot be set")
        if key in _TIME_FIELDS and isinstance(value, str):
            value = parse_date_or_ts(value)
        setattr(item, key, value)
    item.at = now


async def entity_create(emulator: Emulator, request: web.Request) -> web.Response:
    """Create a client, project, task or tag with defaults for what the body leaves out."""
    data = emulator.data
    entity = _entity_kind(request)
    ws = data.workspaces.get(int(request.match_info["workspace_id"]))
    if ws is None:
        raise ApiError(404, "Invalid workspace ID")
    body = await _body(request)
    now = emulator.clock.now()
    creator = min(ws.members)
    item: Any
    if entity == "clients":
        item = Client(
            data.new_id("client"), ws.id, body.get("name", "New client"), False, now, creator
        )
    elif entity == "projects":
        item = Project(
            data.new_id("project"),
            ws.id,
            None,
            body.get("name", "New project"),
            "#06aaf5",
            True,
            False,
            False,
            False,
            None,
            None,
            now,
            now,
            now,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
    elif entity == "tasks":
        project_id = body.get("project_id")
        if project_id not in data.projects or data.projects[project_id].workspace_id != ws.id:
            raise ApiError(400, "A task needs a project_id of this workspace")
        item = Task(
            data.new_id("task"), ws.id, project_id, None, None, "New task", True, False, 0, now
        )
    else:
        if len(data.workspace_tags[ws.id]) >= 60:
            raise ApiError(400, "Too many tags in this workspace")
        item = Tag(data.new_id("tag"), ws.id, body.get("name", "new-tag"), now, creator)
        data.workspace_tags[ws.id].append(item.id)
    _apply(item, {k: v for k, v in body.items() if k != "workspace_id"}, now)
    getattr(data, entity)[item.id] = item
    data.touch()
    return json_response(_render(entity, item))


def _render(entity: str, item: Any) -> Json:
    """An editable entity in its API shape."""
    if entity == "clients":
        return views.client(item)
    if entity == "projects":
        return views.project(item)
    if entity == "tasks":
        return views.task(item)
    return views.tag(item)


def _find(emulator: Emulator, request: web.Request) -> tuple[str, Any]:
    entity = _entity_kind(request)
    try:
        item = getattr(emulator.data, entity).get(int(request.match_info["id"]))
    except ValueError:
        item = None
    if item is None:
        raise ApiError(404, f"No such {entity.removesuffix('s')}")
    return entity, item


async def entity_update(emulator: Emulator, request: web.Request) -> web.Response:
    """Change fields of one client, project, task or tag; `at` moves to now."""
    entity, item = _find(emulator, request)
    _apply(item, await _body(request), emulator.clock.now())
    emulator.data.touch()
    return json_response(_render(entity, item))


async def entity_delete(emulator: Emulator, request: web.Request) -> web.Response:
    """Delete one client, project, task or tag: `server_deleted_at` and `at` move to now."""
    entity, item = _find(emulator, request)
    now = emulator.clock.now()
    item.server_deleted_at = now
    item.at = now
    emulator.data.touch()
    return json_response(_render(entity, item))


async def member_put(emulator: Emulator, request: web.Request) -> web.Response:
    """Add a user to a workspace (body: {"role": "user"|"admin"})."""
    data = emulator.data
    ws = data.workspaces.get(int(request.match_info["workspace_id"]))
    user_id = int(request.match_info["user_id"])
    if ws is None or user_id not in data.users:
        raise ApiError(404, "Unknown workspace or user")
    body = await _body(request)
    ws.members[user_id] = str(body.get("role", "user"))
    return json_response({"workspace_id": ws.id, "members": sorted(ws.members)})


async def member_delete(emulator: Emulator, request: web.Request) -> web.Response:
    """Remove a user from a workspace, so it leaves that user's reach."""
    data = emulator.data
    ws = data.workspaces.get(int(request.match_info["workspace_id"]))
    if ws is None:
        raise ApiError(404, "Unknown workspace")
    ws.members.pop(int(request.match_info["user_id"]), None)
    return json_response({"workspace_id": ws.id, "members": sorted(ws.members)})
