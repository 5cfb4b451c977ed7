"""What every table must hold after a complete sync, row by row and value by value.

Built only from a running emulator: its records (`GET /_emulator/records/{entity}`), its counts
(`GET /_emulator/truth`, used to check the records against themselves), its own constants, and,
for the one fact the records lack (which organization a group belongs to), the API's own listing
by organization. Nothing comes from `timetrack.source`: a bug there cannot become the truth.

The contract (column names and types) is written here as literals, from docs/api-contract.md and
the README's table list, for the same reason.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
import requests

from timetrack.emulator.api import HISTORY_DAYS

Row = dict[str, Any]
Tables = dict[str, dict[Any, Row]]
"""table -> key -> row of neutral column names and Python values."""

BIGINT, TEXT, BOOL, TS, DATE, DOUBLE, JSON = (
    "bigint",
    "text",
    "bool",
    "timestamp",
    "date",
    "double",
    "json",
)

KEYS: dict[str, str] = {
    "time_entries": "id",
    "organizations": "id",
    "organizations_users": "id",
    "organizations_groups": "group_id",
    "workspaces": "id",
    "workspace": "workspace_id",
    "workspace_clients": "id",
    "workspace_projects": "id",
    "workspace_tasks": "id",
    "workspace_tags": "id",
    "workspace_users": "id",
    "project_users": "id",
    "project_groups": "id",
    "report_time_entries": "id",
}

CONTRACT: dict[str, dict[str, str]] = {
    "time_entries": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "project_id": BIGINT,
        "task_id": BIGINT,
        "user_id": BIGINT,
        "billable": BOOL,
        "start": TS,
        "stop": TS,
        "duration": BIGINT,
        "description": TEXT,
        "tags": JSON,
        "tag_ids": JSON,
        "duronly": BOOL,
        "at": TS,
        "server_deleted_at": TS,
    },
    "organizations": {
        "id": BIGINT,
        "name": TEXT,
        "pricing_plan_id": BIGINT,
        "user_count": BIGINT,
        "max_workspaces": BIGINT,
        "created_at": TS,
        "at": TS,
        "server_deleted_at": TS,
        "suspended_at": TS,
        "is_multi_workspace_enabled": BOOL,
        "is_unified": BOOL,
        "admin": BOOL,
        "owner": BOOL,
        "trial_info": JSON,
    },
    "organizations_users": {
        "id": BIGINT,
        "user_id": BIGINT,
        "organization_id": BIGINT,
        "name": TEXT,
        "email": TEXT,
        "avatar_url": TEXT,
        "inactive": BOOL,
        "joined": BOOL,
        "admin": BOOL,
        "owner": BOOL,
        "can_edit_email": BOOL,
        "invitation_code": TEXT,
        "groups": JSON,
        "workspaces": JSON,
        "server_deleted_at": TS,
    },
    "organizations_groups": {
        "group_id": BIGINT,
        "organization_id": BIGINT,
        "name": TEXT,
        "at": TS,
        "users": JSON,
        "workspaces": JSON,
        "server_deleted_at": TS,
    },
    "workspaces": {
        "id": BIGINT,
        "organization_id": BIGINT,
        "name": TEXT,
        "premium": BOOL,
        "admin": BOOL,
        "default_currency": TEXT,
        "at": TS,
        "server_deleted_at": TS,
        "unreachable_since": TS,
    },
    "workspace": {
        "workspace_id": BIGINT,
        "admins": JSON,
        "groups_count": BIGINT,
        "members_count": BIGINT,
    },
    "workspace_clients": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "name": TEXT,
        "archived": BOOL,
        "at": TS,
        "creator_id": BIGINT,
        "notes": TEXT,
        "server_deleted_at": TS,
    },
    "workspace_projects": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "client_id": BIGINT,
        "name": TEXT,
        "color": TEXT,
        "status": TEXT,
        "active": BOOL,
        "is_private": BOOL,
        "billable": BOOL,
        "recurring": BOOL,
        "template": BOOL,
        "auto_estimates": BOOL,
        "at": TS,
        "created_at": TS,
        "start_date": DATE,
        "end_date": DATE,
        "currency": TEXT,
        "estimated_hours": BIGINT,
        "estimated_seconds": BIGINT,
        "actual_hours": BIGINT,
        "actual_seconds": BIGINT,
        "rate": DOUBLE,
        "fixed_fee": DOUBLE,
        "rate_last_updated": TS,
        "server_deleted_at": TS,
        "recurring_parameters": JSON,
    },
    "workspace_tasks": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "project_id": BIGINT,
        "user_id": BIGINT,
        "estimated_seconds": BIGINT,
        "name": TEXT,
        "active": BOOL,
        "recurring": BOOL,
        "tracked_seconds": BIGINT,
        "at": TS,
        "server_deleted_at": TS,
    },
    "workspace_tags": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "name": TEXT,
        "at": TS,
        "creator_id": BIGINT,
        "server_deleted_at": TS,
    },
    "project_users": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "project_id": BIGINT,
        "user_id": BIGINT,
        "group_id": BIGINT,
        "manager": BOOL,
        "rate": DOUBLE,
        "rate_last_updated": TS,
        "labor_cost": DOUBLE,
        "labor_cost_last_updated": TS,
        "at": TS,
        "server_deleted_at": TS,
    },
    "project_groups": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "project_id": BIGINT,
        "group_id": BIGINT,
        "server_deleted_at": TS,
    },
    "workspace_users": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "user_id": BIGINT,
        "name": TEXT,
        "email": TEXT,
        "timezone": TEXT,
        "active": BOOL,
        "inactive": BOOL,
        "admin": BOOL,
        "organization_admin": BOOL,
        "workspace_admin": BOOL,
        "role": TEXT,
        "role_id": BIGINT,
        "group_ids": JSON,
        "rate": DOUBLE,
        "rate_last_updated": TS,
        "labor_cost": DOUBLE,
        "labor_cost_last_updated": TS,
        "working_hours_in_minutes": BIGINT,
        "at": TS,
        "invitation_code": TEXT,
        "is_direct": BOOL,
        "avatar_file_name": TEXT,
        "view_edit_billable_rates": BOOL,
        "view_edit_labor_costs": BOOL,
        "server_deleted_at": TS,
    },
    "report_time_entries": {
        "id": BIGINT,
        "workspace_id": BIGINT,
        "user_id": BIGINT,
        "username": TEXT,
        "project_id": BIGINT,
        "task_id": BIGINT,
        "description": TEXT,
        "billable": BOOL,
        "tag_ids": JSON,
        "hourly_rate_in_cents": BIGINT,
        "billable_amount_in_cents": BIGINT,
        "currency": TEXT,
        "start": TS,
        "stop": TS,
        "seconds": BIGINT,
        "at": TS,
        "server_deleted_at": TS,
    },
}

DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "double": "DOUBLE",
    "json": "JSON",
}
POSTGRES_TYPES = {
    "bigint": "bigint",
    "text": "character varying",
    "bool": "boolean",
    "timestamp": "timestamp with time zone",
    "date": "date",
    "double": "double precision",
    "json": "jsonb",
}
SCOPE = {
    "organizations_users": "organization_id",
    "organizations_groups": "organization_id",
    "workspace_clients": "workspace_id",
    "workspace_projects": "workspace_id",
    "workspace_tasks": "workspace_id",
    "workspace_tags": "workspace_id",
    "workspace_users": "workspace_id",
    "report_time_entries": "workspace_id",
}
"""The organization or workspace a row belongs to: never null, like the key."""


def type_problems(
    columns: dict[str, dict[str, tuple[str, bool]]], types: dict[str, str]
) -> list[str]:
    """Where the landed columns differ from the contract: a missing column, a wrong type, a
    nullable key or scope id, a legacy alias that landed."""
    problems = []
    for table, contract in CONTRACT.items():
        landed = columns.get(table, {})
        for name, kind in contract.items():
            if name not in landed:
                problems.append(f"{table}.{name} missing")
            elif landed[name][0] != types[kind]:
                problems.append(f"{table}.{name} is {landed[name][0]}, not {types[kind]}")
        for name in (KEYS[table], SCOPE.get(table)):
            if name in landed and landed[name][1]:
                problems.append(f"{table}.{name} is nullable")
        problems += [f"{table}.{alias} landed" for alias in set(LEGACY.values()) & set(landed)]
    return problems


LEGACY = {
    "workspace_id": "wid",
    "user_id": "uid",
    "project_id": "pid",
    "task_id": "tid",
    "client_id": "cid",
}
"""Neutral name -> the legacy alias the service may send beside it (or instead of it)."""


def instant(value: str | None) -> datetime | None:
    """An RFC3339 timestamp as an aware UTC datetime (the instant, whatever the offset)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"timestamp without an offset: {value}"
    return moment.astimezone(UTC)


