"""`timetrack webhooks setup|status|remove`: one subscription per workspace the token reaches,
within its plan's limits, recognised by its description, its secret kept as a dlt secret and
its filters noted in the destination's journal (for `live_workspaces`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from dlt.common.configuration.exceptions import ConfigFieldMissingException

from timetrack.destination.target import Target
from timetrack.errors import NO_TOKEN, ApiError, ConfigurationError
from timetrack.live.events import ENTITY_TABLES
from timetrack.live.journal import Journal, SubscriptionRecord, journal_path
from timetrack.live.secrets import forget_secrets, store_secret
from timetrack.source.client import ApiClient, is_object
from timetrack.source.core import configured_client
from timetrack.source.schema import as_key

ROOT = "/webhooks/api/v1"
DESCRIPTION = "timetrack live tables"
"""How setup knows its own subscription in a workspace (descriptions are unique there)."""
PRIORITY = (
    "time_entry",
    "project",
    "client",
    "task",
    "tag",
    "workspace_user",
    "project_user",
    "project_group",
    "workspace",
)
"""Entities by what a live table is worth: on a Free plan (3 filters) time entries, projects
and clients; Starter (6) adds tasks, tags and workspace members; Premium (12) has them all."""
ALL_TABLES = (*dict.fromkeys(ENTITY_TABLES.values()), "time_entries")


@dataclass
class Settings:
    """Where the service is and which workspaces to subscribe."""

    base_url: str | None = None
    layout: str | None = None
    workspace_ids: tuple[int, ...] = ()
    api_token: str | None = None


def _client(settings: Settings) -> ApiClient:
    given: dict[str, Any] = {
        k: v
        for k, v in (
            ("base_url", settings.base_url),
            ("layout", settings.layout),
            ("api_token", settings.api_token),
        )
        if v is not None
    }
    try:
        return configured_client(**given, requests_per_second=0, max_retries=2, max_quota_wait=0)
    except ConfigFieldMissingException:
        raise ConfigurationError(NO_TOKEN) from None


class Webhooks:
    """The Webhooks API of the service, through the source's client (retries, masking)."""

    def __init__(self, settings: Settings) -> None:
        self.client = _client(settings)
        self.settings = settings
        self.root = self.client.config.base_url.rstrip("/") + ROOT

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the payload."""
        payload, _ = self.client.request(method, self.root + path, json=body)
        return payload

    def me(self) -> dict[str, Any]:
        """The token's user."""
        found = self.client.get("/me", shape=is_object)
        assert isinstance(found, dict)
        return found

    def workspaces(self) -> list[dict[str, Any]]:
        """The workspaces in scope."""
        found = self.client.get("/me/workspaces") or []
        wanted = set(self.settings.workspace_ids)
        out = [w for w in found if isinstance(w, dict) and as_key(w.get("id")) is not None]
        if wanted:
            missing = wanted - {as_key(w.get("id")) for w in out}
            if missing:
                raise ConfigurationError(
                    f"the token reaches no workspace {', '.join(map(str, sorted(missing)))}"
                )
            out = [w for w in out if as_key(w.get("id")) in wanted]
        return out

    def ours(self, workspace_id: int) -> dict[str, Any] | None:
        """setup's subscription in a workspace, if any."""
        for sub in self.call("GET", f"/subscriptions/{workspace_id}") or []:
            if isinstance(sub, dict) and sub.get("description") == DESCRIPTION:
                return sub
        return None


def covered_tables(entities: list[str], admin: bool) -> list[str]:
    """The tables events of these entities keep live."""
    tables = [ENTITY_TABLES[e] for e in entities if e in ENTITY_TABLES]
    if "time_entry" in entities:
        tables.append("time_entries")
        if not admin:  # a member's subscription sees the member's own entries only
            tables.remove("report_time_entries")
    return sorted(set(tables))


def _entities(sub: dict[str, Any]) -> list[str]:
    return sorted(
        {str(f.get("entity")) for f in sub.get("event_filters") or [] if isinstance(f, dict)}
    )


def _record(sub: dict[str, Any], workspace_id: int, me: int, admin: bool) -> SubscriptionRecord:
    return SubscriptionRecord(
        subscription_id=int(sub["subscription_id"]),
        workspace_id=workspace_id,
        user_id=me,
        admin=admin,
        entities=_entities(sub),
        url_callback=str(sub.get("url_callback") or ""),
        validated_at=sub.get("validated_at"),
        enabled=bool(sub.get("enabled", True)),
    )


def setup(
    target: Target,
    settings: Settings,
    callback_url: str,
    wait_seconds: float = 20.0,
) -> list[str]:
    """Subscribe every workspace in scope (once: a second run changes nothing), keep the
    secrets, wait up to `wait_seconds` for the listener to validate. Returns lines to print."""
    api = Webhooks(settings)
    me = as_key(api.me().get("id"))
    if me is None:
        raise ConfigurationError("the service did not say who the token's user is")
    journal = Journal(journal_path(target))
    lines: list[str] = []
    waiting: dict[int, int] = {}  # subscription id -> workspace id
    try:
        for ws in api.workspaces():
            ws_id = int(ws["id"])
            admin = bool(ws.get("admin"))
            line, sub = _setup_one(api, ws_id, callback_url)
            if sub is None:
                lines.append(line)
                continue
            store_secret(int(sub["subscription_id"]), str(sub["secret"]))
            journal.record_subscription(_record(sub, ws_id, me, admin))
            if not sub.get("validated_at"):
                waiting[int(sub["subscription_id"])] = ws_id
            lines.append(line)
        validated = _wait_validated(api, journal, waiting, wait_seconds)
    finally:
        journal.close()
    for sub_id, ws_id in waiting.items():
        if sub_id in validated:
            lines.append(f"workspace {ws_id}: validated by the listener")
        else:
            lines.append(
                f"workspace {ws_id}: not validated yet: start `timetrack listen` where "
                f"{callback_url} reaches it (the service sends the ping again), then "
                "`timetrack webhooks status`"
            )
    return lines


