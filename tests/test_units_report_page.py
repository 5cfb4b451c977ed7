"""The report's drawing on small inputs, without a run or a browser: the tables' HTML
(`tables`), the Plotly figures (`charts`) and the page around them (`page`), each checked
against values worked out in the test. tests/test_report_page.py drives Chromium over a run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import UTC, date, datetime
from typing import Any

from tests.test_units_report import LINES, P1, PERIOD, W1, W2, line
from timetrack.answers.report import charts, page, tables
from timetrack.answers.report.data import Line, ReportData, Scope
from timetrack.answers.report.period import choose_period
from timetrack.answers.report.summary import Item, Person, Summary, Totals, summarise
from timetrack.answers.report.tables import Cell

ALL = Scope("all", "All workspaces", None)
MINUS = "\u2212"


def summary_of(lines: list[Line], scope: Scope = ALL, **more: Any) -> Summary:
    return summarise(ReportData(PERIOD, "ds", lines=list(lines), **more), scope)


def parse(table: str) -> tuple[list[tuple[str, str, str]], list[list[tuple[str, str, str]]]]:
    """A table's headers (class, data-v, shown) and rows of cells (class, data-v, shown)."""
    heads = re.findall(
        r'<th class="([^"]*)" data-v="([^"]*)" tabindex="0" title="[^"]*">(.*?)</th>', table
    )
    rows = [
        [
            (css, value, shown)
            for css, value, shown in re.findall(
                r'<td class="([^"]*)"(?: data-v="([^"]*)")?(?: title="[^"]*")?>(.*?)</td>', row
            )
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])
    ]
    return heads, rows


# tables -----------------------------------------------------------------------------------------


def test_cells_show_numbers_signed_coloured_and_keep_their_value() -> None:
    assert tables.number(None) == Cell("\u2013", "")
    assert tables.number(1234.5678) == Cell("1,234.6", "1234.5678")
    assert tables.number(1.234567, 2) == Cell("1.23", "1.2346")
    assert tables.number(-2.0) == Cell(f"{MINUS}2.0", "-2.0", css="")
    assert tables.number(2.0, signed=True) == Cell("+2.0", "2.0", css="up")
    assert tables.number(-2.0, signed=True) == Cell(f"{MINUS}2.0", "-2.0", css="down")
    assert tables.number(0.05, signed=True).css == ""
    assert tables.number(-0.05, signed=True).css == ""
    assert tables.number(0.06, signed=True).css == "up"
    assert tables.number(-0.06, signed=True).css == "down"
    assert tables.count(1234) == Cell("1,234", "1234")
    assert tables.percent(None) == Cell("\u2013", "")
    assert tables.percent(-0.25) == Cell(f"{MINUS}25%", "-0.25")
    assert tables.percent(0.123456) == Cell("12%", "0.1235")
    assert tables.change(3.0, 2.0) == Cell("50%", "0.5")
    assert tables.change(1.0, 0.0) == Cell("new", "")
    assert tables.change(0.0, 2.0) == Cell(f"{MINUS}100%", "-1.0")


def test_a_name_cell_is_escaped_and_whole_on_hover_when_long() -> None:
    assert tables.name_cell("<a>") == Cell("&lt;a&gt;", "", numeric=False, css="name")
    assert tables.name_cell("a" * 24).title == ""
    assert tables.name_cell("a" * 25 + "\x01").title == "a" * 25
    assert tables.name_cell("") == Cell("(no name)", "", numeric=False, css="name")


def test_a_table_is_escaped_html_with_a_csv_button() -> None:
    shown = tables.table(
        "t1",
        [("name", False), ("2026-11-16", True), ("2026-11-23 (partial)", True)],
        [
            [
                Cell("a&amp;b", "", numeric=False, css="name", title='x"y'),
                Cell("1.0", "1.0", css="up"),
                Cell("\u2013", ""),
            ],
            [Cell("w", "w<", numeric=False), Cell("2", "2"), Cell("3", "3")],
        ],
        "f&.csv",
        caption="cap <1>",
        css="people",
        short_dates=True,
    )
    assert shown == (
        '<div class="tablebar"><span class="caption">cap &lt;1&gt;</span>'
        '<button type="button" class="csv" data-table="t1" data-file="f&amp;.csv">'
        "Download CSV</button></div>"
        '<div class="scroll"><table class="data people" id="t1"><thead><tr>'
        '<th class="" data-v="name" tabindex="0" title="name: sort">name</th>'
        '<th class="n" data-v="2026-11-16" tabindex="0" title="2026-11-16: sort">11-16</th>'
        '<th class="n" data-v="2026-11-23 (partial)" tabindex="0" '
        'title="2026-11-23 (partial): sort">11-23<br>partial</th>'
        "</tr></thead><tbody>"
        '<tr><td class="name" title="x&quot;y">a&amp;b</td><td class="n up" data-v="1.0">1.0</td>'
        '<td class="n " data-v="">\u2013</td></tr>'
        '<tr><td class="" data-v="w&lt;">w</td><td class="n " data-v="2">2</td>'
        '<td class="n " data-v="3">3</td></tr>'
        "</tbody></table></div>"
    )
    plain = tables.table("t2", [("2026-11-16 (partial)", True)], [], "f.csv")
    assert plain == (
        '<div class="tablebar"><button type="button" class="csv" data-table="t2" '
        'data-file="f.csv">Download CSV</button></div>'
        '<div class="scroll"><table class="data " id="t2"><thead><tr>'
        '<th class="n" data-v="2026-11-16 (partial)" tabindex="0" '
        'title="2026-11-16 (partial): sort">2026-11-16<br>partial</th>'
        "</tr></thead><tbody></tbody></table></div>"
    )
    # Only a label that starts with a date is cut to its month and day.
    assert ">x2026-11-16<" in tables.table("t", [("x2026-11-16", True)], [], "f", short_dates=True)


