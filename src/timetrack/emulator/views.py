"""How each record looks on the wire: field names, legacy aliases, absent keys, spellings.

The spelling of every timestamp is chosen from the record id and the field, so a page mixes
spellings (zones, offsets, fractions) while staying reproducible; see timefmt. These are the
canonical renderings: drift and alias quirks (drift.py) are applied on top by the API only.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from timetrack.emulator import seeded
from timetrack.emulator.model import (
    NO_ID,
    RUNNING,
    Client,
    Dataset,
    Group,
    Membership,
    Organization,
    Project,
    ProjectGroup,
    ProjectUser,
    Rate,
    Tag,
    Task,
    User,
    Workspace,
    WorkspaceUser,
)
from timetrack.emulator.timefmt import format_date, format_local_many, format_ts, format_ts_us

Json = dict[str, Any]
ICAL_BASE = "https://track.example.com/ical/workspace_user/"


def ts(data: Dataset, value: float | None, record_id: int, salt: int) -> str | None:
    """A timestamp field of a record, in the spelling its id and field pick (None stays None)."""
    return None if value is None else format_ts(value, record_id + salt, data.offsets)


PERMISSIONS = (["read"], ["read", "update"], ["read", "update", "delete"])
"""A record's `permissions` where one is served *(ours)*: the reference types it as an array of
strings and names none; real responses seen so far carried null."""


def permissions(data: Dataset, kind: str, record_id: int) -> list[str] | None:
    """A record's `permissions`: null on most, a list of action names on a fifth."""
    roll = seeded.draw(data.seed, "permissions", kind, record_id)
    return None if roll % 5 else list(PERMISSIONS[(roll >> 8) % len(PERMISSIONS)])


def accounts_id(data: Dataset, user_id: int) -> str:
    """The user's id in the service's accounts system (`toggl_accounts_id`): opaque text."""
    return _accounts_id(data.seed, user_id)


@functools.lru_cache(maxsize=4096)
def _accounts_id(seed: int, user_id: int) -> str:
    # Cached: every report row names one, and a page holds hundreds of rows of few users.
    return seeded.secret(seed, "accounts", user_id)[:24]


def avatar_url(user_id: int) -> str:
    """A user's avatar link."""
    return f"https://assets.example.com/avatars/{user_id}.png"


def max_data_retention_days(org: Organization) -> int:
    """How long the organization's plan keeps data *(ours)*: one, three or ten years by plan,
    longer than any history generated here."""
    return {0: 365, 1: 3 * 365}.get(org.plan.id, 10 * 365)


def role_permissions(admin: bool) -> list[str]:
    """An organization's or workspace's `permissions` for the viewer *(ours)*, by their role."""
    return list(PERMISSIONS[2] if admin else PERMISSIONS[0])


def integration(item: Client | Project | Task | Tag) -> Json:
    """The link to another tool the reference documents on clients, projects, tasks and tags
    (all three null when the record has none)."""
    return {
        "integration_provider": item.integration_provider,
        "integration_ext_id": item.integration_ext_id,
        "integration_ext_type": item.integration_ext_type,
    }


def me(data: Dataset, user: User) -> Json:
    """GET /me."""
    return {
        "id": user.id,
        "email": user.email,
        "fullname": user.fullname,
        "timezone": user.timezone,
        "default_workspace_id": user.default_workspace_id,
        "beginning_of_week": user.beginning_of_week,
        "image_url": f"https://assets.example.com/avatars/{user.id}.png",
        "created_at": ts(data, user.created_at, user.id, 0),
        "updated_at": ts(data, user.at, user.id, 1),
        "at": ts(data, user.at, user.id, 2),
        **me_account(data, user),
    }


def me_account(data: Dataset, user: User) -> Json:
    """The account fields of GET /me the reference lists beside the profile (`with_related_data`
    lists aside), and `toggl_accounts_id`, which published clients read there too. Who signs
    in with OpenID (and so may have no password) is drawn from the user's id."""
    roll = seeded.mix(data.seed, user.id)
    openid = roll % 5 == 0
    return {
        "2fa_enabled": user.two_factor,
        "api_token": user.token,
        "has_password": not openid or roll % 2 == 0,
        "openid_enabled": openid,
        "openid_email": user.email if openid else None,
        "oauth_providers": ["google"] if openid else [],
        "authorization_updated_at": ts(data, user.created_at + roll % 86_400, user.id, 3),
        "country_id": 1 + roll % 250,
        "intercom_hash": f"{roll:016x}{seeded.mix(roll, user.id):016x}",
        "options": {},
        # The same as the report rows' `toggl_accounts_id` (views.accounts_id on the branch
        # emulator-reference, which serves them): one user, one accounts id.
        "toggl_accounts_id": seeded.secret(data.seed, "accounts", user.id)[:24],
    }


