"""What an event changes: the rows it makes in the tables `run` fills, with the same keys,
types and cleaning (the source's converter: credentials dropped, NUL removed, aliases folded).

Where the service's behaviour is unknown, both ways are taken:
- the entity and action are read from `metadata.model`/`metadata.action` (also `entity`, and
  ids sent as strings or numbers);
- a deleted entity's payload may be the whole entity or only its id (or even a bare id);
- an entity without `at` is versioned by the event's own `timestamp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from timetrack.source.schema import Rejected, as_key, converter, parse_timestamp

Row = dict[str, Any]

ENTITY_TABLES: dict[str, str] = {
    "client": "workspace_clients",
    "project": "workspace_projects",
    "task": "workspace_tasks",
    "tag": "workspace_tags",
    "workspace_user": "workspace_users",
    "project_user": "project_users",
    "project_group": "project_groups",
    "workspace": "workspaces",
    "time_entry": "report_time_entries",
}
"""The table of `run` each entity's events land in (a time entry also in `time_entries` when
it is the token owner's, as /me/time_entries holds the owner's entries only)."""

KEYS: dict[str, str] = {table: "id" for table in ENTITY_TABLES.values()} | {"time_entries": "id"}
WORKSPACE_SCOPED = frozenset(ENTITY_TABLES.values()) - {"workspaces"}
"""Tables whose rows carry the workspace they were read from (the source adds it from the path)."""


def version_text(moment: datetime) -> str:
    """A version as text that sorts as time does."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class Change:
    """One row an event sets (or deletes) in one table, and its version."""

    table: str
    key: int
    row: Row
    version: str
    deleted: bool


def _metadata(event: dict[str, Any]) -> dict[str, Any]:
    meta = event.get("metadata")
    return meta if isinstance(meta, dict) else {}


def changes(event: Any, me: int | None, admin: bool = True) -> list[Change]:
    """The rows one event sets; [] for a ping, an entity no table holds, or an event that
    cannot be read (it is kept in the journal, never retried)."""
    if not isinstance(event, dict) or event.get("payload") == "ping":
        return []
    meta = _metadata(event)
    entity = meta.get("model") or meta.get("entity") or event.get("entity")
    action = str(meta.get("action") or event.get("action") or "updated")
    table = ENTITY_TABLES.get(str(entity))
    if table is None:
        return []
    payload = event.get("payload")
    if not isinstance(payload, dict):
        payload = {"id": payload}  # a deleted entity sent as its id alone
    stamp = parse_timestamp(event.get("timestamp")) or parse_timestamp(event.get("created_at"))
    moment = parse_timestamp(payload.get("at")) or stamp or datetime.now(UTC)
    deleted = action == "deleted" or bool(
        payload.get("server_deleted_at") or payload.get("deleted_at")
    )
    workspace_id = as_key(
        meta.get("workspace_id") or payload.get("workspace_id") or payload.get("wid")
    )
    context = {"workspace_id": workspace_id} if table in WORKSPACE_SCOPED else {}
    if table in WORKSPACE_SCOPED and workspace_id is None:
        return []
    version = version_text(moment)
    deleted_at = parse_timestamp(payload.get("server_deleted_at")) or stamp or moment
    if entity == "time_entry":
        return _entry_changes(payload, workspace_id, me, admin, deleted, deleted_at, version)
    try:
        row = converter(table, KEYS[table], **context)(payload)
    except Rejected:
        return []
    if deleted:
        row["server_deleted_at"] = deleted_at
    return [Change(table, int(row[KEYS[table]]), row, version, deleted)]


def _entry_changes(
    payload: dict[str, Any],
    workspace_id: int | None,
    me: int | None,
    admin: bool,
    deleted: bool,
    deleted_at: datetime,
    version: str,
) -> list[Change]:
    try:
        own = converter("time_entries", "id")(payload)
    except Rejected:
        return []
    key = int(own["id"])
    owner = as_key(own.get("user_id"))
    # A deletion that names no owner (its payload may be the id alone) deletes wherever the
    # entry may be: deleting a key that is not there changes nothing.
    mine = owner == me or (deleted and owner is None)
    out: list[Change] = []
    if me is not None and mine:
        if deleted:
            own["server_deleted_at"] = deleted_at
        out.append(Change("time_entries", key, own, version, deleted))
    if not admin and not mine:
        return out  # a member's subscription sees only the member's entries anyway
    stop = own.get("stop")
    duration = own.get("duration")
    running = stop is None and not deleted
    report = {
        "id": key,
        "workspace_id": workspace_id,
        "user_id": owner,
        "username": payload.get("user_name"),
        "project_id": own.get("project_id"),
        "task_id": own.get("task_id"),
        "description": own.get("description"),
        "billable": own.get("billable"),
        "tag_ids": own.get("tag_ids"),
        "start": own.get("start"),
        "stop": stop,
        "seconds": duration if isinstance(duration, int) and duration >= 0 else None,
        "at": own.get("at"),
    }
    if report["username"] is None:
        del report["username"]  # kept from the landed row, where the report gave it
    if deleted or running:
        # The report holds stopped entries only: a running one is not in it (yet).
        report["server_deleted_at"] = deleted_at
    out.append(Change("report_time_entries", key, report, version, deleted or running))
    return out