def day(value: str | None) -> date | None:
    """A YYYY-MM-DD date."""
    return None if value is None else date.fromisoformat(value)


def field(record: Row, name: str) -> Any:
    """A field by its neutral name, else by its legacy alias; absent means null."""
    value = record.get(name)
    if value is None and name in LEGACY:
        value = record.get(LEGACY[name])
    return value


class Emulator:
    """The admin endpoints of one running emulator, as one token sees them."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.session = requests.Session()

    def admin(self, path: str, **params: Any) -> Any:
        """GET an admin endpoint for the token."""
        response = self.session.get(
            f"{self.base_url}/_emulator{path}", params={"token": self.token, **params}, timeout=120
        )
        assert response.status_code == 200, response.text
        return orjson.loads(response.content)

    def records(self, entity: str) -> list[Row]:
        """Every record of an entity in reach, deleted ones included."""
        items: list[Row] = self.admin(f"/records/{entity}")
        return items

    def api(self, path: str) -> Any:
        """GET a path of the bare layout with the token."""
        response = self.session.get(
            f"{self.base_url}/api/v9{path}", auth=(self.token, "api_token"), timeout=60
        )
        assert response.status_code == 200, response.text
        return orjson.loads(response.content)


def _live(records: list[Row]) -> list[Row]:
    return [r for r in records if r.get("server_deleted_at") is None]


def _check(what: str, rows: list[Row] | dict[Any, Row], count: int) -> None:
    """The records must agree with the emulator's own counts: a truth that disagrees with
    itself (say, records that no longer tell deleted ones apart) must not pass for one."""
    assert len(rows) == count, f"truth: {len(rows)} {what} in the records, {count} counted"


def expected_tables(base_url: str, token: str) -> Tables:
    """Every table's rows after a complete sync of the emulator at `base_url` with `token`."""
    emulator = Emulator(base_url, token)
    counts = emulator.admin("/truth")
    now = instant(counts["now"])
    assert now is not None
    me = counts["user_id"]

    organizations = _live(emulator.records("organizations"))
    workspaces = emulator.records("workspaces")
    members = emulator.records("organization_users")
    groups = emulator.records("groups")
    clients = _live(emulator.records("clients"))
    projects = emulator.records("projects")
    tasks = _live(emulator.records("tasks"))
    tags = _live(emulator.records("tags"))
    workspace_users = emulator.records("workspace_users")
    entries = emulator.records("time_entries")
    live_workspaces = _live(workspaces)

    for what, rows, count in (
        ("organizations", organizations, counts["organizations"]["live"]),
        ("workspaces", live_workspaces, counts["workspaces"]["live"]),
        ("organization users", members, counts["organization_users"]["total"]),
        ("groups", groups, counts["groups"]["live"]),
        ("clients", clients, counts["clients"]["live"]),
        ("projects", _live(projects), counts["projects"]["live"]),
        ("tasks", tasks, counts["tasks"]["live"]),
        ("tags", tags, counts["tags"]["live"]),
        ("workspace users", workspace_users, counts["workspace_users"]["live"]),
    ):
        _check(what, rows, count)

    access = counts["access"]
    own_reports = {int(w) for w, a in access["workspaces"].items() if a["report"] == "own entries"}
    tables: Tables = {
        "time_entries": _time_entries(entries, me, now),
        "organizations": {r["id"]: _organization(r) for r in organizations},
        "organizations_users": {r["id"]: _organization_user(r) for r in members},
        "organizations_groups": _groups(emulator, groups, organizations),
        "workspaces": {r["id"]: _workspace(r) for r in live_workspaces},
        "workspace": _statistics(live_workspaces, members, groups),
        "workspace_clients": {r["id"]: _client(r) for r in clients},
        "workspace_projects": {r["id"]: _project(r) for r in _live(projects)},
        "workspace_tasks": {r["id"]: _task(r) for r in tasks},
        "workspace_tags": {r["id"]: _tag(r) for r in tags},
        "workspace_users": {r["id"]: _workspace_user(r) for r in workspace_users},
        "project_users": _project_users(emulator, projects, workspace_users),
        "project_groups": _project_groups(emulator, projects),
        "report_time_entries": _report(
            entries, members, projects, workspaces, me, own_reports, emulator.records("rates")
        ),
    }
    _refuse(tables, access)
    _check(
        "report entries",
        tables["report_time_entries"],
        sum(a["report_stopped_entries"] for a in access["workspaces"].values()),
    )
    if not own_reports:
        _check("stopped entries", tables["report_time_entries"], counts["time_entries"]["stopped"])
    for table, rows in tables.items():
        for row in rows.values():
            assert set(row) == set(CONTRACT[table]), (table, set(row) ^ set(CONTRACT[table]))
    return tables