def organization(data: Dataset, org: Organization, viewer: Membership) -> Json:
    """An organization as its member `viewer` sees it."""
    return {
        "id": org.id,
        "name": org.name,
        "pricing_plan_id": org.plan.id,
        "pricing_plan_name": org.plan.name,
        "created_at": ts(data, org.created_at, org.id, 0),
        "at": ts(data, org.at, org.id, 1),
        "server_deleted_at": ts(data, org.server_deleted_at, org.id, 2),
        "suspended_at": ts(data, org.suspended_at, org.id, 3),
        "is_multi_workspace_enabled": org.is_multi_workspace_enabled,
        "is_unified": org.is_unified,
        "user_count": 0,
        "max_workspaces": org.max_workspaces,
        "admin": viewer.admin,
        "owner": viewer.owner,
        "pricing_plan_enterprise": False,
        "max_data_retention_days": max_data_retention_days(org),
        "permissions": role_permissions(viewer.admin or viewer.owner),
        "subscription": (
            None
            if org.plan.id == 0
            else {
                "plan_id": org.plan.id,
                "plan_name": org.plan.name,
                "renewal_at": ts(data, org.created_at + 2 * 365 * 86_400, org.id, 4),
                "auto_renew": True,
            }
        ),
        "trial_info": {
            "trial": False,
            "trial_available": org.plan.id == 0,
            "trial_end_date": None,
            "next_payment_date": None,
            "last_pricing_plan_id": None,
        },
    }


def organization_with_count(data: Dataset, org: Organization, viewer: Membership) -> Json:
    """An organization with its live member count filled in."""
    payload = organization(data, org, viewer)
    payload["user_count"] = sum(
        1 for m in data.memberships[org.id].values() if not m.inactive and m.joined
    )
    return payload


def organization_user(data: Dataset, member: Membership) -> Json:
    """GET /organizations/{id}/users item. No `organization_id`: the real service leaves it
    out, the organization is known only from the path."""
    user = data.users[member.user_id]
    groups = [
        {"group_id": g.group_id, "name": g.name}
        for g in data.groups.values()
        if g.organization_id == member.organization_id and member.user_id in g.user_ids
    ]
    workspaces = [
        {
            "workspace_id": ws.id,
            "workspace_name": ws.name,
            "role": ws.members[member.user_id],
            "admin": ws.members[member.user_id] == "admin",
            "active": not member.inactive,
        }
        for ws in data.workspaces.values()
        if ws.organization_id == member.organization_id and member.user_id in ws.members
    ]
    return {
        "id": member.id,
        "user_id": member.user_id,
        "name": user.fullname,
        "email": user.email,
        "avatar_url": f"https://assets.example.com/avatars/{user.id}.png",
        "inactive": member.inactive,
        "joined": member.joined,
        "admin": member.admin,
        "owner": member.owner,
        "can_edit_email": member.can_edit_email,
        "invitation_code": member.invitation_code,
        "groups": groups or None,
        "workspaces": workspaces,
        "workspace_count": len(workspaces),
        "role_id": 1 if member.owner else 2 if member.admin else 3,
        "invitation_id": (
            None if member.invitation_code is None else int(member.invitation_code[3:], 16)
        ),
        "2fa_enabled": user.two_factor,
    }


def group(data: Dataset, item: Group) -> Json:
    """GET /organizations/{id}/groups item."""
    return {
        "group_id": item.group_id,
        "name": item.name,
        "at": ts(data, item.at, item.group_id, 0),
        "users": [
            {"user_id": uid, "name": data.users[uid].fullname, "avatar_url": ""}
            for uid in item.user_ids
        ]
        or None,
        "workspaces": list(item.workspace_ids),
        "permissions": permissions(data, "group", item.group_id),
    }


def ical_url(ws: Workspace) -> str:
    """The workspace's private calendar link; its path holds `ical_secret`."""
    return ICAL_BASE + ws.ical_secret