def test_the_projects_and_clients_tables_hold_every_item_and_its_change() -> None:
    summary = summary_of(LINES)
    projects = tables.items_table(summary, "projects", "projects-all")
    assert 'data-table="projects-all" data-file="projects-2026-11-16-all.csv"' in projects
    assert '<span class="caption">6 projects, with those that had hours in the previous' in (
        projects
    )
    heads, rows = parse(projects)
    assert [(css, label) for css, label, _ in heads] == [
        ("", "project"),
        ("", "client"),
        ("", "workspace"),
        ("n", "hours"),
        ("n", "billable h"),
        ("n", "amount EUR"),
        ("n", "amount USD"),
        ("n", "amount GBP"),
        ("n", "amount JPY"),
        ("n", "entries"),
        ("n", "previous h"),
        ("n", "change h"),
        ("n", "change"),
    ]
    assert [[shown for _, _, shown in row] for row in rows[:3]] == [
        ["P1", "C1", "WS1", "6.0", "3.0", "30.00", "0.00", "0.00", "0.00", "3", "6.0", "+0.0",
         "0%"],
        ["P2", "(no client)", "WS1", "5.0", "5.0", "0.00", "10.00", "0.00", "0.00", "3", "0.0",
         "+5.0", "new"],
        ["P1", "C1", "WS2", "1.0", "1.0", "0.00", "0.00", "7.00", "0.00", "1", "0.0", "+1.0",
         "new"],
    ]  # fmt: skip
    assert rows[3][-2:] == [("n down", "-1.5", f"{MINUS}1.5"), ("n ", "-1.0", f"{MINUS}100%")]
    assert rows[0][0] == ("name", "", "P1")
    clients = tables.items_table(summary, "clients", "clients-all")
    heads, rows = parse(clients)
    assert [label for _, label, _ in heads][:3] == ["client", "workspace", "hours"]
    assert [css for css, _, _ in heads][:3] == ["", "", "n"]
    assert [row[0][2] for row in rows] == ["C1", "(no client)", "C1", "Loose", "C2"]
    assert [row[1][2] for row in rows] == ["WS1", "WS1", "WS2", "WS1", "WS2"]
    assert 'data-file="clients-2026-11-16-all.csv"' in clients
    assert "5 clients, with" in clients
    weird = summary_of([line(W1, 1, 1, 1, 1, 1.0, 1.0, 2.0, currency="\x01")])
    assert parse(tables.items_table(weird, "projects", "p"))[0][5][1] == "amount ?"
    long = summary_of([line(W1, 1, 1, 1, 1, 1.0, 1.0, 2.0, currency="c" * 50)])
    assert parse(tables.items_table(long, "projects", "p"))[0][5][1] == "amount " + "c" * 39 + (
        "\u2026"
    )


def test_a_persons_week_is_coloured_by_its_share_of_the_working_hours() -> None:
    week = tables._week_cell
    assert week(0.0, 40.0) == Cell("0", "0.0", css="u0", title="0.0 h of 40.0 working h")
    assert week(0.0, None) == Cell("0", "0.0", css="u0", title="0.0 h")
    assert week(1234.56, None) == Cell("1,234.6", "1234.56", css="un", title="1,234.6 h")
    assert week(5.0, 0.0) == Cell("5.0", "5.0", css="un", title="5.0 h")
    assert week(19.6, 40.0).css == "u1"
    assert week(20.0, 40.0).css == "u2"
    assert week(35.6, 40.0).css == "u2"
    assert week(36.0, 40.0).css == "u3"
    assert week(43.6, 40.0).css == "u3"
    assert week(44.0, 40.0).css == "u4"
    assert week(0.01, 40.0).css == "u1"
    assert week(1.234567, None).value == "1.2346"