REFUSED_TABLES = {
    "project_users": ("project_users", "workspace_id"),
    "organization_users": ("organizations_users", "organization_id"),
    "statistics": ("workspace", "workspace_id"),
    "workspace_users": ("workspace_users", "workspace_id"),
}
"""The admin-only endpoints the truth's `access` names -> the table each fills, and the column
that tells its scope: a member who is refused one lands none of that scope's rows."""


def _refuse(tables: Tables, access: dict[str, Any]) -> None:
    """Leave out every scope's rows of the tables its refused endpoints fill."""
    for kind in ("organizations", "workspaces"):
        for scope_id, seen in access[kind].items():
            for endpoint in seen["refused"]:
                if endpoint not in REFUSED_TABLES:
                    continue  # an endpoint the source does not read (project users, rates)
                table, column = REFUSED_TABLES[endpoint]
                tables[table] = {
                    key: row for key, row in tables[table].items() if row[column] != int(scope_id)
                }


def _time_entries(entries: list[Row], me: int, now: datetime) -> dict[Any, Row]:
    """The token owner's live entries whose start is within /me/time_entries' history."""
    first_day = datetime.combine((now - timedelta(days=HISTORY_DAYS)).date(), time.min, UTC)
    rows = {}
    for r in _live(entries):
        start = instant(r["start"])
        assert start is not None
        if field(r, "user_id") != me or start < first_day:
            continue
        rows[r["id"]] = {
            "id": r["id"],
            "workspace_id": field(r, "workspace_id"),
            "project_id": field(r, "project_id"),
            "task_id": field(r, "task_id"),
            "user_id": field(r, "user_id"),
            "billable": r["billable"],
            "start": start,
            "stop": instant(r.get("stop")),
            "duration": r["duration"],
            "description": r.get("description"),
            "tags": r.get("tags") or [],
            "tag_ids": r.get("tag_ids") or [],
            "duronly": r["duronly"],
            "at": instant(r["at"]),
            "server_deleted_at": None,
        }
    return rows


