"""The Webhooks API v1 (`/webhooks/api/v1`) and the signed deliveries of every change.

Subscriptions belong to a workspace and to the user who made them; they see what that user may
see (a member's subscription gets no other member's time entries). Every change made through
the API or the admin endpoints calls `Dataset.changed`, which queues one event per enabled,
validated subscription whose filters match. A worker on the server's loop POSTs each event,
signed (`X-Webhook-Signature-256: sha256=<hex HMAC-SHA256 of the body>`), and keeps what was not
answered 2xx pending, retried on RETRY_DELAYS *(ours: the service publishes no schedule)*.
Deliveries run several at a time, so events may arrive out of order, as they may from the
service *(ours: the service promises no order either)*.

Validation: creating a subscription (or changing its URL, or `POST /ping/...`) sends a ping
whose `payload` is `"ping"` with a `validation_code`; the callback answering 2xx with
`{"validation_code": ...}` validates it, as does `GET /validate/{ws}/{sub}/{code}`.

GET /_emulator/webhooks shows every subscription, what is pending and what was delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from timetrack.emulator.api import Ctx, workspace_of
from timetrack.emulator.http import ErrorReply, Reply, json_response

if TYPE_CHECKING:
    from timetrack.emulator.model import Dataset
    from timetrack.emulator.server import Emulator

ROOT = "/webhooks/api/v1"
ENTITIES = (
    "client",
    "project",
    "project_group",
    "project_user",
    "tag",
    "task",
    "time_entry",
    "workspace",
    "workspace_user",
)
ACTIONS = ("created", "updated", "deleted")
LIMITS = {"Premium": (3, 12), "Starter": (2, 6), "Free": (1, 3)}
"""Plan name -> (subscriptions per workspace, filters per subscription)."""
SIGNATURE_HEADER = "X-Webhook-Signature-256"
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)
"""Seconds before each retry of a failed delivery, the last repeated until it is delivered or
its subscription is gone *(ours)*."""
CONCURRENT = 16
"""Deliveries in flight at once, over all subscriptions *(ours)*."""
DELIVERY_TIMEOUT = 5.0
LOG_SIZE = 200_000
"""Delivered events remembered for the admin listing (the oldest forgotten first)."""
REQUEST_TYPES = {"created": "POST", "updated": "PUT", "deleted": "DELETE"}


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Subscription:
    """One subscription of a workspace."""

    subscription_id: int
    workspace_id: int
    user_id: int
    description: str
    url_callback: str
    event_filters: list[dict[str, str]]
    enabled: bool
    secret: str
    created_at: float
    updated_at: float
    validation_code: str = ""
    validated_at: float | None = None
    deleted_at: float | None = None

    def wants(self, entity: str, action: str) -> bool:
        """Whether a filter matches this change."""
        return any(
            f["entity"] == entity and f["action"] in ("*", action) for f in self.event_filters
        )


@dataclass
class Delivery:
    """One event for one subscription, until the callback answers 2xx."""

    subscription_id: int
    event_id: int
    body: bytes
    ping: bool
    summary: dict[str, Any]
    attempts: int = 0
    due: float = 0.0
    last_status: str = ""


@dataclass
class Hub:
    """The webhooks of one emulator: subscriptions, pending deliveries, the delivered log."""

    data: Dataset
    now: Callable[[], float]
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    pending: dict[tuple[int, int], Delivery] = field(default_factory=dict)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    failed_attempts: int = 0
    events: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _events: Any = field(default_factory=lambda: itertools.count(1))
    _wake: asyncio.Event | None = None

    # --- changes -------------------------------------------------------------------------------

    def changed(
        self,
        entity: str,
        action: str,
        workspace_id: int,
        actor_id: int,
        render: Callable[[], dict[str, Any]],
        owner_id: int | None = None,
    ) -> None:
        """Queue an event of this change for every subscription that wants and may see it;
        `owner_id` is a time entry's user (a member sees only their own)."""
        targets = [
            s
            for s in self.subscriptions.values()
            if s.workspace_id == workspace_id
            and s.deleted_at is None
            and s.enabled
            and s.validated_at is not None
            and s.wants(entity, action)
            and self._may_see(s.user_id, workspace_id, entity, owner_id)
        ]
        if not targets:
            return
        payload = render()
        event_id = next(self._events)
        now = self.now()
        key = payload.get("id", payload.get("group_id"))
        for sub in targets:
            event = {
                "event_id": event_id,
                "created_at": _iso(now),
                "creator_id": actor_id,
                "metadata": {
                    "action": action,
                    "event_user_id": actor_id,
                    "model": entity,
                    "request_type": REQUEST_TYPES[action],
                    "workspace_id": workspace_id,
                },
                "payload": payload,
                "subscription_id": sub.subscription_id,
                "timestamp": _iso(now),
                "url_callback": sub.url_callback,
            }
            summary = {"entity": entity, "action": action, "id": key, "at": payload.get("at")}
            self._queue(sub, event_id, event, ping=False, summary=summary)

    def _may_see(self, user_id: int, workspace_id: int, entity: str, owner_id: int | None) -> bool:
        ws = self.data.workspaces.get(workspace_id)
        if ws is None or user_id not in ws.members:
            return False
        if entity == "time_entry" and owner_id is not None and owner_id != user_id:
            return self.data.workspace_admin(user_id, workspace_id)
        return True

    def _queue(
        self, sub: Subscription, event_id: int, event: Any, *, ping: bool, summary: Any
    ) -> None:
        self.events += 1
        body = orjson.dumps(event)
        self.pending[(sub.subscription_id, event_id)] = Delivery(
            sub.subscription_id, event_id, body, ping, summary, due=time.monotonic()
        )
        if self._wake is not None:
            self._wake.set()

    def ping(self, sub: Subscription) -> None:
        """Send a ping with a fresh validation code."""
        sub.validation_code = secrets.token_hex(16)
        event_id = next(self._events)
        now = self.now()
        event = {
            "event_id": event_id,
            "created_at": _iso(now),
            "creator_id": sub.user_id,
            "metadata": {
                "event_user_id": sub.user_id,
                "request_type": "POST",
                "workspace_id": sub.workspace_id,
            },
            "payload": "ping",
            "subscription_id": sub.subscription_id,
            "timestamp": _iso(now),
            "url_callback": sub.url_callback,
            "validation_code": sub.validation_code,
            "validation_code_url": f"{ROOT}/validate/{sub.workspace_id}/{sub.subscription_id}/"
            f"{sub.validation_code}",
        }
        self._queue(sub, event_id, event, ping=True, summary={"ping": True})

    # --- delivery ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver what is due, for ever (cancelled when the server stops)."""
        self._wake = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                now = time.monotonic()
                due = sorted(
                    (d for d in self.pending.values() if d.due <= now),
                    key=lambda d: (d.due, d.event_id),
                )[:CONCURRENT]
                if due:
                    await asyncio.gather(*(self._send(session, d) for d in due))
                    continue
                soonest = min((d.due for d in self.pending.values()), default=now + 60)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, soonest - now))

    async def _send(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        sub = self.subscriptions.get(delivery.subscription_id)
        key = (delivery.subscription_id, delivery.event_id)
        if sub is None or sub.deleted_at is not None:
            self.pending.pop(key, None)
            return
        delivery.attempts += 1
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(sub.secret, delivery.body),
        }
        answer: Any = None
        try:
            async with session.post(sub.url_callback, data=delivery.body, headers=headers) as r:
                status = r.status
                raw = await r.read()
            if delivery.ping and 200 <= status < 300:
                with contextlib.suppress(ValueError):
                    answer = orjson.loads(raw)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            status = 0
            delivery.last_status = type(error).__name__
        else:
            delivery.last_status = str(status)
        if 200 <= status < 300:
            self.pending.pop(key, None)
            if delivery.ping:
                code = answer.get("validation_code") if isinstance(answer, dict) else None
                if code is not None and hmac.compare_digest(
                    str(code).encode(), sub.validation_code.encode()
                ):
                    sub.validated_at = self.now()
            else:
                self.delivered.append(
                    {
                        "subscription_id": sub.subscription_id,
                        "event_id": delivery.event_id,
                        "attempts": delivery.attempts,
                        **delivery.summary,
                    }
                )
                del self.delivered[:-LOG_SIZE]
            return
        self.failed_attempts += 1
        step = RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
        delivery.due = time.monotonic() + step

    def has_pending(self, subscription_id: int) -> bool:
        """Whether events of a subscription wait for delivery."""
        return any(key[0] == subscription_id for key in self.pending)

    def render(self, sub: Subscription) -> dict[str, Any]:
        """A subscription as the API answers it."""
        return {
            "subscription_id": sub.subscription_id,
            "workspace_id": sub.workspace_id,
            "user_id": sub.user_id,
            "description": sub.description,
            "url_callback": sub.url_callback,
            "event_filters": [dict(f) for f in sub.event_filters],
            "enabled": sub.enabled,
            "secret": sub.secret,
            "created_at": _iso(sub.created_at),
            "updated_at": _iso(sub.updated_at),
            "validated_at": _iso(sub.validated_at),
            "deleted_at": _iso(sub.deleted_at),
            "has_pending_events": self.has_pending(sub.subscription_id),
        }


