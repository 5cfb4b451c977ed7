"""The charts of one scope, as Plotly figures. Every name from the data is a `short_label`
where it is drawn and a `hover_label` in its hover box (through `customdata`: a name in a hover
template would be read as one, `%{y}` and all)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative

from timetrack.answers.report.names import hover_label, short_label, unique
from timetrack.answers.report.summary import Item, Summary

COVER = 0.6
"""The ranked projects chart draws the biggest projects until they hold this share of the
hours, so that "other" is a minority..."""
MIN_BARS, MAX_BARS = 10, 60
"""...with at least this many bars (when there are) and at most this many (beyond, bars are too
thin to read; the table holds every project)."""
MAX_CLIENTS = 30

COLOURS = list(qualitative.Plotly)
GREY = "#b0b0b0"
BILLABLE = "#2a9d8f"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def chart_id(kind: str, summary: Summary) -> str:
    """The element a chart is drawn in: `chart-projects` for all workspaces, with the scope's
    key for the others."""
    key = summary.scope.key
    return f"chart-{kind}" if key == "all" else f"chart-{kind}-{key}"


def _layout(fig: go.Figure, title: str, height: int = 400) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 16}},
        height=height,
        margin={"l": 60, "r": 20, "t": 56, "b": 50},
        legend={"orientation": "h", "x": 0, "y": -0.18, "font": {"size": 12}},
        font={"family": FONT, "size": 13},
        plot_bgcolor="white",
        paper_bgcolor="white",
        hoverlabel={"namelength": -1},
    )
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def shown_projects(projects: list[Item]) -> int:
    """How many of the ranked projects the chart draws (see `COVER`)."""
    total = sum(item.now.hours for item in projects)
    active = [item for item in projects if item.now.hours > 0]
    covered, count = 0.0, 0
    for item in active:
        if count >= MAX_BARS or (count >= MIN_BARS and covered >= COVER * total):
            break
        covered += item.now.hours
        count += 1
    return count + 1 if len(active) == count + 1 else count  # never "the other one"


def _ranked(items: list[Item], count: int, with_workspace: bool) -> go.Figure:
    """Horizontal bars, the biggest on top, the previous period's hours as a mark on each bar;
    the rest is said in the title (a bar of it would squash the others)."""
    shown = items[:count]
    repeated = {n for n in (i.name for i in shown) if sum(1 for j in shown if j.name == n) > 1}
    names = [
        f"{item.name} ({item.workspace})" if with_workspace and item.name in repeated else item.name
        for item in shown
    ]
    labels = unique([short_label(name) for name in names])
    hours = [round(item.now.hours, 2) for item in shown]
    before = [round(item.before, 2) for item in shown]
    hovers = [hover_label(name) for name in names]
    fig = go.Figure()
    fig.add_bar(
        name="this period",
        x=hours[::-1],
        y=labels[::-1],
        orientation="h",
        marker_color=COLOURS[0],
        customdata=hovers[::-1],
        hovertemplate="%{customdata}: %{x:,.1f} h<extra></extra>",
    )
    fig.add_scatter(
        name="previous period",
        x=before[::-1],
        y=labels[::-1],
        mode="markers",
        marker={"symbol": "line-ns-open", "size": 14, "color": "#1d2329", "line": {"width": 2}},
        customdata=hovers[::-1],
        hovertemplate="%{customdata}, previous period: %{x:,.1f} h<extra></extra>",
    )
    # A category axis whatever the names: projects named "2024" or "3" stay bars of their own.
    fig.update_yaxes(automargin=True, type="category")
    if not shown:
        fig.add_annotation(
            text="no hours in these weeks",
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            showarrow=False,
            font={"size": 15, "color": "#5a6570"},
        )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    fig.update_xaxes(side="top")
    return fig


def _legend_on_top(fig: go.Figure) -> None:
    """The legend in the title's row, at its right: under it, the hours' axis (at the top of a
    tall chart of bars) has the row to itself."""
    fig.update_layout(
        legend={
            "orientation": "h",
            "yref": "container",
            "y": 0.995,
            "yanchor": "top",
            "x": 1.0,
            "xanchor": "right",
        },
        title={"y": 0.995, "yref": "container", "yanchor": "top", "pad": {"t": 8}},
        margin={"t": 80, "b": 20},
    )


def figures(summary: Summary) -> list[tuple[str, go.Figure]]:
    """The scope's charts, each with the id of the element it is drawn in."""
    period = summary.period
    labels = [period.label(week).replace(" (", "<br>(") for week in period.weeks]
    out: list[tuple[str, go.Figure]] = []

    weekly = go.Figure()
    billable = [summary.weeks[w].billable_hours for w in period.weeks]
    other = [summary.weeks[w].hours - summary.weeks[w].billable_hours for w in period.weeks]
    for name, colour, values in (("billable", BILLABLE, billable), ("non-billable", GREY, other)):
        weekly.add_bar(
            name=name,
            x=labels,
            y=[round(value, 2) for value in values],
            marker_color=colour,
            marker_pattern_shape=["/" if w == period.partial else "" for w in period.weeks],
            hovertemplate="%{x}: %{y:,.1f} h<extra>" + name + "</extra>",
        )
    weekly.add_scatter(
        name="previous period (same week of it)",
        x=labels,
        y=[round(summary.previous_weeks[w].hours, 2) for w in period.previous],
        customdata=[w.isoformat() for w in period.previous],
        mode="lines+markers",
        line={"color": "#1d2329", "dash": "dot"},
        hovertemplate="week of %{customdata}: %{y:,.1f} h<extra>previous period</extra>",
    )
    weekly.update_layout(barmode="stack")
    weekly.update_yaxes(title_text="hours", rangemode="tozero")
    weekly.update_xaxes(type="category", tickangle=0)
    partial = " (the hatched week is still in progress)" if period.partial else ""
    out.append(
        (chart_id("weeks", summary), _layout(weekly, f"Hours per week, billable or not{partial}"))
    )

    count = shown_projects(summary.projects)
    total = summary.now.hours
    covered = sum(item.now.hours for item in summary.projects[:count])
    projects = _ranked(summary.projects, count, with_workspace=True)
    active = sum(1 for item in summary.projects if item.now.hours > 0)
    share = f"{covered / total:.0%}" if total else "0%"
    rest = total - covered
    others = f"; the other {active - count:,}: {rest:,.0f} h" if active > count else ""
    title = f"Projects by hours: the top {count:,} of {active:,} hold {share} of the hours{others}"
    if count == active:
        title = f"Projects by hours: all {active:,}" if active else "Projects by hours"
    _layout(
        projects,
        title,
        height=130 + 20 * max(count, 4),
    )
    _legend_on_top(projects)
    out.append((chart_id("projects", summary), projects))

    named = [item for item in summary.clients if item.client != "(no client)"]
    loose = sum(item.now.hours for item in summary.clients if item.client == "(no client)")
    drawn = min(sum(1 for item in named if item.now.hours > 0), MAX_CLIENTS)
    clients = _ranked(named, drawn, with_workspace=True)
    more = f" (the top {drawn} of {len(named):,})" if len(named) > drawn else ""
    aside = f"; {loose:,.0f} h without a client, not drawn (see the table)" if loose else ""
    _layout(clients, f"Clients by hours{more}{aside}", height=130 + 20 * max(drawn, 4))
    _legend_on_top(clients)
    out.append((chart_id("clients", summary), clients))

    money = go.Figure()
    for n, currency in enumerate(summary.currencies):
        money.add_scatter(
            name=short_label(currency),
            x=labels,
            y=[round(summary.weeks[w].amounts.get(currency, 0.0), 2) for w in period.weeks],
            mode="lines+markers",
            line={"color": COLOURS[n % len(COLOURS)]},
            customdata=[hover_label(currency)] * len(labels),
            hovertemplate="%{x}: %{y:,.2f}<extra>%{customdata}</extra>",
        )
    money.add_scatter(
        name="billable share of hours",
        x=labels,
        y=[round(summary.weeks[w].share * 100, 1) for w in period.weeks],
        yaxis="y2",
        mode="lines",
        line={"color": BILLABLE, "dash": "dash"},
        hovertemplate="%{x}: %{y:.0f}% billable<extra></extra>",
    )
    money.update_layout(
        yaxis={"title": {"text": "billable amount"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "billable share, %"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 100],
            "dtick": 25,
            "showgrid": False,
        },
    )
    money.update_xaxes(type="category", tickangle=0)
    _layout(money, "Billable amount per week, per currency, and the billable share")
    money.update_layout(margin={"r": 60})
    out.append((chart_id("money", summary), money))
    return out
