"""What a run costs in requests, by the cadence (`cadence.py`), and the schedule a quota allows:
`timetrack check` prints both for an account, and the benchmark checks them against runs."""

from __future__ import annotations

import math

from timetrack.source import settings

HOURLY_PER_WORKSPACE = 3
"""Requests an unchanged hourly run sends per workspace, in its organization's quota window:
projects and tasks changed `since`, and the report's changes (one page)."""
HOURLY_ME = 1
"""Requests an unchanged hourly run sends to `/me` paths (their own quota window): the owner's
entries changed `since`."""
RECONCILE_PER_WORKSPACE = 10
"""About what the reconciliation adds per workspace: statistics, clients, tags (a page and its
confirmation), workspace users, project users, project groups, an older report window or two
and the trailing window's page."""
RECONCILE_PER_ORGANIZATION = 2
"""About what the reconciliation adds per organization: groups, and users beyond their pages."""

SCHEDULES: tuple[tuple[float, str], ...] = (
    (0.25, "every 15 minutes"),
    (0.5, "every 30 minutes"),
    (1.0, "hourly"),
    (2.0, "every 2 hours"),
    (3.0, "every 3 hours"),
    (6.0, "every 6 hours"),
    (12.0, "every 12 hours"),
    (24.0, "daily"),
)
"""Schedules worth proposing, most frequent first (in hours between runs)."""


def hourly_cost(workspaces: int) -> int:
    """Requests of an unchanged run in an organization's window, for its workspaces."""
    return HOURLY_PER_WORKSPACE * workspaces


def reconciliation_cost(workspaces: int, users: int) -> int:
    """About the requests the reconciliation adds in an organization's window."""
    user_pages = max(1, math.ceil(users / settings.PER_PAGE))  # a page even when empty
    return RECONCILE_PER_WORKSPACE * workspaces + RECONCILE_PER_ORGANIZATION + user_pages


def per_hour(every_hours: float, hourly: int, reconciliation: int, reconcile_hours: float) -> float:
    """Requests an hour spent on average by a schedule of one run every `every_hours`."""
    # Reconciled every run when reconcile_hours is 0 (or less) or more often than runs go.
    return hourly / every_hours + reconciliation / max(reconcile_hours, every_hours)


def schedule(
    quota: int | None,
    hourly: int,
    reconciliation: int,
    *,
    share: float = settings.QUOTA_SHARE,
    reconcile_hours: float = settings.RECONCILE_HOURS,
) -> str | None:
    """The most frequent schedule whose runs spend on average no more than `share` of an hourly
    `quota` (the rest left to other tools), or None when no quota is known. A reconciliation
    larger than a run's share spreads over the runs that follow (each stops at its share)."""
    if not quota:
        return None
    for every, name in SCHEDULES:
        if per_hour(every, hourly, reconciliation, reconcile_hours) <= share * quota:
            return name
    return "less often than daily (or raise the plan)"