def _organization(r: Row) -> Row:
    return {
        "id": r["id"],
        "name": r["name"],
        "pricing_plan_id": r["pricing_plan_id"],
        "user_count": r["user_count"],
        "max_workspaces": r["max_workspaces"],
        "created_at": instant(r["created_at"]),
        "at": instant(r["at"]),
        "server_deleted_at": None,
        "suspended_at": instant(r.get("suspended_at")),
        "is_multi_workspace_enabled": r["is_multi_workspace_enabled"],
        "is_unified": r["is_unified"],
        "admin": r["admin"],
        "owner": r["owner"],
        "trial_info": r.get("trial_info"),
    }


def _organization_user(r: Row) -> Row:
    # The membership's organization, as the records tell it (the API's payload may not).
    assert r.get("organization_id") is not None, f"truth: membership {r['id']} has no org"
    return {
        "id": r["id"],
        "user_id": r["user_id"],
        "organization_id": r["organization_id"],
        "name": r["name"],
        "email": r["email"],
        "avatar_url": r["avatar_url"],
        "inactive": r["inactive"],
        "joined": r["joined"],
        "admin": r["admin"],
        "owner": r["owner"],
        "can_edit_email": r["can_edit_email"],
        "invitation_code": r.get("invitation_code"),
        "groups": r.get("groups"),
        "workspaces": r.get("workspaces"),
        "server_deleted_at": None,
    }


