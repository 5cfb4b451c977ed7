"""How each record looks on the wire: field names, legacy aliases, absent keys, spellings.

The spelling of every timestamp is chosen from the record id and the field, so a page mixes
spellings while staying reproducible.
"""

from __future__ import annotations

from typing import Any

from timetrack.emulator.model import (
    NO_ID,
    RUNNING,
    Client,
    Dataset,
    Group,
    Membership,
    Organization,
    Project,
    Tag,
    Task,
    User,
    Workspace,
)
from timetrack.emulator.timefmt import format_date, format_ts

Json = dict[str, Any]


def _ts(value: float | None, record_id: int, salt: int) -> str | None:
    return None if value is None else format_ts(value, record_id + salt)


def me(user: User) -> Json:
    """GET /me."""
    return {
        "id": user.id,
        "email": user.email,
        "fullname": user.fullname,
        "timezone": user.timezone,
        "default_workspace_id": user.default_workspace_id,
        "beginning_of_week": user.beginning_of_week,
        "image_url": f"https://assets.example.com/avatars/{user.id}.png",
        "created_at": _ts(user.created_at, user.id, 0),
        "updated_at": _ts(user.at, user.id, 1),
        "at": _ts(user.at, user.id, 2),
    }


def organization(org: Organization, viewer: Membership) -> Json:
    """An organization as its member `viewer` sees it."""
    return {
        "id": org.id,
        "name": org.name,
        "pricing_plan_id": org.plan.id,
        "pricing_plan_name": org.plan.name,
        "created_at": _ts(org.created_at, org.id, 0),
        "at": _ts(org.at, org.id, 1),
        "server_deleted_at": _ts(org.server_deleted_at, org.id, 2),
        "suspended_at": _ts(org.suspended_at, org.id, 3),
        "is_multi_workspace_enabled": org.is_multi_workspace_enabled,
        "is_unified": org.is_unified,
        "user_count": 0,
        "max_workspaces": org.max_workspaces,
        "admin": viewer.admin,
        "owner": viewer.owner,
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
    payload = organization(org, viewer)
    payload["user_count"] = sum(
        1 for m in data.memberships[org.id].values() if not m.inactive and m.joined
    )
    return payload


def organization_user(data: Dataset, member: Membership) -> Json:
    """GET /organizations/{id}/users item."""
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
    payload: Json = {
        "id": member.id,
        "user_id": member.user_id,
        "organization_id": member.organization_id,
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
        "user_is_active": not member.inactive,
    }
    return payload


def group(data: Dataset, item: Group) -> Json:
    """GET /organizations/{id}/groups item."""
    return {
        "group_id": item.group_id,
        "name": item.name,
        "at": _ts(item.at, item.group_id, 0),
        "users": [
            {"user_id": uid, "name": data.users[uid].fullname, "avatar_url": ""}
            for uid in item.user_ids
        ]
        or None,
        "workspaces": list(item.workspace_ids),
    }


def workspace(ws: Workspace, viewer_id: int) -> Json:
    """GET /me/workspaces item."""
    return {
        "id": ws.id,
        "organization_id": ws.organization_id,
        "name": ws.name,
        "premium": ws.premium,
        "business_ws": ws.premium,
        "admin": ws.members.get(viewer_id) == "admin",
        "role": ws.members.get(viewer_id),
        "default_hourly_rate": ws.default_hourly_rate_cents / 100,
        "default_currency": ws.default_currency,
        "only_admins_may_create_projects": False,
        "rounding": 1,
        "rounding_minutes": 0,
        "at": _ts(ws.at, ws.id, 0),
        "server_deleted_at": _ts(ws.server_deleted_at, ws.id, 1),
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


def client(item: Client) -> Json:
    """GET /workspaces/{id}/clients item: `wid` only, `notes` absent when unset."""
    payload: Json = {
        "id": item.id,
        "wid": item.workspace_id,
        "name": item.name,
        "archived": item.archived,
        "at": _ts(item.at, item.id, 0),
        "creator_id": item.creator_id,
        "server_deleted_at": _ts(item.server_deleted_at, item.id, 1),
    }
    if item.notes is not None:
        payload["notes"] = item.notes
    return payload


def project(item: Project) -> Json:
    """GET /workspaces/{id}/projects item, with legacy `wid`/`cid` beside the new names."""
    estimated_seconds = None if item.estimated_hours is None else item.estimated_hours * 3600
    actual_hours = None if item.actual_seconds is None else item.actual_seconds // 3600
    payload: Json = {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "wid": item.workspace_id,
        "client_id": item.client_id,
        "cid": item.client_id,
        "name": item.name,
        "is_private": item.is_private,
        "active": item.active,
        "at": _ts(item.at, item.id, 0),
        "created_at": _ts(item.created_at, item.id, 1),
        "server_deleted_at": _ts(item.server_deleted_at, item.id, 2),
        "color": item.color,
        "billable": item.billable,
        "template": item.template,
        "auto_estimates": item.auto_estimates,
        "estimated_hours": item.estimated_hours,
        "estimated_seconds": estimated_seconds,
        "rate": item.rate,
        "rate_last_updated": _ts(item.rate_last_updated, item.id, 3),
        "currency": item.currency,
        "recurring": item.recurring,
        "recurring_parameters": item.recurring_parameters,
        "fixed_fee": item.fixed_fee,
        "actual_hours": actual_hours,
        "actual_seconds": item.actual_seconds,
        "start_date": format_date(item.start_date),
        "status": "active" if item.active else "archived",
        "can_track_time": True,
        "permissions": None,
    }
    if item.end_date is not None:
        payload["end_date"] = format_date(item.end_date)
    return payload


def task(item: Task) -> Json:
    """GET /workspaces/{id}/tasks item."""
    return {
        "id": item.id,
        "name": item.name,
        "workspace_id": item.workspace_id,
        "project_id": item.project_id,
        "user_id": item.user_id,
        "recurring": item.recurring,
        "active": item.active,
        "at": _ts(item.at, item.id, 0),
        "server_deleted_at": _ts(item.server_deleted_at, item.id, 1),
        "estimated_seconds": item.estimated_seconds,
        "tracked_seconds": item.tracked_seconds,
        "integration_provider": None,
    }


def tag(item: Tag) -> Json:
    """GET /workspaces/{id}/tags item."""
    return {
        "id": item.id,
        "workspace_id": item.workspace_id,
        "name": item.name,
        "at": _ts(item.at, item.id, 0),
        "creator_id": item.creator_id,
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
    payload: Json = {
        "id": entry_id,
        "workspace_id": workspace_id,
        "project_id": project_id or None,
        "task_id": task_id or None,
        "billable": bool(store.value(pos, "billable")),
        "start": format_ts(start, entry_id),
        "stop": None if stop == RUNNING else format_ts(stop, entry_id + 1),
        "duration": -start if stop == RUNNING else stop - start,
        "description": None if description < 0 else store.descriptions[description],
        "tags": [t.name for t in tags],
        "tag_ids": [t.id for t in tags],
        "duronly": bool(store.value(pos, "duronly")),
        "at": format_ts(store.value(pos, "at_us") / 1e6, entry_id + 2),
        "server_deleted_at": (
            None if deleted_us == 0 else format_ts(deleted_us / 1e6, entry_id + 3)
        ),
        "user_id": user_id,
        "uid": user_id,
        "wid": workspace_id,
        "permissions": None,
    }
    if project_id != NO_ID:
        payload["pid"] = project_id
    if task_id != NO_ID:
        payload["tid"] = task_id
    return payload