def workspace(data: Dataset, ws: Workspace, viewer_id: int) -> Json:
    """GET /me/workspaces item, credentials (`api_token`, `ical_url`) included, as served."""
    premium = ws.premium
    return {
        "id": ws.id,
        "organization_id": ws.organization_id,
        "name": ws.name,
        "premium": premium,
        "business_ws": premium,
        "admin": ws.members.get(viewer_id) == "admin",
        "role": ws.members.get(viewer_id),
        "default_hourly_rate": ws.default_hourly_rate_cents / 100,
        "rate_last_updated": ts(data, ws.created_at, ws.id, 4),
        "default_currency": ws.default_currency,
        "only_admins_may_create_projects": False,
        "only_admins_may_create_tags": ws.id % 2 == 0,
        "only_admins_see_billable_rates": premium,
        "only_admins_see_team_dashboard": False,
        "projects_billable_by_default": True,
        "projects_enforce_billable": False,
        "projects_private_by_default": ws.id % 3 == 0,
        "limit_public_project_data": False,
        "hide_start_end_times": False,
        "reports_collapse": True,
        "rounding": 1,
        "rounding_minutes": 0,
        "csv_upload": (
            {"at": ts(data, ws.created_at + 86_400, ws.id, 6), "log_id": ws.id % 100_000}
            if ws.id % 3 == 0
            else None
        ),
        "active_project_count": sum(
            1
            for p in data.in_workspace("projects", ws.id)
            if p.active and p.server_deleted_at is None
        ),
        "disable_approvals": not premium,
        "disable_expenses": True,
        "disable_timesheet_view": False,
        "max_data_retention_days": max_data_retention_days(data.organizations[ws.organization_id]),
        "permissions": role_permissions(ws.members.get(viewer_id) == "admin"),
        "te_constraints": {
            "description_present": False,
            "project_present": ws.id % 2 == 0,
            "tag_present": False,
            "task_present": False,
            "time_entry_constraints_enabled": ws.id % 2 == 0,
        },
        "subscription": (
            {"plan": "premium", "renewal_at": ts(data, ws.at + 365 * 86_400, ws.id, 5)}
            if premium
            else None
        ),
        "working_hours_in_minutes": ws.working_hours_in_minutes,
        "ical_enabled": True,
        "ical_url": ical_url(ws),
        "api_token": ws.api_token,
        "at": ts(data, ws.at, ws.id, 0),
        "last_modified": ts(data, ws.at, ws.id, 2),
        "server_deleted_at": ts(data, ws.server_deleted_at, ws.id, 1),
        "suspended_at": None,
        "logo_url": "https://assets.example.com/logos/default.png",
    }


def statistics(data: Dataset, ws: Workspace) -> Json:
    """GET /workspaces/{id}/statistics."""
    return {
        "admins": [
            {"user_id": uid, "name": data.users[uid].fullname}
            for uid, role in sorted(ws.members.items())
            if role == "admin"
        ],
        "groups_count": sum(1 for g in data.groups.values() if ws.id in g.workspace_ids),
        "members_count": len(ws.members),
    }


def _inactive(data: Dataset, ws: Workspace, user_id: int) -> bool:
    member = data.memberships[ws.organization_id].get(user_id)
    return member is None or member.inactive


def workspace_member(data: Dataset, ws: Workspace, user_id: int) -> Json:
    """GET /workspaces/{id}/users item: the user as a member of this workspace."""
    user = data.users[user_id]
    inactive = _inactive(data, ws, user_id)
    return {
        "id": user.id,
        "email": user.email,
        "fullname": user.fullname,
        "timezone": user.timezone,
        "inactive": inactive,
        "is_active": not inactive,
        "is_admin": ws.members[user_id] == "admin",
        "role": ws.members[user_id],
        "2fa_enabled": user.two_factor,
    }


