"""The report's parts on small inputs, without a run: names as text (`names`), the data read from
a small DuckDB of the views' shape built here (`data`), one scope's sums (`summary`) and the
page written through a real dlt pipeline (`write`), each checked against values worked out in
the test. tests/test_report*.py check the same end to end, over a run of the emulator's data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from timetrack.answers.report import names, write
from timetrack.answers.report.data import Line, ReportData, Scope, Utilisation, read_report_data
from timetrack.answers.report.period import choose_period
from timetrack.answers.report.summary import Person, Totals, summarise
from timetrack.destination.target import Target
from timetrack.errors import ConfigurationError, TimetrackError

WEDNESDAY = date(2026, 12, 2)
PERIOD = choose_period(WEDNESDAY, weeks=2)
"""Weeks of 16 and 23 November 2026; the previous period: 2 and 9 November."""
W1, W2 = date(2026, 11, 16), date(2026, 11, 23)
P1, P2 = date(2026, 11, 2), date(2026, 11, 9)


# names ------------------------------------------------------------------------------------------


def test_plain_makes_one_line_without_controls() -> None:
    assert names.plain(" a\x0bb\u2003c\td\ne  ") == "a b c d e"
    assert names.plain("x\x07y\u202ez\ud800w") == "xyzw"
    assert names.plain("\x00\x01") == ""


def test_markup_escapes_the_three_characters_once() -> None:
    assert names.markup("a&<b>c") == "a&amp;&lt;b&gt;c"
    assert names.markup("&lt;") == "&amp;lt;"


def test_text_is_plain_then_html_escaped_quotes_too() -> None:
    assert names.text("\"a' <&>") == "&quot;a&#x27; &lt;&amp;&gt;"
    assert names.text("\x01") == "(no name)"
    assert names.text("  ") == "(no name)"


def test_cut_counts_wide_characters_twice_and_ends_with_an_ellipsis() -> None:
    assert names.cut("abcde", 5) == "abcde"
    assert names.cut("abcdef", 5) == "abcd\u2026"
    assert names.cut("ab  cdef", 5) == "ab\u2026"
    assert names.cut("日本語", 6) == "日本語"
    assert names.cut("日本語x", 6) == "日本\u2026"
    assert (
        names.cut("\uff21\uff22\uff23", 6) == "\uff21\uff22\uff23"
    )  # fullwidth (F) counts two as well
    assert names.cut("\uff21\uff22\uff23\uff24", 6) == "\uff21\uff22\u2026"
    assert names.cut("", 0) == ""


def test_short_label_is_plain_cut_then_marked_up() -> None:
    assert names.short_label("x" * 40) == "x" * 40
    assert names.short_label("x" * 41) == "x" * 39 + "\u2026"
    assert names.short_label("&" * 41) == "&amp;" * 39 + "\u2026"
    assert names.short_label("") == "(no name)"
    assert names.short_label("<b>a</b>", width=5) == "&lt;b&gt;a\u2026"


def test_hover_label_is_whole_up_to_its_limit_in_lines() -> None:
    assert names.hover_label("") == "(no name)"
    assert names.hover_label("a <b>") == "a &lt;b&gt;"
    words = " ".join(["word"] * 30)  # 149 columns: lines of at most 60
    lines = names.hover_label(words).split("<br>")
    assert lines == ["word " * 11 + "word", "word " * 11 + "word", "word " * 5 + "word"]
    whole = "a" * 599 + "\u2026"
    assert names.hover_label("a" * 700) == "<br>".join(whole[i : i + 60] for i in range(0, 600, 60))
    assert names.hover_label("a" * 600) == "<br>".join(["a" * 60] * 10)


def test_unique_numbers_repeated_labels() -> None:
    assert names.unique(["a", "a", "a (2)", "b", "a"]) == ["a", "a (2)", "a (2) (2)", "b", "a (3)"]
    assert names.unique([]) == []


# data -------------------------------------------------------------------------------------------


def duck_query(con: duckdb.DuckDBPyConnection) -> Any:
    """The report's query function over a DuckDB connection (dlt's placeholders are `%s`)."""

    def query(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return con.execute(sql.replace("%s", "?"), list(args)).fetchall()

    return query


HOURS_COLUMNS = (
    "week TIMESTAMP, workspace_id BIGINT, workspace_name TEXT, project_id BIGINT, "
    "project_name TEXT, client_id BIGINT, client_name TEXT, user_id BIGINT, user_name TEXT, "
    "currency TEXT, hours DOUBLE, billable_hours DOUBLE, billable_amount DOUBLE, entries BIGINT"
)


def views(
    con: duckdb.DuckDBPyConnection,
    hours: list[tuple[Any, ...]],
    utilisation: list[tuple[Any, ...]] | None = None,
    entries: list[Any] = (),  # type: ignore[assignment]
    dataset: str = "ds",
) -> None:
    """The analytics views' shape, as tables, in `<dataset>_analytics`."""
    schema = f"{dataset}_analytics"
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"CREATE TABLE {schema}.hours_by_week ({HOURS_COLUMNS})")
    for row in hours:
        con.execute(f"INSERT INTO {schema}.hours_by_week VALUES ({','.join('?' * 14)})", row)
    if utilisation is not None:
        con.execute(
            f"CREATE TABLE {schema}.utilisation_by_week (user_id BIGINT, user_name TEXT, "
            "week DATE, hours DOUBLE, working_hours DOUBLE)"
        )
        for row in utilisation:
            con.execute(f"INSERT INTO {schema}.utilisation_by_week VALUES (?, ?, ?, ?, ?)", row)
    con.execute(f"CREATE TABLE {schema}.entries (week TIMESTAMP)")
    for week in entries:
        con.execute(f"INSERT INTO {schema}.entries VALUES (?)", [week])


