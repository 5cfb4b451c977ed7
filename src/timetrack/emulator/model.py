"""The emulator's data: small entities as dataclasses, time entries as numpy columns.

Time entries live in columns so that a million of them generate in a second, fit in a few dozen
megabytes, and any page is found by binary search instead of a scan.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class Plan:
    """A pricing plan: its id, name and hourly request quota."""

    id: int
    name: str
    quota_per_hour: int


PLANS = (Plan(2, "Premium", 600), Plan(1, "Starter", 240), Plan(0, "Free", 30))


@dataclass(slots=True)
class User:
    """A person with a login; `token` is None for users nobody logs in as here."""

    id: int
    email: str
    fullname: str
    timezone: str
    beginning_of_week: int
    default_workspace_id: int
    created_at: float
    at: float
    token: str | None = None
    two_factor: bool = False


@dataclass(slots=True)
class Organization:
    """An organization: the unit of billing and of the quota."""

    id: int
    name: str
    plan: Plan
    max_workspaces: int
    created_at: float
    at: float
    is_multi_workspace_enabled: bool
    is_unified: bool
    owner_id: int
    server_deleted_at: float | None = None
    suspended_at: float | None = None


@dataclass(slots=True)
class Membership:
    """A user's membership of an organization (an 'organization user')."""

    id: int
    user_id: int
    organization_id: int
    inactive: bool
    joined: bool
    admin: bool
    owner: bool
    can_edit_email: bool
    invitation_code: str | None


@dataclass(slots=True)
class Workspace:
    """A workspace; `members` maps user id to role ('admin' or 'user')."""

    id: int
    organization_id: int
    name: str
    premium: bool
    default_currency: str
    default_hourly_rate_cents: int
    created_at: float
    at: float
    members: dict[int, str] = field(default_factory=dict)
    server_deleted_at: float | None = None
    api_token: str = ""
    """The workspace's own secret token, served in /me/workspaces (a credential in the data)."""
    ical_secret: str = ""
    """The secret in the workspace's private calendar link (`ical_url`)."""
    working_hours_in_minutes: int | None = None


@dataclass(slots=True)
class WorkspaceUser:
    """A user's membership of a workspace (`/workspaces/{id}/workspace_users`); the role lives
    in `Workspace.members`, which admin edits keep in step with these."""

    id: int
    workspace_id: int
    user_id: int
    at: float
    rate: float | None
    rate_last_updated: float | None
    labor_cost: float | None
    labor_cost_last_updated: float | None
    working_hours_in_minutes: int | None
    group_ids: list[int] | None = None


@dataclass(slots=True)
class Group:
    """A group of an organization's users, attached to some of its workspaces."""

    group_id: int
    organization_id: int
    name: str
    at: float
    user_ids: list[int]
    workspace_ids: list[int]


@dataclass(slots=True)
class Client:
    """A client of a workspace."""

    id: int
    workspace_id: int
    name: str
    archived: bool
    at: float
    creator_id: int
    notes: str | None = None
    server_deleted_at: float | None = None
    external_reference: str | None = None
    integration_provider: str | None = None
    integration_ext_id: str | None = None
    integration_ext_type: str | None = None


@dataclass(slots=True)
class Project:
    """A project of a workspace."""

    id: int
    workspace_id: int
    client_id: int | None
    name: str
    color: str
    active: bool
    is_private: bool
    billable: bool | None
    recurring: bool
    template: bool | None
    auto_estimates: bool | None
    at: float
    created_at: float
    start_date: float
    end_date: float | None
    currency: str | None
    estimated_hours: int | None
    actual_seconds: int | None
    rate: float | None
    fixed_fee: float | None
    rate_last_updated: float | None
    recurring_parameters: list[dict[str, Any]] | None = None
    server_deleted_at: float | None = None
    pinned: bool = False
    external_reference: str | None = None
    integration_provider: str | None = None
    integration_ext_id: str | None = None
    integration_ext_type: str | None = None


