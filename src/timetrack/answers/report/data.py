"""What the page shows, read from the analytics views (and dlt's load table), as plain values.

Two queries carry the numbers: `hours_by_week` for the period and the one before it, and
`utilisation_by_week` for the people. Organizations and workspace memberships come from the
raw tables beside the views, so that the page can be cut per organization and workspace; every
scope's numbers are summed here from the same rows, never asked again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from timetrack.answers.analytics import analytics_schema
from timetrack.answers.report.period import Period
from timetrack.errors import TimetrackError

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

NO_CLIENT = "(no client)"
NO_PROJECT = "(no project)"


@dataclass(frozen=True)
class Line:
    """One row of `hours_by_week`: a week, workspace, project, client, person and currency."""

    week: date
    workspace_id: Any
    workspace: str
    project_id: Any
    project: str
    client_id: Any
    client: str
    user_id: Any
    user: str
    currency: str
    hours: float
    billable_hours: float
    amount: float
    entries: int


@dataclass(frozen=True)
class Utilisation:
    """One row of `utilisation_by_week`: a person's week against their working hours."""

    user_id: Any
    user: str
    week: date
    hours: float
    working_hours: float | None


@dataclass(frozen=True)
class Scope:
    """A part of the data the page can show alone: everything, an organization, a workspace."""

    key: str
    name: str
    workspace_ids: frozenset[Any] | None
    """None: every workspace."""


@dataclass
class ReportData:
    """Everything the page shows, before any summing per scope."""

    period: Period
    dataset: str
    lines: list[Line] = field(default_factory=list)
    """The period's weeks and the previous period's."""
    utilisation: list[Utilisation] = field(default_factory=list)
    has_utilisation: bool = False
    members: dict[Any, set[Any]] = field(default_factory=dict)
    """Workspace id: its members' user ids."""
    organizations: list[tuple[Any, str, list[tuple[Any, str]]]] = field(default_factory=list)
    """(organization id, name, its workspaces (id, name)), every workspace of the lines in one."""
    last_sync: datetime | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    newest_week: date | None = None
    """The week of the newest entry of all, to point at when the period holds none."""

    @property
    def weeks(self) -> list[date]:
        """The period's weeks (Mondays), for the command's and the demo's output."""
        return list(self.period.weeks)

    @property
    def first_week(self) -> date:
        return self.period.first

    @property
    def last_week(self) -> date:
        return self.period.last

    def current(self) -> list[Line]:
        """The lines of the period, without the previous period's."""
        weeks = set(self.period.weeks)
        return [line for line in self.lines if line.week in weeks]

    @property
    def entries(self) -> int:
        """Entries in the period, every workspace."""
        return sum(line.entries for line in self.current())

    @property
    def hours(self) -> float:
        """Hours in the period, every workspace."""
        return sum(line.hours for line in self.current())

    def title(self) -> str:
        """The organizations' names (the workspaces' when none is known; the dataset's when
        there is nothing at all)."""
        names = [name for _, name, _ in self.organizations if name]
        if not names:
            names = [name for _, _, spaces in self.organizations for _, name in spaces if name]
        if not names:
            return f"Time tracked: {self.dataset}"
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"Time tracked: {shown}"

    def scopes(self) -> list[Scope]:
        """Everything, then each organization (when there are several) and each workspace
        (when there are several), in name order; an organization of one workspace is one
        choice, not two that show the same."""
        out = [Scope("all", "All workspaces", None)]
        spaces = [space for _, _, ws in self.organizations for space in ws]
        alone: set[Any] = set()
        if len(self.organizations) > 1:
            for org_id, name, ws in self.organizations:
                ids = frozenset(i for i, _ in ws)
                title = f"Organization: {name}"
                if len(ws) == 1:
                    alone |= ids
                    title += f" (its one workspace, {ws[0][1]})"
                out.append(Scope(f"o{org_id}", title, ids))
        if len(spaces) > 1:
            for ws_id, name in sorted(spaces, key=lambda s: s[1]):
                if ws_id not in alone:
                    out.append(Scope(f"w{ws_id}", f"Workspace: {name}", frozenset([ws_id])))
        return out


_TABLES_SQL = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
_COLUMNS_SQL = (
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
)


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _name(name: Any, key: Any, none: str, noun: str) -> str:
    """A name; for an id whose name is not known (deleted since, say), the id, never the
    words for "none", which would merge it with the entries that have none."""
    if name is not None:
        return str(name)
    return none if key is None else f"{noun} {key}"


