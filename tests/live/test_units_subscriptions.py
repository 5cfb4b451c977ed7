"""subscriptions.py in this process against the emulator over real HTTP: `webhooks setup`
(each plan's filters, once only, updated, taken, refused, validated or not), `status` and
`remove`; truth is the emulator's own subscriptions and what the user reads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from aiohttp import web

from tests.helpers import MEMBER_TOKEN, TOKEN
from timetrack.destination.target import Target, resolve_target
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.emulator.runner import AppInThread
from timetrack.errors import ConfigurationError
from timetrack.live import subscriptions as subscriptions_module
from timetrack.live.journal import Journal, SubscriptionRecord, journal_path
from timetrack.live.secrets import load_secrets
from timetrack.live.subscriptions import (
    ALL_TABLES,
    DESCRIPTION,
    Settings,
    Webhooks,
    _record,
    covered_tables,
    remove,
    setup,
    status,
)

SMALL = Scale(
    organizations=3,
    workspaces=3,
    users=12,
    clients_per_workspace=2,
    projects_per_workspace=4,
    tasks_per_workspace=2,
    time_entries=60,
)
PREMIUM, STARTER, FREE = 4_000_001, 4_000_002, 4_000_003  # the token's workspaces, by plan
ME = 6_000_001
ROOT = "/webhooks/api/v1"
EVERY = (
    "time_entry, project, client, task, tag, workspace_user, project_user, project_group, workspace"
)


class Echo(AppInThread):
    """A callback that answers each ping with its code, as `timetrack listen` does."""

    def __init__(self) -> None:
        self.pings = 0
        self.refuse: set[int] = set()  # workspaces whose next ping fails (500)
        self.lock = threading.Lock()
        super().__init__(self._app, "127.0.0.1", 0)

    def _app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            event = orjson.loads(await request.read())
            with self.lock:
                self.pings += event.get("payload") == "ping"
                workspace = event.get("metadata", {}).get("workspace_id")
                if workspace in self.refuse:
                    self.refuse.discard(workspace)
                    return web.Response(status=500)
            return web.json_response({"validation_code": event.get("validation_code")})

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=3, scale=SMALL)) as emulator:
        yield emulator


@pytest.fixture
def echo() -> Iterator[Echo]:
    with Echo() as started:
        yield started


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.chdir(tmp_path)  # the secrets go to ./.dlt/secrets.toml
    for name in list(os.environ):
        if name.startswith("SOURCES__TIMETRACK__"):
            monkeypatch.delenv(name)
    return resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "st")
    )


def settings(server: EmulatorServer, *workspaces: int, token: str = TOKEN) -> Settings:
    return Settings(server.base_url, "bare", workspaces, token)


def subscriptions(server: EmulatorServer) -> dict[int, Any]:
    """The emulator's live subscriptions, by workspace."""
    hub = server.emulator.data.webhooks
    return {s.workspace_id: s for s in hub.subscriptions.values() if s.deleted_at is None}


NOW = 1_800_000_000.0


class Frozen:
    """The time module as status reads it, its clock stopped at NOW (the heartbeat's age is
    then exact, whatever the machine's load)."""

    def time(self) -> float:
        return NOW

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def beat_at(target: Target, moment: float) -> None:
    journal = Journal(journal_path(target))
    journal.db.execute("insert or replace into meta values ('heartbeat', ?)", (str(moment),))
    journal.close()


def recorded(target: Target) -> list[SubscriptionRecord]:
    journal = Journal(journal_path(target))
    try:
        return journal.subscriptions()
    finally:
        journal.close()


def test_covered_tables() -> None:
    assert covered_tables(["time_entry"], admin=True) == ["report_time_entries", "time_entries"]
    assert covered_tables(["time_entry", "tag"], admin=False) == ["time_entries", "workspace_tags"]
    assert covered_tables(["tag", "project", "nothing", "tag"], admin=False) == [
        "workspace_projects",
        "workspace_tags",
    ]
    assert covered_tables([], admin=True) == []
    assert len(ALL_TABLES) == 10 and len(set(ALL_TABLES)) == 10 and ALL_TABLES[-1] == "time_entries"