@dataclass(slots=True)
class Task:
    """A task of a project."""

    id: int
    workspace_id: int
    project_id: int
    user_id: int | None
    estimated_seconds: int | None
    name: str
    active: bool
    recurring: bool
    tracked_seconds: int
    at: float
    server_deleted_at: float | None = None
    integration_provider: str | None = None
    integration_ext_id: str | None = None
    integration_ext_type: str | None = None
    external_reference: str | None = None
    rate: float | None = None
    rate_last_updated: float | None = None


@dataclass(slots=True)
class Tag:
    """A tag of a workspace; its position in the workspace's list is its bit in entries."""

    id: int
    workspace_id: int
    name: str
    at: float
    creator_id: int
    server_deleted_at: float | None = None
    integration_provider: str | None = None
    integration_ext_id: str | None = None
    integration_ext_type: str | None = None


@dataclass(slots=True)
class ProjectUser:
    """A user's membership of a project (`/workspaces/{id}/project_users`), with the rate and
    labor cost set for them on that project, if any."""

    id: int
    workspace_id: int
    project_id: int
    user_id: int
    manager: bool
    at: float
    rate: float | None = None
    rate_last_updated: float | None = None
    labor_cost: float | None = None
    labor_cost_last_updated: float | None = None
    group_id: int | None = None
    """Set when the membership comes from a group's (the project's group)."""


@dataclass(slots=True)
class ProjectGroup:
    """A group of the organization made a member of a project
    (`/workspaces/{id}/project_groups`)."""

    id: int
    workspace_id: int
    project_id: int
    group_id: int


RATE_LEVELS = ("workspace", "workspace_user", "project", "project_user", "task")
"""What a rate is set on (`/workspaces/{id}/rates/{level}/{level_id}`), as the reference's
fields (`workspace_user_id`, `project_id`, `project_user_id`, `planned_task_id`) name them."""
RATE_TYPES = ("billable_rates", "labor_costs")


@dataclass(slots=True)
class Rate:
    """One period of a rate's history: `amount` from `start` until `end` (None: still in
    force). The last period of a level's history is the rate its record shows now."""

    id: int
    workspace_id: int
    type: str
    level: str
    level_id: int
    amount: float
    start: float
    end: float | None
    created_at: float
    creator_id: int
    rate_change_mode: str
    project_id: int | None = None
    project_user_id: int | None = None
    workspace_user_id: int | None = None
    planned_task_id: int | None = None
    deleted_at: float | None = None


NO_ID = 0
"""Stands for null in the integer columns of time entries."""

RUNNING = -1
"""The stop column's value for a running entry."""


