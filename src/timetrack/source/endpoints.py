"""The resources, declared as data beside the configuration guide's shape.

Each entry says which path feeds which table, its key, its scope (the token, each organization,
each workspace), the filters that make it complete, and why a special case exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["token", "organization", "workspace"]


@dataclass(frozen=True)
class Endpoint:
    """One table and the path that fills it."""

    table: str
    path: str
    primary_key: str
    scope: Scope
    params: dict[str, Any] = field(default_factory=dict)
    paged: bool = False
    single: bool = False
    """The path answers one object, not a list."""
    context_key: str | None = None
    """A column added from the scope, for payloads that lack their parent's id."""
    incremental: bool = False
    """After the first run, ask with `since` per workspace: changes and deletions only."""
    why: str = ""


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "organizations",
        "/organizations/{organization_id}",
        "id",
        "organization",
        single=True,
        why="read from /me/organizations, which returns the same records in one request",
    ),
    Endpoint(
        "organizations_users",
        "/organizations/{organization_id}/users",
        "id",
        "organization",
        paged=True,
        why="pages of at most 200; the guide's unpaged call stops after the first 50",
    ),
    Endpoint(
        "organizations_groups",
        "/organizations/{organization_id}/groups",
        "group_id",
        "organization",
        context_key="organization_id",
        why="keyed by group_id: groups have no id field; organization_id added for joins",
    ),
    Endpoint(
        "workspaces",
        "/me/workspaces",
        "id",
        "token",
        why="discovery: the workspaces the token reaches, read once per run",
    ),
    Endpoint(
        "workspace",
        "/workspaces/{workspace_id}/statistics",
        "workspace_id",
        "workspace",
        single=True,
        context_key="workspace_id",
        why="statistics have no id of their own: keyed by the workspace they describe",
    ),
    Endpoint(
        "workspace_clients",
        "/workspaces/{workspace_id}/clients",
        "id",
        "workspace",
        params={"status": "both"},
        why="status=both: the default leaves archived clients out",
    ),
    Endpoint(
        "workspace_projects",
        "/workspaces/{workspace_id}/projects",
        "id",
        "workspace",
        params={"active": "both"},
        paged=True,
        incremental=True,
        why="active=both and every page: the defaults leave inactive projects and page 2+ out",
    ),
    Endpoint(
        "workspace_tasks",
        "/workspaces/{workspace_id}/tasks",
        "id",
        "workspace",
        params={"active": "both"},
        paged=True,
        incremental=True,
        why="active=both and every page (the guide pages by 50; 200 costs a quarter of the calls)",
    ),
    Endpoint(
        "workspace_tags",
        "/workspaces/{workspace_id}/tags",
        "id",
        "workspace",
    ),
)

TIME_ENTRIES = Endpoint(
    "time_entries",
    "/me/time_entries",
    "id",
    "token",
    why="the guide's bare call returns 9 days; the source asks for the whole 90-day window",
)

REPORT_TIME_ENTRIES = Endpoint(
    "report_time_entries",
    "(report search)",
    "id",
    "workspace",
    why="every member's entries and the full history: only the report search has them",
)

ALL_TABLES: tuple[str, ...] = (
    TIME_ENTRIES.table,
    *(e.table for e in ENDPOINTS),
    REPORT_TIME_ENTRIES.table,
)
