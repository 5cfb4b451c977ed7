"""The emulator's Webhooks API v1: limits by plan, validation, signed deliveries of API and
admin changes, retries while the callback fails, and a member's narrower view."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import requests
from aiohttp import web

from tests.helpers import MEMBER_TOKEN, TOKEN
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.emulator.runner import AppInThread
from timetrack.emulator.webhooks import ENTITIES

ROOT = "/webhooks/api/v1"
SMALL = Scale(
    organizations=3,
    workspaces=3,
    users=12,
    clients_per_workspace=2,
    projects_per_workspace=4,
    tasks_per_workspace=2,
    time_entries=60,
)


class Receiver(AppInThread):
    """A callback that records what it gets; answers `status` (a list: one per request, the
    last repeated) and echoes validation codes."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, Any], bytes, str, int]] = []
        self.statuses = [200]
        self.echo = True
        self.lock = threading.Lock()
        super().__init__(self._app, "127.0.0.1", 0)

    def _app(self) -> web.Application:
        app = web.Application()

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            event = orjson.loads(body)
            with self.lock:
                status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
                signature = request.headers.get("X-Webhook-Signature-256", "")
                self.got.append((event, body, signature, status))
            if status != 200:
                return web.Response(status=status)
            if event.get("payload") == "ping" and self.echo:
                return web.json_response({"validation_code": event["validation_code"]})
            return web.json_response({})

        app.router.add_post("/hook", hook)
        return app

    def events(self, subscription_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                e
                for e, _, _, status in self.got
                if e.get("payload") != "ping"
                and status == 200
                and subscription_id in (None, e["subscription_id"])
            ]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=3, scale=SMALL)) as emulator:
        yield emulator


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


def call(server: EmulatorServer, method: str, path: str, token: str = TOKEN, **kw: Any) -> Any:
    return requests.request(
        method, server.base_url + path, auth=(token, "api_token"), timeout=10, **kw
    )


def plans(server: EmulatorServer) -> dict[str, int]:
    """Plan name -> a workspace of an organization on that plan."""
    emulator = server.emulator
    out: dict[str, int] = {}
    for ws in emulator.data.workspaces.values():
        out.setdefault(emulator.data.organizations[ws.organization_id].plan.name, ws.id)
    return out


def subscribe(
    server: EmulatorServer, ws: int, url: str, filters: list[tuple[str, str]], **extra: Any
) -> requests.Response:
    body = {
        "url_callback": url,
        "description": extra.pop("description", "test"),
        "event_filters": [{"entity": e, "action": a} for e, a in filters],
        **extra,
    }
    return call(server, "POST", f"{ROOT}/subscriptions/{ws}", json=body)