def test_setup_subscribes_each_workspace_within_its_plan_once(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    url = echo.base_url + "/hook"
    lines = setup(target, settings(server), url)
    assert lines == [
        f"workspace {PREMIUM}: subscribed ({EVERY})",
        f"workspace {STARTER}: subscribed (time_entry, project, client, task, tag, "
        "workspace_user) (the plan allows 6 filters)",
        f"workspace {FREE}: subscribed (time_entry, project, client) (the plan allows 3 filters)",
        f"workspace {PREMIUM}: validated by the listener",
        f"workspace {STARTER}: validated by the listener",
        f"workspace {FREE}: validated by the listener",
    ]
    made = subscriptions(server)
    assert set(made) == {PREMIUM, STARTER, FREE}
    for sub in made.values():
        assert sub.description == DESCRIPTION and sub.url_callback == url and sub.enabled
        assert sub.user_id == ME and sub.validated_at is not None
        assert {f["action"] for f in sub.event_filters} == {"*"}
    assert [f["entity"] for f in made[FREE].event_filters] == ["time_entry", "project", "client"]
    assert load_secrets() == {s.subscription_id: s.secret for s in made.values()}
    records = [
        SubscriptionRecord(
            made[ws].subscription_id,
            ws,
            ME,
            True,
            sorted(f["entity"] for f in made[ws].event_filters),
            url,
            server.emulator.data.webhooks.render(made[ws])["validated_at"],
            True,
        )
        for ws in (PREMIUM, STARTER, FREE)
    ]
    assert recorded(target) == records
    assert echo.pings == 3  # validated without pinging again
    pings = echo.pings
    again = setup(target, settings(server, FREE, PREMIUM), url)
    assert again == [
        f"workspace {PREMIUM}: subscribed already ({EVERY})",
        f"workspace {FREE}: subscribed already (time_entry, project, client)",
    ]
    assert subscriptions(server) == made and echo.pings == pings
    assert recorded(target) == records  # recorded again as they are: validated


def test_setup_updates_a_subscription_whose_url_or_filters_changed(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    url = echo.base_url + "/hook"
    setup(target, settings(server, FREE), url)
    first = subscriptions(server)[FREE]
    moved = url + "?moved"
    lines = setup(target, settings(server, FREE), moved)
    assert lines == [
        f"workspace {FREE}: subscription updated (time_entry, project, client)",
        f"workspace {FREE}: validated by the listener",
    ]
    after = subscriptions(server)[FREE]
    assert after.subscription_id == first.subscription_id and after.url_callback == moved
    assert [r.url_callback for r in recorded(target)] == [moved]
    # a filter removed, then the subscription disabled, by hand: setup puts them back
    for change in ({"event_filters": [{"entity": "project", "action": "*"}]}, {"enabled": False}):
        requests.put(
            f"{server.base_url}{ROOT}/subscriptions/{FREE}/{first.subscription_id}",
            json=change,
            auth=(TOKEN, "api_token"),
            timeout=10,
        ).raise_for_status()
        lines = setup(target, settings(server, FREE), moved)
        assert lines == [f"workspace {FREE}: subscription updated (time_entry, project, client)"]
        after = subscriptions(server)[FREE]
        assert after.enabled and len(after.event_filters) == 3


def test_setup_leaves_a_workspace_whose_subscriptions_are_taken(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    body: dict[str, Any] = {
        "url_callback": echo.base_url + "/hook",
        "description": "someone else's",
        "event_filters": [{"entity": "tag", "action": "*"}],
    }
    requests.post(
        f"{server.base_url}{ROOT}/subscriptions/{FREE}",
        json=body,
        auth=(TOKEN, "api_token"),
        timeout=10,
    ).raise_for_status()
    lines = setup(target, settings(server, FREE), echo.base_url + "/hook")
    assert lines == [
        f"workspace {FREE}: not subscribed: its plan's 1 subscription(s) are taken by others; "
        "its tables rely on the hourly run"
    ]
    assert [s.description for s in subscriptions(server).values()] == ["someone else's"]
    assert recorded(target) == [] and load_secrets() == {}


def test_setup_says_why_the_service_refused_a_subscription(
    server: EmulatorServer, target: Target
) -> None:
    [line] = setup(target, settings(server, FREE), "ftp://nowhere")
    assert line.startswith(f"workspace {FREE}: not subscribed: ")
    assert "url_callback must be an http(s) URL" in line
    assert subscriptions(server) == {} and recorded(target) == []


def test_setup_without_a_listener_says_what_to_do_and_pings_once_more(
    server: EmulatorServer, target: Target
) -> None:
    nowhere = "http://127.0.0.1:9/hook"
    lines = setup(target, settings(server, FREE), nowhere, wait_seconds=2.0)
    assert lines == [
        f"workspace {FREE}: subscribed (time_entry, project, client) (the plan allows 3 filters)",
        f"workspace {FREE}: not validated yet: start `timetrack listen` where {nowhere} "
        "reaches it (the service sends the ping again), then `timetrack webhooks status`",
    ]
    assert server.emulator.data.webhooks.events == 2  # the first ping, and one more
    [record] = recorded(target)
    assert record.validated_at is None and record.workspace_id == FREE


def test_a_members_subscription_is_recorded_as_a_members(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    setup(target, settings(server, FREE, token=MEMBER_TOKEN), echo.base_url + "/hook")
    [record] = recorded(target)
    assert record.admin is False and record.user_id == subscriptions(server)[FREE].user_id
    assert record.user_id != ME


def test_workspaces_the_token_does_not_reach_are_refused(
    server: EmulatorServer, target: Target
) -> None:
    with pytest.raises(ConfigurationError, match=r"^the token reaches no workspace 5, 99$"):
        setup(target, settings(server, 99, FREE, 5), "http://127.0.0.1:9/hook")
    api = Webhooks(settings(server, FREE, PREMIUM))
    assert [w["id"] for w in api.workspaces()] == [PREMIUM, FREE]
    assert [w["id"] for w in Webhooks(settings(server)).workspaces()] == [PREMIUM, STARTER, FREE]


def test_no_token_is_a_configuration_error(server: EmulatorServer, target: Target) -> None:
    with pytest.raises(ConfigurationError, match="token"):
        Webhooks(Settings(server.base_url, "bare"))


def test_the_webhooks_api_is_under_the_services_base_url(server: EmulatorServer) -> None:
    api = Webhooks(Settings(server.base_url + "/", "bare", (), TOKEN))
    assert api.root == server.base_url + ROOT
    assert api.call("GET", "/status") == {"status": "OK"}
    assert api.me()["id"] == ME
    assert api.ours(FREE) is None


def test_status_says_what_is_live_and_what_the_hourly_run_reads(
    server: EmulatorServer, echo: Echo, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert status(target, settings(server, FREE)) == [
        f"workspace {FREE}: no subscription; every table relies on the hourly run",
        "listener: never ran for this destination",
    ]
    setup(target, settings(server), echo.base_url + "/hook")
    made = {ws: s.subscription_id for ws, s in subscriptions(server).items()}
    journal = Journal(journal_path(target))
    for n in range(3):
        journal.append(made[FREE], f"e{n}", b"{}")
    journal.set_aside(1, "refused")
    journal.close()
    requests.patch(
        f"{server.base_url}{ROOT}/subscriptions/{STARTER}/{made[STARTER]}",
        json={"enabled": False},
        auth=(TOKEN, "api_token"),
        timeout=10,
    ).raise_for_status()
    beat_at(target, NOW - 0.4)
    monkeypatch.setattr(subscriptions_module, "time", Frozen())
    lines = status(target, settings(server))
    assert lines == [
        f"workspace {PREMIUM}: subscription {made[PREMIUM]} validated; live: "
        "project_groups, project_users, report_time_entries, time_entries, workspace_clients, "
        "workspace_projects, workspace_tags, workspace_tasks, workspace_users, workspaces",
        f"workspace {STARTER}: subscription {made[STARTER]} validated, disabled; live: "
        "report_time_entries, time_entries, workspace_clients, workspace_projects, "
        "workspace_tags, workspace_tasks, workspace_users",
        "  relying on the hourly run: project_groups, project_users, workspaces",
        f"workspace {FREE}: subscription {made[FREE]} validated; live: "
        "report_time_entries, time_entries, workspace_clients, workspace_projects",
        "  relying on the hourly run: project_groups, project_users, workspace_tags, "
        "workspace_tasks, workspace_users, workspaces",
        "listener: last seen 0 s ago; 2 events journalled and not landed yet",
        f"warning: 1 events could not land (the destination refused them) and were set aside "
        f"in {journal_path(target)} (events.set_aside says why)",
    ]


def test_status_of_a_subscription_not_validated_with_events_pending(
    server: EmulatorServer, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(target, settings(server, FREE), "http://127.0.0.1:9/hook", wait_seconds=0)
    sub = subscriptions(server)[FREE]
    beat_at(target, NOW - 65.4)
    monkeypatch.setattr(subscriptions_module, "time", Frozen())
    assert status(target, settings(server, FREE)) == [
        f"workspace {FREE}: subscription {sub.subscription_id} NOT validated, events pending "
        "delivery; live: report_time_entries, time_entries, workspace_clients, "
        "workspace_projects",
        "  relying on the hourly run: project_groups, project_users, workspace_tags, "
        "workspace_tasks, workspace_users, workspaces",
        "listener: last seen 65 s ago; 0 events journalled and not landed yet",
    ]


def test_a_members_status_leaves_the_report_to_the_hourly_run(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    setup(target, settings(server, FREE, token=MEMBER_TOKEN), echo.base_url + "/hook")
    lines = status(target, settings(server, FREE, token=MEMBER_TOKEN))
    assert lines[0].endswith("live: time_entries, workspace_clients, workspace_projects")
    assert lines[1] == (
        "  relying on the hourly run: project_groups, project_users, report_time_entries, "
        "workspace_tags, workspace_tasks, workspace_users, workspaces"
    )


def test_a_heartbeat_in_the_future_reads_as_now(
    server: EmulatorServer, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat_at(target, NOW + 100)
    monkeypatch.setattr(subscriptions_module, "time", Frozen())
    assert status(target, settings(server, FREE))[-1] == (
        "listener: last seen 0 s ago; 0 events journalled and not landed yet"
    )


def test_remove_deletes_setups_subscriptions_and_forgets_their_secrets(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    setup(target, settings(server), echo.base_url + "/hook")
    made = {ws: s.subscription_id for ws, s in subscriptions(server).items()}
    lines = remove(target, settings(server, FREE, STARTER))
    assert lines == [
        f"workspace {STARTER}: subscription {made[STARTER]} removed",
        f"workspace {FREE}: subscription {made[FREE]} removed",
    ]
    assert set(subscriptions(server)) == {PREMIUM}
    assert set(load_secrets()) == {made[PREMIUM]}
    assert [r.subscription_id for r in recorded(target)] == [made[PREMIUM]]
    assert remove(target, settings(server, FREE)) == [f"workspace {FREE}: no subscription"]
    assert set(load_secrets()) == {made[PREMIUM]}


def test_remove_goes_on_past_workspaces_without_a_subscription(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    setup(target, settings(server, FREE), echo.base_url + "/hook")
    made = subscriptions(server)[FREE].subscription_id
    assert remove(target, settings(server)) == [
        f"workspace {PREMIUM}: no subscription",
        f"workspace {STARTER}: no subscription",
        f"workspace {FREE}: subscription {made} removed",
    ]
    assert subscriptions(server) == {} and load_secrets() == {} and recorded(target) == []


def test_the_commands_client_neither_paces_nor_waits_for_quota(server: EmulatorServer) -> None:
    config = Webhooks(settings(server)).client.config
    assert (config.requests_per_second, config.max_retries, config.max_quota_wait) == (0, 2, 0)
    assert (config.base_url, config.layout) == (server.base_url, "bare")


def test_a_service_that_says_no_limits_gets_the_free_plans(
    server: EmulatorServer, echo: Echo, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Webhooks.call

    def call(self: Webhooks, method: str, path: str, body: Any = None) -> Any:
        return None if path.startswith("/limits/") else real(self, method, path, body)

    monkeypatch.setattr(Webhooks, "call", call)
    url = echo.base_url + "/hook"
    assert setup(target, settings(server, PREMIUM), url) == [
        f"workspace {PREMIUM}: subscribed (time_entry, project, client) "
        "(the plan allows 3 filters)",
        f"workspace {PREMIUM}: validated by the listener",
    ]
    remove(target, settings(server, PREMIUM))
    body: dict[str, Any] = {
        "url_callback": url,
        "description": "someone else's",
        "event_filters": [{"entity": "tag", "action": "*"}],
    }
    requests.post(
        f"{server.base_url}{ROOT}/subscriptions/{PREMIUM}",
        json=body,
        auth=(TOKEN, "api_token"),
        timeout=10,
    ).raise_for_status()
    assert setup(target, settings(server, PREMIUM, FREE), url) == [
        f"workspace {PREMIUM}: not subscribed: its plan's 1 subscription(s) are taken by others; "
        "its tables rely on the hourly run",
        f"workspace {FREE}: subscribed (time_entry, project, client) (the plan allows 3 filters)",
        f"workspace {FREE}: validated by the listener",
    ]


def test_a_subscription_is_recorded_as_the_service_says_it_is() -> None:
    sub = {
        "subscription_id": "12",
        "event_filters": [{"entity": "tag"}, "junk", {"entity": "client"}, {"entity": "tag"}],
        "url_callback": "http://cb",
        "validated_at": "2026-02-01T00:00:00Z",
        "enabled": False,
    }
    assert _record(sub, FREE, ME, False) == SubscriptionRecord(
        12, FREE, ME, False, ["client", "tag"], "http://cb", "2026-02-01T00:00:00Z", False
    )
    bare = _record({"subscription_id": 13, "url_callback": None}, FREE, ME, True)
    assert bare == SubscriptionRecord(13, FREE, ME, True, [], "", None, True)


def test_a_service_that_leaves_enabled_out_means_enabled(
    server: EmulatorServer, echo: Echo, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = echo.base_url + "/hook"
    setup(target, settings(server, FREE), url)
    real = Webhooks.call

    def call(self: Webhooks, method: str, path: str, body: Any = None) -> Any:
        found = real(self, method, path, body)
        if isinstance(found, list):
            for sub in found:
                sub.pop("enabled", None)
        return found

    monkeypatch.setattr(Webhooks, "call", call)
    assert setup(target, settings(server, FREE), url) == [
        f"workspace {FREE}: subscribed already (time_entry, project, client)"
    ]
    sub = subscriptions(server)[FREE].subscription_id
    assert status(target, settings(server))[:3] == [
        f"workspace {PREMIUM}: no subscription; every table relies on the hourly run",
        f"workspace {STARTER}: no subscription; every table relies on the hourly run",
        f"workspace {FREE}: subscription {sub} validated; live: "
        "report_time_entries, time_entries, workspace_clients, workspace_projects",
    ]


def test_setup_waits_for_each_workspace_validated_later_than_another(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    echo.refuse = {FREE}  # its first ping fails: the service sends it again half a second later
    lines = setup(target, settings(server, PREMIUM, FREE), echo.base_url + "/hook", 5.0)
    assert lines[2:] == [
        f"workspace {PREMIUM}: validated by the listener",
        f"workspace {FREE}: validated by the listener",
    ]
    assert all(r.validated_at for r in recorded(target))


def test_setup_subscribes_beside_others_while_the_plan_allows(
    server: EmulatorServer, echo: Echo, target: Target
) -> None:
    body: dict[str, Any] = {
        "url_callback": echo.base_url + "/hook",
        "description": "someone else's",
        "event_filters": [{"entity": "tag", "action": "*"}],
    }
    requests.post(
        f"{server.base_url}{ROOT}/subscriptions/{STARTER}",
        json=body,
        auth=(TOKEN, "api_token"),
        timeout=10,
    ).raise_for_status()
    lines = setup(target, settings(server, STARTER), echo.base_url + "/hook")
    assert lines[0] == (
        f"workspace {STARTER}: subscribed (time_entry, project, client, task, tag, "
        "workspace_user) (the plan allows 6 filters)"
    )
    assert len(server.emulator.data.webhooks.subscriptions) == 2


def test_a_service_that_does_not_say_who_the_user_is_is_refused(
    server: EmulatorServer, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Webhooks, "me", lambda self: {"id": None})
    with pytest.raises(ConfigurationError) as caught:
        setup(target, settings(server), "http://127.0.0.1:9/hook")
    assert str(caught.value) == "the service did not say who the token's user is"
    assert subscriptions(server) == {}