def raw(con: duckdb.DuckDBPyConnection, dataset: str = "ds", loads: bool = True) -> None:
    """The raw tables beside the views: workspaces, organizations, memberships, loads."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
    con.execute(f"CREATE TABLE {dataset}.workspaces (id BIGINT, name TEXT, organization_id BIGINT)")
    con.execute(
        f"INSERT INTO {dataset}.workspaces VALUES (1, 'Zeta', 10), (1, NULL, 10), "
        "(2, 'Alpha', 10), (3, NULL, 20), (4, 'Solo', NULL)"
    )
    con.execute(f"CREATE TABLE {dataset}.organizations (id BIGINT, name TEXT)")
    con.execute(f"INSERT INTO {dataset}.organizations VALUES (10, 'Org Ten'), (20, NULL)")
    con.execute(f"CREATE TABLE {dataset}.workspace_users (workspace_id BIGINT, user_id BIGINT)")
    con.execute(
        f"INSERT INTO {dataset}.workspace_users VALUES (1, 100), (1, 100), (1, 101), (2, 102)"
    )
    if loads:
        con.execute(f"CREATE TABLE {dataset}._dlt_loads (inserted_at TIMESTAMP, status BIGINT)")
        con.execute(
            f"INSERT INTO {dataset}._dlt_loads VALUES "
            "('2026-12-01 10:00:00', 0), ('2026-12-01 09:00:00', 0), ('2026-12-01 11:00:00', 1)"
        )
    con.execute(f"CREATE TABLE {dataset}.rows_staging (x BIGINT)")
    con.execute(f"INSERT INTO {dataset}.rows_staging VALUES (1)")


ROWS = [
    # week, ws, ws name, project, name, client, name, user, name, currency, h, bh, amount, n
    (datetime(2026, 11, 16), 1, "Zeta", 5, "Build", 7, "Acme", 100, "Ann", "EUR", 3.5, 2, 20, 2),
    (date(2026, 11, 23), 1, None, 5, None, 7, None, 101, None, None, None, None, None, None),
    (date(2026, 11, 2), 9, "Nine", None, None, None, None, 102, "Bob", "USD", 1.0, 0, 0, 1),
    (date(2026, 11, 9), 2, "Alpha", None, "Named", None, "Own", 100, "Ann", "EUR", 2, 1, 5, 1),
    (date(2026, 10, 26), 1, "Zeta", 5, "Build", 7, "Acme", 100, "Ann", "EUR", 9, 9, 9, 9),
    (date(2026, 11, 30), 1, "Zeta", 5, "Build", 7, "Acme", 100, "Ann", "EUR", 8, 8, 8, 8),
]
UTILISATION = [
    (100, "Ann", date(2026, 11, 16), 3.5, 40.0),
    (101, None, date(2026, 11, 23), 0.0, None),
    (100, "Ann", date(2026, 10, 26), 7.0, 40.0),
    (100, "Ann", date(2026, 11, 30), 7.0, 40.0),
]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


def test_the_lines_are_the_periods_and_the_previous_ones_with_names_for_what_has_none(
    con: duckdb.DuckDBPyConnection,
) -> None:
    views(con, ROWS, UTILISATION, entries=[datetime(2026, 11, 30, 0, 0), datetime(2026, 1, 5)])
    raw(con)
    data = read_report_data(duck_query(con), "ds", PERIOD)
    assert data.period == PERIOD and data.dataset == "ds"
    assert sorted(data.lines, key=lambda line: line.week) == [
        Line(
            P1,
            9,
            "Nine",
            None,
            "(no project)",
            None,
            "(no client)",
            102,
            "Bob",
            "USD",
            1.0,
            0.0,
            0.0,
            1,
        ),
        Line(P2, 2, "Alpha", None, "Named", None, "Own", 100, "Ann", "EUR", 2.0, 1.0, 5.0, 1),
        Line(W1, 1, "Zeta", 5, "Build", 7, "Acme", 100, "Ann", "EUR", 3.5, 2.0, 20.0, 2),
        Line(
            W2,
            1,
            "workspace 1",
            5,
            "project 5",
            7,
            "client 7",
            101,
            "user 101",
            "?",
            0.0,
            0.0,
            0.0,
            0,
        ),
    ]
    line = next(line for line in data.lines if line.week == W2)
    assert type(line.hours) is float and type(line.entries) is int
    assert type(data.lines[0].week) is date
    assert data.has_utilisation
    assert sorted(data.utilisation, key=lambda u: u.week) == [
        Utilisation(100, "Ann", W1, 3.5, 40.0),
        Utilisation(101, "user 101", W2, 0.0, None),
    ]
    assert data.newest_week == date(2026, 11, 30) and type(data.newest_week) is date
    assert data.weeks == [W1, W2] and data.first_week == W1 and data.last_week == W2
    assert sorted(line.week for line in data.current()) == [W1, W2]
    assert data.entries == 2 and data.hours == 3.5


def test_organizations_members_and_the_last_sync_come_from_the_raw_tables(
    con: duckdb.DuckDBPyConnection,
) -> None:
    views(con, ROWS, None)
    raw(con)
    data = read_report_data(duck_query(con), "ds", PERIOD)
    assert not data.has_utilisation and data.utilisation == []
    assert data.newest_week is None
    assert data.organizations == [
        (("ws", 9), "Nine", [(9, "Nine")]),
        (10, "Org Ten", [(2, "Alpha"), (1, "Zeta")]),
        (("ws", 4), "Solo", [(4, "Solo")]),
        (20, "organization 20", [(3, "workspace 3")]),
    ]
    assert data.members == {1: {100, 101}, 2: {102}}
    assert data.last_sync == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert data.row_counts == {"organizations": 2, "workspace_users": 4, "workspaces": 5}
    assert list(data.row_counts) == sorted(data.row_counts)


def test_raw_tables_without_the_columns_read_are_left_out(
    con: duckdb.DuckDBPyConnection,
) -> None:
    views(con, ROWS[:1], None)
    con.execute("CREATE SCHEMA ds")
    con.execute("CREATE TABLE ds.workspaces (id BIGINT, name TEXT)")
    con.execute("INSERT INTO ds.workspaces VALUES (1, 'Other name')")
    con.execute("CREATE TABLE ds.organizations (id BIGINT)")
    con.execute("CREATE TABLE ds.workspace_users (workspace_id BIGINT)")
    con.execute("INSERT INTO ds.workspace_users VALUES (1)")
    con.execute("CREATE TABLE ds._dlt_loads (inserted_at TIMESTAMP, status BIGINT)")
    con.execute("INSERT INTO ds._dlt_loads VALUES ('2026-12-01 11:00:00', 1)")
    data = read_report_data(duck_query(con), "ds", PERIOD)
    assert data.organizations == [(("ws", 1), "Zeta", [(1, "Zeta")])]
    assert data.members == {}
    assert data.last_sync is None
    assert data.row_counts == {"organizations": 0, "workspace_users": 1, "workspaces": 1}


def test_a_sync_time_with_its_zone_is_kept_and_no_loads_is_none() -> None:
    period = PERIOD
    answers: dict[str, list[tuple[Any, ...]]] = {
        "information_schema.tables": [("entries",)],
        "max(week)": [(None,)],
        "information_schema.columns": [("_dlt_loads", "status"), ("t", "x")],
        "count(*)": [(3,)],
    }

    def query(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        for key, rows in answers.items():
            if key in sql:
                return rows
        if "_dlt_loads" in sql:
            return answers.get("loads", [])
        return []

    assert read_report_data(query, "ds", period).last_sync is None
    assert read_report_data(query, "ds", period).row_counts == {"t": 3}
    zoned = datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(hours=0)
    answers["loads"] = [(zoned,)]
    assert read_report_data(query, "ds", period).last_sync == zoned
    answers["loads"] = [("2026-12-01",)]
    assert read_report_data(query, "ds", period).last_sync is None


def test_no_views_is_an_error_that_says_what_to_run(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA ds_analytics")
    con.execute("CREATE TABLE ds_analytics.hours_by_week (week DATE)")
    with pytest.raises(TimetrackError) as raised:
        read_report_data(duck_query(con), "ds", PERIOD)
    assert str(raised.value) == (
        "no analytics views in ds_analytics: run `timetrack run` into DuckDB or PostgreSQL "
        "first (it builds them after every load)"
    )


def report(organizations: list[tuple[Any, str, list[tuple[Any, str]]]]) -> ReportData:
    data = ReportData(PERIOD, "ds")
    data.organizations = organizations
    return data


def test_the_title_names_the_organizations_or_workspaces_or_the_dataset() -> None:
    assert report([]).title() == "Time tracked: ds"
    assert report([(1, "", [(1, "")])]).title() == "Time tracked: ds"
    assert report([(1, "", [(1, "W1"), (2, "W2")])]).title() == "Time tracked: W1, W2"
    orgs = [(n, f"O{n}", [(n, f"W{n}")]) for n in range(1, 4)]
    assert report(orgs).title() == "Time tracked: O1, O2, O3"
    four = [(n, f"O{n}", [(n, f"W{n}")]) for n in range(1, 5)]
    assert report(four).title() == "Time tracked: O1, O2, O3 and 1 more"
    more = [(n, f"O{n}", [(n, f"W{n}")]) for n in range(1, 6)]
    assert report(more).title() == "Time tracked: O1, O2, O3 and 2 more"


def test_scopes_are_all_then_organizations_then_workspaces_not_twice() -> None:
    assert report([]).scopes() == [Scope("all", "All workspaces", None)]
    assert report([(1, "O", [(1, "W")])]).scopes() == [Scope("all", "All workspaces", None)]
    one_org = report([(1, "O", [(1, "B"), (2, "A")])]).scopes()
    assert one_org == [
        Scope("all", "All workspaces", None),
        Scope("w2", "Workspace: A", frozenset([2])),
        Scope("w1", "Workspace: B", frozenset([1])),
    ]
    alone = report([(1, "O1", [(1, "A")]), (2, "O2", [(2, "B")])]).scopes()
    assert alone == [
        Scope("all", "All workspaces", None),
        Scope("o1", "Organization: O1 (its one workspace, A)", frozenset([1])),
        Scope("o2", "Organization: O2 (its one workspace, B)", frozenset([2])),
    ]
    two = report([(1, "O1", [(2, "B"), (3, "C")]), (4, "O4", [(1, "A")])]).scopes()
    assert two == [
        Scope("all", "All workspaces", None),
        Scope("o1", "Organization: O1", frozenset([2, 3])),
        Scope("o4", "Organization: O4 (its one workspace, A)", frozenset([1])),
        Scope("w2", "Workspace: B", frozenset([2])),
        Scope("w3", "Workspace: C", frozenset([3])),
    ]


# summary ----------------------------------------------------------------------------------------


def line(
    week: date,
    ws: int,
    project: Any,
    client: Any,
    user: int,
    hours: float,
    billable: float = 0.0,
    amount: float = 0.0,
    entries: int = 1,
    currency: str = "EUR",
    client_name: str | None = None,
) -> Line:
    return Line(
        week,
        ws,
        f"WS{ws}",
        project,
        f"P{project}",
        client,
        client_name or (f"C{client}" if client is not None else "(no client)"),
        user,
        f"U{user}",
        currency,
        hours,
        billable,
        amount,
        entries,
    )


LINES = [
    line(W1, 1, 1, 1, 10, 4.0, 3.0, 30.0, 2),
    line(W2, 1, 1, 1, 11, 2.0, 0.0, 0.0, 1),
    line(W2, 1, 2, None, 10, 5.0, 5.0, 10.0, 3, currency="USD"),
    line(W2, 2, 1, 1, 12, 1.0, 1.0, 7.0, 1, currency="GBP"),
    line(P1, 1, 1, 1, 10, 6.0, 6.0, 60.0, 2),
    line(P2, 1, 3, None, 11, 1.5, 0.0, 0.0, 1, client_name="Loose"),
    line(P2, 2, 4, 2, 12, 0.5, 0.0, 4.0, 1, currency="JPY"),
    line(W2, 2, 5, 2, 13, 0.0, 0.0, 0.0, 0),
]


def test_totals_add_lines() -> None:
    totals = Totals()
    for item in LINES[:4]:
        totals.add(item)
    assert totals.hours == 12.0 and totals.billable_hours == 9.0 and totals.entries == 7
    assert dict(totals.amounts) == {"EUR": 30.0, "USD": 10.0, "GBP": 7.0}
    assert totals.people == {10, 11, 12}
    assert totals.share == 9.0 / 12.0
    assert Totals().share == 0.0
    again = Totals()
    again.add(LINES[0])
    again.add(LINES[0])
    assert dict(again.amounts) == {"EUR": 60.0}
    none = Totals()
    none.add(LINES[-1])
    assert none.people == set() and dict(none.amounts) == {}


def test_a_person_sums_known_working_hours_only() -> None:
    person = Person(1, "A", {W1: (10.0, 8.0), W2: (3.0, None)})
    assert person.tracked == 13.0 and person.working == 8.0 and person.over_under == 2.0
    unknown = Person(1, "A", {W1: (10.0, None)})
    assert unknown.working is None and unknown.over_under is None
    zero = Person(1, "A", {W1: (0.0, 0.0)})
    assert zero.working == 0.0 and zero.over_under == 0.0


def test_a_summary_sums_the_period_and_the_previous_one_per_week_project_and_client() -> None:
    data = ReportData(PERIOD, "ds", lines=list(LINES))
    summary = summarise(data, Scope("all", "All", None))
    assert summary.period == PERIOD and summary.scope == Scope("all", "All", None)
    assert summary.now.hours == 12.0 and summary.now.entries == 7
    assert summary.before.hours == 8.0 and summary.before.entries == 4
    assert dict(summary.before.amounts) == {"EUR": 60.0, "JPY": 4.0}
    assert {week: t.hours for week, t in summary.weeks.items()} == {W1: 4.0, W2: 8.0}
    assert {w: t.hours for w, t in summary.previous_weeks.items()} == {P1: 6.0, P2: 2.0}
    assert summary.weeks[W2].people == {10, 11, 12}
    # EUR 30 now, USD 10, GBP 7, JPY none now (before only): most now first.
    assert summary.currencies == ["EUR", "USD", "GBP", "JPY"]
    projects = [(p.workspace, p.name, p.now.hours, p.before) for p in summary.projects]
    assert projects == [
        ("WS1", "P1", 6.0, 6.0),
        ("WS1", "P2", 5.0, 0.0),
        ("WS2", "P1", 1.0, 0.0),
        ("WS1", "P3", 0.0, 1.5),
        ("WS2", "P4", 0.0, 0.5),
        ("WS2", "P5", 0.0, 0.0),
    ]
    assert summary.projects[0].client == "C1" and summary.projects[0].now.entries == 3
    clients = [(c.workspace, c.name, c.now.hours, c.before) for c in summary.clients]
    assert clients == [
        ("WS1", "C1", 6.0, 6.0),
        ("WS1", "(no client)", 5.0, 0.0),
        ("WS2", "C1", 1.0, 0.0),
        ("WS1", "Loose", 0.0, 1.5),
        ("WS2", "C2", 0.0, 0.5),
    ]
    assert summary.clients[1].client == "(no client)"
    people = [(p.user_id, p.name, p.weeks, p.before) for p in summary.people]
    assert people == [
        (10, "U10", {W1: (4.0, None), W2: (5.0, None)}, 6.0),
        (11, "U11", {W2: (2.0, None)}, 1.5),
        (12, "U12", {W2: (1.0, None)}, 0.5),
        (13, "U13", {W2: (0.0, None)}, 0.0),
    ]


def test_ties_rank_by_the_previous_hours_then_the_name() -> None:
    lines = [
        line(W1, 1, 1, 1, 10, 2.0),
        line(W1, 1, 2, 2, 10, 2.0),
        line(P1, 1, 2, 2, 10, 1.0),
        line(W1, 1, 3, 3, 10, 2.0),
    ]
    lines[0] = Line(W1, 1, "WS1", 1, "Zed", 1, "Zed", 10, "U", "EUR", 2.0, 0, 0, 1)
    summary = summarise(ReportData(PERIOD, "ds", lines=lines), Scope("all", "All", None))
    assert [p.name for p in summary.projects] == ["P2", "P3", "Zed"]
    assert [c.name for c in summary.clients] == ["C2", "C3", "Zed"]


def test_sums_add_up_lines_of_the_same_project_client_and_person() -> None:
    lines = [
        line(P1, 1, 1, 1, 10, 1.0),
        line(P2, 1, 1, 1, 10, 2.0, amount=5.0, currency="JPY"),
        line(W1, 1, 1, 1, 10, 0.5, amount=0.5),
        line(W1, 1, 2, 1, 10, 0.25),
        line(W1, 1, 3, 2, 11, 1.0, client_name="C1"),
    ]
    summary = summarise(ReportData(PERIOD, "ds", lines=lines), Scope("all", "All", None))
    assert [(p.name, p.now.hours, p.before) for p in summary.projects] == [
        ("P3", 1.0, 0.0),
        ("P1", 0.5, 3.0),
        ("P2", 0.25, 0.0),
    ]
    # Two clients of one name are two clients: by id.
    assert [(c.name, c.now.hours, c.before) for c in summary.clients] == [
        ("C1", 1.0, 0.0),
        ("C1", 0.75, 3.0),
    ]
    assert [(p.user_id, p.weeks, p.before) for p in summary.people] == [
        (11, {W1: (1.0, None)}, 0.0),
        (10, {W1: (0.75, None)}, 3.0),
    ]
    # EUR has amounts now (less than one), JPY before only: EUR first.
    assert summary.currencies == ["EUR", "JPY"]


def test_a_workspaces_scope_counts_its_lines_and_its_members() -> None:
    data = ReportData(PERIOD, "ds", lines=list(LINES), members={2: {12, 14}, 1: {10}})
    summary = summarise(data, Scope("w2", "Workspace: WS2", frozenset([2])))
    assert summary.now.hours == 1.0 and summary.before.hours == 0.5
    assert [p.name for p in summary.projects] == ["P1", "P4", "P5"]
    assert [(p.user_id, p.weeks, p.before) for p in summary.people] == [
        (12, {W2: (1.0, None)}, 0.5),
        (13, {W2: (0.0, None)}, 0.0),
    ]


def test_people_come_from_the_utilisation_view_when_there_is_one() -> None:
    utilisation = [
        Utilisation(10, "Ann", W1, 30.0, 40.0),
        Utilisation(10, "Ann", W2, 50.0, 40.0),
        Utilisation(10, "Ann", P1, 20.0, 40.0),
        Utilisation(10, "Ann", P2, 1.0, 40.0),
        Utilisation(12, "Cy", W2, 1.0, None),
        Utilisation(14, "Dee", W1, 0.0, 40.0),
        Utilisation(15, "Eve", W1, 9.0, 40.0),
    ]
    data = ReportData(
        PERIOD,
        "ds",
        lines=list(LINES),
        utilisation=utilisation,
        has_utilisation=True,
        members={2: {12, 14}, 1: {10}},
    )
    everyone = summarise(data, Scope("all", "All", None)).people
    assert [(p.user_id, p.name, p.weeks, p.before) for p in everyone] == [
        (10, "Ann", {W1: (30.0, 40.0), W2: (50.0, 40.0)}, 21.0),
        (15, "Eve", {W1: (9.0, 40.0)}, 0.0),
        (11, "U11", {W2: (2.0, None)}, 1.5),
        (12, "Cy", {W2: (1.0, None)}, 0.0),
        (14, "Dee", {W1: (0.0, 40.0)}, 0.0),
        (13, "U13", {W2: (0.0, None)}, 0.0),
    ]
    scoped = summarise(data, Scope("w2", "WS2", frozenset([2]))).people
    assert [(p.user_id, p.weeks) for p in scoped] == [
        (12, {W2: (1.0, None)}),
        (14, {W1: (0.0, 40.0)}),
        (13, {W2: (0.0, None)}),
    ]


# write ------------------------------------------------------------------------------------------


def duckdb_pipeline(tmp_path: Path, name: str = "report") -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "data.duckdb")),
        dataset_name="ds",
        pipelines_dir=str(tmp_path / "state"),
    )


def test_write_report_reads_the_views_and_writes_the_page(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    views(con, ROWS[:2], UTILISATION, entries=[datetime(2026, 11, 30)])
    con.execute("CREATE SCHEMA ds")
    con.execute("CREATE TABLE ds._dlt_loads (inserted_at TIMESTAMP, status BIGINT)")
    con.execute("INSERT INTO ds._dlt_loads VALUES ('2026-12-01 10:00:00', 0)")
    con.close()
    out = tmp_path / "page.html"
    data = write.write_report(duckdb_pipeline(tmp_path), out, weeks=3, today=WEDNESDAY)
    assert data.period == choose_period(WEDNESDAY, 3)
    assert data.hours == 3.5 and data.dataset == "ds"
    page = out.read_bytes().decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Time tracked: Zeta" in page
    ranged = write.write_report(
        duckdb_pipeline(tmp_path), out, today=WEDNESDAY, start=W1, end=date(2026, 11, 20)
    )
    assert ranged.period == choose_period(WEDNESDAY, start=W1, end=date(2026, 11, 20))


def test_write_report_makes_the_period_of_todays_date_in_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    views(con, [], None)
    con.execute("CREATE SCHEMA ds")
    con.execute("CREATE TABLE ds._dlt_loads (inserted_at TIMESTAMP, status BIGINT)")
    con.close()
    # 14 hours ahead of UTC and 12 behind: at any hour, one of them is on another date.
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        today = datetime.now(UTC).date()
        data = write.write_report(duckdb_pipeline(tmp_path), tmp_path / "page.html")
        assert data.period == choose_period(today)
    monkeypatch.delenv("TZ")
    time.tzset()


def test_write_report_says_what_went_wrong_in_one_line(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    con.execute("CREATE SCHEMA ds_analytics")
    con.execute("CREATE TABLE ds_analytics.entries (week DATE)")
    con.execute("CREATE TABLE ds_analytics.hours_by_week (week DATE)")
    con.close()
    out = tmp_path / "page.html"
    with pytest.raises(TimetrackError) as raised:
        write.write_report(duckdb_pipeline(tmp_path), out, today=WEDNESDAY)
    assert type(raised.value) is TimetrackError
    message = str(raised.value)
    assert message.startswith("cannot read the views: ") and "workspace_id" in message
    assert "\n" not in message and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    duckdb.connect(str(empty / "data.duckdb")).close()
    with pytest.raises(TimetrackError) as no_views:
        write.write_report(duckdb_pipeline(empty), out, today=WEDNESDAY)
    assert str(no_views.value).startswith("no analytics views in ds_analytics: run")


def test_write_report_names_the_missing_settings_and_an_unwritable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if "CREDENTIALS" in key:
            monkeypatch.delenv(key)
    pipeline = dlt.pipeline(
        pipeline_name="nocreds",
        destination="postgres",
        dataset_name="ds",
        pipelines_dir=str(tmp_path / "state"),
    )
    with pytest.raises(ConfigurationError) as raised:
        write.write_report(pipeline, tmp_path / "page.html", today=WEDNESDAY)
    assert str(raised.value).startswith("cannot read the views: missing setting")
    assert "DESTINATION__POSTGRES__CREDENTIALS" in str(raised.value)
    con = duckdb.connect(str(tmp_path / "data.duckdb"))
    views(con, [], None)
    raw(con)
    con.close()
    out = tmp_path / "no" / "page.html"
    with pytest.raises(ConfigurationError) as unwritable:
        write.write_report(duckdb_pipeline(tmp_path), out, today=WEDNESDAY)
    assert str(unwritable.value) == f"cannot write {out}: No such file or directory"


def test_open_pipeline_reads_duckdb_and_postgres_only_and_a_file_that_is_there(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "none.duckdb")
    target = Target("duckdb", "duckdb", missing, "ds", "pipe")
    with pytest.raises(ConfigurationError) as raised:
        write.open_pipeline(target, str(tmp_path / "state"))
    assert str(raised.value) == (
        f"no DuckDB file {missing}: run `timetrack run` first, or pass the --duckdb-file "
        "(or --destination) it used"
    )
    lake = Target("filesystem", "filesystem", "/tmp/lake", "ds", "pipe")
    with pytest.raises(ConfigurationError) as refused:
        write.open_pipeline(lake, str(tmp_path / "state"))
    assert str(refused.value) == (
        "the report reads the analytics views, which are built in DuckDB and PostgreSQL only, "
        "not in 'filesystem'"
    )
    duckdb.connect(str(tmp_path / "data.duckdb")).close()
    there = Target(
        "duckdb", dlt.destinations.duckdb(str(tmp_path / "data.duckdb")),
        str(tmp_path / "data.duckdb"), "ds", "pipe",
    )  # fmt: skip
    pipeline = write.open_pipeline(there, str(tmp_path / "state"))
    assert pipeline.pipeline_name == "pipe" and pipeline.dataset_name == "ds"
    assert pipeline.pipelines_dir == str(tmp_path / "state")
    assert pipeline.destination.destination_name == "duckdb"
    # DuckDB's default place (no file named) is not checked for.
    default = Target("duckdb", "duckdb", "duckdb", "ds2", "pipe2")
    assert write.open_pipeline(default, str(tmp_path / "state")).dataset_name == "ds2"
    postgres = Target("postgres", "postgres", "localhost:5432/db", "ds3", "pipe3")
    assert write.open_pipeline(postgres, str(tmp_path / "state")).dataset_name == "ds3"