def workspace_user(data: Dataset, ws: Workspace, item: WorkspaceUser) -> Json:
    """GET /workspaces/{id}/workspace_users item: one membership, `id` its own (not the
    user's), with legacy `uid`/`wid` beside `user_id`/`workspace_id`."""
    user = data.users[item.user_id]
    inactive = _inactive(data, ws, item.user_id)
    org_member = data.memberships[ws.organization_id].get(item.user_id)
    role = ws.members[item.user_id]
    return {
        "id": item.id,
        "user_id": item.user_id,
        "workspace_id": ws.id,
        "uid": item.user_id,
        "wid": ws.id,
        "name": user.fullname,
        "email": user.email,
        "timezone": user.timezone,
        "active": not inactive,
        "inactive": inactive,
        "admin": role == "admin",
        "organization_admin": org_member is not None and org_member.admin,
        "workspace_admin": role == "admin",
        "role": role,
        "role_id": 2 if role == "admin" else 3,
        "group_ids": None if item.group_ids is None else list(item.group_ids),
        "rate": item.rate,
        "rate_last_updated": ts(data, item.rate_last_updated, item.id, 1),
        "labor_cost": item.labor_cost,
        "labor_cost_last_updated": ts(data, item.labor_cost_last_updated, item.id, 2),
        "working_hours_in_minutes": item.working_hours_in_minutes,
        "at": ts(data, item.at, item.id, 0),
        "invitation_code": None if org_member is None else org_member.invitation_code,
        "invite_url": (
            None
            if org_member is None or org_member.invitation_code is None
            else f"https://track.example.com/invite/{org_member.invitation_code}"
        ),
        "is_direct": True,
        "avatar_file_name": None if item.user_id % 2 else f"avatars/{item.user_id}.png",
        "view_edit_billable_rates": role == "admin",
        "view_edit_labor_costs": role == "admin",
        "2fa_enabled": user.two_factor,
    }


def client(data: Dataset, item: Client) -> Json:
    """GET /workspaces/{id}/clients item: `wid` only, `notes` absent when unset."""
    payload: Json = {
        "id": item.id,
        "wid": item.workspace_id,
        "name": item.name,
        "archived": item.archived,
        "at": ts(data, item.at, item.id, 0),
        "creator_id": item.creator_id,
        "server_deleted_at": ts(data, item.server_deleted_at, item.id, 1),
        "external_reference": item.external_reference,
        **integration(item),
        "permissions": permissions(data, "client", item.id),
    }
    if item.notes is not None:
        payload["notes"] = item.notes
    return payload


def project(data: Dataset, item: Project) -> Json:
    """GET /workspaces/{id}/projects item, with legacy `wid`/`cid` beside the new names."""
    estimated_seconds = None if item.estimated_hours is None else item.estimated_hours * 3600
    actual_hours = None if item.actual_seconds is None else item.actual_seconds // 3600
    roll = seeded.mix(data.seed, item.id)
    first_entry = None if roll % 4 == 0 else item.start_date + (roll >> 8) % 97 * 3600
    payload: Json = {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "wid": item.workspace_id,
        "client_id": item.client_id,
        "cid": item.client_id,
        "client_name": client_name(data, item.client_id),
        "name": item.name,
        "is_private": item.is_private,
        "active": item.active,
        "at": ts(data, item.at, item.id, 0),
        "created_at": ts(data, item.created_at, item.id, 1),
        "server_deleted_at": ts(data, item.server_deleted_at, item.id, 2),
        "color": item.color,
        "billable": item.billable,
        "template": item.template,
        "template_id": None,
        "auto_estimates": item.auto_estimates,
        "estimated_hours": item.estimated_hours,
        "estimated_seconds": estimated_seconds,
        "rate": item.rate,
        "rate_last_updated": ts(data, item.rate_last_updated, item.id, 3),
        "currency": item.currency,
        "recurring": item.recurring,
        "recurring_parameters": item.recurring_parameters,
        "current_period": (
            {"start_date": format_date(item.start_date), "end_date": None}
            if item.recurring
            else None
        ),
        "fixed_fee": item.fixed_fee,
        "actual_hours": actual_hours,
        "actual_seconds": item.actual_seconds,
        "start_date": format_date(item.start_date),
        "status": "active" if item.active else "archived",
        "pinned": item.pinned,
        "is_shared": False,
        "can_track_time": item.active and item.server_deleted_at is None,
        "tasks_count": data.task_counts().get(item.id, 0),
        "first_time_entry": ts(data, first_entry, item.id, 4),
        "permissions": permissions(data, "project", item.id),
        "external_reference": item.external_reference,
        **integration(item),
    }
    if item.end_date is not None:
        payload["end_date"] = format_date(item.end_date)
    return payload


def client_name(data: Dataset, client_id: int | None) -> str | None:
    """The name of a client by id (None for none)."""
    client = None if client_id is None else data.clients.get(client_id)
    return None if client is None else client.name


