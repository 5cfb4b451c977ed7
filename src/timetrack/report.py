"""`timetrack report`: one self-contained HTML page of answers, read from the analytics views.

The page works offline: Plotly's script is inlined once, the data sits in the page, nothing is
fetched, and its Content-Security-Policy forbids fetching. It reads only the views of
`analytics.py` and dlt's own load table, so it shows what a SQL user of the views would see.

Names come from the data, so from anyone who can name a project: Plotly reads a subset of HTML
in its labels (`<span style>`, `<a href>`, `<b>`, entities), so every name is escaped for that
markup, cleared of control and bidirectional-override characters, and cut short on axes and
legends (whole on hover).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import textwrap
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import plotly.graph_objects as go
import plotly.io as pio
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from plotly.colors import qualitative

from timetrack.analytics import DIALECTS, analytics_schema
from timetrack.errors import ConfigurationError, TimetrackError, printable
from timetrack.pipeline import missing_settings, one_line
from timetrack.target import Target

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

TOP_PROJECTS = 10
TOP_CLIENTS = 10
TOP_PEOPLE = 40
"""Beyond these, the charts would be unreadable: the rest is summed as "other" (projects), or
left to the views (clients, people)."""

LABEL_WIDTH = 40
"""Columns of a name on an axis or in a legend (a wide character counts two): beyond, it is cut
with an ellipsis, so that no name can squeeze the plot area."""
HOVER_LINE = 60
HOVER_MAX = 600
"""A name on hover: whole up to this many columns, in lines of `HOVER_LINE` characters."""

OTHER = "other projects"
COLOURS = list(qualitative.Plotly)
GREY = "#b0b0b0"


@dataclass
class ReportData:
    """Everything the page shows, as plain values (tested apart from the drawing)."""

    first_week: date
    last_week: date
    weeks: list[date]
    entries: int = 0
    hours: float = 0.0
    billable_hours: float = 0.0
    amounts: dict[str, float] = field(default_factory=dict)
    people: int = 0
    projects_by_week: dict[str, dict[date, float]] = field(default_factory=dict)
    billable_by_week: dict[date, tuple[float, float]] = field(default_factory=dict)
    clients: list[tuple[str, float, float]] = field(default_factory=list)
    people_by_week: dict[str, dict[date, float]] = field(default_factory=dict)
    last_sync: datetime | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    newest_week: date | None = None
    """The week of the newest entry of all, to point at when the period holds none."""


def _weeks_ending(today: date, count: int) -> list[date]:
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def read_report_data(query: Query, dataset: str, weeks: int, today: date) -> ReportData:
    """The numbers of the last `weeks` ISO weeks up to `today`'s, from the views."""
    schema = analytics_schema(dataset)
    views = {name for (name,) in query(_VIEWS_SQL, (schema,))}
    if "entries" not in views:
        raise TimetrackError(
            f"no analytics views in {schema}: run `timetrack run` into DuckDB or PostgreSQL first "
            "(it builds them after every load)"
        )
    span = _weeks_ending(today, weeks)
    data = ReportData(span[0], span[-1], span)
    entries = f'"{schema}".entries'
    where = "week >= %s AND week <= %s"
    bounds = (span[0], span[-1])
    (count, hours, billable, people) = query(
        f"SELECT count(*), sum(hours), sum(CASE WHEN billable THEN hours ELSE 0 END), "
        f"count(DISTINCT user_id) FROM {entries} WHERE {where}",
        bounds,
    )[0]
    data.entries, data.hours, data.billable_hours, data.people = (
        int(count),
        float(hours or 0),
        float(billable or 0),
        int(people),
    )
    data.amounts = {
        str(currency or "?"): float(amount)
        for currency, amount in query(
            f"SELECT currency, sum(billable_amount) FROM {entries} WHERE {where} "
            "AND billable_amount IS NOT NULL GROUP BY currency ORDER BY 2 DESC",
            bounds,
        )
    }
    data.projects_by_week = _projects_by_week(query, entries, where, bounds)
    for week, billable_hours, other_hours in query(
        f"SELECT week, sum(CASE WHEN billable THEN hours ELSE 0 END), "
        f"sum(CASE WHEN billable THEN 0 ELSE hours END) FROM {entries} WHERE {where} "
        "GROUP BY week",
        bounds,
    ):
        data.billable_by_week[_as_date(week)] = (float(billable_hours), float(other_hours))
    data.clients = [
        (str(name or "(no client)"), float(client_hours), float(amount or 0))
        for name, client_hours, amount in query(
            f"SELECT client_name, sum(hours), sum(billable_amount) FROM {entries} "
            f"WHERE {where} GROUP BY client_name ORDER BY 2 DESC LIMIT {TOP_CLIENTS}",
            bounds,
        )
    ]
    ((newest,),) = query(f"SELECT max(week) FROM {entries}", ())
    data.newest_week = None if newest is None else _as_date(newest)
    data.people_by_week = _people_by_week(query, schema, views, entries, where, bounds)
    data.last_sync, data.row_counts = _last_sync(query, dataset)
    return data


