"""Admin endpoints under /_emulator/: what the public API lacks, for tests and benchmarks.

- GET  /_emulator/truth[?token=T]          ground-truth counts, overall and per workspace/org, and
                                           `access`: what the token's user may read where
- GET  /_emulator/records/{entity}[?token=T] every record of an entity, deleted ones included,
                                           as the contract renders it (never drifted); rates
                                           with their `level` and `level_id`
                                           (time_entries: `user=me` keeps the token owner's)
- GET  /_emulator/drift[?entity=E&token=T] what drift and alias quirks do to which records
- GET  /_emulator/secrets                  every workspace's api_token and ical secret
- GET  /_emulator/requests, DELETE ...     the request log: counts by route, path and status
- GET  /_emulator/clock, POST ...          read, set ({"now": ..., "frozen": bool}) or
                                           advance ({"advance": seconds}) the clock
- POST /_emulator/workspaces/{id}/{entity} create a client, project, task or tag
- PATCH/DELETE /_emulator/{entity}/{id}    change or delete one
- PUT/DELETE /_emulator/workspaces/{id}/members/{user_id}  add or remove a member
- GET  /_emulator/webhooks[?delivered=true] webhook subscriptions, pending deliveries and what
                                           was delivered (served by webhooks.py)

Guards, so that a web page cannot drive the emulator cross-origin: a POST, PATCH or PUT (and
any request with a body) must be `Content-Type: application/json` (else 415), and with
`EmulatorConfig.admin_token` set every request must carry it in `X-Emulator-Admin-Token`
(else 401). Every error is a JSON string with a 4xx status, never a traceback.
"""

from __future__ import annotations

import hmac
import math
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from timetrack.emulator import views
from timetrack.emulator.api import refused, report_of_own_entries, report_row_of
from timetrack.emulator.drift import ALIASES, KEY_FIELDS
from timetrack.emulator.generator import workspace_user
from timetrack.emulator.http import ErrorReply, error_response, json_object, json_response
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
ADMIN_TOKEN_HEADER = "X-Emulator-Admin-Token"
CLOCK_MAX = 32_503_680_000.0
"""3000-01-01: the clock is kept between the epoch and this, so that every date it makes
(history limits, report spans) stays renderable."""
_CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def add_routes(app: web.Application, emulator: Emulator) -> None:
    """Register the admin endpoints and their guard for one emulator."""

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            refusal = _refusal(emulator, request)
            if refusal is not None:  # a JSON string, also for 401 (unlike the public API)
                return json_response(refusal.message, refusal.status)
        return await handler(request)

    app.middlewares.append(guard)

    def guarded(handler: Any) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                result: web.StreamResponse = await handler(emulator, request)
                return result
            except ErrorReply as error:
                return error_response(error)
            except (ValueError, TypeError, KeyError, OverflowError) as error:
                return error_response(ErrorReply(400, f"Bad request: {error}"))

        return run

    app.router.add_get("/_emulator/truth", guarded(truth))
    app.router.add_get("/_emulator/records/{entity}", guarded(records))
    app.router.add_get("/_emulator/drift", guarded(drift_listing))
    app.router.add_get("/_emulator/secrets", guarded(secrets))
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