def read_report_data(query: Query, dataset: str, period: Period) -> ReportData:
    """The numbers of `period` and of the weeks before it, from the views."""
    schema = analytics_schema(dataset)
    views = {name for (name,) in query(_TABLES_SQL, (schema,))}
    if "entries" not in views:
        raise TimetrackError(
            f"no analytics views in {schema}: run `timetrack run` into DuckDB or PostgreSQL first "
            "(it builds them after every load)"
        )
    data = ReportData(period, dataset)
    bounds = (period.previous[0], period.last)
    data.lines = [
        Line(
            _as_date(week),
            workspace_id,
            str(workspace if workspace is not None else f"workspace {workspace_id}"),
            project_id,
            _name(project, project_id, NO_PROJECT, "project"),
            client_id,
            _name(client, client_id, NO_CLIENT, "client"),
            user_id,
            str(user if user is not None else f"user {user_id}"),
            str(currency if currency is not None else "?"),
            float(hours or 0),
            float(billable or 0),
            float(amount or 0),
            int(entries or 0),
        )
        for (
            week,
            workspace_id,
            workspace,
            project_id,
            project,
            client_id,
            client,
            user_id,
            user,
            currency,
            hours,
            billable,
            amount,
            entries,
        ) in query(
            "SELECT week, workspace_id, workspace_name, project_id, project_name, client_id, "
            "client_name, user_id, user_name, currency, hours, billable_hours, billable_amount, "
            f'entries FROM "{schema}".hours_by_week WHERE week >= %s AND week <= %s',
            bounds,
        )
    ]
    if "utilisation_by_week" in views:
        data.has_utilisation = True
        data.utilisation = [
            Utilisation(
                user_id,
                str(name if name is not None else f"user {user_id}"),
                _as_date(week),
                float(hours or 0),
                None if working is None else float(working),
            )
            for user_id, name, week, hours, working in query(
                "SELECT user_id, user_name, week, hours, working_hours "
                f'FROM "{schema}".utilisation_by_week WHERE week >= %s AND week <= %s',
                bounds,
            )
        ]
    ((newest,),) = query(f'SELECT max(week) FROM "{schema}".entries', ())
    data.newest_week = None if newest is None else _as_date(newest)
    columns: dict[str, set[str]] = defaultdict(set)
    for table, column in query(_COLUMNS_SQL, (dataset,)):
        columns[str(table)].add(str(column))
    data.organizations = _organizations(query, dataset, columns, data.lines)
    data.members = _members(query, dataset, columns)
    data.last_sync, data.row_counts = _last_sync(query, dataset, columns)
    return data


def _organizations(
    query: Query, dataset: str, columns: dict[str, set[str]], lines: list[Line]
) -> list[tuple[Any, str, list[tuple[Any, str]]]]:
    """Organizations and their workspaces, from the raw tables where they landed; a workspace
    seen only in the entries sits in an organization of its own name."""
    workspaces: dict[Any, tuple[str, Any]] = {}
    if {"id", "name", "organization_id"} <= columns.get("workspaces", set()):
        for ws_id, name, org_id in query(
            f'SELECT id, max(name), max(organization_id) FROM "{dataset}".workspaces GROUP BY id',
            (),
        ):
            workspaces[ws_id] = (str(name if name is not None else f"workspace {ws_id}"), org_id)
    org_names: dict[Any, str] = {}
    if {"id", "name"} <= columns.get("organizations", set()):
        org_names = {
            org_id: str(name)
            for org_id, name in query(
                f'SELECT id, max(name) FROM "{dataset}".organizations GROUP BY id', ()
            )
            if name is not None
        }
    for line in lines:
        if line.workspace_id not in workspaces:
            workspaces[line.workspace_id] = (line.workspace, None)
    grouped: dict[Any, list[tuple[Any, str]]] = defaultdict(list)
    for ws_id, (name, org_id) in workspaces.items():
        grouped[org_id if org_id is not None else ("ws", ws_id)].append((ws_id, name))
    out = []
    for org_id, spaces in grouped.items():
        name = org_names.get(org_id) or (
            spaces[0][1] if isinstance(org_id, tuple) else f"organization {org_id}"
        )
        out.append((org_id, name, sorted(spaces, key=lambda s: s[1])))
    return sorted(out, key=lambda o: o[1])


def _members(query: Query, dataset: str, columns: dict[str, set[str]]) -> dict[Any, set[Any]]:
    """Who belongs to which workspace: a person with no hours still counts in it."""
    if not {"workspace_id", "user_id"} <= columns.get("workspace_users", set()):
        return {}
    out: dict[Any, set[Any]] = defaultdict(set)
    for ws_id, user_id in query(
        f'SELECT DISTINCT workspace_id, user_id FROM "{dataset}".workspace_users', ()
    ):
        out[ws_id].add(user_id)
    return dict(out)


def _last_sync(
    query: Query, dataset: str, columns: dict[str, set[str]]
) -> tuple[datetime | None, dict[str, int]]:
    """When the last load completed, and the rows of every raw table."""
    loads = query(f'SELECT max(inserted_at) FROM "{dataset}"._dlt_loads WHERE status = 0', ())
    last = loads[0][0] if loads else None
    tables = [
        name for name in columns if not name.startswith("_dlt") and not name.endswith("_staging")
    ]
    counts = {
        name: int(query(f'SELECT count(*) FROM "{dataset}"."{name}"', ())[0][0])
        for name in sorted(tables)
    }
    if isinstance(last, datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return (last if isinstance(last, datetime) else None), counts
