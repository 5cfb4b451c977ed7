"""The page: a section per scope (all workspaces, each organization, each workspace) behind one
selector, its charts drawn by the page's one script from data in the page, under a
Content-Security-Policy that forbids every fetch."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import timedelta
from importlib.resources import files
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from timetrack.answers.report.charts import chart_id, figures
from timetrack.answers.report.data import ReportData
from timetrack.answers.report.names import LABEL_WIDTH, cut, plain
from timetrack.answers.report.summary import Summary, summarise
from timetrack.answers.report.tables import (
    BANDS,
    items_table,
    movers_table,
    people_table,
    weeks_table,
)

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  background: #f6f7f9; color: #1d2329; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px; }
h1 { font-size: 24px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 20px; margin: 28px 0 10px; overflow-wrap: anywhere; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.sub { color: #5a6570; margin: 0 0 14px; }
.picker { margin: 0 0 16px; font-size: 15px; }
.picker select { font-size: 15px; padding: 4px 8px; max-width: 100%; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px;
  margin-bottom: 16px; }
.card { background: white; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0001;
  overflow-wrap: anywhere; }
.card .label { color: #5a6570; font-size: 13px; }
.card .value { font-size: 24px; font-weight: 600; margin-top: 4px; }
.card .value.small { font-size: 16px; line-height: 1.4; }
.card .delta { color: #5a6570; font-size: 13px; margin-top: 4px; }
.chart { background: white; border-radius: 8px; padding: 8px; margin-bottom: 10px;
  box-shadow: 0 1px 2px #0001; }
.tablebar { display: flex; justify-content: space-between; align-items: center; gap: 12px;
  margin: 4px 0; color: #5a6570; font-size: 13px; }
button.csv { font: inherit; padding: 3px 10px; border: 1px solid #9aa4ad; border-radius: 6px;
  background: white; cursor: pointer; }
.scroll { max-height: 520px; overflow: auto; background: white; border-radius: 8px;
  box-shadow: 0 1px 2px #0001; margin-bottom: 18px; }
table { border-collapse: collapse; background: white; font-size: 13px; }
table.data { width: 100%; }
thead th { position: sticky; top: 0; background: #eef1f4; cursor: pointer; z-index: 1;
  white-space: nowrap; }
th[aria-sort=descending]::after { content: " \\25BE"; }
th[aria-sort=ascending]::after { content: " \\25B4"; }
td, th { padding: 3px 8px; text-align: left; border-bottom: 1px solid #eee; }
th.n, td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.name { max-width: 16em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
td.up { color: #1b7a3d; } td.down { color: #b3261e; }
.u0 { background: #f3d1cf; color: #7a1f1a; } .u1 { background: #fbe3c2; }
.u2 { background: #fdf5c9; } .u3 { background: #cdebd3; } .u4 { background: #bcd7f2; }
.un { background: #e6e8ea; }
table.people th.n, table.people td.n { padding: 3px 5px; }
table.people thead th { white-space: normal; font-size: 12px; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 6px; border-radius: 4px; }
.note { background: #fff4d6; border-radius: 8px; padding: 10px 14px; }
footer { color: #5a6570; font-size: 13px; margin-top: 20px; }
"""

_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script", re.IGNORECASE | re.DOTALL)


def content_security_policy(body: str) -> str:
    """The page's policy: no fetch of any kind (`default-src 'none'` covers connections,
    images, fonts, frames and the rest), the page's own inline scripts by their hashes and no
    other (so a script that slipped into the page would not run), inline styles (Plotly sets
    its own), images only from the page itself (`data:`, `blob:`: the toolbar's PNG download),
    no `<base>` and no form."""
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


def empty_note(data: ReportData) -> str:
    """What to do when the period holds no entries; empty when it holds some."""
    if data.entries:
        return ""
    if data.newest_week is None:
        return "no time entries have landed yet"
    weeks = (data.last_week - data.newest_week).days // 7 + 1
    if weeks <= 0:
        return f"no time entries in these weeks; the newest is in the week of {data.newest_week}"
    return (
        f"no time entries in these weeks; the newest is in the week of {data.newest_week} "
        f"(--weeks {weeks} reaches it)"
    )


def _delta(now: float, before: float, unit: str = "") -> str:
    if not before:
        return "nothing in the previous period" if now else "none in the previous period either"
    return f"{(now - before) / before:+.0%} against {before:,.1f}{unit} in the previous period"


def _card(label: str, value: str, delta: str = "") -> str:
    """One figure of the totals; several lines (amounts per currency) in a smaller font."""
    lines = value.split("\n")
    size = " small" if len(lines) > 1 else ""
    shown = "<br>".join(html.escape(line) for line in lines)
    under = f'<div class="delta">{html.escape(delta)}</div>' if delta else ""
    return (
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value{size}">{shown}</div>{under}</div>'
    )