def _refusal(emulator: Emulator, request: web.Request) -> ErrorReply | None:
    """Why an admin request is refused before it reaches its handler, if it is."""
    expected = emulator.config.admin_token
    if expected is not None:
        given = request.headers.get(ADMIN_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return ErrorReply(401, f"missing or wrong {ADMIN_TOKEN_HEADER} header")
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    changes = request.method in _CHANGES and (request.method != "DELETE" or has_body)
    if changes and request.content_type != "application/json":
        return ErrorReply(415, "admin requests that change things must be application/json")
    return None


def _int_path(request: web.Request, name: str, label: str) -> int:
    """An integer id from the path; 404 when it is not one."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ErrorReply(404, f"Invalid {label} ID") from None


class Scope:
    """What one token reaches (everything, without a token)."""

    def __init__(self, data: Dataset, token: str | None) -> None:
        self.user_id: int | None = None
        if token is not None:
            user = data.user_for_token(token)
            if user is None:
                raise ErrorReply(404, "Unknown token")
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

    class _WsMember:
        def __init__(self, workspace_id: int, active: bool) -> None:
            self.workspace_id = workspace_id
            self.active = active

    ws_members = [
        _WsMember(ws_id, not views.workspace_member(data, data.workspaces[ws_id], uid)["inactive"])
        for ws_id in sorted(scope.ws_ids)
        for uid in data.workspaces[ws_id].members
    ]

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
        "workspace_users": _split(ws_members, "workspace_id", "active", ("active", "inactive")),
        "workspace_members": _split(ws_members, "workspace_id", "active", ("active", "inactive")),
        "project_users": _split(in_ws(data.project_users), "workspace_id"),
        "project_groups": _split(in_ws(data.project_groups), "workspace_id"),
        "rates": _split(in_ws(data.rates), "workspace_id"),
        "time_entries": entries,
        "my_time_entries": own,
        "access": _access(data, own_user, scope),
    }
    return json_response(payload)


def _access(data: Dataset, user_id: int, scope: Scope) -> Json:
    """What the user may read in each organization and workspace of their scope: whether they
    administer it, the admin-only endpoints (api.ADMIN_ONLY) they are refused there, and whose
    entries their report search holds (with how many stopped ones it lists)."""
    workspaces: Json = {}
    store = data.entries
    with store.lock:
        for ws_id in sorted(scope.ws_ids):
            rows = store.report_index(ws_id)[0]
            own = report_of_own_entries(data, user_id, ws_id)
            if own:
                rows = rows[store.col("user_id")[rows] == user_id]
            workspaces[str(ws_id)] = {
                "admin": data.workspace_admin(user_id, ws_id),
                "refused": refused(data, user_id, "workspace", ws_id),
                "report": "own entries" if own else "every member's entries",
                "report_stopped_entries": len(rows),
            }
    return {
        "user_id": user_id,
        "organizations": {
            str(o): {
                "admin": data.organization_admin(user_id, o),
                "refused": refused(data, user_id, "organization", o),
            }
            for o in sorted(scope.org_ids)
        },
        "workspaces": workspaces,
    }


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
        items = [views.workspace(data, data.workspaces[w], viewer) for w in sorted(scope.ws_ids)]
    elif entity == "workspace_users":
        items = [
            views.workspace_user(data, data.workspaces[w], data.workspace_users[(w, uid)])
            for w in sorted(scope.ws_ids)
            for uid in sorted(data.workspaces[w].members)
        ]
    elif entity == "workspace_members":  # GET /workspaces/{id}/users, with the workspace
        items = [
            {"workspace_id": w, **views.workspace_member(data, data.workspaces[w], uid)}
            for w in sorted(scope.ws_ids)
            for uid in sorted(data.workspaces[w].members)
        ]
    elif entity == "statistics":
        items = [
            {"workspace_id": w, **views.statistics(data, data.workspaces[w])}
            for w in sorted(scope.ws_ids)
        ]
    elif entity == "organization_users":
        # The API's records lack the organization (it is only in the path); the truth has it.
        items = [
            {**views.organization_user(data, m), "organization_id": o}
            for o in sorted(scope.org_ids)
            for m in data.memberships[o].values()
        ]
    elif entity == "groups":
        items = [
            {**views.group(data, g), "organization_id": g.organization_id}
            for g in data.groups.values()
            if g.organization_id in scope.org_ids
        ]
    elif entity in ("clients", "projects", "tasks", "tags"):
        items = [
            _marked(data, entity, i)
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
    elif entity == "project_users":  # every project's members, through groups too
        items = [
            views.project_user(data, m)
            for m in sorted(data.project_users.values(), key=lambda m: m.id)
            if m.workspace_id in scope.ws_ids
        ]
    elif entity == "project_groups":
        items = [
            views.project_group(g)
            for g in sorted(data.project_groups.values(), key=lambda g: g.id)
            if g.workspace_id in scope.ws_ids
        ]
    elif entity == "rates":  # every period of every history, with the level it was read at
        items = [
            {**views.rate(data, r), "level": r.level, "level_id": r.level_id}
            for r in sorted(data.rates.values(), key=lambda r: r.id)
            if r.workspace_id in scope.ws_ids
        ]
    else:
        raise ErrorReply(404, f"Unknown entity {entity}")
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


def _clock_number(raw: Any, name: str) -> float:
    """A finite number of seconds (or numeric string); 400 otherwise."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ErrorReply(400, f"{name} must be a number of seconds")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise ErrorReply(400, f"{name} must be a number of seconds") from None
    if not math.isfinite(value):
        raise ErrorReply(400, f"{name} must be a finite number of seconds")
    return value


async def clock_set(emulator: Emulator, request: web.Request) -> web.Response:
    """Set (`now`, as unix seconds or RFC3339; `frozen`) or move (`advance`) the clock.

    Everything is checked before anything moves: nonsense (NaN, infinities, times before the
    epoch or after the year 3000, non-boolean `frozen`) is a 400 and leaves the clock as it was.
    """
    body = await json_object(request)
    unknown = set(body) - {"now", "frozen", "advance"}
    if unknown:
        raise ErrorReply(400, f"unknown clock field(s): {', '.join(sorted(unknown))}")
    frozen = body.get("frozen", False)
    if not isinstance(frozen, bool):
        raise ErrorReply(400, "frozen must be true or false")
    target = emulator.clock.now()
    now: float | None = None
    if "now" in body:
        raw = body["now"]
        if isinstance(raw, str) and not raw.strip().lstrip("-").replace(".", "", 1).isdigit():
            try:
                now = parse_date_or_ts(raw)
            except (ValueError, OverflowError):
                raise ErrorReply(400, "now must be unix seconds or an RFC3339 time") from None
        else:
            now = _clock_number(raw, "now")
        target = now
    advance = _clock_number(body["advance"], "advance") if "advance" in body else 0.0
    if not 0 <= target + advance <= CLOCK_MAX:
        raise ErrorReply(400, "the clock must stay between 1970 and 3000")
    if now is not None:
        emulator.clock.set(now, frozen=frozen)
    if advance:
        emulator.clock.advance(advance)
    return await clock_get(emulator, request)


def _entity_kind(request: web.Request) -> str:
    entity = request.match_info["entity"]
    if entity not in EDITABLE:
        raise ErrorReply(404, f"Only {', '.join(EDITABLE)} can be edited here")
    return entity


_TIME_FIELDS = {
    "at",
    "created_at",
    "start_date",
    "end_date",
    "rate_last_updated",
    "server_deleted_at",
}
_FIXED = {"id", "workspace_id", "group_id"}


def _accepts(kind: Any, value: Any) -> bool:
    """Whether a JSON value fits a dataclass field's annotation (bools are not numbers)."""
    if kind is Any:
        return True
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(kind) or (Any,)
        return isinstance(value, list) and all(_accepts(inner, v) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53
    if kind is float:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and abs(value) < 1e15
        )
    if kind is str:
        return isinstance(value, str)
    return False


def _checked(data: Dataset, cls: type[Any], workspace_id: int, body: Json) -> Json:
    """Validate a create or change body against the entity's fields: names, types, times and
    references (a task's project, a project's client, in the same workspace). Returns the
    values to set; raises ErrorReply(400) before anything is changed."""
    hints = typing.get_type_hints(cls)
    values: Json = {}
    for key, value in body.items():
        if key not in hints or key in _FIXED:
            raise ErrorReply(400, f"Field {key} cannot be set")
        kind = hints[key]
        if key in _TIME_FIELDS and value is not None:
            if isinstance(value, str):
                try:
                    value = parse_date_or_ts(value)
                except (ValueError, OverflowError):
                    raise ErrorReply(400, f"{key} must be an RFC3339 time or a date") from None
            elif not _accepts(float, value):
                raise ErrorReply(400, f"{key} must be an RFC3339 time, a date or unix seconds")
            value = float(value)
            if not 0 <= value <= CLOCK_MAX:
                raise ErrorReply(400, f"{key} must lie between 1970 and 3000")
        if not _accepts(kind, value):
            raise ErrorReply(400, f"{key} has the wrong type ({type(value).__name__})")
        if kind is float and value is not None:
            value = float(value)
        if key == "name" and not value:
            raise ErrorReply(400, "name must not be empty")
        values[key] = value
    if "project_id" in values:
        project = data.projects.get(values["project_id"])
        if project is None or project.workspace_id != workspace_id:
            raise ErrorReply(400, "project_id must name a project of this workspace")
    if values.get("client_id") is not None:
        client = data.clients.get(values["client_id"])
        if client is None or client.workspace_id != workspace_id:
            raise ErrorReply(400, "client_id must name a client of this workspace")
    return values


def _set(item: Any, values: Json, now: float) -> None:
    for key, value in values.items():
        setattr(item, key, value)
    item.at = now


async def entity_create(emulator: Emulator, request: web.Request) -> web.Response:
    """Create a client, project, task or tag with defaults for what the body leaves out."""
    data = emulator.data
    entity = _entity_kind(request)
    ws = data.workspaces.get(_int_path(request, "workspace_id", "workspace"))
    if ws is None:
        raise ErrorReply(404, "Invalid workspace ID")
    body = await json_object(request)
    body.pop("workspace_id", None)
    values = _checked(data, EDITABLE[entity], ws.id, body)
    now = emulator.clock.now()
    creator = min(ws.members) if ws.members else min(data.users)
    item: Any
    if entity == "clients":
        item = Client(data.new_id("client"), ws.id, "New client", False, now, creator)
    elif entity == "projects":
        item = Project(
            data.new_id("project"),
            ws.id,
            None,
            "New project",
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
        if "project_id" not in values:
            raise ErrorReply(400, "A task needs a project_id of this workspace")
        item = Task(
            data.new_id("task"),
            ws.id,
            values["project_id"],
            None,
            None,
            "New task",
            True,
            False,
            0,
            now,
        )
    else:
        if len(data.workspace_tags[ws.id]) >= 60:
            raise ErrorReply(400, "Too many tags in this workspace")
        item = Tag(data.new_id("tag"), ws.id, "new-tag", now, creator)
        data.workspace_tags[ws.id].append(item.id)
    _set(item, values, now)
    getattr(data, entity)[item.id] = item
    data.touch()
    _changed(emulator, entity, "created", item)
    return json_response(_render(data, entity, item))


def _changed(emulator: Emulator, entity: str, action: str, item: Any) -> None:
    """Tell the webhooks of an admin change, made as if by the workspace's first member."""
    data = emulator.data
    members = data.workspaces[item.workspace_id].members
    actor = min(members) if members else min(data.users)
    data.changed(
        entity.removesuffix("s"),
        action,
        item.workspace_id,
        actor,
        lambda: _render(data, entity, item),
    )


def _marked(data: Dataset, entity: str, item: Any) -> Json:
    """A record in its API shape, marked deleted where the API's own shape cannot say so (a
    tag's list answer has no `server_deleted_at`: a deleted tag is simply gone from it)."""
    rendered = _render(data, entity, item)
    if item.server_deleted_at is not None and rendered.get("server_deleted_at") is None:
        rendered["server_deleted_at"] = views.ts(data, item.server_deleted_at, item.id, 0)
    return rendered


def _render(data: Dataset, entity: str, item: Any) -> Json:
    """An editable entity in its API shape."""
    if entity == "clients":
        return views.client(data, item)
    if entity == "projects":
        return views.project(data, item)
    if entity == "tasks":
        return views.task(data, item)
    return views.tag(data, item)


def _find(emulator: Emulator, request: web.Request) -> tuple[str, Any]:
    entity = _entity_kind(request)
    try:
        item = getattr(emulator.data, entity).get(int(request.match_info["id"]))
    except ValueError:
        item = None
    if item is None:
        raise ErrorReply(404, f"No such {entity.removesuffix('s')}")
    return entity, item


async def entity_update(emulator: Emulator, request: web.Request) -> web.Response:
    """Change fields of one client, project, task or tag; `at` moves to now. A field of the
    wrong type, an unknown field or a dangling reference is a 400 and changes nothing."""
    entity, item = _find(emulator, request)
    values = _checked(
        emulator.data, EDITABLE[entity], item.workspace_id, await json_object(request)
    )
    _set(item, values, emulator.clock.now())
    emulator.data.touch()
    _changed(emulator, entity, "updated", item)
    return json_response(_render(emulator.data, entity, item))


async def entity_delete(emulator: Emulator, request: web.Request) -> web.Response:
    """Delete one client, project, task or tag: `server_deleted_at` and `at` move to now."""
    entity, item = _find(emulator, request)
    now = emulator.clock.now()
    item.server_deleted_at = now
    item.at = now
    emulator.data.touch()
    _changed(emulator, entity, "deleted", item)
    return json_response(_render(emulator.data, entity, item))


def _member_answer(emulator: Emulator, ws_id: int) -> web.Response:
    data = emulator.data
    ws = data.workspaces[ws_id]
    return json_response(
        {
            "workspace_id": ws.id,
            "members": sorted(ws.members),
            "workspace_users": [
                views.workspace_user(data, ws, data.workspace_users[(ws.id, uid)])
                for uid in sorted(ws.members)
            ],
        }
    )


async def member_put(emulator: Emulator, request: web.Request) -> web.Response:
    """Add a user to a workspace, or change their role (body: {"role": "user"|"admin"});
    the workspace_users record follows (a new membership id when added, `at` now)."""
    data = emulator.data
    ws = data.workspaces.get(_int_path(request, "workspace_id", "workspace"))
    user_id = _int_path(request, "user_id", "user")
    if ws is None or user_id not in data.users:
        raise ErrorReply(404, "Unknown workspace or user")
    body = await json_object(request)
    role = body.get("role", "user")
    if role not in ("user", "admin"):
        raise ErrorReply(400, "role must be 'user' or 'admin'")
    now = emulator.clock.now()
    ws.members[user_id] = role
    member = data.workspace_users.get((ws.id, user_id))
    created = member is None
    if member is None:
        group_ids = [
            g.group_id
            for g in data.groups.values()
            if ws.id in g.workspace_ids and user_id in g.user_ids
        ]
        member = workspace_user(
            data.seed, ws, user_id, data.new_id("workspace_user"), now, group_ids
        )
        data.workspace_users[(ws.id, user_id)] = member
    member.at = now
    data.touch()
    changed = member
    data.changed(
        "workspace_user",
        "created" if created else "updated",
        ws.id,
        min(ws.members),
        lambda: views.workspace_user(data, ws, changed),
    )
    return _member_answer(emulator, ws.id)


async def member_delete(emulator: Emulator, request: web.Request) -> web.Response:
    """Remove a user from a workspace, so it leaves that user's reach (and workspace_users)."""
    data = emulator.data
    ws = data.workspaces.get(_int_path(request, "workspace_id", "workspace"))
    if ws is None:
        raise ErrorReply(404, "Unknown workspace")
    user_id = _int_path(request, "user_id", "user")
    member = data.workspace_users.get((ws.id, user_id))
    if member is not None and user_id in ws.members:
        gone = views.workspace_user(data, ws, member)  # rendered while still a member
        gone["server_deleted_at"] = format_ts(emulator.clock.now(), 0, data.offsets)
        data.changed("workspace_user", "deleted", ws.id, min(ws.members), lambda: gone)
    ws.members.pop(user_id, None)
    data.workspace_users.pop((ws.id, user_id), None)
    data.touch()
    return _member_answer(emulator, ws.id)


async def secrets(emulator: Emulator, request: web.Request) -> web.Response:
    """Every workspace's credentials as served in /me/workspaces, for tests that search for
    them in what landed: `api_token`, `ical_url` and the secret in its path."""
    data = emulator.data
    return json_response(
        [
            {
                "workspace_id": ws.id,
                "api_token": ws.api_token,
                "ical_secret": ws.ical_secret,
                "ical_url": views.ical_url(ws),
            }
            for ws in sorted(data.workspaces.values(), key=lambda w: w.id)
        ]
    )


async def drift_listing(emulator: Emulator, request: web.Request) -> web.Response:
    """What drift and alias quirks do to which records (see drift.py for the format).

    `entities` maps every drifting entity to its drifted records, `aliases` the entities with
    legacy aliases to their quirky records. `workspace_members`, `workspace_users`, `statistics`
    and the report entries name their `workspace_id` too; `report_rows` are keyed by the id of
    a row's first entry (every entry that would make its row drift if it came first on a row).
    Records are rendered for the token's user (the full token without `token`), as `records`.
    """
    data = emulator.data
    plan = emulator.drift
    scope = Scope(data, request.query.get("token"))
    viewer = scope.user_id or data.tokens[emulator.config.token]
    wanted = request.query.get("entity")
    if wanted is not None and wanted not in KEY_FIELDS:
        raise ErrorReply(404, f"Unknown entity {wanted}")
    out: Json = {
        "rate": plan.rate,
        "alias_rate": plan.alias_rate,
        "entities": {e: [] for e in KEY_FIELDS if wanted in (None, e)},
        "aliases": {e: [] for e in ALIASES if wanted in (None, e)},
    }

    def want(entity: str) -> bool:
        return plan.active and wanted in (None, entity)

    def note(entity: str, key: int, record: Json, context: int = 0, **extra: Any) -> None:
        for found in plan.apply(entity, key, record, context):
            found.update(extra)
            kind = "aliases" if found["kind"].startswith("alias") else "entities"
            out[kind][entity].append(found)

    if want("me"):
        for user_id in sorted({scope.user_id} if scope.user_id else set(data.tokens.values())):
            note("me", user_id, views.me(data, data.users[user_id]))
    if want("organizations"):
        for o in sorted(scope.org_ids):
            member = data.memberships[o][viewer]
            note(
                "organizations",
                o,
                views.organization_with_count(data, data.organizations[o], member),
            )
    if want("organization_users"):
        for o in sorted(scope.org_ids):
            for m in data.memberships[o].values():
                note("organization_users", m.id, views.organization_user(data, m))
    if want("groups"):
        for g in data.groups.values():
            if g.organization_id in scope.org_ids:
                note("groups", g.group_id, views.group(data, g))
    for w in sorted(scope.ws_ids):
        ws = data.workspaces[w]
        if want("workspaces"):
            note("workspaces", w, views.workspace(data, ws, viewer))
        if want("statistics"):
            note("statistics", w, views.statistics(data, ws), workspace_id=w)
        for uid in sorted(ws.members):
            if want("workspace_members"):
                record = views.workspace_member(data, ws, uid)
                note("workspace_members", uid, record, w, workspace_id=w)
            if want("workspace_users"):
                ws_user = data.workspace_users[(w, uid)]
                record = views.workspace_user(data, ws, ws_user)
                note("workspace_users", ws_user.id, record, workspace_id=w)
    for entity in ("clients", "projects", "tasks", "tags"):
        if want(entity):
            for item in getattr(data, entity).values():
                if item.workspace_id in scope.ws_ids:
                    note(entity, item.id, _render(data, entity, item))
    store = data.entries
    with store.lock:
        in_scope = np.flatnonzero(np.isin(store.col("workspace_id"), sorted(scope.ws_ids)))
        ids = store.col("id")[in_scope]
        if want("time_entries"):
            mask = plan.drifts("time_entries", ids) | plan.alias_quirks("time_entries", ids)
            for pos in in_scope[mask].tolist():
                note("time_entries", store.value(pos, "id"), views.time_entry(data, pos))
        stopped = (store.col("stop")[in_scope] != RUNNING) & (
            store.col("deleted_us")[in_scope] == 0
        )
        for entity in ("report_time_entries", "report_rows"):
            if not want(entity):
                continue
            for pos in in_scope[stopped & plan.drifts(entity, ids)].tolist():
                ws = data.workspaces[store.value(pos, "workspace_id")]
                row = report_row_of(data, ws, pos)
                record = row if entity == "report_rows" else row["time_entries"][0]
                note(entity, store.value(pos, "id"), record, workspace_id=ws.id)
    return json_response(out)
