"""One scope's numbers, summed from the report's rows: totals now and before, weeks, projects,
clients and people, each with its change against the previous period."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from timetrack.answers.report.data import Line, ReportData, Scope
from timetrack.answers.report.period import Period


@dataclass
class Totals:
    """Sums over some of the lines."""

    hours: float = 0.0
    billable_hours: float = 0.0
    amounts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    entries: int = 0
    people: set[Any] = field(default_factory=set)

    def add(self, line: Line) -> None:
        self.hours += line.hours
        self.billable_hours += line.billable_hours
        if line.amount:
            self.amounts[line.currency] += line.amount
        self.entries += line.entries
        if line.entries:
            self.people.add(line.user_id)

    @property
    def share(self) -> float:
        return self.billable_hours / self.hours if self.hours else 0.0


@dataclass
class Item:
    """A project or a client: its period's totals and its previous period's hours."""

    name: str
    workspace: str
    client: str
    now: Totals = field(default_factory=Totals)
    before: float = 0.0


@dataclass
class Person:
    """A person's weeks: tracked hours and working hours (None: not known)."""

    user_id: Any
    name: str
    weeks: dict[date, tuple[float, float | None]] = field(default_factory=dict)
    before: float = 0.0

    @property
    def tracked(self) -> float:
        return sum(hours for hours, _ in self.weeks.values())

    @property
    def working(self) -> float | None:
        known = [working for _, working in self.weeks.values() if working is not None]
        return sum(known) if known else None

    @property
    def over_under(self) -> float | None:
        known = [hours - working for hours, working in self.weeks.values() if working is not None]
        return sum(known) if known else None


@dataclass
class Summary:
    """Everything one scope's section shows."""

    scope: Scope
    period: Period
    now: Totals
    before: Totals
    weeks: dict[date, Totals]
    previous_weeks: dict[date, Totals]
    projects: list[Item]
    clients: list[Item]
    people: list[Person]
    currencies: list[str]


def summarise(data: ReportData, scope: Scope) -> Summary:
    """`scope`'s numbers from `data`'s rows, projects and clients by hours, most first."""
    period = data.period
    now, before = Totals(), Totals()
    weeks: dict[date, Totals] = {week: Totals() for week in period.weeks}
    previous: dict[date, Totals] = {week: Totals() for week in period.previous}
    projects: dict[tuple[Any, Any], Item] = {}
    clients: dict[tuple[Any, Any], Item] = {}
    hours_before: dict[Any, float] = defaultdict(float)
    current = set(period.weeks)
    for line in data.lines:
        if scope.workspace_ids is not None and line.workspace_id not in scope.workspace_ids:
            continue
        project = projects.setdefault(
            (line.workspace_id, line.project_id), Item(line.project, line.workspace, line.client)
        )
        client = clients.setdefault(
            (line.workspace_id, line.client_id if line.client_id is not None else line.client),
            Item(line.client, line.workspace, line.client),
        )
        if line.week in current:
            for totals in (now, weeks[line.week], project.now, client.now):
                totals.add(line)
        else:
            before.add(line)
            previous[line.week].add(line)
            project.before += line.hours
            client.before += line.hours
            hours_before[line.user_id] += line.hours
    ranked = sorted(projects.values(), key=lambda i: (-i.now.hours, -i.before, i.name))
    ranked_clients = sorted(clients.values(), key=lambda i: (-i.now.hours, -i.before, i.name))
    currencies = sorted(
        {c for t in (now, before) for c in t.amounts}, key=lambda c: -now.amounts.get(c, 0.0)
    )
    return Summary(
        scope,
        period,
        now,
        before,
        weeks,
        previous,
        ranked,
        ranked_clients,
        _people(data, scope, hours_before),
        currencies,
    )


def _people(data: ReportData, scope: Scope, hours_before: dict[Any, float]) -> list[Person]:
    """Every active member of the scope (and whoever tracked time in it), each week's hours
    from `utilisation_by_week` (all of a person's workspaces) against their working hours;
    without that view, the scope's own hours with working hours unknown."""
    period = data.period
    current = set(period.weeks)
    in_scope: set[Any] | None = None
    if scope.workspace_ids is not None:
        in_scope = set().union(*(data.members.get(w, set()) for w in scope.workspace_ids))
        in_scope |= {
            line.user_id
            for line in data.lines
            if line.workspace_id in scope.workspace_ids and line.entries
        }
    people: dict[Any, Person] = {}
    if data.has_utilisation:
        before: dict[Any, float] = defaultdict(float)
        for row in data.utilisation:
            if in_scope is not None and row.user_id not in in_scope:
                continue
            person = people.setdefault(row.user_id, Person(row.user_id, row.user))
            if row.week in current:
                person.weeks[row.week] = (row.hours, row.working_hours)
            else:
                before[row.user_id] += row.hours
        for user_id, hours in before.items():
            people[user_id].before = hours
    from_view = set(people)
    for line in data.lines:
        if scope.workspace_ids is not None and line.workspace_id not in scope.workspace_ids:
            continue
        if line.user_id in from_view:
            continue
        person = people.setdefault(line.user_id, Person(line.user_id, line.user))
        person.before = hours_before.get(line.user_id, 0.0)
        if line.week in current:
            hours, _ = person.weeks.get(line.week, (0.0, None))
            person.weeks[line.week] = (hours + line.hours, None)
    return sorted(people.values(), key=lambda p: (-p.tracked, p.name))
