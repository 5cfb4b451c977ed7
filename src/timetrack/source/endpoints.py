"""The resources, declared as data beside the configuration guide's shape.

Each entry says which path feeds which table, its key, its scope (the token, each organization,
each workspace), how it is read, the filters that make it complete, and why a special case
exists. Adding a table touches this file and `schema.py` only. The order is the order of
extraction: cheap, small tables first, so that a run stopped by a short quota still leaves a
usable dataset; the report's history, the largest, last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["token", "organization", "workspace"]

Reader = Literal[
    "organizations", "workspaces", "single", "list", "paged", "since", "me", "report", "rates"
]
"""How a table is read:
- organizations, workspaces: discovery's own lists (what the token reaches), read once a run;
- single: one object per scope;
- list: a whole list per scope, every run; what it no longer holds was deleted;
- paged: the same, in pages;
- since: pages on the first run, then only changes and deletions (`since`, per scope);
- me: the token owner's entries, a 90-day window then `since`;
- report: the report search, every member's entries, walked window by window;
- rates: the rate histories whose `*_last_updated` moved (one request per history)."""


@dataclass(frozen=True)
class Endpoint:
    """One table and the path that fills it."""

    table: str
    path: str
    primary_key: str
    scope: Scope
    reader: Reader
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""
    needs: str = ""
    """The right the service asks of a token for this path (`organization admin`, `workspace
    admin`), if any: its 403 to a member who lacks it skips the table for that scope alone,
    with a warning, and deletes nothing that landed."""

    @property
    def scope_column(self) -> str | None:
        """The column every row gets from the scope it was read from."""
        return {"organization": "organization_id", "workspace": "workspace_id"}.get(self.scope)

    @property
    def full_list(self) -> bool:
        """Read whole every run: what it no longer lists was deleted at the service."""
        return self.reader in ("list", "paged")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "organizations",
        "/me/organizations",
        "id",
        "token",
        "organizations",
        why="/me/organizations returns every organization in one request, where the guide's "
        "/organizations/{organization_id} needs one per organization",
    ),
    Endpoint(
        "workspaces",
        "/me/workspaces",
        "id",
        "token",
        "workspaces",
        why="discovery: the workspaces the token reaches, read once per run",
    ),
    Endpoint(
        "workspace",
        "/workspaces/{workspace_id}/statistics",
        "workspace_id",
        "workspace",
        "single",
        why="statistics have no id of their own: keyed by the workspace they describe",
        needs="workspace admin",
    ),
    Endpoint(
        "workspace_clients",
        "/workspaces/{workspace_id}/clients",
        "id",
        "workspace",
        "list",
        params={"status": "both"},
        why="status=both: the default leaves archived clients out",
    ),
    Endpoint(
        "workspace_tags",
        "/workspaces/{workspace_id}/tags",
        "id",
        "workspace",
        "paged",
        why="the reference pages tags (`page`, `per_page`): every page is read",
    ),
    Endpoint(
        "organizations_groups",
        "/organizations/{organization_id}/groups",
        "group_id",
        "organization",
        "list",
        why="keyed by group_id: groups have no id field; organization_id added for joins; "
        "the reference documents no 403 here, but a service that refuses members is covered",
        needs="organization admin",
    ),
    Endpoint(
        "workspace_users",
        "/workspaces/{workspace_id}/workspace_users",
        "id",
        "workspace",
        "list",
        why="(not in the guide) per-workspace rates, labor costs and working hours",
        needs="workspace admin",
    ),
    Endpoint(
        "project_users",
        "/workspaces/{workspace_id}/project_users",
        "id",
        "workspace",
        "list",
        params={"with_group_members": "true"},
        why="(not in the guide) each project member's rate and labor cost on the project; "
        "with_group_members=true: members through a group too (legacy gid folded into group_id)",
        needs="workspace admin",
    ),
    Endpoint(
        "project_groups",
        "/workspaces/{workspace_id}/project_groups",
        "id",
        "workspace",
        "list",
        why="(not in the guide) the groups that are members of projects; the service names "
        "only the legacy pid and wid, folded into project_id and workspace_id",
    ),
    Endpoint(
        "organizations_users",
        "/organizations/{organization_id}/users",
        "id",
        "organization",
        "paged",
        why="pages of at most 200; the guide's unpaged call stops after the first 50; the "
        "service's records lack organization_id, added from the path",
        needs="organization admin",
    ),
    Endpoint(
        "workspace_projects",
        "/workspaces/{workspace_id}/projects",
        "id",
        "workspace",
        "since",
        params={"active": "both"},
        why="active=both and every page: the defaults leave inactive projects and page 2+ out",
    ),
    Endpoint(
        "workspace_tasks",
        "/workspaces/{workspace_id}/tasks",
        "id",
        "workspace",
        "since",
        params={"active": "both"},
        why="active=both and every page (the guide pages by 50; 200 costs a quarter of the calls)",
    ),
    Endpoint(
        "rates",
        "/workspaces/{workspace_id}/rates/{level}/{level_id}",
        "id",
        "workspace",
        "rates",
        why="(not in the guide; opt-in: sources.timetrack.rates, --rates) the history of each "
        "rate and labor cost (workspace, member, project, project member), which prices past "
        "entries right; one request per history, read again only when its record's "
        "rate_last_updated or labor_cost_last_updated moves",
        needs="workspace admin",
    ),
    Endpoint(
        "time_entries",
        "/me/time_entries",
        "id",
        "token",
        "me",
        why="the guide's bare call returns 9 days; the source asks for the whole 90-day window",
    ),
    Endpoint(
        "report_time_entries",
        "(report search)",
        "id",
        "workspace",
        "report",
        why="every member's entries and the full history: only the report search has them",
    ),
)

BY_TABLE: dict[str, Endpoint] = {e.table: e for e in ENDPOINTS}

REJECTED_TABLE = "rejected_records"
"""Records that could not land (no key): table, key, reason, the raw JSON, and dlt's load id."""
