"""The weeks a report covers, the same number of weeks before them, and the week in progress.

A week still running reads as a dip beside full ones, so the default period ends with the last
full week, and a period that reaches today's week marks that week as partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from timetrack.errors import ConfigurationError

WEEK = timedelta(weeks=1)


def monday(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """ISO weeks (their Mondays, oldest first) and the day the report is made."""

    weeks: tuple[date, ...]
    today: date

    @property
    def first(self) -> date:
        """The first week's Monday."""
        return self.weeks[0]

    @property
    def last(self) -> date:
        """The last week's Monday."""
        return self.weeks[-1]

    @property
    def partial(self) -> date | None:
        """Today's week, when the period holds it: it is not over yet."""
        current = monday(self.today)
        return current if current in self.weeks else None

    @property
    def previous(self) -> tuple[date, ...]:
        """As many weeks, just before: what every change is measured against."""
        return tuple(week - len(self.weeks) * WEEK for week in self.weeks)

    def label(self, week: date) -> str:
        """A week as the page names it: its Monday, and "(partial)" for today's."""
        return f"{week.isoformat()} (partial)" if week == self.partial else week.isoformat()

    def describe(self) -> str:
        """The period in words, for a subtitle and the command's output."""
        sunday = self.last + timedelta(days=6)
        end = f"{self.today} (week in progress)" if self.partial else str(sunday)
        return f"{self.first} to {end}, {len(self.weeks)} weeks"


def choose_period(
    today: date, weeks: int = 12, start: date | None = None, end: date | None = None
) -> Period:
    """The weeks of `start` to `end` (their whole ISO weeks), or `weeks` weeks ending with
    `end`'s; without `end`, with the last full week (or today's week, when `start` is given:
    "from then until now")."""
    current = monday(today)
    if start is not None and start > today:
        raise ConfigurationError(f"--from {start} is after today ({today})")
    if start is not None and end is not None and start > end:
        raise ConfigurationError(f"--from {start} is after --to {end}")
    if end is not None:
        last = min(monday(end), current)
    else:
        last = current if start is not None else current - WEEK
    first = monday(start) if start is not None else last - (weeks - 1) * WEEK
    count = (last - first).days // 7 + 1
    return Period(tuple(first + n * WEEK for n in range(count)), today)