def _setup_one(api: Webhooks, ws_id: int, callback_url: str) -> tuple[str, dict[str, Any] | None]:
    limits = api.call("GET", f"/limits/{ws_id}") or {}
    most_filters = int(limits.get("max_events_per_webhook") or 3)
    most_subs = int(limits.get("max_webhooks") or 1)
    entities = list(PRIORITY[:most_filters])
    filters = [{"entity": e, "action": "*"} for e in entities]
    existing = api.ours(ws_id)
    if existing is not None:
        same = (
            existing.get("url_callback") == callback_url
            and _entities(existing) == sorted(entities)
            and existing.get("enabled", True)
        )
        if same:
            return f"workspace {ws_id}: subscribed already ({', '.join(entities)})", existing
        body = {
            "url_callback": callback_url,
            "event_filters": filters,
            "description": DESCRIPTION,
            "enabled": True,
        }
        changed = api.call("PUT", f"/subscriptions/{ws_id}/{existing['subscription_id']}", body)
        return f"workspace {ws_id}: subscription updated ({', '.join(entities)})", changed
    taken = len(api.call("GET", f"/subscriptions/{ws_id}") or [])
    if taken >= most_subs:
        return (
            f"workspace {ws_id}: not subscribed: its plan's {most_subs} subscription(s) are "
            "taken by others; its tables rely on the hourly run",
            None,
        )
    body = {
        "url_callback": callback_url,
        "event_filters": filters,
        "description": DESCRIPTION,
        "enabled": True,
    }
    try:
        created = api.call("POST", f"/subscriptions/{ws_id}", body)
    except ApiError as error:
        return f"workspace {ws_id}: not subscribed: {error}", None
    note = "" if len(entities) == len(PRIORITY) else f" (the plan allows {most_filters} filters)"
    return f"workspace {ws_id}: subscribed ({', '.join(entities)}){note}", created


def _wait_validated(
    api: Webhooks, journal: Journal, waiting: dict[int, int], wait_seconds: float
) -> set[int]:
    done: set[int] = set()
    deadline = time.monotonic() + wait_seconds
    pinged = False
    while waiting.keys() - done:
        for sub_id, ws_id in waiting.items():
            if sub_id in done:
                continue
            sub = api.ours(ws_id)
            if sub is not None and sub.get("validated_at"):
                done.add(sub_id)
                journal.validated(sub_id, str(sub["validated_at"]))
        if not waiting.keys() - done or time.monotonic() >= deadline:
            break
        if not pinged and time.monotonic() >= deadline - wait_seconds / 2:
            for sub_id, ws_id in waiting.items():  # once more, in case the first one was lost
                if sub_id not in done:
                    api.call("POST", f"/ping/{ws_id}/{sub_id}")
            pinged = True
        time.sleep(0.5)
    return done


def status(target: Target, settings: Settings) -> list[str]:
    """Each workspace's subscription as the service has it, the tables left to the hourly
    run, and the listener's state."""
    api = Webhooks(settings)
    journal = Journal(journal_path(target))
    lines: list[str] = []
    try:
        for ws in api.workspaces():
            ws_id = int(ws["id"])
            sub = api.ours(ws_id)
            if sub is None:
                lines.append(
                    f"workspace {ws_id}: no subscription; every table relies on the hourly run"
                )
                continue
            admin = bool(ws.get("admin"))
            covered = covered_tables(_entities(sub), admin)
            state = "validated" if sub.get("validated_at") else "NOT validated"
            state += "" if sub.get("enabled", True) else ", disabled"
            pending = ", events pending delivery" if sub.get("has_pending_events") else ""
            lines.append(
                f"workspace {ws_id}: subscription {sub['subscription_id']} {state}{pending}; "
                f"live: {', '.join(covered)}"
            )
            rest = [t for t in ALL_TABLES if t not in covered]
            if rest:
                lines.append(f"  relying on the hourly run: {', '.join(sorted(rest))}")
        beat = journal.heartbeat()
        backlog = journal.backlog()
        aside = journal.set_aside_count()
    finally:
        journal.close()
    if beat is None:
        lines.append("listener: never ran for this destination")
    else:
        lines.append(
            f"listener: last seen {max(0.0, time.time() - beat):.0f} s ago; {backlog} events "
            "journalled and not landed yet"
        )
    if aside:
        lines.append(
            f"warning: {aside} events could not land (the destination refused them) and were "
            f"set aside in {journal_path(target)} (events.set_aside says why)"
        )
    return lines


def remove(target: Target, settings: Settings) -> list[str]:
    """Delete setup's subscription in every workspace in scope, and forget their secrets."""
    api = Webhooks(settings)
    removed: list[int] = []
    lines: list[str] = []
    for ws in api.workspaces():
        ws_id = int(ws["id"])
        sub = api.ours(ws_id)
        if sub is None:
            lines.append(f"workspace {ws_id}: no subscription")
            continue
        api.call("DELETE", f"/subscriptions/{ws_id}/{sub['subscription_id']}")
        removed.append(int(sub["subscription_id"]))
        lines.append(f"workspace {ws_id}: subscription {sub['subscription_id']} removed")
    forget_secrets(removed)
    journal = Journal(journal_path(target))
    try:
        journal.forget_subscriptions(removed)
    finally:
        journal.close()
    return lines
