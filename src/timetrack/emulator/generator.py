"""Deterministic data from a seed, full of the cases that break naive clients.

The same seed, scale and start time give the same data. What it holds on purpose: several
organizations and workspaces, a second user who sees only one workspace, a third who is a plain
member (admin of nothing), lists longer than one page, archived clients, inactive and deleted
projects and tasks, running and deleted time entries, history older than 90 days, and optional
keys left out rather than null.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from timetrack.emulator import seeded
from timetrack.emulator.config import EmulatorConfig
from timetrack.emulator.model import (
    NO_ID,
    PLANS,
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
    TimeEntryStore,
    User,
    Workspace,
    WorkspaceUser,
)

ORG_BASE = 9_000_000
WORKSPACE_BASE = 4_000_000
USER_BASE = 6_000_000
MEMBER_ID = USER_BASE + 3
"""The user `member_token` logs in as: a plain member of some workspaces, admin of none."""
MEMBERSHIP_BASE = 7_000_000
WORKSPACE_USER_BASE = 5_000_000
"""Workspace memberships have ids of their own, distinct from user ids."""
GROUP_BASE = 800_000
CLIENT_BASE = 50_000_000
PROJECT_BASE = 190_000_000
TASK_BASE = 80_000_000
TAG_BASE = 17_000_000
PROJECT_USER_BASE = 120_000_000
PROJECT_GROUP_BASE = 2_400_000
RATE_BASE = 31_000_000
ENTRY_BASE = 3_000_000_000
"""Time entry ids start above 2**31: a client that stores them as 32-bit integers breaks."""

DAY = 86_400
_WORDS = (
    "review",
    "design",
    "sync",
    "deploy",
    "write",
    "plan",
    "fix",
    "test",
    "call",
    "audit",
    "draft",
    "invoice",
    "research",
    "support",
    "onboarding",
    "migration",
    "report",
    "budget",
    "sprint",
    "retro",
    "hiring",
    "backlog",
    "docs",
    "security",
    "release",
)
_FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
)
_LAST = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
    "Dijkstra",
)
_COLORS = ("#06aaf5", "#c56bff", "#ea468d", "#fb8b14", "#c7741c", "#4dc3ff", "#2da608")
_CURRENCIES = ("USD", "EUR", "GBP")


def generate(config: EmulatorConfig, now: float) -> Dataset:
    """Build the whole dataset for `config`, with `now` as the present."""
    scale = config.scale
    rnd = random.Random(config.seed)
    created = now - (scale.days + 400) * DAY

    organizations: dict[int, Organization] = {}
    for index in range(scale.organizations):
        org_id = ORG_BASE + index + 1
        organizations[org_id] = Organization(
            id=org_id,
            name=f"Organization {index + 1}",
            plan=PLANS[index % len(PLANS)],
            max_workspaces=max(20, scale.workspaces),
            created_at=created + index * DAY,
            at=created + index * DAY + 3600,
            is_multi_workspace_enabled=True,
            is_unified=index % 2 == 0,
            owner_id=USER_BASE + 1,
        )
    org_ids = list(organizations)

    workspaces: dict[int, Workspace] = {}
    for index in range(scale.workspaces):
        ws_id = WORKSPACE_BASE + index + 1
        workspaces[ws_id] = Workspace(
            id=ws_id,
            organization_id=org_ids[index % len(org_ids)],
            name=f"Workspace {index + 1}",
            premium=index % 3 != 2,
            default_currency=_CURRENCIES[index % len(_CURRENCIES)],
            default_hourly_rate_cents=5000 + 500 * index,
            created_at=created + index * DAY,
            at=created + index * DAY + 60,
            api_token=seeded.secret(config.seed, "workspace-api-token", ws_id),
            ical_secret=seeded.secret(config.seed, "workspace-ical", ws_id),
            working_hours_in_minutes=None if index % 3 == 1 else 480 - 60 * (index % 2),
        )
    ws_by_org: dict[int, list[int]] = {org_id: [] for org_id in org_ids}
    for ws in workspaces.values():
        ws_by_org[ws.organization_id].append(ws.id)

    users, memberships = _people(config, rnd, created, organizations, workspaces, ws_by_org)
    _set_roles(memberships, workspaces)
    groups = _groups(config, rnd, created, memberships, ws_by_org)
    clients, projects, tasks, tags, workspace_tags = _workspace_objects(
        config, rnd, now, created, workspaces
    )
    entries = _time_entries(config, now, workspaces, projects, tasks, workspace_tags)
    workspace_users = _workspace_users(config, workspaces, groups)

    dataset = Dataset(
        users=users,
        organizations=organizations,
        memberships=memberships,
        workspaces=workspaces,
        groups=groups,
        clients=clients,
        projects=projects,
        tasks=tasks,
        tags=tags,
        workspace_tags=workspace_tags,
        entries=entries,
        workspace_users=workspace_users,
        seed=config.seed,
        offsets=config.offsets,
        tokens={
            config.token: USER_BASE + 1,
            config.partial_token: USER_BASE + 2,
            config.member_token: MEMBER_ID,
        },
        next_ids={
            "client": max(clients, default=CLIENT_BASE),
            "project": max(projects, default=PROJECT_BASE),
            "task": max(tasks, default=TASK_BASE),
            "tag": max(tags, default=TAG_BASE),
            "workspace_user": max(
                (m.id for m in workspace_users.values()), default=WORKSPACE_USER_BASE
            ),
        },
    )
    users[USER_BASE + 1].token = config.token
    users[USER_BASE + 2].token = config.partial_token
    users[MEMBER_ID].token = config.member_token
    for user in users.values():
        user.two_factor = seeded.unit(config.seed, "2fa", user.id) < 0.3
    for item in projects.values():
        roll = seeded.unit(config.seed, "project", item.id)
        if roll < 0.1:
            item.billable = None  # the real service leaves it null on some projects
        item.pinned = roll > 0.9
    for task in tasks.values():
        if seeded.unit(config.seed, "task-integration", task.id) < 0.1:
            task.integration_provider = "github"
    _reference_fields(config.seed, dataset)
    _project_members(config.seed, dataset, now)
    _rate_histories(config.seed, dataset)
    return dataset


_INTEGRATIONS = (("jira", "issue"), ("asana", "project"), ("salesforce", "account"))
"""(provider, the kind of record on its side) for linked clients, projects and tags."""


def _integration(seed: int, kind: str, item_id: int, share: float) -> tuple[str, str, str] | None:
    """(provider, ext id, ext type) for a record linked to another tool, or None."""
    if seeded.unit(seed, "integration", kind, item_id) >= share:
        return None
    roll = seeded.draw(seed, "integration-of", kind, item_id)
    provider, ext_type = _INTEGRATIONS[roll % len(_INTEGRATIONS)]
    return provider, f"{provider[:3].upper()}-{(roll >> 8) % 90_000 + 10_000}", ext_type


def _reference_fields(seed: int, data: Dataset) -> None:
    """The optional fields of the reference set on some records: external references,
    links to other tools, task rates. Drawn by hashing (seeded), after every other draw, so
    the rest of the data is the same as without them."""
    for client in data.clients.values():
        if seeded.unit(seed, "client-reference", client.id) < 0.25:
            client.external_reference = f"CRM-{client.id % 100_000:05d}"
        found = _integration(seed, "client", client.id, 0.15)
        if found:
            client.integration_provider, client.integration_ext_id = found[0], found[1]
            client.integration_ext_type = found[2]
    for project in data.projects.values():
        if seeded.unit(seed, "project-reference", project.id) < 0.15:
            project.external_reference = f"PRJ-{project.id % 100_000:05d}"
        found = _integration(seed, "project", project.id, 0.1)
        if found:
            project.integration_provider, project.integration_ext_id = found[0], found[1]
            project.integration_ext_type = found[2]
    for task in data.tasks.values():
        if task.integration_provider == "github":
            task.integration_ext_type = "issue"
            task.integration_ext_id = f"{task.workspace_id % 1000}/tracker#{task.id % 10_000}"
        if seeded.unit(seed, "task-reference", task.id) < 0.1:
            task.external_reference = f"TSK-{task.id % 100_000:05d}"
        roll = seeded.draw(seed, "task-rate", task.id)
        if roll % 8 == 0:
            task.rate = round(30 + (roll >> 8) % 15_000 / 100, 2)
            task.rate_last_updated = task.at
    for tag in data.tags.values():
        found = _integration(seed, "tag", tag.id, 0.1)
        if found:
            tag.integration_provider, tag.integration_ext_id = found[0], found[1]
            tag.integration_ext_type = found[2]


def _project_members(seed: int, data: Dataset, now: float) -> None:
    """A few members per live project, some with a rate or a labor cost of their own, and a
    few projects shared with a group of the organization. A stream of their own, seeded, so
    the rest of the data is the same as without them."""
    rnd = random.Random(seeded.draw(seed, "project-members"))
    member_id = PROJECT_USER_BASE
    link_id = PROJECT_GROUP_BASE
    for project in sorted(data.projects.values(), key=lambda p: p.id):
        ws = data.workspaces[project.workspace_id]
        if project.server_deleted_at is not None or not ws.members:
            continue
        in_groups: dict[int, int] = {}
        groups = [
            g
            for g in sorted(data.groups.values(), key=lambda g: g.group_id)
            if ws.id in g.workspace_ids and g.user_ids
        ]
        if groups and rnd.random() < 0.15:
            chosen = rnd.choice(groups)
            link_id += 1
            data.project_groups[link_id] = ProjectGroup(link_id, ws.id, project.id, chosen.group_id)
            for user_id in chosen.user_ids:
                if user_id in ws.members:
                    in_groups.setdefault(user_id, chosen.group_id)
        members = sorted(ws.members)
        picked = set(rnd.sample(members, min(len(members), rnd.randint(1, 4))))
        for user_id in sorted(picked | set(in_groups)):
            member_id += 1
            at = min(now, project.created_at + rnd.uniform(0, 60 * DAY))
            rate = round(rnd.uniform(40, 220), 2) if rnd.random() < 0.3 else None
            labor = round(rnd.uniform(20, 90), 2) if rnd.random() < 0.25 else None
            data.project_users[member_id] = ProjectUser(
                id=member_id,
                workspace_id=ws.id,
                project_id=project.id,
                user_id=user_id,
                manager=user_id == min(picked) and rnd.random() < 0.5,
                at=at,
                rate=rate,
                rate_last_updated=None if rate is None else at,
                labor_cost=labor,
                labor_cost_last_updated=None if labor is None else at + 60,
                group_id=in_groups.get(user_id) if user_id not in picked else None,
            )


def _rate_histories(seed: int, data: Dataset) -> None:
    """For every rate and labor cost in force, its history: one to three periods, the last one
    open (`end` null) at the amount the record shows now, starting when it was last updated;
    the earlier ones closed where the next begins, at lower amounts."""
    rate_id = RATE_BASE

    def history(
        ws_id: int,
        kind: str,
        level: str,
        level_id: int,
        amount: float | None,
        since: float,
        **ids: int,
    ) -> None:
        nonlocal rate_id
        if amount is None:
            return
        roll = seeded.draw(seed, "rate-history", kind, level, level_id)
        periods = 1 + roll % 3
        starts = [float(int(since))]  # whole seconds: every spelling of a start is exact
        for index in range(periods - 1):
            starts.insert(0, starts[0] - (30 + (roll >> (8 + 8 * index)) % 170) * DAY)
        creator = min(data.workspaces[ws_id].members, default=USER_BASE + 1)
        for index, start in enumerate(starts):
            last = index == len(starts) - 1
            step = (len(starts) - 1 - index) * (0.05 + (roll >> 40) % 10 / 100)
            rate_id += 1
            data.rates[rate_id] = Rate(
                id=rate_id,
                workspace_id=ws_id,
                type=kind,
                level=level,
                level_id=level_id,
                amount=amount if last else round(amount * (1 - step), 2),
                start=start,
                end=None if last else starts[index + 1],
                created_at=start,
                creator_id=creator,
                rate_change_mode="override-all" if index == 0 else "start-today",
                **ids,
            )

    for ws in data.workspaces.values():
        history(
            ws.id,
            "billable_rates",
            "workspace",
            ws.id,
            ws.default_hourly_rate_cents / 100,
            ws.created_at,
        )
    for member in data.workspace_users.values():
        ids = {"workspace_user_id": member.id}
        for kind, amount, since in (
            ("billable_rates", member.rate, member.rate_last_updated),
            ("labor_costs", member.labor_cost, member.labor_cost_last_updated),
        ):
            history(
                member.workspace_id,
                kind,
                "workspace_user",
                member.id,
                amount,
                since or member.at,
                **ids,
            )
    for project in data.projects.values():
        if project.server_deleted_at is None:
            since = project.rate_last_updated or project.at
            history(
                project.workspace_id,
                "billable_rates",
                "project",
                project.id,
                project.rate,
                since,
                project_id=project.id,
            )
    for item in data.project_users.values():
        ids = {"project_id": item.project_id, "project_user_id": item.id}
        for kind, amount, since in (
            ("billable_rates", item.rate, item.rate_last_updated),
            ("labor_costs", item.labor_cost, item.labor_cost_last_updated),
        ):
            history(
                item.workspace_id, kind, "project_user", item.id, amount, since or item.at, **ids
            )
    for task in data.tasks.values():
        if task.server_deleted_at is None:
            ids = {"project_id": task.project_id, "planned_task_id": task.id}
            history(
                task.workspace_id,
                "billable_rates",
                "task",
                task.id,
                task.rate,
                task.rate_last_updated or task.at,
                **ids,
            )


def workspace_user(
    seed: int, ws: Workspace, user_id: int, membership_id: int, at: float, group_ids: list[int]
) -> WorkspaceUser:
    """A workspace membership with rate, labor cost and working hours drawn from the seed."""
    roll = seeded.draw(seed, "workspace-user", ws.id, user_id)
    rate = None if roll % 3 == 0 else round(20 + (roll >> 8) % 18_000 / 100, 2)
    labor = None if roll % 5 == 0 else round(10 + (roll >> 24) % 9_000 / 100, 2)
    hours = None if roll % 4 == 0 else (360, 420, 480, 240)[(roll >> 40) % 4]
    return WorkspaceUser(
        id=membership_id,
        workspace_id=ws.id,
        user_id=user_id,
        at=at,
        rate=rate,
        rate_last_updated=None if rate is None else at,
        labor_cost=labor,
        labor_cost_last_updated=None if labor is None else at + 60,
        working_hours_in_minutes=hours,
        group_ids=group_ids or None,
    )


def _workspace_users(
    config: EmulatorConfig, workspaces: dict[int, Workspace], groups: dict[int, Group]
) -> dict[tuple[int, int], WorkspaceUser]:
    found: dict[tuple[int, int], WorkspaceUser] = {}
    membership_id = WORKSPACE_USER_BASE
    for ws in workspaces.values():
        for user_id in sorted(ws.members):
            membership_id += 1
            group_ids = [
                g.group_id
                for g in groups.values()
                if ws.id in g.workspace_ids and user_id in g.user_ids
            ]
            at = ws.at + (user_id % 10_000) * 60
            found[(ws.id, user_id)] = workspace_user(
                config.seed, ws, user_id, membership_id, at, group_ids
            )
    return found


def _people(
    config: EmulatorConfig,
    rnd: random.Random,
    created: float,
    organizations: dict[int, Organization],
    workspaces: dict[int, Workspace],
    ws_by_org: dict[int, list[int]],
) -> tuple[dict[int, User], dict[int, dict[int, Membership]]]:
    """Users and their memberships: user 1 owns everything, user 2 sees one workspace."""
    org_ids = list(organizations)
    users: dict[int, User] = {}
    memberships: dict[int, dict[int, Membership]] = {org_id: {} for org_id in org_ids}
    first_ws = ws_by_org[org_ids[0]][0]
    membership_id = MEMBERSHIP_BASE

    def join(user_id: int, org_id: int, *, admin: bool, owner: bool, active: bool) -> None:
        nonlocal membership_id
        membership_id += 1
        joined = active or rnd.random() < 0.5
        memberships[org_id][user_id] = Membership(
            id=membership_id,
            user_id=user_id,
            organization_id=org_id,
            inactive=not active,
            joined=joined,
            admin=admin,
            owner=owner,
            can_edit_email=rnd.random() < 0.8,
            invitation_code=None if joined else f"inv{membership_id:x}",
        )

    for index in range(config.scale.users):
        user_id = USER_BASE + index + 1
        name = f"{_FIRST[index % len(_FIRST)]} {_LAST[(index // len(_FIRST)) % len(_LAST)]}"
        if index == 0:
            user_orgs = org_ids
            user_ws = list(workspaces)
        elif index == 1:
            user_orgs = [org_ids[0]]
            user_ws = [first_ws]
        else:
            user_orgs = [org_ids[index % len(org_ids)]]
            if len(org_ids) > 1 and rnd.random() < 0.2:
                user_orgs.append(org_ids[(index + 1) % len(org_ids)])
            user_ws = []
            for org_id in user_orgs:
                candidates = ws_by_org[org_id]
                chosen = [ws for ws in candidates if rnd.random() < 0.8] or [candidates[0]]
                user_ws.extend(chosen)
        users[user_id] = User(
            id=user_id,
            email=f"user{index + 1}@example.com",
            fullname=f"{name} {index + 1}",
            timezone=("UTC", "Europe/Berlin", "America/New_York")[index % 3],
            beginning_of_week=1,
            default_workspace_id=user_ws[0],
            created_at=created + index * 60,
            at=created + index * 60 + 30,
        )
        for org_id in user_orgs:
            is_owner = index == 0
            join(
                user_id,
                org_id,
                admin=is_owner or rnd.random() < 0.05,
                owner=is_owner,
                active=index < 2 or rnd.random() >= 0.1,
            )
        for ws_id in user_ws:
            role = "admin" if index == 0 or rnd.random() < 0.05 else "user"
            workspaces[ws_id].members[user_id] = role
    return users, memberships


def _set_roles(
    memberships: dict[int, dict[int, Membership]], workspaces: dict[int, Workspace]
) -> None:
    """The roles of the users who log in, whatever the draws gave them: the partial user
    administers the one organization and workspace it sees (so it reads every table there),
    the member administers nothing. Set after every draw, so the rest of the data is the
    same as without them."""
    for user_id, admin in ((USER_BASE + 2, True), (MEMBER_ID, False)):
        for members in memberships.values():
            member = members.get(user_id)
            if member is not None:
                member.admin, member.owner, member.inactive = admin, False, False
                member.joined, member.invitation_code = True, None
        for ws in workspaces.values():
            if user_id in ws.members:
                ws.members[user_id] = "admin" if admin else "user"


def _groups(
    config: EmulatorConfig,
    rnd: random.Random,
    created: float,
    memberships: dict[int, dict[int, Membership]],
    ws_by_org: dict[int, list[int]],
) -> dict[int, Group]:
    groups: dict[int, Group] = {}
    group_id = GROUP_BASE
    for org_id, members in memberships.items():
        member_ids = sorted(members)
        for index in range(config.scale.groups_per_organization):
            group_id += 1
            size = min(len(member_ids), rnd.randint(0, 12))
            groups[group_id] = Group(
                group_id=group_id,
                organization_id=org_id,
                name=f"{_WORDS[(group_id * 7) % len(_WORDS)].title()} team {index + 1}",
                at=created + index * 3600,
                user_ids=sorted(rnd.sample(member_ids, size)),
                workspace_ids=[ws for ws in ws_by_org[org_id] if rnd.random() < 0.6],
            )
    return groups


def _workspace_objects(
    config: EmulatorConfig,
    rnd: random.Random,
    now: float,
    created: float,
    workspaces: dict[int, Workspace],
) -> tuple[
    dict[int, Client], dict[int, Project], dict[int, Task], dict[int, Tag], dict[int, list[int]]
]:
    """Clients, projects, tasks and tags of every workspace."""
    scale = config.scale
    clients: dict[int, Client] = {}
    projects: dict[int, Project] = {}
    tasks: dict[int, Task] = {}
    tags: dict[int, Tag] = {}
    workspace_tags: dict[int, list[int]] = {}

    def stamp() -> float:
        return now - rnd.uniform(0, scale.days * DAY) + rnd.random()

    for ws in workspaces.values():
        owner = min(ws.members)
        ws_clients: list[int] = []
        for index in range(scale.clients_per_workspace):
            client_id = CLIENT_BASE + len(clients) + 1
            clients[client_id] = Client(
                id=client_id,
                workspace_id=ws.id,
                name=f"Client {ws.id % 100}-{index + 1}",
                archived=index % 4 == 3,
                at=stamp(),
                creator_id=owner,
                notes=f"Notes for client {index + 1}" if index % 2 == 0 else None,
            )
            ws_clients.append(client_id)
        ws_projects: list[int] = []
        for index in range(scale.projects_per_workspace):
            project_id = PROJECT_BASE + len(projects) + 1
            deleted = rnd.random() < 0.03
            at = stamp()
            start_date = now - rnd.randint(scale.days, scale.days + 300) * DAY
            rate = round(rnd.uniform(20, 200), 2) if rnd.random() < 0.4 else None
            projects[project_id] = Project(
                id=project_id,
                workspace_id=ws.id,
                client_id=rnd.choice(ws_clients) if ws_clients and rnd.random() < 0.7 else None,
                name=f"{_WORDS[index % len(_WORDS)].title()} {index + 1:04d}",
                color=rnd.choice(_COLORS),
                active=rnd.random() < 0.8,
                is_private=rnd.random() < 0.3,
                billable=rnd.random() < 0.5,
                recurring=index % 20 == 0,
                template=None if index % 3 == 0 else False,
                auto_estimates=None if index % 2 == 0 else False,
                at=at,
                created_at=min(at, start_date),
                start_date=start_date,
                end_date=start_date + 365 * DAY if rnd.random() < 0.3 else None,
                currency=ws.default_currency if rnd.random() < 0.8 else None,
                estimated_hours=rnd.randint(10, 500) if rnd.random() < 0.5 else None,
                actual_seconds=rnd.randint(0, 900_000) if rnd.random() < 0.7 else None,
                rate=rate,
                fixed_fee=round(rnd.uniform(500, 9000), 2) if rnd.random() < 0.1 else None,
                rate_last_updated=at if rate is not None else None,
                recurring_parameters=(
                    [{"period": "monthly", "custom_period": None, "estimated_seconds": 36000}]
                    if index % 20 == 0
                    else None
                ),
                server_deleted_at=at if deleted else None,
            )
            ws_projects.append(project_id)
        live_projects = [p for p in ws_projects if projects[p].server_deleted_at is None]
        for _ in range(scale.tasks_per_workspace if live_projects else 0):
            task_id = TASK_BASE + len(tasks) + 1
            at = stamp()
            members = sorted(ws.members)
            tasks[task_id] = Task(
                id=task_id,
                workspace_id=ws.id,
                project_id=rnd.choice(live_projects),
                user_id=rnd.choice(members) if rnd.random() < 0.4 else None,
                estimated_seconds=rnd.randint(1, 40) * 1800 if rnd.random() < 0.5 else None,
                name=f"Task {task_id - TASK_BASE}: {rnd.choice(_WORDS)}",
                active=rnd.random() < 0.75,
                recurring=False,
                tracked_seconds=rnd.randint(0, 360_000),
                at=at,
                server_deleted_at=at if rnd.random() < 0.03 else None,
            )
        ws_tag_ids: list[int] = []
        for index in range(scale.tags_per_workspace):
            tag_id = TAG_BASE + len(tags) + 1
            tags[tag_id] = Tag(
                id=tag_id,
                workspace_id=ws.id,
                name=f"{_WORDS[(index * 5) % len(_WORDS)]}-{index + 1}",
                at=stamp(),
                creator_id=owner,
            )
            ws_tag_ids.append(tag_id)
        workspace_tags[ws.id] = ws_tag_ids
    return clients, projects, tasks, tags, workspace_tags


def _time_entries(
    config: EmulatorConfig,
    now: float,
    workspaces: dict[int, Workspace],
    projects: dict[int, Project],
    tasks: dict[int, Task],
    workspace_tags: dict[int, list[int]],
) -> TimeEntryStore:
    """Time entries, vectorized: the owner's own share plus every other member's."""
    scale = config.scale
    total = scale.time_entries
    rng = np.random.default_rng(config.seed)
    owner = USER_BASE + 1
    ws_ids = np.array(sorted(workspaces), dtype=np.int64)
    now_s = int(now)
    span = scale.days * DAY

    # The owner tracks like one busy person; everyone else shares the rest.
    own_count = min(total, max(total // 20, 1) if total else 0, 8 * scale.days)
    ws_index = rng.integers(0, len(ws_ids), size=total)
    workspace_col = ws_ids[ws_index]
    user_col = np.full(total, owner, dtype=np.int64)
    for i, ws_id in enumerate(ws_ids):
        rows = np.flatnonzero(ws_index[own_count:] == i) + own_count
        others = np.array([u for u in sorted(workspaces[int(ws_id)].members) if u != owner])
        if len(others) == 0:
            others = np.array([owner])
        user_col[rows] = others[rng.integers(0, len(others), size=len(rows))]

    duration = rng.integers(5 * 60, 4 * 3600, size=total)
    start = now_s - rng.integers(span // 400, span, size=total)
    stop = np.minimum(start + duration, now_s - 60)
    start = np.minimum(start, stop - 60)

    project_col = np.zeros(total, dtype=np.int64)
    task_col = np.zeros(total, dtype=np.int64)
    for i, ws_id in enumerate(ws_ids):
        options: list[tuple[int, int]] = [(NO_ID, NO_ID)]
        options += [
            (p.id, NO_ID)
            for p in projects.values()
            if p.workspace_id == ws_id and p.server_deleted_at is None
        ]
        options += [
            (t.project_id, t.id)
            for t in tasks.values()
            if t.workspace_id == ws_id and t.server_deleted_at is None
        ]
        table = np.array(options, dtype=np.int64)
        rows = np.flatnonzero(ws_index == i)
        picks = table[rng.integers(0, len(table), size=len(rows))]
        project_col[rows], task_col[rows] = picks[:, 0], picks[:, 1]

    no_project = rng.random(total) < 0.15
    project_col[no_project] = NO_ID
    task_col[no_project] = NO_ID

    descriptions = [f"{a} {b}" for a in _WORDS for b in _WORDS[:8]]
    description_col = rng.integers(0, len(descriptions), size=total)
    description_col[rng.random(total) < 0.1] = -1
    tag_bits = np.zeros(total, dtype=np.int64)
    ntags = np.array([len(workspace_tags[int(w)]) for w in ws_ids])[ws_index]
    first = rng.random(total) < 0.4
    tag_bits[first] |= np.left_shift(1, rng.integers(0, 64, size=total) % ntags)[first]
    second = rng.random(total) < 0.15
    tag_bits[second] |= np.left_shift(1, rng.integers(0, 64, size=total) % ntags)[second]

    billable = rng.random(total) < 0.5

    # People repeat themselves: most entries copy the project, task, description, tags and
    # billable flag of one of a few dozen habitual activities of their workspace, so report
    # rows really group several entries.
    habit = rng.random(total) < 0.7
    for i in range(len(ws_ids)):
        rows = np.flatnonzero(ws_index == i)
        templates = rows[:40]
        copies = rows[habit[rows]]
        if len(templates) == 0 or len(copies) == 0:
            continue
        source = templates[rng.integers(0, len(templates), size=len(copies))]
        for column in (project_col, task_col, description_col, tag_bits, billable):
            column[copies] = column[source]

    at_us = (stop + rng.integers(0, 3600, size=total)) * 1_000_000 + rng.integers(
        0, 1_000_000, size=total
    )
    deleted = rng.random(total) < 0.02
    deleted_us = np.where(deleted, at_us, 0)

    # One running entry for the owner and for a few others: at most one per user.
    running_rows: list[int] = []
    seen_users: set[int] = set()
    for row in np.flatnonzero(~deleted)[::-1]:
        user = int(user_col[row])
        if user not in seen_users and (user == owner or len(seen_users) < 4):
            seen_users.add(user)
            running_rows.append(int(row))
        if owner in seen_users and len(seen_users) >= 4:
            break
    for row in running_rows:
        start[row] = now_s - int(rng.integers(60, 3 * 3600))
        stop[row] = RUNNING
        at_us[row] = start[row] * 1_000_000

    order = np.lexsort((user_col, start))
    columns: dict[str, Any] = {
        "workspace_id": workspace_col[order],
        "user_id": user_col[order],
        "project_id": project_col[order],
        "task_id": task_col[order],
        "start": start[order],
        "stop": stop[order],
        "description": description_col[order],
        "tags": tag_bits[order],
        "at_us": at_us[order],
        "deleted_us": deleted_us[order],
        "billable": billable[order],
        "duronly": (rng.random(total) < 0.05)[order],
    }
    columns["id"] = np.arange(ENTRY_BASE + 1, ENTRY_BASE + 1 + total, dtype=np.int64)
    return TimeEntryStore(columns, descriptions)
