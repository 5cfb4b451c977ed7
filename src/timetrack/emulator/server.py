"""The emulator's HTTP server: both URL layouts over one dataset, behind a gate that applies
faults, authentication, the rate limit and the quota in the order the real service does."""

from __future__ import annotations

import base64
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import partial

import orjson
from aiohttp import web

from timetrack.emulator import admin, webhooks
from timetrack.emulator.api import PREFIXES, REPORT_PATHS, ROUTES, Ctx, Handler, report_search
from timetrack.emulator.clock import Clock
from timetrack.emulator.config import EmulatorConfig
from timetrack.emulator.drift import DriftPlan
from timetrack.emulator.faults import FAULT_MESSAGES, FaultPlan, status_fault
from timetrack.emulator.generator import generate
from timetrack.emulator.http import ErrorReply, error_response
from timetrack.emulator.limits import HourlyQuota, LeakyBucket, QuotaState
from timetrack.emulator.model import Organization, User

UNLIMITED = 1_000_000
"""The quota reported while quota enforcement is off: a plan nobody exhausts."""


@dataclass
class RequestLog:
    """Counts of API requests by route, path and status, for tests and benchmarks."""

    by_route: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_path_status: Counter[str] = field(default_factory=Counter)

    def record(self, route: str, method: str, path: str, status: str) -> None:
        """Count one answered (or dropped) request."""
        self.by_route[route] += 1
        self.by_path[f"{method} {path}"] += 1
        self.by_status[status] += 1
        self.by_path_status[f"{method} {path} {status}"] += 1

    def snapshot(self) -> dict[str, object]:
        """The counts as JSON-ready dicts."""
        return {
            "total": sum(self.by_status.values()),
            "by_route": dict(self.by_route),
            "by_path": dict(self.by_path),
            "by_status": dict(self.by_status),
            "by_path_status": dict(self.by_path_status),
        }

    def clear(self) -> None:
        """Start counting again from zero."""
        for counter in (self.by_route, self.by_path, self.by_status, self.by_path_status):
            counter.clear()