# --- the API --------------------------------------------------------------------------------------


def _hub(ctx: Ctx) -> Hub:
    hub = ctx.data.webhooks
    assert isinstance(hub, Hub)
    return hub


def _limits(ctx: Ctx, workspace_id: int) -> tuple[int, int]:
    org = ctx.data.organizations[ctx.data.workspaces[workspace_id].organization_id]
    return LIMITS.get(org.plan.name, LIMITS["Free"])


def _own(ctx: Ctx) -> tuple[Hub, Subscription]:
    ws = workspace_of(ctx)
    hub = _hub(ctx)
    try:
        sub_id = int(ctx.request.match_info["subscription_id"])
    except ValueError:
        raise ErrorReply(404, "Subscription not found") from None
    sub = hub.subscriptions.get(sub_id)
    if sub is None or sub.deleted_at is not None or sub.workspace_id != ws.id:
        raise ErrorReply(404, "Subscription not found")
    if sub.user_id != ctx.user.id:
        raise ErrorReply(403, "User does not have access to this resource.")
    return hub, sub


def _filters(ctx: Ctx, workspace_id: int, raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise ErrorReply(400, "event_filters must be a non-empty list")
    out: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ErrorReply(400, "each event filter must be an object")
        entity, action = item.get("entity"), item.get("action")
        if entity not in ENTITIES:
            raise ErrorReply(400, f"unknown entity in event_filters: {entity!r}")
        if action not in (*ACTIONS, "*"):
            raise ErrorReply(400, f"unknown action in event_filters: {action!r}")
        out.append({"entity": str(entity), "action": str(action)})
    most = _limits(ctx, workspace_id)[1]
    if len(out) > most:
        raise ErrorReply(400, f"at most {most} event filters per subscription on this plan")
    return out


def _url(raw: Any) -> str:
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ErrorReply(400, "url_callback must be an http(s) URL")
    return str(raw)


def _description(hub: Hub, workspace_id: int, raw: Any, but: int | None = None) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ErrorReply(400, "description is required")
    for sub in hub.subscriptions.values():
        if (
            sub.workspace_id == workspace_id
            and sub.deleted_at is None
            and sub.description == raw
            and sub.subscription_id != but
        ):
            raise ErrorReply(400, "description must be unique in the workspace")
    return raw


def _secret(raw: Any) -> str:
    if raw is None or raw == "":
        return secrets.token_hex(32)
    if not isinstance(raw, str):
        raise ErrorReply(400, "secret must be a string")
    return raw


def _enabled(raw: Any, default: bool) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        raise ErrorReply(400, "enabled must be a boolean")
    return raw


async def status(ctx: Ctx) -> Reply:
    return Reply({"status": "OK"})


async def event_filters(ctx: Ctx) -> Reply:
    return Reply({entity: [*ACTIONS, "*"] for entity in ENTITIES})


async def limits(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    most, filters = _limits(ctx, ws.id)
    return Reply({"max_webhooks": most, "max_events_per_webhook": filters})


async def list_subscriptions(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    hub = _hub(ctx)
    mine = [
        hub.render(s)
        for s in hub.subscriptions.values()
        if s.workspace_id == ws.id and s.deleted_at is None and s.user_id == ctx.user.id
    ]
    return Reply(mine)


async def create_subscription(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    hub = _hub(ctx)
    body = await ctx.body()
    live = [s for s in hub.subscriptions.values() if s.workspace_id == ws.id and not s.deleted_at]
    most = _limits(ctx, ws.id)[0]
    if len(live) >= most:
        raise ErrorReply(400, f"at most {most} subscriptions per workspace on this plan")
    now = ctx.now
    sub = Subscription(
        subscription_id=next(hub._ids),
        workspace_id=ws.id,
        user_id=ctx.user.id,
        description=_description(hub, ws.id, body.get("description")),
        url_callback=_url(body.get("url_callback")),
        event_filters=_filters(ctx, ws.id, body.get("event_filters")),
        enabled=_enabled(body.get("enabled"), True),
        secret=_secret(body.get("secret")),
        created_at=now,
        updated_at=now,
    )
    hub.subscriptions[sub.subscription_id] = sub
    hub.ping(sub)
    return Reply(hub.render(sub))


async def update_subscription(ctx: Ctx) -> Reply:
    hub, sub = _own(ctx)
    body = await ctx.body()
    url = _url(body.get("url_callback", sub.url_callback))
    sub.description = _description(
        hub, sub.workspace_id, body.get("description", sub.description), sub.subscription_id
    )
    filters = body.get("event_filters", sub.event_filters)
    sub.event_filters = _filters(ctx, sub.workspace_id, filters)
    sub.enabled = _enabled(body.get("enabled"), sub.enabled)
    if body.get("secret"):
        sub.secret = _secret(body["secret"])
    sub.updated_at = ctx.now
    if url != sub.url_callback:
        sub.url_callback = url
        sub.validated_at = None
        hub.ping(sub)
    return Reply(hub.render(sub))


async def patch_subscription(ctx: Ctx) -> Reply:
    hub, sub = _own(ctx)
    body = await ctx.body()
    sub.enabled = _enabled(body.get("enabled"), sub.enabled)
    sub.updated_at = ctx.now
    return Reply(hub.render(sub))


async def delete_subscription(ctx: Ctx) -> Reply:
    hub, sub = _own(ctx)
    sub.deleted_at = ctx.now
    for key in [k for k in hub.pending if k[0] == sub.subscription_id]:
        del hub.pending[key]
    return Reply(hub.render(sub))


async def ping(ctx: Ctx) -> Reply:
    hub, sub = _own(ctx)
    hub.ping(sub)
    return Reply({"status": "OK"})


async def validate(ctx: Ctx) -> Reply:
    ws = workspace_of(ctx)
    hub = _hub(ctx)
    try:
        sub = hub.subscriptions.get(int(ctx.request.match_info["subscription_id"]))
    except ValueError:
        sub = None
    code = ctx.request.match_info["validation_code"]
    if (
        sub is None
        or sub.workspace_id != ws.id
        or not sub.validation_code
        or not hmac.compare_digest(code.encode(), sub.validation_code.encode())
    ):
        raise ErrorReply(400, "invalid validation code")
    sub.validated_at = ctx.now
    return Reply("OK")


ROUTES = [
    ("GET", "/status", status),
    ("GET", "/event_filters", event_filters),
    ("GET", "/limits/{workspace_id}", limits),
    ("GET", "/subscriptions/{workspace_id}", list_subscriptions),
    ("POST", "/subscriptions/{workspace_id}", create_subscription),
    ("PUT", "/subscriptions/{workspace_id}/{subscription_id}", update_subscription),
    ("PATCH", "/subscriptions/{workspace_id}/{subscription_id}", patch_subscription),
    ("DELETE", "/subscriptions/{workspace_id}/{subscription_id}", delete_subscription),
    ("POST", "/ping/{workspace_id}/{subscription_id}", ping),
    ("GET", "/validate/{workspace_id}/{subscription_id}/{validation_code}", validate),
]


def add_routes(app: web.Application, emulator: Emulator) -> None:
    """Serve the Webhooks API (through the emulator's gate: auth, faults; no quota cost), the
    admin listing, and run the delivery worker while the server runs."""
    hub = Hub(emulator.data, emulator.clock.now)
    emulator.data.webhooks = hub
    for method, path, handler in ROUTES:
        route = f"{method} {ROOT}{path}"
        app.router.add_route(
            method, ROOT + path, partial(emulator._serve, handler, False, "free", route)
        )

    async def listing(request: web.Request) -> web.Response:
        return json_response(
            {
                "subscriptions": [hub.render(s) for s in hub.subscriptions.values()],
                "pending": [
                    {
                        "subscription_id": d.subscription_id,
                        "event_id": d.event_id,
                        "attempts": d.attempts,
                        "last_status": d.last_status,
                        "ping": d.ping,
                        **d.summary,
                    }
                    for d in hub.pending.values()
                ],
                "events": hub.events,
                "failed_attempts": hub.failed_attempts,
                "delivered": hub.delivered
                if request.query.get("delivered") == "true"
                else len(hub.delivered),
            }
        )

    worker: list[asyncio.Task[None]] = []

    async def start(app: web.Application) -> None:
        worker.append(asyncio.get_running_loop().create_task(hub.run()))

    async def stop(app: web.Application) -> None:
        for task in worker:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.router.add_get("/_emulator/webhooks", listing)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
