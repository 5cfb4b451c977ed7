"""When a run reads what has no `since`: lists, discovery and the report's reconciliation are
read on a cadence (by default once a day), so that an hourly run spends its few requests on
what changed.

Each (part, scope) remembers, in the source's state, the service's time of its last complete
read; it is due again when the cadence has passed, when something else showed it changed (a
`flag`, for example an entry naming a tag the tags table lacks), or always with a cadence of
0. A read that did not complete (the quota, an error) leaves the time as it was, so the next run
reads it again. Times are the service's clock, never this machine's: the emulator's clock, moved
an hour between runs, makes a simulated day.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SLACK_SECONDS = 600.0
"""A part is due this long before its cadence has fully passed: an hourly schedule drifts by
seconds, and a daily cadence must not slip to the 25th run for want of a few of them."""


class Cadence:
    """Which parts of a run are due; backed by a dict in the source's state."""

    def __init__(
        self,
        state: Callable[[], dict[str, Any]],
        now: Callable[[], float],
        every: dict[str, float],
    ) -> None:
        self._state = state
        self._now = now
        self.every = every
        """Seconds between reads, by part (`lists`, `report_reconcile`, `report_full`); 0 means
        every run."""

    def _book(self) -> dict[str, Any]:
        book: dict[str, Any] = self._state().setdefault("cadence", {})
        book.setdefault("read", {})
        book.setdefault("due", {})
        return book

    def due(self, part: str, scope: str, cadence: str = "lists") -> bool:
        """Whether `part` of `scope` is read in this run."""
        every = self.every.get(cadence, 0.0)
        book = self._book()
        last = book["read"].get(part, {}).get(scope)
        if every <= 0 or last is None or scope in book["due"].get(part, ()):
            return True
        return bool(self._now() - float(last) >= every - SLACK_SECONDS)

    def done(self, part: str, scope: str, at: float | None = None) -> None:
        """Note a complete read of `part` of `scope`, begun at `at` (default: now)."""
        book = self._book()
        book["read"].setdefault(part, {})[scope] = self._now() if at is None else at
        flagged = book["due"].get(part)
        if flagged and scope in flagged:
            flagged.remove(scope)

    def flag(self, part: str, scope: str) -> None:
        """Make `part` of `scope` due in the next run whatever its cadence: something else
        showed that it changed."""
        flagged: list[str] = self._book()["due"].setdefault(part, [])
        if scope not in flagged:
            flagged.append(scope)

    def last(self, part: str, scope: str) -> float | None:
        """The service's time of the last complete read, if any."""
        value = self._book()["read"].get(part, {}).get(scope)
        return None if value is None else float(value)