def until(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_limits_follow_the_plan(server: EmulatorServer) -> None:
    expected = {"Free": (1, 3), "Starter": (2, 6), "Premium": (3, 12)}
    for plan, ws in plans(server).items():
        limits = call(server, "GET", f"{ROOT}/limits/{ws}").json()
        assert (limits["max_webhooks"], limits["max_events_per_webhook"]) == expected[plan]
        most, filters = expected[plan]
        too_many = [(e, a) for e in ENTITIES for a in ("created", "updated", "deleted")]
        refused = subscribe(server, ws, "http://127.0.0.1:9/x", too_many[: filters + 1])
        assert refused.status_code == 400, refused.text
        for n in range(most):
            made = subscribe(
                server, ws, "http://127.0.0.1:9/x", too_many[:filters], description=f"d{n}"
            )
            assert made.status_code == 200, made.text
        over = subscribe(server, ws, "http://127.0.0.1:9/x", [("tag", "*")], description="x")
        assert over.status_code == 400
    premium = plans(server)["Premium"]
    twice = subscribe(server, premium, "http://127.0.0.1:9/x", [("tag", "*")], description="d0")
    assert twice.status_code == 400  # descriptions are unique in a workspace


def test_validated_subscription_gets_signed_events_of_api_and_admin_changes(
    server: EmulatorServer, receiver: Receiver
) -> None:
    ws = plans(server)["Premium"]
    made = subscribe(
        server,
        ws,
        receiver.base_url + "/hook",
        [("time_entry", "*"), ("project", "updated"), ("client", "created")],
    ).json()
    assert len(made["secret"]) >= 32 and made["validated_at"] is None
    sub_id = made["subscription_id"]

    def validated() -> Any:
        listed = call(server, "GET", f"{ROOT}/subscriptions/{ws}").json()
        return [s for s in listed if s["subscription_id"] == sub_id and s["validated_at"]]

    until(validated)
    entry = call(
        server,
        "POST",
        f"/api/v9/workspaces/{ws}/time_entries",
        json={"start": "2026-01-02T10:00:00Z", "duration": 600, "description": "webhook"},
    ).json()
    project = next(p for p in server.emulator.data.projects.values() if p.workspace_id == ws)
    admin = {"Content-Type": "application/json"}
    requests.patch(
        f"{server.base_url}/_emulator/projects/{project.id}",
        data=b'{"name": "Renamed"}',
        headers=admin,
        timeout=10,
    ).raise_for_status()
    call(server, "DELETE", f"/api/v9/workspaces/{ws}/time_entries/{entry['id']}")
    requests.post(  # a new tag: no filter asks for tags
        f"{server.base_url}/_emulator/workspaces/{ws}/tags", json={"name": "t-new"}, timeout=10
    ).raise_for_status()
    got = until(lambda: len(receiver.events(sub_id)) >= 3 and receiver.events(sub_id))
    time.sleep(0.3)
    assert len(receiver.events(sub_id)) == 3
    by_kind = {(e["metadata"]["model"], e["metadata"]["action"]): e for e in got}
    assert set(by_kind) == {
        ("time_entry", "created"),
        ("project", "updated"),
        ("time_entry", "deleted"),
    }
    created = by_kind[("time_entry", "created")]["payload"]
    assert created["id"] == entry["id"] and created["description"] == "webhook"
    assert by_kind[("project", "updated")]["payload"]["name"] == "Renamed"
    assert by_kind[("time_entry", "deleted")]["payload"]["server_deleted_at"]
    for event, body, signature, _ in receiver.got:
        expected = hmac.new(made["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
        assert event["subscription_id"] == sub_id


def test_failed_deliveries_stay_pending_and_are_retried(
    server: EmulatorServer, receiver: Receiver
) -> None:
    ws = plans(server)["Starter"]
    made = subscribe(server, ws, receiver.base_url + "/hook", [("time_entry", "*")]).json()
    sub_id = made["subscription_id"]
    until(lambda: server.emulator.data.webhooks.subscriptions[sub_id].validated_at)
    receiver.statuses = [500, 503, 200]
    call(
        server,
        "POST",
        f"/api/v9/workspaces/{ws}/time_entries",
        json={"start": "2026-01-02T10:00:00Z", "duration": 60},
    ).raise_for_status()

    def pending() -> Any:
        listing = requests.get(server.base_url + "/_emulator/webhooks", timeout=10).json()
        return [p for p in listing["pending"] if p["attempts"] >= 1] and listing

    listing = until(pending)
    assert listing["pending"][0]["entity"] == "time_entry"
    assert call(server, "GET", f"{ROOT}/subscriptions/{ws}").json()[0]["has_pending_events"]
    until(lambda: receiver.events(sub_id), seconds=15)

    def settled() -> Any:
        listing = requests.get(server.base_url + "/_emulator/webhooks", timeout=10).json()
        return listing["pending"] == [] and listing

    assert until(settled)["failed_attempts"] == 2
    assert [s for *_, s in receiver.got if _[0].get("payload") != "ping"] == [500, 503, 200]
    assert len(receiver.events(sub_id)) == 1  # three attempts, one event delivered


def test_member_subscription_sees_only_the_members_entries(
    server: EmulatorServer, receiver: Receiver
) -> None:
    data = server.emulator.data
    member = data.tokens[MEMBER_TOKEN]
    ws = next(w.id for w in data.workspaces.values() if member in w.members)
    made = call(
        server,
        "POST",
        f"{ROOT}/subscriptions/{ws}",
        token=MEMBER_TOKEN,
        json={
            "url_callback": receiver.base_url + "/hook",
            "description": "member",
            "event_filters": [{"entity": "time_entry", "action": "*"}],
        },
    ).json()
    sub_id = made["subscription_id"]
    until(lambda: data.webhooks.subscriptions[sub_id].validated_at)
    body = {"start": "2026-01-02T10:00:00Z", "duration": 60}
    theirs = call(server, "POST", f"/api/v9/workspaces/{ws}/time_entries", json=body).json()
    mine = call(
        server, "POST", f"/api/v9/workspaces/{ws}/time_entries", token=MEMBER_TOKEN, json=body
    ).json()
    until(lambda: receiver.events(sub_id))
    time.sleep(0.5)
    ids = [e["payload"]["id"] for e in receiver.events(sub_id)]
    assert ids == [mine["id"]] and theirs["id"] not in ids


def test_validate_endpoint_and_unknown_codes(server: EmulatorServer) -> None:
    ws = plans(server)["Premium"]
    made = subscribe(server, ws, "http://127.0.0.1:9/nobody", [("tag", "*")]).json()
    sub_id = made["subscription_id"]
    wrong = call(server, "GET", f"{ROOT}/validate/{ws}/{sub_id}/nope")
    assert wrong.status_code == 400
    code = server.emulator.data.webhooks.subscriptions[sub_id].validation_code
    assert call(server, "GET", f"{ROOT}/validate/{ws}/{sub_id}/{code}").status_code == 200
    listed = call(server, "GET", f"{ROOT}/subscriptions/{ws}").json()
    assert listed[0]["validated_at"] and listed[0]["has_pending_events"]  # the ping, unanswered
    gone = call(server, "DELETE", f"{ROOT}/subscriptions/{ws}/{sub_id}")
    assert gone.status_code == 200
    assert call(server, "GET", f"{ROOT}/subscriptions/{ws}").json() is None  # empty: null


def test_a_ping_answered_without_its_code_validates_nothing(
    server: EmulatorServer, receiver: Receiver
) -> None:
    receiver.echo = False
    ws = plans(server)["Premium"]
    made = subscribe(server, ws, receiver.base_url + "/hook", [("time_entry", "*")]).json()
    until(lambda: receiver.got)
    time.sleep(0.2)
    assert server.emulator.data.webhooks.subscriptions[made["subscription_id"]].validated_at is None
    call(
        server,
        "POST",
        f"/api/v9/workspaces/{ws}/time_entries",
        json={"start": "2026-01-02T10:00:00Z", "duration": 60},
    ).raise_for_status()
    time.sleep(0.5)
    assert receiver.events() == []  # nothing goes to a subscription not validated