def _groups(emulator: Emulator, groups: list[Row], organizations: list[Row]) -> dict[Any, Row]:
    # Group records do not name their organization: the API lists them by organization.
    owner = {
        g["group_id"]: org["id"]
        for org in organizations
        for g in emulator.api(f"/organizations/{org['id']}/groups") or []
    }
    return {
        g["group_id"]: {
            "group_id": g["group_id"],
            "organization_id": owner[g["group_id"]],
            "name": g["name"],
            "at": instant(g["at"]),
            "users": g.get("users"),
            "workspaces": g.get("workspaces"),
            "server_deleted_at": None,
        }
        for g in groups
    }


def _workspace(r: Row) -> Row:
    return {
        "id": r["id"],
        "organization_id": r["organization_id"],
        "name": r["name"],
        "premium": r["premium"],
        "admin": r["admin"],
        "default_currency": r.get("default_currency"),
        "at": instant(r["at"]),
        "server_deleted_at": None,
        "unreachable_since": None,
    }


def _statistics(workspaces: list[Row], members: list[Row], groups: list[Row]) -> dict[Any, Row]:
    """Statistics from the memberships: who is a member of each workspace, in which role."""
    rows = {}
    for ws in workspaces:
        roles = {
            m["user_id"]: (w["role"], m["name"])
            for m in members
            for w in m.get("workspaces") or []
            if w["workspace_id"] == ws["id"]
        }
        rows[ws["id"]] = {
            "workspace_id": ws["id"],
            "admins": [
                {"user_id": uid, "name": name}
                for uid, (role, name) in sorted(roles.items())
                if role == "admin"
            ],
            "groups_count": sum(1 for g in groups if ws["id"] in (g.get("workspaces") or [])),
            "members_count": len(roles),
        }
    return rows


def _client(r: Row) -> Row:
    return {
        "id": r["id"],
        "workspace_id": field(r, "workspace_id"),
        "name": r["name"],
        "archived": r["archived"],
        "at": instant(r["at"]),
        "creator_id": r.get("creator_id"),
        "notes": r.get("notes"),
        "server_deleted_at": None,
    }


def _project(r: Row) -> Row:
    return {
        "id": r["id"],
        "workspace_id": field(r, "workspace_id"),
        "client_id": field(r, "client_id"),
        "name": r["name"],
        "color": r["color"],
        "status": r["status"],
        "active": r["active"],
        "is_private": r["is_private"],
        "billable": r["billable"],
        "recurring": r["recurring"],
        "template": r.get("template"),
        "auto_estimates": r.get("auto_estimates"),
        "at": instant(r["at"]),
        "created_at": instant(r["created_at"]),
        "start_date": day(r["start_date"]),
        "end_date": day(r.get("end_date")),
        "currency": r.get("currency"),
        "estimated_hours": r.get("estimated_hours"),
        "estimated_seconds": r.get("estimated_seconds"),
        "actual_hours": r.get("actual_hours"),
        "actual_seconds": r.get("actual_seconds"),
        "rate": r.get("rate"),
        "fixed_fee": r.get("fixed_fee"),
        "rate_last_updated": instant(r.get("rate_last_updated")),
        "server_deleted_at": None,
        "recurring_parameters": r.get("recurring_parameters"),
    }


def _task(r: Row) -> Row:
    return {
        "id": r["id"],
        "workspace_id": field(r, "workspace_id"),
        "project_id": field(r, "project_id"),
        "user_id": field(r, "user_id"),
        "estimated_seconds": r.get("estimated_seconds"),
        "name": r["name"],
        "active": r["active"],
        "recurring": r["recurring"],
        "tracked_seconds": r["tracked_seconds"],
        "at": instant(r["at"]),
        "server_deleted_at": None,
    }


