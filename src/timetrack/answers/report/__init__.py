"""`timetrack report`: one self-contained HTML page of answers, read from the analytics views.

The page works offline: Plotly's script is inlined once, the data sits in the page, nothing is
fetched, and its Content-Security-Policy forbids fetching. It reads the views of
`analytics.py`, dlt's own load table, and the raw tables' organizations and memberships (to
cut the page per organization and workspace).

- `period`: which weeks, the previous period, the week in progress;
- `data`: the queries; `summary`: one scope's sums;
- `names`: names as plain, escaped, cut text; `charts`, `tables`, `page`: the drawing;
- `write`: the pipeline in, the file out.
"""

from timetrack.answers.report.data import ReportData, read_report_data
from timetrack.answers.report.names import hover_label, markup, plain, short_label
from timetrack.answers.report.page import content_security_policy, empty_note, render_html
from timetrack.answers.report.period import Period, choose_period
from timetrack.answers.report.summary import Summary, summarise
from timetrack.answers.report.write import open_pipeline, write_report

__all__ = [
    "Period",
    "ReportData",
    "Summary",
    "choose_period",
    "content_security_policy",
    "empty_note",
    "hover_label",
    "markup",
    "open_pipeline",
    "plain",
    "read_report_data",
    "render_html",
    "short_label",
    "summarise",
    "write_report",
]
