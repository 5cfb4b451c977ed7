"""The page's tables as HTML: every project, client, person and week of a scope, with their
change against the previous period.

Every cell that holds a name is escaped here (the tables are HTML, not Plotly markup); a cell's
`data-v` holds the value sorting and the CSV download read, its text the value shown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from timetrack.answers.report.names import LABEL_WIDTH, cut, plain, text
from timetrack.answers.report.summary import Item, Summary

BANDS = ((0.0, "u1"), (0.5, "u2"), (0.9, "u3"), (1.1, "u4"))
"""Utilisation bands of a week's cell (tracked / working hours, from this share up): under
half, under 90%, about right (90 to 110%), over; a week of no hours at all is a band of its
own (`u0`), so that nothing stands apart from little."""


@dataclass(frozen=True)
class Cell:
    """What a cell shows (HTML, escaped already), and the value it sorts and exports by (its
    text when empty and not numeric)."""

    shown: str
    value: str
    numeric: bool = True
    css: str = ""
    title: str = ""


NAME_SHOWN = 24
"""Characters a name column surely shows before the style sheet may cut it: a longer name is
whole on hover (a `title`); it is always whole in the cell's text, which sorting and the CSV
read."""


def name_cell(name: str) -> Cell:
    """A name whole: cut by the style sheet where the column is narrow, whole on hover."""
    whole = plain(name) or "(no name)"
    return Cell(
        text(name), "", numeric=False, css="name", title=whole if len(whole) > NAME_SHOWN else ""
    )


def number(value: float | None, digits: int = 1, signed: bool = False) -> Cell:
    if value is None:
        return Cell("\u2013", "")
    shown = f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"
    css = ("up" if value > 0.05 else "down" if value < -0.05 else "") if signed else ""
    return Cell(shown.replace("-", "\u2212"), f"{round(value, 4)!r}", css=css)


def count(value: int) -> Cell:
    return Cell(f"{value:,}", str(value))


def percent(value: float | None) -> Cell:
    if value is None:
        return Cell("\u2013", "")
    return Cell(f"{value:.0%}".replace("-", "\u2212"), f"{round(value, 4)!r}")


def change(now: float, before: float) -> Cell:
    """Relative change; none against nothing."""
    return percent((now - before) / before if before else None) if before else Cell("new", "")


def table(
    table_id: str,
    headers: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[Cell]],
    file_name: str,
    caption: str = "",
    css: str = "",
    short_dates: bool = False,
) -> str:
    """A sortable table with a CSV download button; `headers` are (label, numeric), shown
    whole in the CSV and, with `short_dates`, a week's as its month and day only."""
    head = "".join(
        f'<th class="{"n" if numeric else ""}" data-v="{html.escape(label)}" tabindex="0" '
        f'title="{html.escape(label)}: sort">{shown}</th>'
        for label, numeric, shown in (
            (label, numeric, _header(label, short_dates)) for label, numeric in headers
        )
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n " if cell.numeric else ""}{cell.css}"'
            + (f' data-v="{html.escape(cell.value)}"' if cell.value or cell.numeric else "")
            + (f' title="{html.escape(cell.title)}"' if cell.title else "")
            + f">{cell.shown}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    note = f'<span class="caption">{html.escape(caption)}</span>' if caption else ""
    return (
        f'<div class="tablebar">{note}<button type="button" class="csv" '
        f'data-table="{table_id}" data-file="{html.escape(file_name)}">Download CSV</button>'
        f"</div>"
        f'<div class="scroll"><table class="data {css}" id="{table_id}">'
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _header(label: str, short_dates: bool) -> str:
    shown = label[5:] if short_dates and re.match(r"\d{4}-\d\d-\d\d", label) else label
    return html.escape(shown).replace(" (partial)", "<br>partial")


def _currency(currency: str) -> str:
    return cut(plain(currency) or "?", LABEL_WIDTH)


def items_table(summary: Summary, kind: str, table_id: str) -> str:
    """Every project (or client) of the scope: hours, billable hours, amount per currency,
    entries, the previous period's hours and the change."""
    items: list[Item] = summary.projects if kind == "projects" else summary.clients
    first = [("project", False), ("client", False)] if kind == "projects" else [("client", False)]
    headers = [
        *first,
        ("workspace", False),
        ("hours", True),
        ("billable h", True),
        *((f"amount {_currency(c)}", True) for c in summary.currencies),
        ("entries", True),
        ("previous h", True),
        ("change h", True),
        ("change", True),
    ]
    rows = []
    for item in items:
        names = [name_cell(item.name), name_cell(item.client)] if kind == "projects" else []
        rows.append(
            [
                *(names or [name_cell(item.name)]),
                name_cell(item.workspace),
                number(item.now.hours),
                number(item.now.billable_hours),
                *(number(item.now.amounts.get(c, 0.0), 2) for c in summary.currencies),
                count(item.now.entries),
                number(item.before),
                number(item.now.hours - item.before, signed=True),
                change(item.now.hours, item.before),
            ]
        )
    return table(
        table_id,
        headers,
        rows,
        f"{kind}-{summary.period.first}-{summary.scope.key}.csv",
        f"{len(items):,} {kind}, with those that had hours in the previous period only",
    )


def _week_cell(hours: float, working: float | None) -> Cell:
    """A person's week: the hours, coloured by their share of the working hours (no hours at
    all stand apart from few)."""
    band = "u0"
    if hours > 0:
        share = hours / working if working else None
        band = "un" if share is None else next(b for low, b in reversed(BANDS) if share >= low)
    title = f"{hours:,.1f} h of {working:,.1f} working h" if working else f"{hours:,.1f} h"
    shown = "0" if hours == 0 else f"{hours:,.1f}"
    return Cell(shown, f"{round(hours, 4)!r}", css=band, title=title)


def people_table(summary: Summary, table_id: str) -> str:
    """Every person: each week's hours against their working hours, the period's tracked,
    working and over/under hours, utilisation, and the change against the previous period."""
    period = summary.period
    headers = [
        ("person", False),
        ("tracked h", True),
        ("working h", True),
        ("over/under h", True),
        ("utilisation", True),
        ("previous h", True),
        ("change h", True),
        *((period.label(week), True) for week in period.weeks),
    ]
    names = [person.name for person in summary.people]
    rows = []
    for person in summary.people:
        shown = person.name
        if names.count(person.name) > 1:
            shown = f"{person.name} (user {person.user_id})"
        working = person.working
        rows.append(
            [
                name_cell(shown),
                number(person.tracked),
                number(working),
                number(person.over_under, signed=True),
                percent(person.tracked / working if working else None),
                number(person.before),
                number(person.tracked - person.before, signed=True),
                *(_week_cell(*person.weeks.get(week, (0.0, None))) for week in period.weeks),
            ]
        )
    return table(
        table_id,
        headers,
        rows,
        f"people-{period.first}-{summary.scope.key}.csv",
        f"{len(rows):,} people; then each week's hours (its Monday)",
        css="people",
        short_dates=True,
    )


def weeks_table(summary: Summary, table_id: str) -> str:
    """Every week: hours, billable hours and share, amount per currency, entries, people, and
    the previous period's same week."""
    period = summary.period
    headers = [
        ("week", False),
        ("hours", True),
        ("billable h", True),
        ("billable share", True),
        *((f"amount {_currency(c)}", True) for c in summary.currencies),
        ("entries", True),
        ("people", True),
        ("previous week", False),
        ("previous h", True),
        ("change h", True),
    ]
    rows = []
    for week, before_week in zip(period.weeks, period.previous, strict=True):
        now, before = summary.weeks[week], summary.previous_weeks[before_week]
        label = period.label(week)
        rows.append(
            [
                Cell(html.escape(label), label, numeric=False),
                number(now.hours),
                number(now.billable_hours),
                percent(now.share if now.hours else None),
                *(number(now.amounts.get(c, 0.0), 2) for c in summary.currencies),
                count(now.entries),
                count(len(now.people)),
                Cell(before_week.isoformat(), before_week.isoformat(), numeric=False),
                number(before.hours),
                number(now.hours - before.hours, signed=True),
            ]
        )
    return table(table_id, headers, rows, f"weeks-{period.first}-{summary.scope.key}.csv")


def movers_table(summary: Summary, table_id: str, limit: int = 8) -> str:
    """The projects and people whose hours changed most against the previous period."""
    changes: list[tuple[str, str, float, float]] = [
        ("project", f"{item.name} ({item.workspace})", item.now.hours, item.before)
        for item in summary.projects
    ]
    changes += [("person", p.name, p.tracked, p.before) for p in summary.people]
    ups = sorted((c for c in changes if c[2] > c[3]), key=lambda c: c[3] - c[2])[:limit]
    downs = sorted((c for c in changes if c[2] < c[3]), key=lambda c: c[2] - c[3])[:limit]
    rows = [
        [
            Cell(kind, kind, numeric=False),
            name_cell(name),
            number(before),
            number(now),
            number(now - before, signed=True),
            change(now, before),
        ]
        for kind, name, now, before in ups + downs
    ]
    headers = [
        ("what", False),
        ("name", False),
        ("previous h", True),
        ("hours", True),
        ("change h", True),
        ("change", True),
    ]
    return table(
        table_id,
        headers,
        rows,
        f"changes-{summary.period.first}-{summary.scope.key}.csv",
        f"the {limit} biggest rises and falls of projects and people",
    )