def _tag(r: Row) -> Row:
    return {
        "id": r["id"],
        "workspace_id": field(r, "workspace_id"),
        "name": r["name"],
        "at": instant(r["at"]),
        "creator_id": r.get("creator_id"),
        "server_deleted_at": None,
    }


def _workspace_user(r: Row) -> Row:
    row = {name: r.get(name) for name in CONTRACT["workspace_users"]}
    row["user_id"] = field(r, "user_id")
    row["workspace_id"] = field(r, "workspace_id")
    for name in ("rate_last_updated", "labor_cost_last_updated", "at"):
        row[name] = instant(r.get(name))
    row["server_deleted_at"] = None
    return row


def _project_users(
    emulator: Emulator, projects: list[Row], workspace_users: list[Row]
) -> dict[Any, Row]:
    """Every member of every live project, through a group too (the source asks
    with_group_members=true), while a member of the project's workspace."""
    live = {p["id"] for p in _live(projects)}
    members = {(field(w, "workspace_id"), field(w, "user_id")) for w in workspace_users}
    rows = {}
    for r in emulator.records("project_users"):
        if r["project_id"] not in live or (r["workspace_id"], r["user_id"]) not in members:
            continue
        row = {name: r.get(name) for name in CONTRACT["project_users"]}
        for name in ("rate_last_updated", "labor_cost_last_updated", "at"):
            row[name] = instant(r.get(name))
        row["server_deleted_at"] = None
        rows[r["id"]] = row
    return rows


def _project_groups(emulator: Emulator, projects: list[Row]) -> dict[Any, Row]:
    """The groups of live projects, named by the neutral columns the legacy pid/wid fill."""
    live = {p["id"] for p in _live(projects)}
    return {
        r["id"]: {
            "id": r["id"],
            "workspace_id": r["wid"],
            "project_id": r["pid"],
            "group_id": r["group_id"],
            "server_deleted_at": None,
        }
        for r in emulator.records("project_groups")
        if r["pid"] in live
    }


class RateAt:
    """The hourly rate an entry bills, from the records alone: its project's rate, else its
    workspace's default, each as the rate history (`/_emulator/records/rates`) says it was when
    the entry started (before the first period: the first period's). A history whose open
    period differs from the record's rate now is ignored (the record was changed since)."""

    def __init__(self, rates: list[Row], projects: list[Row], workspaces: list[Row]) -> None:
        found: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
        for r in rates:
            if r["type"] == "billable_rates" and r["level"] in ("project", "workspace"):
                start = instant(r["start"])
                assert start is not None
                found.setdefault((r["level"], r["level_id"]), []).append((start, r["amount"]))
        self.histories = {key: sorted(periods) for key, periods in found.items()}
        self.project_rates = {p["id"]: p.get("rate") for p in projects}
        self.defaults = {w["id"]: w["default_hourly_rate"] for w in workspaces}

    def _at(self, level: str, level_id: int, current: float, start: datetime) -> float:
        periods = self.histories.get((level, level_id))
        if not periods or periods[-1][1] != current:
            return current
        amount = periods[0][1]
        for begins, value in periods:
            if begins <= start:
                amount = value
        return amount

    def cents(self, workspace_id: int, project_id: int | None, start: datetime) -> int:
        """The rate in cents."""
        rate = self.project_rates.get(project_id) if project_id is not None else None
        if rate is not None:
            assert project_id is not None
            return round(self._at("project", project_id, rate, start) * 100)
        default = self.defaults[workspace_id]
        return round(self._at("workspace", workspace_id, default, start) * 100)