def _cards(summary: Summary) -> str:
    now, before = summary.now, summary.before
    amounts = "\n".join(
        f"{now.amounts.get(c, 0.0):,.2f} {cut(plain(c), LABEL_WIDTH)}" for c in summary.currencies
    )
    before_amounts = "; ".join(
        f"{before.amounts.get(c, 0.0):,.2f} {cut(plain(c), LABEL_WIDTH)}"
        for c in summary.currencies
    )
    over = [p.over_under for p in summary.people if p.over_under is not None]
    under_people = sum(1 for p in summary.people if (p.over_under or 0) < 0)
    cards = [
        _card("hours tracked", f"{now.hours:,.1f}", _delta(now.hours, before.hours, " h")),
        _card(
            "billable share",
            f"{now.share:.0%}",
            f"{before.share:.0%} in the previous period" if before.hours else "",
        ),
        _card(
            "billable amount",
            amounts or "none",
            f"previous period: {before_amounts}" if before_amounts else "",
        ),
        _card("time entries", f"{now.entries:,}", _delta(now.entries, before.entries)),
        _card("people who tracked", f"{len(now.people):,}", f"{len(before.people):,} before"),
        _card(
            "over / under working hours",
            f"{sum(over):+,.1f} h" if over else "not known",
            f"{under_people:,} of {len(summary.people):,} people under" if over else "",
        ),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _legend() -> str:
    labels = {
        "u0": "no hours",
        "u1": f"under {BANDS[1][0]:.0%}",
        "u2": f"{BANDS[1][0]:.0%} to {BANDS[2][0]:.0%}",
        "u3": f"{BANDS[2][0]:.0%} to {BANDS[3][0]:.0%}",
        "u4": f"over {BANDS[3][0]:.0%}",
        "un": "working hours unknown",
    }
    spans = "".join(f'<span class="{css}">{html.escape(t)}</span>' for css, t in labels.items())
    return f'<p class="legend">A week\'s hours against the working hours: {spans}</p>'


def _section(summary: Summary, hidden: bool, plots: dict[str, Any]) -> str:
    """One scope's answers: totals and their change, where the hours went, who is over or
    under, billable hours and amounts over time, what changed most."""
    key = summary.scope.key
    charts = dict(
        (kind, element)
        for kind, element in (
            (k, chart_id(k, summary)) for k in ("weeks", "projects", "clients", "money")
        )
    )
    for element, fig in figures(summary):
        plots[element] = json.loads(pio.to_json(fig, validate=False))
        plots[element]["layout"].pop("template", None)

    def plot(kind: str) -> str:
        return f'<div class="chart"><div class="plot" id="{charts[kind]}"></div></div>'

    period = summary.period
    previous = f"{period.previous[0]} to {period.first - timedelta(days=1)}"
    return f"""<section class="scope" data-scope="{html.escape(key)}"{" hidden" if hidden else ""}>
<h2>{html.escape(plain(summary.scope.name))}</h2>
{_cards(summary)}
<h3>Where the hours went</h3>
{plot("projects")}
{items_table(summary, "projects", f"projects-{key}")}
{plot("clients")}
{items_table(summary, "clients", f"clients-{key}")}
<h3>Who is over or under their working hours</h3>
<p class="sub">Each person's hours in every workspace (from <code>utilisation_by_week</code>)
against five working days a week; everyone active is listed.</p>
{_legend()}
{people_table(summary, f"people-{key}")}
<h3>Hours, billable share and amounts per week</h3>
{plot("weeks")}
{plot("money")}
{weeks_table(summary, f"weeks-{key}")}
<h3>What changed against the previous period ({html.escape(previous)}, same length)</h3>
{movers_table(summary, f"changes-{key}")}
</section>"""


def _plotly_template() -> Any:
    """The default template, once for every chart (each would carry a copy of its own)."""
    return json.loads(pio.to_json(go.Figure()))["layout"]["template"]


def _json_in_script(value: Any) -> str:
    """JSON that cannot end its `<script>` element, nor open markup."""
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_html(data: ReportData) -> str:
    """The whole page, Plotly's script inlined once."""
    scopes = data.scopes()
    plots: dict[str, Any] = {}
    sections = [
        _section(summarise(data, scope), index > 0, plots) for index, scope in enumerate(scopes)
    ]
    picker = ""
    if len(scopes) > 1:
        options = "".join(
            f'<option value="{html.escape(s.key)}">{html.escape(plain(s.name))}</option>'
            for s in scopes
        )
        picker = f'<p class="picker"><label>Show <select id="scope">{options}</select></label></p>'
    synced = data.last_sync.strftime("%Y-%m-%d %H:%M UTC") if data.last_sync else "never"
    rows = "".join(
        f'<tr><td>{html.escape(plain(table))}</td><td class="n">{count:,}</td></tr>'
        for table, count in data.row_counts.items()
    )
    note = empty_note(data)
    note_html = f'<p class="note">{html.escape(note.capitalize())}.</p>' if note else ""
    heading = html.escape(plain(data.title()))
    spaces = ", ".join(plain(n) for _, _, ws in data.organizations for _, n in ws)
    figures_json = _json_in_script({"template": _plotly_template(), "figures": plots})
    script = files("timetrack.answers.report").joinpath("script.js").read_text(encoding="utf-8")
    body = f"""<body><main>
<h1>{heading}</h1>
<p class="sub">{html.escape(data.period.describe())}, against the {len(data.period.weeks)} weeks
before; {html.escape(spaces) or "no workspaces"}; last sync {synced}.</p>
{note_html}{picker}{"".join(sections)}
<h2>Last sync</h2>
<p>Completed {synced}. Rows per table:</p>
<table><tr><th>table</th><th>rows</th></tr>{rows}</table>
<footer>Made by timetrack from the analytics views; hours are every member's, in each member's
own timezone; a running entry counts up to the sync.</footer>
</main>
<script type="application/json" id="figures">{figures_json}</script>
<script>{get_plotlyjs()}</script>
<script>{script}</script>
</body></html>
"""
    policy = content_security_policy(body)  # quoted sources and base64: nothing to escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title><style>{_STYLE}</style></head>
{body}"""