_VIEWS_SQL = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"


def _projects_by_week(
    query: Query, entries: str, where: str, bounds: tuple[date, date]
) -> dict[str, dict[date, float]]:
    """Hours per week of the top projects (names made unique with their workspace where they
    repeat), the rest summed as one."""
    rows = query(
        f"SELECT project_id, project_name, workspace_name, week, sum(hours) FROM {entries} "
        f"WHERE {where} GROUP BY project_id, project_name, workspace_name, week",
        bounds,
    )
    totals: dict[Any, float] = defaultdict(float)
    names: dict[Any, tuple[str, str]] = {}
    for project_id, name, workspace, _, hours in rows:
        totals[project_id] += float(hours)
        names[project_id] = (str(name or "(no project)"), str(workspace or "?"))
    repeated = {n for n, _ in names.values() if sum(1 for m, _ in names.values() if m == n) > 1}
    top = sorted(totals, key=lambda p: -totals[p])[:TOP_PROJECTS]
    out: dict[str, dict[date, float]] = {}
    for project_id, _, _, week, hours in rows:
        name, workspace = names[project_id]
        label = f"{name} ({workspace})" if name in repeated else name
        series = out.setdefault(label if project_id in top else OTHER, defaultdict(float))
        series[_as_date(week)] += float(hours)
    ordered = sorted((k for k in out if k != OTHER), key=lambda k: -sum(out[k].values()))
    return {k: dict(out[k]) for k in [*ordered, *([OTHER] if OTHER in out else [])]}


def _people_by_week(
    query: Query,
    schema: str,
    views: set[str],
    entries: str,
    where: str,
    bounds: tuple[date, date],
) -> dict[str, dict[date, float]]:
    """Hours per person per week, the weeks without entries included where the utilisation
    view knows the members; the people with the most hours first (a name two people share
    carries each one's id)."""
    if "utilisation_by_week" in views:
        sql = (
            f'SELECT user_id, user_name, week, hours FROM "{schema}".utilisation_by_week '
            f"WHERE {where}"
        )
    else:
        sql = (
            f"SELECT user_id, user_name, week, sum(hours) FROM {entries} WHERE {where} "
            "GROUP BY user_id, user_name, week"
        )
    per_user: dict[Any, dict[date, float]] = defaultdict(dict)
    labels: dict[Any, str] = {}
    for user_id, name, week, hours in query(sql, bounds):
        per_user[user_id][_as_date(week)] = float(hours or 0)
        labels[user_id] = str(name or f"user {user_id}")
    top = sorted(per_user, key=lambda u: -sum(per_user[u].values()))[:TOP_PEOPLE]
    names = [labels[u] for u in top]
    # Two people of one name stay two rows, each with their id.
    return {
        f"{labels[u]} (user {u})" if names.count(labels[u]) > 1 else labels[u]: per_user[u]
        for u in top
    }