def _report(
    entries: list[Row],
    members: list[Row],
    projects: list[Row],
    workspaces: list[Row],
    me: int,
    own_only: set[int],
    rates: list[Row],
) -> dict[Any, Row]:
    """One row per live, stopped entry of every member (only the token owner's in the
    workspaces of `own_only`, where the owner is no admin): the rate is the project's, else the
    workspace's default, as each was when the entry started (RateAt); amount and rate only
    when billable."""
    names = {m["user_id"]: m["name"] for m in members}
    rate_at = RateAt(rates, projects, workspaces)
    by_workspace = {w["id"]: w for w in workspaces}
    rows = {}
    for r in _live(entries):
        if r.get("stop") is None:
            continue
        ws = by_workspace[field(r, "workspace_id")]
        if ws["id"] in own_only and field(r, "user_id") != me:
            continue
        project_id = field(r, "project_id")
        start = instant(r["start"])
        assert start is not None
        cents = rate_at.cents(ws["id"], project_id, start)
        seconds = r["duration"]
        billable = r["billable"]
        user_id = field(r, "user_id")
        assert user_id in names, f"truth: no name for user {user_id}"
        rows[r["id"]] = {
            "id": r["id"],
            "workspace_id": ws["id"],
            "user_id": user_id,
            "username": names[user_id],
            "project_id": project_id,
            "task_id": field(r, "task_id"),
            "description": r.get("description"),
            "billable": billable,
            "tag_ids": r.get("tag_ids") or [],
            "hourly_rate_in_cents": cents if billable else None,
            "billable_amount_in_cents": seconds * cents // 3600 if billable else None,
            "currency": ws["default_currency"],
            "start": instant(r["start"]),
            "stop": instant(r["stop"]),
            "seconds": seconds,
            "at": instant(r["at"]),
            "server_deleted_at": None,
        }
    return rows


# --- comparing what landed with the truth -----------------------------------------------------