def test_the_people_table_holds_each_persons_weeks_and_utilisation() -> None:
    people = [
        Person(1, "Ann", {W1: (30.0, 40.0), W2: (50.0, 40.0)}, before=60.0),
        Person(2, "Bo", {W2: (2.0, None)}, before=0.0),
        Person(3, "Bo", {}, before=4.0),
    ]
    summary = Summary(
        Scope("w1", "W", frozenset([1])),
        choose_period(date(2026, 11, 25), weeks=2, end=date(2026, 11, 25)),
        Totals(),
        Totals(),
        {},
        {},
        [],
        [],
        people,
        [],
    )
    shown = tables.people_table(summary, "people-w1")
    assert 'class="data people" id="people-w1"' in shown
    assert 'data-file="people-2026-11-16-w1.csv"' in shown
    assert "3 people; then each week&#x27;s hours (its Monday)" in shown
    heads, rows = parse(shown)
    assert [css for css, _, _ in heads] == ["", *["n"] * 8]
    assert [(label, text) for _, label, text in heads] == [
        ("person", "person"),
        ("tracked h", "tracked h"),
        ("working h", "working h"),
        ("over/under h", "over/under h"),
        ("utilisation", "utilisation"),
        ("previous h", "previous h"),
        ("change h", "change h"),
        ("2026-11-16", "11-16"),
        ("2026-11-23 (partial)", "11-23<br>partial"),
    ]
    assert rows == [
        [
            ("name", "", "Ann"),
            ("n ", "80.0", "80.0"),
            ("n ", "80.0", "80.0"),
            ("n ", "0.0", "+0.0"),
            ("n ", "1.0", "100%"),
            ("n ", "60.0", "60.0"),
            ("n up", "20.0", "+20.0"),
            ("n u2", "30.0", "30.0"),
            ("n u4", "50.0", "50.0"),
        ],
        [
            ("name", "", "Bo (user 2)"),
            ("n ", "2.0", "2.0"),
            ("n ", "", "\u2013"),
            ("n ", "", "\u2013"),
            ("n ", "", "\u2013"),
            ("n ", "0.0", "0.0"),
            ("n up", "2.0", "+2.0"),
            ("n u0", "0.0", "0"),
            ("n un", "2.0", "2.0"),
        ],
        [
            ("name", "", "Bo (user 3)"),
            ("n ", "0", "0.0"),
            ("n ", "", "\u2013"),
            ("n ", "", "\u2013"),
            ("n ", "", "\u2013"),
            ("n ", "4.0", "4.0"),
            ("n down", "-4.0", f"{MINUS}4.0"),
            ("n u0", "0.0", "0"),
            ("n u0", "0.0", "0"),
        ],
    ]
    assert 'title="30.0 h of 40.0 working h"' in shown


def test_the_weeks_table_holds_each_week_beside_the_previous_periods() -> None:
    summary = summary_of(LINES)
    shown = tables.weeks_table(summary, "weeks-all")
    assert 'data-table="weeks-all" data-file="weeks-2026-11-16-all.csv"' in shown
    assert "caption" not in shown
    heads, rows = parse(shown)
    assert [label for _, label, _ in heads] == [
        "week", "hours", "billable h", "billable share", "amount EUR", "amount USD",
        "amount GBP", "amount JPY", "entries", "people", "previous week", "previous h",
        "change h",
    ]  # fmt: skip
    assert [css for css, _, _ in heads] == ["", *["n"] * 9, "", "n", "n"]
    assert rows == [
        [
            ("", "2026-11-16", "2026-11-16"),
            ("n ", "4.0", "4.0"),
            ("n ", "3.0", "3.0"),
            ("n ", "0.75", "75%"),
            ("n ", "30.0", "30.00"),
            ("n ", "0.0", "0.00"),
            ("n ", "0.0", "0.00"),
            ("n ", "0.0", "0.00"),
            ("n ", "2", "2"),
            ("n ", "1", "1"),
            ("", "2026-11-02", "2026-11-02"),
            ("n ", "6.0", "6.0"),
            ("n down", "-2.0", f"{MINUS}2.0"),
        ],
        [
            ("", "2026-11-23", "2026-11-23"),
            ("n ", "8.0", "8.0"),
            ("n ", "6.0", "6.0"),
            ("n ", "0.75", "75%"),
            ("n ", "0.0", "0.00"),
            ("n ", "10.0", "10.00"),
            ("n ", "7.0", "7.00"),
            ("n ", "0.0", "0.00"),
            ("n ", "5", "5"),
            ("n ", "3", "3"),
            ("", "2026-11-09", "2026-11-09"),
            ("n ", "2.0", "2.0"),
            ("n up", "6.0", "+6.0"),
        ],
    ]
    empty = parse(tables.weeks_table(summary_of([]), "w"))[1]
    assert empty[0][3] == ("n ", "", "\u2013")
    partial = Summary(
        ALL, choose_period(W2, weeks=1, end=W2), Totals(), Totals(), {W2: Totals()},
        {date(2026, 11, 16): Totals()}, [], [], [], [],
    )  # fmt: skip
    assert parse(tables.weeks_table(partial, "w"))[1][0][0] == (
        "",
        "2026-11-23 (partial)",
        "2026-11-23 (partial)",
    )


