"""The billable rate in force at a moment: what the report search prices an entry at.

A project's rate, else its workspace's default, each as its history says it was when the entry
started: the period that holds the start, or, for a start before the first period, the first
(whose `rate_change_mode` is `override-all`: it applied to everything before it too). A history
whose open period no longer matches its record's current rate (the record was changed through
the admin endpoints, which keep no history) gives way to the record's rate for every entry.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from timetrack.emulator.model import Dataset, Project, Rate, Workspace


@dataclass(frozen=True)
class History:
    """One level's billable rate periods, oldest first."""

    starts: list[float]
    amounts: list[float]

    def at(self, moment: float) -> float:
        """The amount in force at `moment` (the first period's before it began)."""
        index = bisect.bisect_right(self.starts, moment) - 1
        return self.amounts[max(0, index)]


class RateBook:
    """Billable rate histories of projects and workspaces, built once per dataset version."""

    def __init__(self, data: Dataset) -> None:
        periods: dict[tuple[str, int], list[Rate]] = {}
        for rate in data.rates.values():
            if rate.type == "billable_rates" and rate.level in ("project", "workspace"):
                periods.setdefault((rate.level, rate.level_id), []).append(rate)
        self._histories = {
            key: History([r.start for r in found], [r.amount for r in found])
            for key, found in ((k, sorted(v, key=lambda r: r.start)) for k, v in periods.items())
        }
        self.version = data.version

    def _history(self, level: str, level_id: int, current: float | None) -> History | None:
        history = self._histories.get((level, level_id))
        if history is None or current is None or history.amounts[-1] != current:
            return None
        return history

    def cents(self, ws: Workspace, project: Project | None, start: float) -> int:
        """The hourly rate in cents an entry of `project` (or none) started at `start` bills."""
        if project is not None and project.rate is not None:
            history = self._history("project", project.id, project.rate)
            return round((project.rate if history is None else history.at(start)) * 100)
        default = ws.default_hourly_rate_cents / 100
        history = self._history("workspace", ws.id, default)
        return ws.default_hourly_rate_cents if history is None else round(history.at(start) * 100)


def rate_book(data: Dataset) -> RateBook:
    """The dataset's rate book, rebuilt after a change to its small entities."""
    book = data.rate_book
    if not isinstance(book, RateBook) or book.version != data.version:
        book = RateBook(data)
        data.rate_book = book
    return book