class Emulator:
    """One emulated service: its data, clock, limits, faults and request log."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.config.validate()
        self.clock = Clock(self.config.now)
        anchor = self.config.now if self.config.now is not None else self.clock.now()
        self.data = generate(self.config, float(int(anchor)))
        self.bucket = LeakyBucket(self.config.limits.rate_per_second, self.config.limits.burst)
        self.quota = HourlyQuota()
        self.faults = FaultPlan(self.config.faults, self.config.seed)
        self.drift = DriftPlan(self.config.drift, self.config.seed)
        self.log = RequestLog()

    def app(self) -> web.Application:
        """The aiohttp application serving both layouts and the admin endpoints."""
        app = web.Application(client_max_size=8 * 1024 * 1024)
        for layout, prefix in PREFIXES.items():
            envelope = layout == "envelope"
            for method, path, handler, bucket in ROUTES:
                route = f"{method} {prefix}{path}"
                app.router.add_route(
                    method, prefix + path, partial(self._serve, handler, envelope, bucket, route)
                )
            report = REPORT_PATHS[layout]
            app.router.add_route(
                "POST",
                report,
                partial(self._serve, report_search, envelope, "org", f"POST {report}"),
            )
        admin.add_routes(app, self)
        webhooks.add_routes(app, self)
        return app

    def _authenticate(self, request: web.Request) -> tuple[str, User]:
        header = request.headers.get("Authorization")
        if not header:
            raise ErrorReply(401, "", {"X-Authorization-Missing": "true"})
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            raise ErrorReply(403, "Incorrect username and/or password") from None
        token, _, password = decoded.partition(":")
        user = self.data.user_for_token(token)
        if scheme.lower() != "basic" or password != "api_token" or user is None:
            raise ErrorReply(403, "Incorrect username and/or password")
        return token, user

    def _quota_bucket(self, request: web.Request, bucket: str) -> tuple[str | None, int]:
        """The quota window a request counts against and that window's hourly limit.

        An organization or workspace id that does not exist counts against nothing (None):
        the answer is a 404 that costs no one's quota."""
        limits = self.config.limits
        org_id: int | None = None
        if bucket == "org":
            try:
                if "organization_id" in request.match_info:
                    org_id = int(request.match_info["organization_id"])
                else:
                    ws = self.data.workspaces.get(int(request.match_info["workspace_id"]))
                    org_id = ws.organization_id if ws else None
            except ValueError:
                org_id = None
        if bucket == "me":
            return "me", limits.me_quota_per_hour
        if bucket == "free":  # counts against nothing; its headers tell the /me window
            return None, limits.me_quota_per_hour
        org = self.data.organizations.get(org_id) if org_id is not None else None
        if org is None:
            return None, limits.me_quota_per_hour
        limit = limits.quota_per_hour or org.plan.quota_per_hour
        return f"org:{org.id}", limit

    async def _serve(
        self, handler: Handler, envelope: bool, bucket: str, route: str, request: web.Request
    ) -> web.StreamResponse:
        body = await request.read()
        digest = hashlib.blake2b(body, digest_size=8).hexdigest()
        fault = self.faults.draw(f"{request.method} {request.path_qs} {digest}")
        if fault == "drop":
            self.log.record(route, request.method, request.path, "dropped")
        fault = await self.faults.before_answer(fault, request)
        response = await self._answer(handler, envelope, bucket, request, fault)
        # The Date header tells the service's time, as a real server's does: the settable clock.
        response.headers["Date"] = formatdate(self.clock.now(), usegmt=True)
        self.faults.after_answer(fault, response)
        self.log.record(route, request.method, request.path, str(response.status))
        return response

    async def _answer(
        self, handler: Handler, envelope: bool, bucket: str, request: web.Request, fault: str | None
    ) -> web.StreamResponse:
        limits = self.config.limits
        try:
            token, user = self._authenticate(request)
        except ErrorReply as error:
            if fault in FAULT_MESSAGES:  # the gateway fails before anyone checks credentials
                return self._fault(fault or "", {})
            return error_response(error)
        window, limit = self._quota_bucket(request, bucket)
        limit = limit if limits.quota else UNLIMITED
        # Every answer to a known token carries the quota headers; only counted requests
        # (those that reach the API) use the quota up.
        peek = self.quota.charge(token, window, limit, self.clock.now(), enforce=True, count=False)
        if fault in FAULT_MESSAGES:
            return self._fault(fault or "", _quota_headers(peek))
        wait = self.bucket.admit(token)
        if wait is not None:
            retry = {"Retry-After": str(max(1, math.ceil(wait)))} if limits.send_retry_after else {}
            return error_response(
                ErrorReply(429, "Too Many Requests", {**retry, **_quota_headers(peek)})
            )
        counted = window is not None
        state = self.quota.charge(
            token, window, limit, self.clock.now(), enforce=limits.quota, count=counted
        )
        quota_headers = _quota_headers(state)
        if not state.allowed:
            return error_response(
                ErrorReply(
                    402,
                    "You have hit your hourly limit for API calls. "
                    f"Try again in {state.resets_in} seconds.",
                    quota_headers,
                )
            )
        ctx = Ctx(
            request,
            self.data,
            user,
            self.clock.now(),
            limits.restricted_features,
            self.drift,
            partial(self._quota_of, token),
        )
        try:
            reply = await handler(ctx)
        except ErrorReply as error:
            if error.status != 402:
                # The plain 402 of a feature not on the plan is told apart by lacking them.
                error.headers.update(quota_headers)
            return error_response(error)
        headers = {**quota_headers, **reply.headers}
        if reply.empty:
            return web.Response(status=reply.status, headers=headers)
        payload = reply.payload
        if self.config.empty_lists_null:
            # The real service answers an empty list as null, on any list.
            if payload == []:
                payload = None
            elif not reply.wrap and isinstance(payload, dict) and payload.get("data") == []:
                payload = {**payload, "data": None}
        payload = {"data": payload} if envelope and reply.wrap else payload
        return web.Response(
            body=orjson.dumps(payload),
            status=reply.status,
            headers=headers,
            content_type="application/json",
        )

    def _quota_of(self, token: str, org: Organization) -> tuple[int, QuotaState]:
        """An organization's hourly quota for a token, and its state, without counting."""
        limits = self.config.limits
        limit = (limits.quota_per_hour or org.plan.quota_per_hour) if limits.quota else UNLIMITED
        state = self.quota.charge(
            token, f"org:{org.id}", limit, self.clock.now(), enforce=True, count=False
        )
        return limit, state

    def _fault(self, fault: str, headers: dict[str, str]) -> web.Response:
        return status_fault(fault, headers, self.config.limits.send_retry_after)


def _quota_headers(state: QuotaState) -> dict[str, str]:
    return {"X-Quota-Remaining": str(state.remaining), "X-Quota-Resets-In": str(state.resets_in)}