def item(name: str, now: float, before: float, workspace: str = "W") -> Item:
    totals = Totals()
    totals.hours = now
    return Item(name, workspace, "C", totals, before)


def test_the_movers_are_the_biggest_rises_then_the_biggest_falls() -> None:
    projects = [item(f"p{n}", float(n), 0.0) for n in range(1, 11)]
    projects += [item("fall", 1.0, 5.0), item("same", 2.0, 2.0), item("<b>", 0.0, 0.5)]
    people = [Person(1, "Ann", {W1: (3.0, None)}, before=1.0), Person(2, "Bo", {}, before=9.0)]
    summary = Summary(ALL, PERIOD, Totals(), Totals(), {}, {}, projects, [], people, [])
    shown = tables.movers_table(summary, "changes-all")
    assert 'data-file="changes-2026-11-16-all.csv"' in shown
    assert "the 8 biggest rises and falls of projects and people" in shown
    heads, rows = parse(shown)
    assert [label for _, label, _ in heads] == [
        "what", "name", "previous h", "hours", "change h", "change",
    ]  # fmt: skip
    assert [(row[0][2], row[1][2]) for row in rows] == [
        *(("project", f"p{n} (W)") for n in range(10, 2, -1)),
        ("person", "Bo"),
        ("project", "fall (W)"),
        ("project", "&lt;b&gt; (W)"),
    ]
    assert rows[0] == [
        ("", "project", "project"),
        ("name", "", "p10 (W)"),
        ("n ", "0.0", "0.0"),
        ("n ", "10.0", "10.0"),
        ("n up", "10.0", "+10.0"),
        ("n ", "", "new"),
    ]
    assert rows[-2][2:] == [
        ("n ", "5.0", "5.0"),
        ("n ", "1.0", "1.0"),
        ("n down", "-4.0", f"{MINUS}4.0"),
        ("n ", "-0.8", f"{MINUS}80%"),
    ]
    assert [css for css, _, _ in heads] == ["", "", "n", "n", "n", "n"]
    few = [item("up", 2.0, 1.0), item("same", 2.0, 2.0), item("zero", 0.0, 0.0)]
    level = Summary(ALL, PERIOD, Totals(), Totals(), {}, {}, few, [], [], [])
    assert [row[1][2] for row in parse(tables.movers_table(level, "c"))[1]] == ["up (W)"]
    two = parse(tables.movers_table(summary, "c", limit=2))[1]
    assert [row[1][2] for row in two] == ["p10 (W)", "p9 (W)", "Bo", "fall (W)"]
    assert "the 2 biggest" in tables.movers_table(summary, "c", limit=2)
    ann = Summary(ALL, PERIOD, Totals(), Totals(), {}, {}, [], [], people[:1], [])
    assert parse(tables.movers_table(ann, "c"))[1][0][1][2] == "Ann"


# charts -----------------------------------------------------------------------------------------


def test_a_charts_element_is_named_by_its_kind_and_scope() -> None:
    assert charts.chart_id("weeks", summary_of([])) == "chart-weeks"
    scoped = summary_of([], Scope("w7", "W", frozenset([7])))
    assert charts.chart_id("money", scoped) == "chart-money-w7"


def hours_items(*hours: float) -> list[Item]:
    return [item(f"p{n}", h, 0.0) for n, h in enumerate(hours)]


def test_the_projects_chart_draws_the_biggest_until_they_hold_most_hours() -> None:
    assert charts.shown_projects([]) == 0
    assert charts.shown_projects(hours_items(1, 1, 1, 0, 0)) == 3
    assert charts.shown_projects(hours_items(*[1] * 12)) == 10
    assert charts.shown_projects(hours_items(*[1] * 11)) == 11  # never "the other one"
    assert charts.shown_projects(hours_items(*[1] * 70)) == 42  # 60% of 70 hours
    assert charts.shown_projects(hours_items(*[1] * 100)) == 60
    assert charts.shown_projects(hours_items(*[1] * 101)) == 60
    assert charts.shown_projects(hours_items(100, *[1] * 20)) == 10
    assert charts.shown_projects(hours_items(*[1] * 20)) == 12