def _last_sync(query: Query, dataset: str) -> tuple[datetime | None, dict[str, int]]:
    """When the last load completed, and the rows of every raw table."""
    loads = query(
        f'SELECT max(inserted_at) FROM "{dataset}"._dlt_loads WHERE status = 0',
        (),
    )
    last = loads[0][0] if loads else None
    tables = [
        name
        for (name,) in query(_VIEWS_SQL, (dataset,))
        if not str(name).startswith("_dlt") and not str(name).endswith("_staging")
    ]
    counts = {
        str(name): int(query(f'SELECT count(*) FROM "{dataset}"."{name}"', ())[0][0])
        for name in sorted(tables)
    }
    if isinstance(last, datetime) and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return (last if isinstance(last, datetime) else None), counts


# --- names as text -------------------------------------------------------------------------------


def plain(name: str) -> str:
    """A name as one line of plain text: every white space a space, control characters (C0,
    C1) and bidirectional controls removed as for the terminal (`printable`; U+202E turns the
    rest of a label around), lone surrogates too, every run of spaces one space."""
    spaced = "".join(" " if char.isspace() else char for char in name)
    kept = "".join(char for char in printable(spaced) if unicodedata.category(char) != "Cs")
    return " ".join(kept.split())


def markup(text: str) -> str:
    """Text that Plotly shows as it is: its labels read `<b>`, `<br>`, `<span style>`,
    `<a href>` and entities, so `&`, `<` and `>` become entities (which it turns back into
    the characters, once)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` columns, an ellipsis ending it where it is cut."""
    if sum(map(_columns, text)) <= width:
        return text
    used = 0
    for index, char in enumerate(text):
        used += _columns(char)
        if used > width - 1:
            return text[:index].rstrip() + "\u2026"
    return text


def short_label(name: str, width: int = LABEL_WIDTH) -> str:
    """A name for an axis or a legend, in Plotly's markup: plain, at most `width` columns."""
    return markup(_cut(plain(name) or "(no name)", width))


def hover_label(name: str) -> str:
    """A name whole (up to `HOVER_MAX` columns) for a hover box, in Plotly's markup, in
    lines of `HOVER_LINE` so that the box stays on the page."""
    text = _cut(plain(name) or "(no name)", HOVER_MAX)
    return "<br>".join(markup(line) for line in textwrap.wrap(text, HOVER_LINE))


def _unique(labels: list[str]) -> list[str]:
    """Labels as distinct categories: two names cut (or cleared) to the same label would
    otherwise share one bar or one row."""
    used: set[str] = set()
    out = []
    for label in labels:
        candidate, count = label, 1
        while candidate in used:
            count += 1
            candidate = f"{label} ({count})"
        used.add(candidate)
        out.append(candidate)
    return out


# --- drawing ------------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 17}},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 12}},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def _week_labels(weeks: list[date]) -> list[str]:
    return [w.isoformat() for w in weeks]