def _same(kind: str, expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if kind == TS:
        return isinstance(actual, datetime) and actual.tzinfo is not None and actual == expected
    if kind == JSON:
        if isinstance(actual, str):
            actual = orjson.loads(actual)
        return bool(actual == expected)
    if kind == DOUBLE:
        return isinstance(actual, float) and math.isclose(actual, expected, rel_tol=1e-12)
    if kind == BIGINT:
        return type(actual) is int and actual == expected
    if kind == BOOL:
        return type(actual) is bool and actual == expected
    if kind == DATE:
        return type(actual) is date and actual == expected
    return type(actual) is str and actual == expected


def _show(value: Any) -> str:
    if isinstance(value, datetime | date):
        return f"{type(value).__name__} {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def differences(expected: Tables, landed: dict[str, list[Row]], shown: int = 5) -> list[str]:
    """What differs between the truth and the rows that landed, table by table: missing and
    extra keys, duplicates, missing columns, and the first `shown` mismatching values."""
    problems: list[str] = []
    for table, rows in expected.items():
        if table not in landed:
            if rows:  # a table nothing may land in (a member's admin-only one) may be absent
                problems.append(f"{table}: table missing")
            continue
        key = KEYS[table]
        actual: dict[Any, Row] = {}
        for row in landed[table]:
            if row.get(key) in actual:
                problems.append(f"{table}: duplicate key {row.get(key)!r}")
            actual[row.get(key)] = row
        missing = sorted(set(rows) - set(actual), key=repr)
        extra = sorted(set(actual) - set(rows), key=repr)
        if missing:
            problems.append(f"{table}: {len(missing)} rows missing, e.g. {key}={missing[:shown]}")
        if extra:
            problems.append(f"{table}: {len(extra)} rows too many, e.g. {key}={extra[:shown]}")
        columns = set().union(*(set(r) for r in actual.values())) if actual else set()
        absent = sorted(set(CONTRACT[table]) - columns) if actual else []
        if absent:
            problems.append(f"{table}: columns missing: {absent}")
        mismatches = [
            f"{table} {key}={k} {column}: expected {_show(want)}, "
            f"got {_show(actual[k].get(column))}"
            for k in sorted(set(rows) & set(actual), key=repr)
            for column, kind in CONTRACT[table].items()
            if column not in absent
            and not _same(kind, (want := rows[k][column]), actual[k].get(column))
        ]
        if mismatches:
            problems.append(f"{table}: {len(mismatches)} values differ")
            problems.extend(f"  {m}" for m in mismatches[:shown])
    for table in sorted(set(landed) - set(expected)):
        problems.append(f"{table}: a table the truth does not know")
    return problems


# --- the analytics views --------------------------------------------------------------------------

WORKING_DAYS = 5
"""The service's working hours are a day's; the utilisation view counts five days a week."""


def expected_entries(base_url: str, token: str) -> dict[Any, Row]:
    """The `entries` view's rows, one per live entry of every member, by id (running entries:
    the token owner's only, as no endpoint shows another member's).

    A running entry's `seconds` is left None here: it depends on the moment the view was built,
    which the test brackets itself. Names come from live records only, as deleted ones are gone
    from the tables the view reads."""
    from zoneinfo import ZoneInfo

    emulator = Emulator(base_url, token)
    workspaces = {w["id"]: w for w in _live(emulator.records("workspaces"))}
    members = {
        (field(m, "workspace_id"), field(m, "user_id")): m
        for m in _live(emulator.records("workspace_users"))
    }
    org_names = {m["user_id"]: m["name"] for m in emulator.records("organization_users")}
    all_projects = emulator.records("projects")
    projects = {p["id"]: p for p in _live(all_projects)}
    rate_at = RateAt(emulator.records("rates"), all_projects, emulator.records("workspaces"))
    clients = {c["id"]: c for c in _live(emulator.records("clients"))}
    tasks = {t["id"]: t for t in _live(emulator.records("tasks"))}
    tags = {t["id"]: t for t in _live(emulator.records("tags"))}
    me = emulator.admin("/truth")["user_id"]
    rows = {}
    for r in _live(emulator.records("time_entries")):
        ws_id = field(r, "workspace_id")
        user_id = field(r, "user_id")
        project_id = field(r, "project_id")
        task_id = field(r, "task_id")
        project = projects.get(project_id)
        client_id = None if project is None else field(project, "client_id")
        member = members.get((ws_id, user_id))
        zone = ZoneInfo(member["timezone"]) if member and member.get("timezone") else UTC
        start = instant(r["start"])
        assert start is not None
        local = start.astimezone(zone).date()
        running = r.get("stop") is None
        if running and user_id != me:
            continue  # the report lists stopped entries; only /me shows a running one
        workspace = workspaces[ws_id]
        amount = None
        if r["billable"] and not running:
            amount = r["duration"] * rate_at.cents(ws_id, project_id, start) // 3600 / 100
        names = sorted(tags[t]["name"] for t in r.get("tag_ids") or [] if t in tags)
        if member:
            user_name = member["name"]
        elif running and user_id == me:
            user_name = None  # /me/time_entries carries no name
        else:
            user_name = org_names.get(user_id)
        rows[r["id"]] = {
            "id": r["id"],
            "workspace_id": ws_id,
            "workspace_name": workspace["name"],
            "user_id": user_id,
            "user_name": user_name,
            "project_id": project_id,
            "project_name": None if project is None else project["name"],
            "client_id": client_id,
            "client_name": clients[client_id]["name"] if client_id in clients else None,
            "task_id": task_id,
            "task_name": tasks[task_id]["name"] if task_id in tasks else None,
            "tag_names": names or None,
            "description": r.get("description"),
            "billable": r["billable"],
            "start": start,
            "stop": instant(r.get("stop")),
            "local_date": local,
            "week": local - timedelta(days=local.weekday()),
            "seconds": None if running else r["duration"],
            "billable_amount": amount,
            "currency": workspace["default_currency"],
        }
    return rows


def expected_day_minutes(base_url: str, token: str) -> dict[int, int | None]:
    """Per active member: the longest working day of theirs (their workspace's when they set
    none), in minutes; None when neither is known."""
    emulator = Emulator(base_url, token)
    workspaces = {w["id"]: w for w in _live(emulator.records("workspaces"))}
    minutes: dict[int, int | None] = {}
    for m in _live(emulator.records("workspace_users")):
        if m.get("inactive") or m.get("active") is False:
            continue
        own = m.get("working_hours_in_minutes")
        if own is None:
            workspace = workspaces.get(field(m, "workspace_id"))
            own = None if workspace is None else workspace.get("working_hours_in_minutes")
        user = field(m, "user_id")
        known = minutes.get(user)
        minutes[user] = own if known is None else (known if own is None else max(known, own))
    return minutes