def test_ranked_bars_are_the_biggest_on_top_with_the_previous_hours_marked() -> None:
    items = [
        item("A", 5.123, 1.0, "W1"),
        item("A", 3.0, 2.555, "W2"),
        item("<b>", 1.0, 0.0, "W1"),
        item("hidden", 0.5, 0.0),
    ]
    fig = charts._ranked(items, 3, with_workspace=True)
    bar, marks = fig.data
    assert bar.type == "bar" and bar.name == "this period" and bar.orientation == "h"
    assert list(bar.y) == ["&lt;b&gt;", "A (W2)", "A (W1)"]
    assert list(bar.x) == [1.0, 3.0, 5.12]
    assert list(bar.customdata) == ["&lt;b&gt;", "A (W2)", "A (W1)"]
    assert bar.hovertemplate == "%{customdata}: %{x:,.1f} h<extra></extra>"
    assert bar.marker.color == charts.COLOURS[0]
    assert marks.type == "scatter" and marks.name == "previous period"
    assert list(marks.x) == [0.0, 2.56, 1.0] and list(marks.y) == list(bar.y)
    assert marks.mode == "markers" and list(marks.customdata) == list(bar.customdata)
    assert marks.hovertemplate == "%{customdata}, previous period: %{x:,.1f} h<extra></extra>"
    assert marks.marker.symbol == "line-ns-open" and marks.marker.size == 14
    assert marks.marker.color == "#1d2329" and marks.marker.line.width == 2
    assert fig.layout.yaxis.type == "category" and fig.layout.yaxis.automargin is True
    assert fig.layout.xaxis.side == "top" and not fig.layout.annotations
    assert fig.layout.xaxis.visible is None
    plain = charts._ranked(items, 2, with_workspace=False)
    assert list(plain.data[0].y) == ["A (2)", "A"]
    assert list(plain.data[0].customdata) == ["A", "A"]
    long = charts._ranked([item("x" * 70, 1.0, 0.0)], 1, with_workspace=True)
    assert list(long.data[0].y) == ["x" * 39 + "\u2026"]
    assert list(long.data[0].customdata) == ["x" * 60 + "<br>" + "x" * 10]


def test_no_bars_say_so_in_the_chart() -> None:
    fig = charts._ranked([], 0, with_workspace=True)
    (note,) = fig.layout.annotations
    assert note.text == "no hours in these weeks" and note.showarrow is False
    assert (note.x, note.y, note.xref, note.yref) == (0.5, 0.5, "paper", "paper")
    assert note.font.size == 15 and note.font.color == "#5a6570"
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False


def test_the_figures_of_a_scope() -> None:
    summary = summary_of(LINES)
    out = charts.figures(summary)
    assert [element for element, _ in out] == [
        "chart-weeks",
        "chart-projects",
        "chart-clients",
        "chart-money",
    ]
    weekly, projects, clients, money = (fig for _, fig in out)
    billable, other, previous = weekly.data
    assert (billable.name, billable.marker.color) == ("billable", charts.BILLABLE)
    assert (other.name, other.marker.color) == ("non-billable", charts.GREY)
    assert list(billable.x) == ["2026-11-16", "2026-11-23"]
    assert list(billable.y) == [3.0, 6.0] and list(other.y) == [1.0, 2.0]
    assert list(billable.marker.pattern.shape) == ["", ""]
    assert billable.hovertemplate == "%{x}: %{y:,.1f} h<extra>billable</extra>"
    assert other.hovertemplate == "%{x}: %{y:,.1f} h<extra>non-billable</extra>"
    assert previous.name == "previous period (same week of it)"
    assert list(previous.y) == [6.0, 2.0] and list(previous.x) == list(billable.x)
    assert list(previous.customdata) == ["2026-11-02", "2026-11-09"]
    assert previous.mode == "lines+markers"
    assert previous.line.color == "#1d2329" and previous.line.dash == "dot"
    assert previous.hovertemplate == (
        "week of %{customdata}: %{y:,.1f} h<extra>previous period</extra>"
    )
    assert weekly.layout.barmode == "stack"
    assert weekly.layout.yaxis.title.text == "hours" and weekly.layout.yaxis.rangemode == "tozero"
    assert weekly.layout.xaxis.type == "category" and weekly.layout.xaxis.tickangle == 0
    assert weekly.layout.title.text == "Hours per week, billable or not"
    assert weekly.layout.height == 400

    assert projects.layout.title.text == "Projects by hours: all 3"
    assert projects.layout.height == 130 + 20 * 4
    assert list(projects.data[0].y) == ["P1 (WS2)", "P2", "P1 (WS1)"]
    assert projects.layout.legend.yref == "container" and projects.layout.legend.y == 0.995
    assert clients.layout.title.text == (
        "Clients by hours (the top 2 of 4); 5 h without a client, not drawn (see the table)"
    )
    assert list(clients.data[0].y) == ["C1 (WS2)", "C1 (WS1)"]
    assert clients.layout.height == 130 + 20 * 4

    eur, usd, gbp, jpy, share = money.data
    assert [trace.name for trace in (eur, usd, gbp, jpy)] == ["EUR", "USD", "GBP", "JPY"]
    assert list(eur.y) == [30.0, 0.0] and list(usd.y) == [0.0, 10.0] and list(jpy.y) == [0, 0]
    assert eur.line.color == charts.COLOURS[0] and usd.line.color == charts.COLOURS[1]
    assert list(eur.customdata) == ["EUR", "EUR"] and eur.mode == "lines+markers"
    assert eur.hovertemplate == "%{x}: %{y:,.2f}<extra>%{customdata}</extra>"
    assert share.name == "billable share of hours" and share.yaxis == "y2"
    assert list(share.y) == [75.0, 75.0] and share.mode == "lines"
    assert list(eur.x) == list(share.x) == ["2026-11-16", "2026-11-23"]
    assert share.line.color == charts.BILLABLE and share.line.dash == "dash"
    assert share.hovertemplate == "%{x}: %{y:.0f}% billable<extra></extra>"
    assert money.layout.yaxis.title.text == "billable amount"
    assert money.layout.yaxis.rangemode == "tozero"
    y2 = money.layout.yaxis2
    assert (y2.title.text, y2.overlaying, y2.side) == ("billable share, %", "y", "right")
    assert (tuple(y2.range), y2.dtick, y2.showgrid) == ((0, 100), 25, False)
    assert money.layout.xaxis.type == "category" and money.layout.xaxis.tickangle == 0
    assert money.layout.margin.r == 60 and money.layout.margin.l == 60
    assert money.layout.title.text == (
        "Billable amount per week, per currency, and the billable share"
    )