class TimeEntryStore:
    """Time entries in growable numpy columns, ids ascending with position.

    Columns: id, workspace_id, user_id, project_id, task_id (NO_ID for null), start and stop in
    unix seconds (stop RUNNING while running), description (index into `descriptions`, -1 for
    null), tags (bit mask over the workspace's tag list), billable, duronly, at_us and deleted_us
    (unix microseconds; deleted_us 0 while live).
    """

    INT_COLUMNS = (
        "id",
        "workspace_id",
        "user_id",
        "project_id",
        "task_id",
        "start",
        "stop",
        "description",
        "tags",
        "at_us",
        "deleted_us",
    )
    BOOL_COLUMNS = ("billable", "duronly")

    def __init__(self, columns: dict[str, npt.NDArray[Any]], descriptions: list[str]) -> None:
        self.lock = threading.RLock()
        self._size = len(columns["id"])
        self._cols: dict[str, npt.NDArray[Any]] = {}
        for name in self.INT_COLUMNS:
            self._cols[name] = np.asarray(columns[name], dtype=np.int64).copy()
        for name in self.BOOL_COLUMNS:
            self._cols[name] = np.asarray(columns[name], dtype=np.bool_).copy()
        self.descriptions = descriptions
        self._description_index = {text: i for i, text in enumerate(descriptions)}
        self._workspace_version: dict[int, int] = {}
        self._user_version: dict[int, int] = {}
        self._report_cache: dict[int, tuple[int, I64, I64, I64]] = {}
        self._user_cache: dict[int, tuple[int, I64]] = {}

    def __len__(self) -> int:
        return self._size

    def col(self, name: str) -> npt.NDArray[Any]:
        """A read-only view of one column's live part."""
        view = self._cols[name][: self._size]
        view.flags.writeable = False
        return view

    def description_id(self, text: str | None) -> int:
        """Intern a description and return its index (-1 for None)."""
        if text is None:
            return -1
        index = self._description_index.get(text)
        if index is None:
            index = len(self.descriptions)
            self.descriptions.append(text)
            self._description_index[text] = index
        return index

    def position(self, entry_id: int) -> int | None:
        """The row of an entry id, by binary search (ids ascend with position)."""
        ids = self._cols["id"][: self._size]
        pos = int(np.searchsorted(ids, entry_id))
        if pos < self._size and int(ids[pos]) == entry_id:
            return pos
        return None

    def next_id(self) -> int:
        """An id above every existing one."""
        return int(self._cols["id"][self._size - 1]) + 1 if self._size else 3_000_000_001

    def append(self, values: dict[str, int | bool]) -> int:
        """Add one entry; returns its row."""
        if self._size == len(self._cols["id"]):
            grow = max(1024, self._size)
            for name, column in self._cols.items():
                self._cols[name] = np.concatenate([column, np.zeros(grow, dtype=column.dtype)])
        pos = self._size
        self._size += 1
        for name, value in values.items():
            self._cols[name][pos] = value
        self._touch(pos)
        return pos

    def update(self, pos: int, values: dict[str, int | bool]) -> None:
        """Change some columns of one entry."""
        self._touch(pos)
        for name, value in values.items():
            self._cols[name][pos] = value
        self._touch(pos)

    def value(self, pos: int, name: str) -> int:
        """One integer or boolean cell."""
        return int(self._cols[name][pos])

    def _touch(self, pos: int) -> None:
        workspace_id = int(self._cols["workspace_id"][pos])
        user_id = int(self._cols["user_id"][pos])
        self._workspace_version[workspace_id] = self._workspace_version.get(workspace_id, 0) + 1
        self._user_version[user_id] = self._user_version.get(user_id, 0) + 1

    def report_index(self, workspace_id: int) -> tuple[I64, I64, I64]:
        """Rows of the workspace's live, stopped entries sorted by (start, id), with both keys."""
        version = self._workspace_version.get(workspace_id, 0)
        cached = self._report_cache.get(workspace_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2], cached[3]
        size = self._size
        mask = (
            (self._cols["workspace_id"][:size] == workspace_id)
            & (self._cols["deleted_us"][:size] == 0)
            & (self._cols["stop"][:size] != RUNNING)
        )
        rows = np.flatnonzero(mask).astype(np.int64)
        starts = self._cols["start"][rows]
        ids = self._cols["id"][rows]
        order = np.lexsort((ids, starts))
        rows, starts, ids = rows[order], starts[order], ids[order]
        self._report_cache[workspace_id] = (version, rows, starts, ids)
        return rows, starts, ids

    def user_rows(self, user_id: int) -> I64:
        """Rows of all the user's entries, deleted ones included."""
        version = self._user_version.get(user_id, 0)
        cached = self._user_cache.get(user_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = np.flatnonzero(self._cols["user_id"][: self._size] == user_id).astype(np.int64)
        self._user_cache[user_id] = (version, rows)
        return rows


@dataclass
class Dataset:
    """All the data one emulator serves."""

    users: dict[int, User]
    organizations: dict[int, Organization]
    memberships: dict[int, dict[int, Membership]]
    """organization id -> user id -> membership"""
    workspaces: dict[int, Workspace]
    groups: dict[int, Group]
    clients: dict[int, Client]
    projects: dict[int, Project]
    tasks: dict[int, Task]
    tags: dict[int, Tag]
    workspace_tags: dict[int, list[int]]
    """workspace id -> tag ids in bit order"""
    entries: TimeEntryStore
    workspace_users: dict[tuple[int, int], WorkspaceUser] = field(default_factory=dict)
    """(workspace id, user id) -> membership; kept in step with `Workspace.members`."""
    project_users: dict[int, ProjectUser] = field(default_factory=dict)
    project_groups: dict[int, ProjectGroup] = field(default_factory=dict)
    rates: dict[int, Rate] = field(default_factory=dict)
    """Rate histories of every level, by period id."""
    seed: int = 0
    offsets: bool = True
    """Whether timestamps are spelled with non-UTC offsets too (see timefmt)."""
    tokens: dict[str, int] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    version: int = 0
    """Bumped by every change to a small entity; keys the sorted-list cache."""
    _sorted: dict[tuple[str, int], tuple[int, list[Any]]] = field(default_factory=dict)
    _task_counts: tuple[int, dict[int, int]] = (-1, {})
    rate_book: Any = None
    """The billable rate histories as the report prices by them (rates.RateBook), cached."""
    webhooks: Any = None
    """The webhook subscriptions and deliveries (webhooks.Hub), once the server serves them."""

    def changed(
        self,
        entity: str,
        action: str,
        workspace_id: int,
        actor_id: int,
        render: Callable[[], dict[str, Any]],
        owner_id: int | None = None,
    ) -> None:
        """Tell the webhooks of one change (entity as the Webhooks API names it: time_entry,
        project, ...; action created, updated or deleted); `render` makes its payload."""
        if self.webhooks is not None:
            self.webhooks.changed(entity, action, workspace_id, actor_id, render, owner_id)

    def touch(self) -> None:
        """Note a change to clients, projects, tasks, tags or memberships."""
        self.version += 1

    def task_counts(self) -> dict[int, int]:
        """Live tasks per project, cached until the next change."""
        if self._task_counts[0] == self.version:
            return self._task_counts[1]
        counts: dict[int, int] = {}
        for item in self.tasks.values():
            if item.server_deleted_at is None:
                counts[item.project_id] = counts.get(item.project_id, 0) + 1
        self._task_counts = (self.version, counts)
        return counts

    def in_workspace(self, entity: str, workspace_id: int) -> list[Any]:
        """A workspace's clients, projects, tasks or tags in list order (by name, then id),
        cached until the next change, so a page costs a slice, not a sort of all data."""
        cached = self._sorted.get((entity, workspace_id))
        if cached is not None and cached[0] == self.version:
            return cached[1]
        items: dict[int, Any] = getattr(self, entity)
        ordered = sorted(
            (i for i in items.values() if i.workspace_id == workspace_id),
            key=lambda i: (i.name.lower(), i.id),
        )
        self._sorted[(entity, workspace_id)] = (self.version, ordered)
        return ordered

    def new_id(self, kind: str) -> int:
        """A fresh id for a created client, project, task or tag."""
        self.next_ids[kind] += 1
        return self.next_ids[kind]

    def user_for_token(self, token: str) -> User | None:
        """The user a token logs in as."""
        user_id = self.tokens.get(token)
        return None if user_id is None else self.users[user_id]

    def organization_ids_of(self, user_id: int) -> list[int]:
        """Organizations where the user is an active member."""
        return [
            org_id
            for org_id, members in self.memberships.items()
            if user_id in members and not members[user_id].inactive
        ]

    def workspace_ids_of(self, user_id: int) -> list[int]:
        """Workspaces the user is a member of."""
        return [ws.id for ws in self.workspaces.values() if user_id in ws.members]

    def organization_admin(self, user_id: int, organization_id: int) -> bool:
        """Whether the user administers the organization (its owner does too)."""
        member = self.memberships.get(organization_id, {}).get(user_id)
        return member is not None and not member.inactive and (member.admin or member.owner)

    def workspace_admin(self, user_id: int, workspace_id: int) -> bool:
        """Whether the user administers the workspace: its role there, as `/me/workspaces`
        shows it in `admin`."""
        ws = self.workspaces.get(workspace_id)
        return ws is not None and ws.members.get(user_id) == "admin"