def task(data: Dataset, item: Task) -> Json:
    """GET /workspaces/{id}/tasks item, with its project's and client's names and colour
    beside their ids, as the reference documents."""
    project = data.projects.get(item.project_id)
    client_id = None if project is None else project.client_id
    user = None if item.user_id is None else data.users.get(item.user_id)
    return {
        "id": item.id,
        "name": item.name,
        "workspace_id": item.workspace_id,
        "project_id": item.project_id,
        "user_id": item.user_id,
        "recurring": item.recurring,
        "active": item.active,
        "at": ts(data, item.at, item.id, 0),
        "server_deleted_at": ts(data, item.server_deleted_at, item.id, 1),
        "estimated_seconds": item.estimated_seconds,
        "tracked_seconds": item.tracked_seconds,
        **integration(item),
        "external_reference": item.external_reference,
        "rate": item.rate,
        "rate_last_updated": ts(data, item.rate_last_updated, item.id, 2),
        "project_name": None if project is None else project.name,
        "project_color": None if project is None else project.color,
        "project_billable": None if project is None else project.billable,
        "project_is_private": None if project is None else project.is_private,
        "client_id": client_id,
        "client_name": client_name(data, client_id),
        "user_name": None if user is None else user.fullname,
        "avatar_url": None if user is None else avatar_url(user.id),
        "toggl_accounts_id": None if user is None else accounts_id(data, user.id),
        "permissions": permissions(data, "task", item.id),
    }


def tag(data: Dataset, item: Tag) -> Json:
    """GET /workspaces/{id}/tags item."""
    return {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "name": item.name,
        "at": ts(data, item.at, item.id, 0),
        "creator_id": item.creator_id,
        "deleted_at": None,  # the list holds live tags only: a deleted tag is gone from it
        **integration(item),
        "permissions": permissions(data, "tag", item.id),
    }


def project_user(data: Dataset, item: ProjectUser) -> Json:
    """GET /workspaces/{id}/project_users item, with legacy `gid` beside `group_id`."""
    return {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "project_id": item.project_id,
        "user_id": item.user_id,
        "manager": item.manager,
        "group_id": item.group_id,
        "gid": item.group_id,
        "rate": item.rate,
        "rate_last_updated": ts(data, item.rate_last_updated, item.id, 1),
        "labor_cost": item.labor_cost,
        "labor_cost_last_updated": ts(data, item.labor_cost_last_updated, item.id, 2),
        "at": ts(data, item.at, item.id, 0),
    }


def project_group(item: ProjectGroup) -> Json:
    """GET /workspaces/{id}/project_groups item: the reference names only legacy `pid`/`wid`."""
    return {
        "id": item.id,
        "group_id": item.group_id,
        "pid": item.project_id,
        "wid": item.workspace_id,
    }


def rate(data: Dataset, item: Rate) -> Json:
    """GET /workspaces/{id}/rates/{level}/{level_id} item: one period of a rate's history."""
    return {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "type": item.type,
        "amount": item.amount,
        "start": ts(data, item.start, item.id, 0),
        "end": ts(data, item.end, item.id, 1),
        "rate_change_mode": item.rate_change_mode,
        "workspace_user_id": item.workspace_user_id,
        "project_id": item.project_id,
        "project_user_id": item.project_user_id,
        "planned_task_id": item.planned_task_id,
        "creator_id": item.creator_id,
        "created_at": ts(data, item.created_at, item.id, 2),
        "updated_at": ts(data, item.created_at if item.end is None else item.end, item.id, 3),
        "deleted_at": ts(data, item.deleted_at, item.id, 4),
    }


def entry_tags(data: Dataset, workspace_id: int, bits: int) -> list[Tag]:
    """The live tags an entry's bit mask names, in the workspace's order."""
    found: list[Tag] = []
    for index, tag_id in enumerate(data.workspace_tags.get(workspace_id, ())):
        if bits >> index & 1:
            item = data.tags[tag_id]
            if item.server_deleted_at is None:
                found.append(item)
    return found