def test_the_layout_of_every_chart() -> None:
    fig = charts._layout(charts.go.Figure(), "T", height=300)
    layout = fig.layout
    assert layout.title.text == "T" and layout.title.x == 0 and layout.title.xanchor == "left"
    assert layout.title.font.size == 16 and layout.height == 300
    margin = layout.margin
    assert (margin.l, margin.r, margin.t, margin.b) == (60, 20, 56, 50)
    assert (layout.legend.orientation, layout.legend.x, layout.legend.y) == ("h", 0, -0.18)
    assert layout.legend.font.size == 12
    assert layout.font.family == charts.FONT and layout.font.size == 13
    assert layout.plot_bgcolor == "white" and layout.paper_bgcolor == "white"
    assert layout.hoverlabel.namelength == -1
    assert layout.xaxis.gridcolor == "#eee" and layout.yaxis.gridcolor == "#eee"
    assert charts._layout(charts.go.Figure(), "T").layout.height == 400
    charts._legend_on_top(fig)
    legend = fig.layout.legend
    assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == (
        "h",
        "container",
        0.995,
        "top",
    )
    assert (legend.x, legend.xanchor) == (1.0, "right")
    title = fig.layout.title
    assert (title.y, title.yref, title.yanchor, title.pad.t) == (0.995, "container", "top", 8)
    assert (fig.layout.margin.t, fig.layout.margin.b, fig.layout.margin.l) == (80, 20, 60)


def test_many_projects_and_clients_say_how_many_are_drawn() -> None:
    lines = [line(W1, 1, n, n, 1, 1.0) for n in range(40)]
    lines += [line(W2, 1, 99, None, 1, 0.0, entries=0)]
    weekly, projects, clients, money = (fig for _, fig in charts.figures(summary_of(lines)))
    assert projects.layout.title.text == (
        "Projects by hours: the top 24 of 40 hold 60% of the hours; the other 16: 16 h"
    )
    assert projects.layout.height == 130 + 20 * 24
    assert len(projects.data[0].y) == 24
    assert clients.layout.title.text == "Clients by hours (the top 30 of 40)"
    assert clients.layout.height == 130 + 20 * 30
    assert money.data[0].name == "billable share of hours"
    partial = summarise(ReportData(choose_period(W2, weeks=2, end=W2), "ds", lines=[]), ALL)
    weekly, projects, clients, _ = (fig for _, fig in charts.figures(partial))
    assert weekly.layout.title.text == (
        "Hours per week, billable or not (the hatched week is still in progress)"
    )
    assert list(weekly.data[0].x) == ["2026-11-16", "2026-11-23<br>(partial)"]
    assert list(weekly.data[0].marker.pattern.shape) == ["", "/"]
    assert projects.layout.title.text == "Projects by hours"
    assert clients.layout.title.text == "Clients by hours"
    colours = summary_of([line(W1, 1, 1, 1, 1, 1.0, 1.0, 1.0, currency=f"C{n}") for n in range(12)])
    traces = charts.figures(colours)[3][1].data
    assert traces[10].line.color == charts.COLOURS[0] and traces[11].line.color == charts.COLOURS[1]


# page -------------------------------------------------------------------------------------------


