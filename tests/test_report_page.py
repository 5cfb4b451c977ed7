"""The report as a team lead reads it, in Chromium at 1400 px: the demo's page, whose tables'
totals (per project, person and week, this period and the previous one) must equal SQL sums over
the analytics views; a 2,000-project, 300-person dataset and an empty one, which must render
without an error, a horizontal scroll or two things drawn over each other.

The numbers are read from the rendered page (what the browser shows), never from the code that
made it; the truth is SQL over the views. One browser serves every test of the module.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.test_report import CHROMIUM
from timetrack.answers.analytics import landed_columns, view_statements
from timetrack.answers.report import open_pipeline, write_report
from timetrack.demo import run_demo
from timetrack.destination.target import resolve_target

WIDTH = 1400

_TABLES = """ids => Object.fromEntries(ids.map(id => {
    const table = document.getElementById(id);
    const head = [...table.tHead.rows[0].cells].map(cell => cell.dataset.v);
    const rows = [...table.tBodies[0].rows].map(row => [...row.cells].map(c => c.textContent));
    return [id, {head, rows}];
}))"""

_LAYOUT = """() => {
    // Blocks of the visible section, tick labels of every drawn chart: none may overlap
    // another, nor reach past the window's width.
    const boxes = (nodes) => [...nodes].map(n => [n, n.getBoundingClientRect()])
        .filter(([_, b]) => b.width > 0 && b.height > 0);
    const meet = (a, b) => a.left < b.right - 1 && b.left < a.right - 1
        && a.top < b.bottom - 1 && b.top < a.bottom - 1;
    const problems = [];
    const section = document.querySelector('section.scope:not([hidden])');
    const blocks = boxes(section.querySelectorAll(
        ':scope > .cards, :scope > .chart, :scope > .scroll, :scope > .tablebar, :scope > h3'));
    blocks.forEach(([n, b], i) => blocks.slice(i + 1).forEach(([m, c]) => {
        if (meet(b, c)) problems.push(['blocks', n.className || n.tagName, m.className]);
    }));
    section.querySelectorAll('.plot').forEach(chart => {
        const texts = boxes(chart.querySelectorAll(
            '.xtick text, .ytick text, .g-gtitle, .g-xtitle, .g-ytitle, .g-y2title, '
            + '.legend .traces, .annotation-text'));
        texts.forEach(([n, b], i) => texts.slice(i + 1).forEach(([m, c]) => {
            if (meet(b, c)) problems.push([chart.id, n.textContent, m.textContent]);
        }));
        const area = chart.querySelector('.nsewdrag').getBoundingClientRect();
        const width = chart.getBoundingClientRect().width;
        if (area.width < 0.5 * width || area.height < 100) {
            problems.push([chart.id, 'plot area', area.width, area.height]);
        }
    });
    section.querySelectorAll('.scroll').forEach(box => {
        if (box.scrollWidth > box.clientWidth + 1) {
            problems.push(['table scrolls sideways', box.firstChild.id, box.scrollWidth]);
        }
    });
    const wide = document.documentElement.scrollWidth;
    if (wide > window.innerWidth) problems.push(['page wider than the window', wide]);
    return problems;
}"""


def _number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace("\u2212", "-").strip()
    return None if cleaned in ("\u2013", "", "new") else float(cleaned)


def _column(table: dict[str, Any], name: str) -> list[str]:
    index = table["head"].index(name)
    return [row[index] for row in table["rows"]]


class Browser:
    """One Chromium tab for the module, 1400 px wide: `open` loads a page in it and collects the
    page's errors. One tab, not one per page: its renderer keeps the inlined Plotly compiled from
    one page to the next (a fresh tab compiles it again, seconds of CPU)."""

    def __init__(self, browser: Any) -> None:
        self.tab = browser.new_page(
            viewport={"width": WIDTH, "height": 1000}, accept_downloads=True
        )
        self.problems: list[str] = []
        self.tab.on(
            "console", lambda m: self.problems.append(m.text) if m.type == "error" else None
        )
        self.tab.on("pageerror", lambda error: self.problems.append(str(error)))
        self.tab.on(
            "request", lambda r: None if r.url.startswith("file:") else self.problems.append(r.url)
        )

    def open(self, path: Path) -> tuple[Any, list[str]]:
        self.problems = []
        self.tab.goto(path.as_uri())
        self.tab.wait_for_selector("#chart-projects .main-svg", timeout=30_000)
        return self.tab, self.problems


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield Browser(chromium)
        chromium.close()


# --- the demo's page -----------------------------------------------------------------------------


class Demo:
    """The demo's DuckDB file and page, and its period as the test works it out."""

    def __init__(self, root: Path) -> None:
        self.database = root / "timetrack_demo.duckdb"
        run_demo(str(self.database))
        self.page = root / "timetrack_demo.html"
        today = datetime.now(UTC).date()
        last = today - timedelta(days=today.weekday(), weeks=1)
        self.weeks = [last - timedelta(weeks=n) for n in range(11, -1, -1)]
        self.previous = [week - timedelta(weeks=12) for week in self.weeks]

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.database), read_only=True) as db:
            return db.execute(query, list(args)).fetchall()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return Demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def demo_read(
    demo: Demo, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The demo's page read in one load: its tables, title and layout as it opens, then one
    workspace chosen alone, its table sorted twice by a click and downloaded as CSV (read here,
    before another test loads another page in the module's tab; the tests assert)."""
    page, problems = browser.open(demo.page)
    tables = page.evaluate(_TABLES, ["projects-all", "people-all", "weeks-all", "clients-all"])
    read: dict[str, Any] = {
        "tables": tables,
        "title": page.inner_text("h1"),
        "layout": page.evaluate(_LAYOUT),
        "problems": problems,
    }

    ((space_id, space),) = demo.sql(
        "select id, name from time_tracking.workspaces order by name limit 1"
    )
    table_id = f"projects-w{space_id}"
    page.select_option("#scope", f"w{space_id}")
    page.wait_for_selector(f"#chart-projects-w{space_id} .main-svg", timeout=30_000)
    read["space"] = (space_id, space)
    read["shown"] = (page.is_hidden("#projects-all"), page.is_visible(f"#{table_id}"))
    read["space table"] = page.evaluate(_TABLES, [table_id])[table_id]
    read["space layout"] = page.evaluate(_LAYOUT)

    # A click sorts by a column, most first; a second click, least first.
    def sorted_by(column: str) -> list[float]:
        page.click(f"#{table_id} thead th[data-v='{column}']")
        table = page.evaluate(_TABLES, [table_id])[table_id]
        return [_number(cell) or 0.0 for cell in _column(table, column)]

    read["sorted"] = (sorted_by("entries"), sorted_by("entries"))

    with page.expect_download(timeout=30_000) as download:
        page.click(f"button[data-table='{table_id}']")
    written = tmp_path_factory.mktemp("csv") / "projects.csv"
    download.value.save_as(written)
    read["csv"] = written.read_text("utf-8-sig")
    # A cell a spreadsheet would run as a formula is written as text; a negative number stays.
    read["formulas"] = page.evaluate(
        """() => {
            const table = document.createElement('table');
            table.innerHTML = '<tr><td>=HYPERLINK("http://x")</td><td>+1+1</td><td>@SUM(A1)</td>'
                + '<td data-v="-3.5">\u22123.5</td><td>-x</td></tr>';
            return window.timetrackCsv(table);
        }"""
    )
    return read


E = "time_tracking_analytics"


def test_the_pages_totals_per_project_person_and_week_are_the_views_sums(
    demo: Demo, demo_read: dict[str, Any]
) -> None:
    first, last = demo.weeks[0], demo.weeks[-1]
    assert not demo_read["problems"], demo_read["problems"]
    tables = demo_read["tables"]

    projects = tables["projects-all"]
    shown: dict[tuple[str, str], float] = defaultdict(float)
    rows: dict[tuple[str, str], int] = defaultdict(int)
    for name, space, hours in zip(
        _column(projects, "project"),
        _column(projects, "workspace"),
        _column(projects, "hours"),
        strict=True,
    ):
        shown[(space, name)] += _number(hours) or 0.0
        rows[(space, name)] += 1
    truth = {
        (space, name): hours
        for space, name, hours in demo.sql(
            f"select workspace_name, coalesce(project_name, '(no project)'), sum(hours) "
            f"from {E}.entries where week between ? and ? group by all",
            first,
            last,
        )
    }
    assert len(truth) > 100 and set(truth) <= set(shown)
    for key, hours in shown.items():
        assert math.isclose(hours, truth.get(key, 0.0), abs_tol=0.051 * rows[key]), key

    ((now, before),) = demo.sql(
        f"select sum(hours) filter (where week >= ?), sum(hours) filter (where week < ?) "
        f"from {E}.hours_by_week where week between ? and ?",
        first,
        first,
        demo.previous[0],
        last,
    )
    for column, total in (("hours", now), ("previous h", before)):
        read = sum(_number(cell) or 0.0 for cell in _column(projects, column))
        assert math.isclose(read, total, abs_tol=0.051 * len(projects["rows"])), column

    people = tables["people-all"]
    per_person = {
        name: (hours, working, over)
        for name, hours, working, over in demo.sql(
            f"select user_name, sum(hours), sum(working_hours), sum(over_under_hours) "
            f"from {E}.utilisation_by_week where week between ? and ? group by user_name",
            first,
            last,
        )
    }
    per_week = {
        (name, week): hours
        for name, week, hours in demo.sql(
            f"select user_name, week, hours from {E}.utilisation_by_week "
            "where week between ? and ?",
            first,
            last,
        )
    }
    names = _column(people, "person")
    assert set(per_person) <= set(names), "everyone active is listed"
    for column, index in (("tracked h", 0), ("working h", 1), ("over/under h", 2)):
        for name, cell in zip(names, _column(people, column), strict=True):
            if name in per_person:
                want = per_person[name][index]
                got = _number(cell)
                assert got == want if want is None else math.isclose(got or 0, want, abs_tol=0.051)
    for week in demo.weeks:
        for name, cell in zip(names, _column(people, week.isoformat()), strict=True):
            if name in per_person:
                assert math.isclose(_number(cell) or 0.0, per_week[(name, week)], abs_tol=0.051)

    weeks = tables["weeks-all"]
    assert _column(weeks, "week") == [week.isoformat() for week in demo.weeks]
    assert _column(weeks, "previous week") == [week.isoformat() for week in demo.previous]
    by_week = {
        week: (hours, billable, entries)
        for week, hours, billable, entries in demo.sql(
            f"select week, sum(hours), sum(case when billable then hours else 0 end), count(*) "
            f"from {E}.entries where week between ? and ? group by week",
            demo.previous[0],
            last,
        )
    }
    for row in weeks["rows"]:
        week, previous = (
            date.fromisoformat(row[weeks["head"].index(c)]) for c in ("week", "previous week")
        )
        hours, billable, entries = by_week.get(week, (0.0, 0.0, 0))
        assert math.isclose(_number(row[1]) or 0.0, hours, abs_tol=0.051), week
        assert math.isclose(_number(row[2]) or 0.0, billable, abs_tol=0.051), week
        assert _number(row[weeks["head"].index("entries")]) == entries, week
        cell = row[weeks["head"].index("previous h")]
        assert math.isclose(_number(cell) or 0.0, by_week.get(previous, (0.0,))[0], abs_tol=0.051)

    organizations = demo.sql("select name from time_tracking.organizations order by name")
    assert demo_read["title"] == "Time tracked: " + ", ".join(name for (name,) in organizations)
    assert not demo_read["layout"], demo_read["layout"]


def test_a_workspace_alone_sorts_and_downloads_as_csv(
    demo: Demo, demo_read: dict[str, Any]
) -> None:
    space_id, space = demo_read["space"]
    assert demo_read["shown"] == (True, True), "the workspace's table alone is shown"
    table = demo_read["space table"]
    assert set(_column(table, "workspace")) == {space}
    ((hours,),) = demo.sql(
        f"select sum(hours) from {E}.entries where week between ? and ? and workspace_id = ?",
        demo.weeks[0],
        demo.weeks[-1],
        space_id,
    )
    read = sum(_number(cell) or 0.0 for cell in _column(table, "hours"))
    assert math.isclose(read, hours, abs_tol=0.051 * len(table["rows"]))
    assert not demo_read["space layout"], demo_read["space layout"]

    # A click sorts by a column, most first; a second click, least first.
    once, twice = demo_read["sorted"]
    assert once == sorted(once, reverse=True) and len(set(once)) > 3
    assert twice == sorted(once)

    rows = list(csv.reader(io.StringIO(demo_read["csv"])))
    assert rows[0] == table["head"] and len(rows) == len(table["rows"]) + 1
    assert math.isclose(sum(float(row[3]) for row in rows[1:]), hours, abs_tol=1e-3)

    # A cell a spreadsheet would run as a formula is written as text; a negative number stays.
    written = demo_read["formulas"]
    assert written == '"\'=HYPERLINK(""http://x"")",\'+1+1,\'@SUM(A1),-3.5,\'-x\r\n'


# --- a big dataset and an empty one, made in DuckDB directly ----------------------------------


def _dataset(path: Path, projects: int, people: int, entries: int, today: date) -> None:
    """Raw tables as `timetrack run` lands them (the columns the views read), two workspaces of
    one organization, projects' hours skewed as real ones are, some names long; the views
    built on them."""
    monday = today - timedelta(days=today.weekday())
    origin = datetime.combine(monday - timedelta(weeks=24), datetime.min.time(), UTC)
    half = max(projects // 2, 1)
    long = "Platform migration for the northern region, phase "
    with duckdb.connect(str(path)) as db:
        db.execute("create schema tt")
        db.execute(
            "create table tt.organizations as select 7 as id, 'Northwind Consulting' as name"
        )
        db.execute(
            "create table tt.workspaces as select * from (values "
            "(1, 'Delivery', 7, 480), (2, 'Research & Development', 7, 420)) "
            "as w(id, name, organization_id, working_hours_in_minutes)"
        )
        db.execute(
            "create table tt.workspace_clients as select 1 + (i > 60)::int as workspace_id, "
            f"i as id, "
            f"'Client ' || i || case when i % 9 = 0 then ' {long}' || i else '' end as name "
            f"from range(1, {min(120, projects) + 1}) t(i)"
        )
        db.execute(
            f"create table tt.workspace_projects as select case when i <= {half} then 1 else 2 "
            f"end as workspace_id, i as id, case when i % 50 = 0 then '{long}' || i "
            f"else 'Project ' || lpad(i::varchar, 4, '0') end as name, "
            f"case when i % 5 = 0 then null when i <= {half} then 1 + i % 60 else 61 + i % 60 end "
            f"as client_id "
            f"from range(1, {projects + 1}) t(i)"
        )
        db.execute(
            f"create table tt.workspace_users as select 1 + i % 2 as workspace_id, i as user_id, "
            f"'Person ' || i || case when i % 37 = 0 then ' {long}' else '' end as name, "
            f"'UTC' as timezone, case when i % 11 = 0 then null else 480 end "
            f"as working_hours_in_minutes, false as inactive, true as active "
            f"from range(1, {people + 1}) t(i)"
        )
        # Projects by a skewed draw: a few busy, a long tail of quiet ones.
        db.execute(
            f"""create table tt.report_time_entries as
            select i as id, p.workspace_id, 1 + hash(i * 3) % {max(people, 1)} as user_id,
              p.id as project_id, i % 3 <> 0 as billable,
              start, start + to_seconds(seconds) as stop, seconds,
              case when i % 3 <> 0 then seconds * 2 end as billable_amount_in_cents,
              case when p.workspace_id = 1 then 'EUR' else 'USD' end as currency
            from (
              select i, 1 + floor({projects} * pow((hash(i) % 100000) / 100000.0, 3))::bigint
                as project,
                TIMESTAMPTZ '{origin.isoformat()}'
                  + to_seconds(hash(i * 7) % (24 * 7 * 86400 - 14400)) as start,
                600 + hash(i * 11) % 14400 as seconds
              from range({entries}) t(i)
            ) as e join tt.workspace_projects as p on p.id = e.project"""
        )
        db.execute(
            "create table tt._dlt_loads as select now() as inserted_at, 0 as status "
            "where (select count(*) from tt.report_time_entries) > 0"
        )

        def execute(query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return db.execute(query.replace("%s", "?"), list(args)).fetchall()

        db.execute("create schema tt_analytics")
        landed = landed_columns(execute, "tt")
        for _, statement in view_statements("duckdb", "tt", landed, datetime.now(UTC)):
            db.execute(statement)


def _report(root: Path, projects: int, people: int, entries: int) -> Path:
    root.mkdir(exist_ok=True)
    database, page = root / "made.duckdb", root / "made.html"
    _dataset(database, projects, people, entries, datetime.now(UTC).date())
    place = resolve_target(dataset="tt", duckdb_file=str(database), pipelines_dir=str(root))
    write_report(open_pipeline(place, str(root)), page)
    return page


def test_two_thousand_projects_and_three_hundred_people_render_readably(
    browser: Browser, tmp_path: Path
) -> None:
    page_file = _report(tmp_path, projects=2000, people=300, entries=8_000)
    page, problems = browser.open(page_file)
    assert not problems, problems
    assert not page.evaluate(_LAYOUT), page.evaluate(_LAYOUT)
    tables = page.evaluate(_TABLES, ["projects-all", "people-all"])
    assert len(tables["people-all"]["rows"]) == 300
    assert len(tables["projects-all"]["rows"]) > 1500
    assert page.inner_text("h1") == "Time tracked: Northwind Consulting"
    bars = page.evaluate("document.getElementById('chart-projects').data[0].y.length")
    assert 10 <= bars <= 60
    page.select_option("#scope", "w2")  # one workspace: drawn when chosen
    page.wait_for_selector("#chart-projects-w2 .main-svg", timeout=30_000)
    assert not page.evaluate(_LAYOUT), page.evaluate(_LAYOUT)
    assert not problems, problems


def test_an_empty_dataset_and_a_one_person_one_render_readably(
    browser: Browser, tmp_path: Path
) -> None:
    page_file = _report(tmp_path / "empty", projects=0, people=0, entries=0)
    page, problems = browser.open(page_file)
    assert not problems, problems
    assert not page.evaluate(_LAYOUT), page.evaluate(_LAYOUT)
    assert "No time entries have landed yet." in page.inner_text("body")
    tables = page.evaluate(_TABLES, ["projects-all", "people-all", "weeks-all"])
    assert tables["projects-all"]["rows"] == [] and tables["people-all"]["rows"] == []
    assert len(tables["weeks-all"]["rows"]) == 12

    page_file = _report(tmp_path / "one", projects=3, people=1, entries=60)
    page, problems = browser.open(page_file)
    assert not problems, problems
    assert not page.evaluate(_LAYOUT), page.evaluate(_LAYOUT)
    tables = page.evaluate(_TABLES, ["people-all"])
    assert _column(tables["people-all"], "person") == ["Person 1"]
