"""Live tables: the service's webhooks land every change within seconds, at no quota cost.

- `subscriptions`: `timetrack webhooks setup|status|remove` (the Webhooks API v1 client);
- `listener`: `timetrack listen`, the signed callback, journalling before it answers;
- `journal`: the durable SQLite journal beside the pipeline's state;
- `events` and `lander`: what an event changes, landed in batches into `run`'s tables;
- `live_workspaces`: what the hourly run may skip while the listener is live.
"""

from __future__ import annotations

import time

from timetrack.destination.target import Target
from timetrack.live.journal import Journal, journal_path

LIVE_SECONDS = 120.0
"""A listener silent longer than this (no heartbeat: stopped, or its machine down) covers
nothing: the hourly run reads everything again."""


def live_workspaces(
    target: Target, *, now: float | None = None, max_silence: float = LIVE_SECONDS
) -> dict[int, frozenset[str]]:
    """Workspace id -> the tables its webhooks keep live for this target: those of every
    subscription `timetrack webhooks setup` made for it that is enabled and validated, while
    the listener has beaten within `max_silence` seconds and holds no backlog older than that.
    Empty when no listener runs for the target (or none ever did). Tables are `run`'s names
    (`workspace_projects`, `report_time_entries`, `time_entries`, ...)."""
    from timetrack.live.subscriptions import covered_tables

    path = journal_path(target)
    if not path.exists():
        return {}
    journal = Journal(path)
    try:
        beat = journal.heartbeat()
        moment = time.time() if now is None else now
        if beat is None or moment - beat > max_silence:
            return {}
        oldest = journal.db.execute(
            "select min(received_at) from events where landed = 0"
        ).fetchone()[0]
        if oldest is not None and moment - float(oldest) > max_silence:
            return {}  # the listener runs but cannot land (the destination refuses)
        out: dict[int, set[str]] = {}
        for sub in journal.subscriptions():
            if sub.enabled and sub.validated_at:
                tables = covered_tables(sub.entities, sub.admin)
                out.setdefault(sub.workspace_id, set()).update(tables)
        return {ws: frozenset(tables) for ws, tables in out.items()}
    finally:
        journal.close()


__all__ = ["LIVE_SECONDS", "live_workspaces"]