def sha(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def test_the_policy_lists_the_scripts_hashes_once_in_order() -> None:
    body = "<script>b()</script><SCRIPT type=x>\na()</Script ><script>b()</script>"
    hashes = " ".join(sorted([sha("b()"), sha("\na()")]))
    assert page.content_security_policy(body) == (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src data: blob:; base-uri 'none'; form-action 'none'"
    )


def test_the_empty_note_says_where_the_newest_entries_are() -> None:
    data = ReportData(PERIOD, "ds")
    assert page.empty_note(data) == "no time entries have landed yet"
    data.newest_week = P1
    assert page.empty_note(data) == (
        "no time entries in these weeks; the newest is in the week of 2026-11-02 "
        "(--weeks 4 reaches it)"
    )
    data.newest_week = W2
    assert page.empty_note(data) == (
        "no time entries in these weeks; the newest is in the week of 2026-11-23 "
        "(--weeks 1 reaches it)"
    )
    data.newest_week = date(2026, 11, 30)
    assert page.empty_note(data) == (
        "no time entries in these weeks; the newest is in the week of 2026-11-30"
    )
    data.lines = [line(W1, 1, 1, 1, 1, 1.0)]
    assert page.empty_note(data) == ""


def test_the_cards_hold_the_totals_and_their_change() -> None:
    assert page._delta(0.0, 0.0) == "none in the previous period either"
    assert page._delta(1.0, 0.0) == "nothing in the previous period"
    assert page._delta(3.0, 2.0, " h") == "+50% against 2.0 h in the previous period"
    assert page._delta(1.0, 2000.0) == "-100% against 2,000.0 in the previous period"
    assert page._card("a<", "1\n2&") == (
        '<div class="card"><div class="label">a&lt;</div>'
        '<div class="value small">1<br>2&amp;</div></div>'
    )
    assert page._card("a", "1", "d>") == (
        '<div class="card"><div class="label">a</div><div class="value">1</div>'
        '<div class="delta">d&gt;</div></div>'
    )
    people = [Person(1, "A", {W1: (30.0, 40.0)}), Person(2, "B", {W1: (50.0, 40.0)})]
    people += [Person(3, "C", {W1: (1.0, None)})]
    summary = summary_of(LINES)
    summary.people = people
    cards = page._cards(summary)
    values = re.findall(
        r'<div class="label">(.*?)</div><div class="value[^"]*">(.*?)</div>'
        r'(?:<div class="delta">(.*?)</div>)?',
        cards,
    )
    assert cards.startswith('<div class="cards"><div class="card">')
    assert cards.count('</div></div><div class="card">') == 5 and cards.endswith("</div></div>")
    assert values == [
        ("hours tracked", "12.0", "+50% against 8.0 h in the previous period"),
        ("billable share", "75%", "75% in the previous period"),
        (
            "billable amount",
            "30.00 EUR<br>10.00 USD<br>7.00 GBP<br>0.00 JPY",
            "previous period: 60.00 EUR; 0.00 USD; 0.00 GBP; 4.00 JPY",
        ),
        ("time entries", "7", "+75% against 4.0 in the previous period"),
        ("people who tracked", "3", "3 before"),
        ("over / under working hours", "+0.0 h", "1 of 3 people under"),
    ]
    nothing = page._cards(summary_of([]))
    pattern = r'<div class="value">(.*?)</div>(?:<div class="delta">(.*?)</div>)?'
    assert re.findall(pattern, nothing)[1:] == [
        ("0%", ""),
        ("none", ""),
        ("0", "none in the previous period either"),
        ("0", "0 before"),
        ("not known", ""),
    ]
    one = summary_of([line(W1, 1, 1, 1, 1, 2.0, 1.0, 3.0, currency="c" * 50)])
    assert "3.00 " + "c" * 39 + "\u2026</div>" in page._cards(one)


def test_the_legend_names_the_bands() -> None:
    assert page._legend() == (
        '<p class="legend">A week\'s hours against the working hours: '
        '<span class="u0">no hours</span><span class="u1">under 50%</span>'
        '<span class="u2">50% to 90%</span><span class="u3">90% to 110%</span>'
        '<span class="u4">over 110%</span><span class="un">working hours unknown</span></p>'
    )


def test_json_in_a_script_cannot_end_it() -> None:
    text = page._json_in_script({"a": "</script><b>&", "n": [1, 2]})
    assert text == '{"a":"\\u003c/script\\u003e\\u003cb\\u003e\\u0026","n":[1,2]}'
    assert json.loads(text) == {"a": "</script><b>&", "n": [1, 2]}


def test_a_section_holds_a_scopes_cards_charts_and_tables() -> None:
    summary = summary_of(LINES, Scope("w1", "Workspace: <W1>", frozenset([1])))
    plots: dict[str, Any] = {}
    section = page._section(summary, True, plots)
    assert section.startswith('<section class="scope" data-scope="w1" hidden>\n<h2>')
    assert "<h2>Workspace: &lt;W1&gt;</h2>" in section
    assert sorted(plots) == [
        "chart-clients-w1",
        "chart-money-w1",
        "chart-projects-w1",
        "chart-weeks-w1",
    ]
    assert all("template" not in plot["layout"] for plot in plots.values())
    assert plots["chart-weeks-w1"]["data"][0]["y"] == [3.0, 5.0]
    order = [
        '<div class="chart"><div class="plot" id="chart-projects-w1"></div></div>',
        'id="projects-w1"',
        '<div class="chart"><div class="plot" id="chart-clients-w1"></div></div>',
        'id="clients-w1"',
        '<p class="legend">',
        'id="people-w1"',
        '<div class="chart"><div class="plot" id="chart-weeks-w1"></div></div>',
        '<div class="chart"><div class="plot" id="chart-money-w1"></div></div>',
        'id="weeks-w1"',
        "(2026-11-02 to 2026-11-15, same length)",
        'id="changes-w1"',
    ]
    for part in (
        tables.items_table(summary, "projects", "projects-w1"),
        tables.items_table(summary, "clients", "clients-w1"),
        tables.people_table(summary, "people-w1"),
        tables.weeks_table(summary, "weeks-w1"),
        tables.movers_table(summary, "changes-w1"),
    ):
        assert part in section
    places = [section.index(part) for part in order]
    assert places == sorted(places)
    assert section.endswith("</section>")
    shown = page._section(summary_of([]), False, {})
    assert shown.startswith('<section class="scope" data-scope="all">\n')


def test_the_page_names_the_organizations_the_period_and_the_sync() -> None:
    data = ReportData(
        PERIOD,
        "ds",
        lines=list(LINES),
        organizations=[(1, "Org <1>", [(1, "WS1"), (2, "WS2")])],
        last_sync=datetime(2026, 12, 1, 9, 5, tzinfo=UTC),
        row_counts={"time_entries": 1234, "a<b": 2},
    )
    shown = page.render_html(data)
    head, body = shown.split("<body>", 1)
    policy = re.search(r'content="(default-src[^"]*)"', head)
    assert policy is not None
    assert policy.group(1) == page.content_security_policy("<body>" + body)
    assert head.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    assert "<title>Time tracked: Org &lt;1&gt;</title>" in head
    assert "<h1>Time tracked: Org &lt;1&gt;</h1>" in body
    assert (
        '<p class="sub">2026-11-16 to 2026-11-29, 2 weeks, against the 2 weeks\nbefore; '
        "WS1, WS2; last sync 2026-12-01 09:05 UTC.</p>"
    ) in body
    assert "<p>Completed 2026-12-01 09:05 UTC. Rows per table:</p>" in body
    assert (
        '<table><tr><th>table</th><th>rows</th></tr><tr><td>time_entries</td><td class="n">'
        '1,234</td></tr><tr><td>a&lt;b</td><td class="n">2</td></tr></table>'
    ) in body
    assert '<p class="note">' not in body
    picker = re.search(r'<select id="scope">(.*?)</select>', body)
    assert picker is not None
    assert picker.group(1) == (
        '<option value="all">All workspaces</option>'
        '<option value="w1">Workspace: WS1</option><option value="w2">Workspace: WS2</option>'
    )
    assert '<section class="scope" data-scope="all">' in body
    assert '<section class="scope" data-scope="w1" hidden>' in body
    assert '</section><section class="scope" data-scope="w1" hidden>' in body
    assert '</section><section class="scope" data-scope="w2" hidden>' in body
    figures = re.search(r'<script type="application/json" id="figures">(.*?)</script>', body)
    assert figures is not None
    plots = json.loads(figures.group(1))
    assert "layout" in plots["template"] or "data" in plots["template"]
    assert sorted(plots["figures"]) == sorted(
        f"chart-{kind}{key}"
        for kind in ("weeks", "projects", "clients", "money")
        for key in ("", "-w1", "-w2")
    )
    scripts = re.findall(r"<script>(.*?)</script>", body, re.S)
    assert len(scripts) == 2 and "plotly" in scripts[0].lower()
    assert "getElementById" in scripts[1] or "querySelector" in scripts[1]
    assert body.endswith("</body></html>\n")


def test_an_empty_page_says_what_to_do() -> None:
    data = ReportData(PERIOD, "ds", newest_week=P1)
    shown = page.render_html(data)
    assert "<h1>Time tracked: ds</h1>" in shown
    assert "against the 2 weeks\nbefore; no workspaces; last sync never.</p>" in shown
    assert "<p>Completed never. Rows per table:</p>" in shown
    assert html.escape("No time entries in these weeks; the newest is in the week of ") in shown
    assert (
        '<p class="note">No time entries in these weeks; the newest is in the week of '
        + ("2026-11-02 (--weeks 4 reaches it).</p>")
        in shown
    )
    assert 'id="scope"' not in shown and "hidden>" not in shown


def test_the_charts_values_are_rounded_for_the_page() -> None:
    third = 1 / 3
    lines = [line(W1, 1, 1, 1, 1, 1.0, third, third), line(P1, 1, 1, 1, 1, third)]
    weekly, projects, _, money = (fig for _, fig in charts.figures(summary_of(lines)))
    billable, other, previous = weekly.data
    assert (billable.y[0], other.y[0], previous.y[0]) == (0.33, 0.67, 0.33)
    assert money.data[0].y[0] == 0.33 and money.data[1].y[0] == 33.3
    assert list(projects.data[0].x) == [1.0] and list(projects.data[1].x) == [0.33]


def test_a_page_of_one_scope_has_no_picker_and_no_note() -> None:
    shown = page.render_html(ReportData(PERIOD, "ds", lines=list(LINES)))
    assert "last sync never.</p>\n" + '<section class="scope" data-scope="all">' in shown
    assert shown.count("<section") == 1