def figures(data: ReportData) -> list[tuple[str, go.Figure]]:
    """The page's charts, each with the id of the element it is drawn in. Every name from the
    data is a `short_label` where it is drawn and a `hover_label` in its hover box (through
    `customdata`: a name in a hover template would be read as one, `%{y}` and all)."""
    labels = _week_labels(data.weeks)
    projects = go.Figure()
    for n, (name, series) in enumerate(data.projects_by_week.items()):
        colour = GREY if name == OTHER else COLOURS[n % len(COLOURS)]
        projects.add_bar(
            name=short_label(name),
            x=labels,
            y=[round(series.get(w, 0.0), 2) for w in data.weeks],
            marker_color=colour,
            customdata=[hover_label(name)] * len(labels),
            hovertemplate="%{x}: %{y:.1f} h<extra>%{customdata}</extra>",
        )
    projects.update_layout(barmode="stack", hoverlabel={"namelength": -1})
    projects.update_yaxes(title_text="hours")
    projects.update_xaxes(title_text="week (Monday)", type="category")
    _layout(projects, "Weekly hours by project")

    billable = go.Figure()
    for index, (name, colour) in enumerate((("billable", "#2a9d8f"), ("non-billable", GREY))):
        billable.add_bar(
            name=name,
            x=labels,
            y=[round(data.billable_by_week.get(w, (0.0, 0.0))[index], 2) for w in data.weeks],
            marker_color=colour,
            hovertemplate="%{x}: %{y:.1f} h<extra>" + name + "</extra>",
        )
    billable.update_layout(barmode="stack")
    billable.update_yaxes(title_text="hours")
    billable.update_xaxes(title_text="week (Monday)", type="category")
    _layout(billable, "Billable and non-billable hours")

    shown = list(reversed(data.clients))
    clients = go.Figure(
        go.Bar(
            x=[hours for _, hours, _ in shown],
            y=_unique([short_label(name) for name, _, _ in shown]),
            orientation="h",
            marker_color="#457b9d",
            customdata=[[hover_label(name), amount] for name, _, amount in shown],
            hovertemplate=(
                "%{customdata[0]}: %{x:.1f} h, billable amount %{customdata[1]:,.2f}<extra></extra>"
            ),
        )
    )
    clients.update_xaxes(title_text="hours")
    # A category axis whatever the names: clients named "2024" or "3" stay bars of their own.
    clients.update_yaxes(automargin=True, type="category")
    _layout(
        clients, f"Top clients (up to {TOP_CLIENTS})", height=120 + 34 * max(len(data.clients), 3)
    )

    people = list(data.people_by_week)
    heatmap = go.Figure(
        go.Heatmap(
            z=[[round(data.people_by_week[p].get(w, 0.0), 1) for w in data.weeks] for p in people],
            x=labels,
            y=_unique([short_label(p) for p in people]),
            colorscale="Blues",
            colorbar={"title": {"text": "hours"}},
            customdata=[[hover_label(p)] * len(labels) for p in people],
            hovertemplate="%{customdata}, week of %{x}: %{z:.1f} h<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    heatmap.update_yaxes(autorange="reversed", automargin=True, type="category")
    heatmap.update_xaxes(title_text="week (Monday)", type="category")
    _layout(
        heatmap,
        f"Hours per person per week (top {TOP_PEOPLE} by hours)",
        height=160 + 22 * max(len(people), 4),
    )
    return [
        ("chart-projects", projects),
        ("chart-billable", billable),
        ("chart-clients", clients),
        ("chart-people", heatmap),
    ]


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  background: #f6f7f9; color: #1d2329; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
.sub { color: #5a6570; margin: 0 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px;
  margin-bottom: 20px; }
.card { background: white; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px #0001;
  overflow-wrap: anywhere; }
.card .label { color: #5a6570; font-size: 13px; }
.card .value { font-size: 24px; font-weight: 600; margin-top: 4px; }
.card .value.small { font-size: 16px; line-height: 1.4; }
.chart { background: white; border-radius: 8px; padding: 8px; margin-bottom: 16px;
  box-shadow: 0 1px 2px #0001; }
table { border-collapse: collapse; background: white; font-size: 14px; }
td, th { padding: 4px 12px; text-align: left; border-bottom: 1px solid #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff4d6; border-radius: 8px; padding: 10px 14px; }
footer { color: #5a6570; font-size: 13px; margin-top: 20px; }
"""


def _card(label: str, value: str) -> str:
    """One figure of the totals; several lines (amounts per currency) in a smaller font."""
    lines = value.split("\n")
    size = " small" if len(lines) > 1 else ""
    shown = "<br>".join(html.escape(line) for line in lines)
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value{size}">{shown}</div></div>'
    )


def empty_note(data: ReportData) -> str:
    """What to do when the period holds no entries; empty when it holds some."""
    if data.entries:
        return ""
    if data.newest_week is None:
        return "no time entries have landed yet"
    weeks = (data.last_week - data.newest_week).days // 7 + 1
    return (
        f"no time entries in these weeks; the newest is in the week of {data.newest_week} "
        f"(--weeks {weeks} reaches it)"
    )


def _empty_note(data: ReportData) -> str:
    note = empty_note(data)
    return f'<p class="note">{html.escape(note.capitalize())}.</p>' if note else ""


_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script", re.IGNORECASE | re.DOTALL)


def content_security_policy(body: str) -> str:
    """The page's policy: no fetch of any kind (`default-src 'none'` covers connections,
    images, fonts, frames and the rest), the page's own inline scripts by their hashes and no
    other (so a script that slipped into the page would not run), inline styles (Plotly sets
    its own), images only from the page itself (`data:`: the heatmap; `blob:`: the
    toolbar's PNG download), no `<base>` and no form."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
            for script in _SCRIPT.findall(body)
        }
    )
    return "; ".join(
        (
            "default-src 'none'",
            "script-src " + " ".join(hashes),
            "style-src 'unsafe-inline'",
            "img-src data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def render_html(data: ReportData, title: str) -> str:
    """The whole page, Plotly's script inlined once."""
    amounts = "\n".join(
        f"{amount:,.2f} {_cut(plain(currency), LABEL_WIDTH)}"
        for currency, amount in data.amounts.items()
    )
    share = data.billable_hours / data.hours if data.hours else 0.0
    cards = [
        ("hours tracked", f"{data.hours:,.1f}"),
        ("billable share", f"{share:.0%}"),
        ("billable amount", amounts or "none"),
        ("time entries", f"{data.entries:,}"),
        ("people", f"{data.people:,}"),
    ]
    charts = []
    for index, (element, fig) in enumerate(figures(data)):
        charts.append(
            '<div class="chart">'
            + pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=index == 0,
                div_id=element,
                config={"displaylogo": False, "responsive": True, "typesetMath": False},
            )
            + "</div>"
        )
    synced = data.last_sync.strftime("%Y-%m-%d %H:%M UTC") if data.last_sync else "never"
    rows = "".join(
        f'<tr><td>{html.escape(plain(table))}</td><td class="n">{count:,}</td></tr>'
        for table, count in data.row_counts.items()
    )
    card_html = "".join(_card(label, value) for label, value in cards)
    heading = html.escape(plain(title))
    body = f"""<body><main>
<h1>{heading}</h1>
<p class="sub">Weeks of {data.first_week.isoformat()} to {data.last_week.isoformat()}
({len(data.weeks)} weeks); last sync {synced}.</p>
{_empty_note(data)}<div class="cards">{card_html}</div>
{"".join(charts)}
<h2>Last sync</h2>
<p>Completed {synced}. Rows per table:</p>
<table><tr><th>table</th><th>rows</th></tr>{rows}</table>
<footer>Made by timetrack from the analytics views; hours are every member's, in each member's
own timezone; a running entry counts up to the sync.</footer>
</main></body></html>
"""
    policy = content_security_policy(body)  # quoted sources and base64: nothing to escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title><style>{_STYLE}</style></head>
{body}"""


def write_report(
    pipeline: Any, out: Path, weeks: int = 12, today: date | None = None
) -> ReportData:
    """Read a pipeline's views and write the page to `out`; the numbers it shows."""
    try:
        with pipeline.sql_client() as client:

            def query(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
                return list(client.execute_sql(sql, *args) or [])

            dataset = str(client.dataset_name)
            data = read_report_data(query, dataset, weeks, today or datetime.now(UTC).date())
    except TimetrackError:
        raise
    except ConfigFieldMissingException as error:
        raise ConfigurationError(f"cannot read the views: {missing_settings(error)}") from None
    except Exception as error:  # the database's own errors: one line, not a traceback
        raise TimetrackError(f"cannot read the views: {one_line(error)}") from None
    try:
        out.write_text(render_html(data, f"Time tracked: {dataset}"), encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot write {out}: {error.strerror}") from None
    return data


def open_pipeline(target: Target, state_dir: str) -> Any:
    """A dlt pipeline that reads the dataset `timetrack run` wrote to `target` (its state in
    `state_dir`: reading changes nothing); a DuckDB file that is not there is an error, not a
    new empty file."""
    if target.kind not in DIALECTS:
        raise ConfigurationError(
            f"the report reads the analytics views, which are built in DuckDB and PostgreSQL "
            f"only, not in {target.kind!r}"
        )
    local = target.kind == "duckdb" and target.location != "duckdb"
    if local and not Path(target.location).exists():
        raise ConfigurationError(
            f"no DuckDB file {target.location}: run `timetrack run` first, or pass the "
            "--duckdb-file (or --destination) it used"
        )
    pipeline = dlt.pipeline(
        pipeline_name=target.pipeline_name,
        destination=target.destination,
        dataset_name=target.dataset,
        pipelines_dir=state_dir,
    )
    return pipeline