def time_entry_meta(data: Dataset, pos: int, include_sharing: bool = False) -> Json:
    """What `meta=true` adds to a time entry: its user's, project's, client's and task's names
    and a few of their fields, as the reference lists them (null where the entry has none);
    `shared_with` is a list only with `include_sharing=true` (no entry is shared here)."""
    store = data.entries
    user = data.users[store.value(pos, "user_id")]
    project = data.projects.get(store.value(pos, "project_id"))
    client_id = None if project is None else project.client_id
    client = None if client_id is None else data.clients.get(client_id)
    task = data.tasks.get(store.value(pos, "task_id"))
    return {
        "user_name": user.fullname,
        "user_avatar_url": f"https://assets.example.com/avatars/{user.id}.png",
        "client_id": client_id,
        "client_name": None if client is None else client.name,
        "project_name": None if project is None else project.name,
        "project_active": None if project is None else project.active,
        "project_billable": None if project is None else project.billable,
        "project_color": None if project is None else project.color,
        "task_name": None if task is None else task.name,
        "expense_ids": [],
        "shared_with": [] if include_sharing else None,
    }


def time_entry(data: Dataset, pos: int) -> Json:
    """A time entry by row: legacy copies, `pid`/`tid` absent when null, negative running
    duration."""
    store = data.entries
    entry_id = store.value(pos, "id")
    start = store.value(pos, "start")
    stop = store.value(pos, "stop")
    project_id = store.value(pos, "project_id")
    task_id = store.value(pos, "task_id")
    workspace_id = store.value(pos, "workspace_id")
    user_id = store.value(pos, "user_id")
    description = store.value(pos, "description")
    deleted_us = store.value(pos, "deleted_us")
    tags = entry_tags(data, workspace_id, store.value(pos, "tags"))
    offsets = data.offsets
    payload: Json = {
        "id": entry_id,
        "workspace_id": workspace_id,
        "project_id": project_id or None,
        "task_id": task_id or None,
        "billable": bool(store.value(pos, "billable")),
        "start": format_ts_us(start * 1_000_000, entry_id, offsets),
        "stop": None if stop == RUNNING else format_ts_us(stop * 1_000_000, entry_id + 1, offsets),
        "duration": -start if stop == RUNNING else stop - start,
        "description": None if description < 0 else store.descriptions[description],
        "tags": [t.name for t in tags],
        "tag_ids": [t.id for t in tags],
        "duronly": bool(store.value(pos, "duronly")),
        "at": format_ts_us(store.value(pos, "at_us"), entry_id + 2, offsets),
        "server_deleted_at": (
            None if deleted_us == 0 else format_ts_us(deleted_us, entry_id + 3, offsets)
        ),
        "user_id": user_id,
        "uid": user_id,
        "wid": workspace_id,
        "permissions": None if seeded.mix(data.seed, entry_id) % 5 else ["read", "update"],
    }
    if project_id != NO_ID:
        payload["pid"] = project_id
    if task_id != NO_ID:
        payload["tid"] = task_id
    return payload


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_users_zones(
    data: Dataset, user_ids: npt.NDArray[np.int64], unix_us: npt.NDArray[np.int64]
) -> list[str]:
    """Each instant as a wall time in the timezone of the user beside it (the report's
    `at_tz`, for the entry's own user: *ours*, the reference names no whose)."""
    user_ids = np.asarray(user_ids, dtype=np.int64)
    unix_us = np.asarray(unix_us, dtype=np.int64)
    minutes = np.zeros(len(unix_us), dtype=np.int64)
    users, inverse = np.unique(user_ids, return_inverse=True)
    names = [data.users[u].timezone for u in users.tolist()]
    for name in set(names) - {"UTC"}:
        mine = np.flatnonzero(np.isin(inverse, [i for i, n in enumerate(names) if n == name]))
        minutes[mine] = _offsets(_zone(name), unix_us[mine])
    return format_local_many(unix_us, minutes)


def _offset(zone: ZoneInfo, unix: int) -> int:
    """The zone's UTC offset in minutes at a unix second."""
    offset = datetime.fromtimestamp(unix, UTC).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def _offsets(zone: ZoneInfo, unix_us: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The zone's offsets at many instants, asked once per UTC day (a page spans few days),
    and per instant only on a day the offset changes."""
    days, inverse = np.unique(unix_us // 86_400_000_000, return_inverse=True)
    first = np.array([_offset(zone, d * 86_400) for d in days.tolist()], dtype=np.int64)
    last = np.array([_offset(zone, d * 86_400 + 86_399) for d in days.tolist()], dtype=np.int64)
    out = first[inverse]
    for i in np.flatnonzero((first != last)[inverse]).tolist():
        out[i] = _offset(zone, int(unix_us[i]) // 1_000_000)
    return out
