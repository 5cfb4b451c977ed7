"""Names from the data as text: for Plotly's labels (which read a subset of HTML), for HTML
tables and for CSV cells.

Anyone who can name a project names a label on the page, so every name is cleared of control
and bidirectional-override characters, escaped for where it goes, and cut short where space
is short (whole on hover and in the tables).
"""

from __future__ import annotations

import html
import textwrap
import unicodedata

from timetrack.errors import printable

LABEL_WIDTH = 40
"""Columns of a name on an axis or in a legend (a wide character counts two): beyond, it is cut
with an ellipsis, so that no name can squeeze the plot area."""
HOVER_LINE = 60
HOVER_MAX = 600
"""A name on hover: whole up to this many columns, in lines of `HOVER_LINE` characters."""


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


def text(name: str) -> str:
    """A name for an HTML page's text or attribute: plain, then escaped (quotes too)."""
    return html.escape(plain(name) or "(no name)", quote=True)


def _columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cut(text: str, width: int) -> str:
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
    return markup(cut(plain(name) or "(no name)", width))


def hover_label(name: str) -> str:
    """A name whole (up to `HOVER_MAX` columns) for a hover box, in Plotly's markup, in
    lines of `HOVER_LINE` so that the box stays on the page."""
    whole = cut(plain(name) or "(no name)", HOVER_MAX)
    return "<br>".join(markup(line) for line in textwrap.wrap(whole, HOVER_LINE))


def unique(labels: list[str]) -> list[str]:
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
