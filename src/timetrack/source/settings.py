"""Constants of the source: URL layouts, retry policy, page sizes and defaults."""

from __future__ import annotations

from typing import Literal

Layout = Literal["envelope", "bare"]
LAYOUTS: tuple[Layout, ...] = ("envelope", "bare")

DEFAULT_BASE_URL = "https://api.example.com"
"""The configuration guide's base URL; point `base_url` at the real service or the emulator."""

PREFIXES: dict[str, str] = {"envelope": "/v1", "bare": "/api/v9"}
REPORT_PATHS: dict[str, str] = {
    "envelope": "/v1/reports/workspace/{workspace_id}/search/time_entries",
    "bare": "/reports/api/v3/workspace/{workspace_id}/search/time_entries",
}

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
"""The guide's 429, 500 and 502-504, and what gateways answer for a moment's trouble: 408 (the
request timed out), 425 (too early) and the 52x of CDNs (the origin slow, down or unreachable)."""
MAX_RETRIES = 3
"""Retries after the first attempt: four attempts in all."""
BACKOFF_FACTOR = 2.0
"""Retry n waits BACKOFF_FACTOR * 2**(n-1) seconds (2, 4, 8) unless Retry-After says otherwise."""
MAX_RETRY_DELAY = 300.0
REQUESTS_PER_SECOND = 1.0
"""The service's sustained rate: pacing at it provokes no 429."""
MAX_QUOTA_WAIT = 300.0
"""Seconds a run may sleep for the hourly quota to reset before it gives up."""
MAX_QUOTA_WAITS = 3
"""Quota waits one request may make: a quota that never resets must not hold a run forever."""
WAIT_FOR_QUOTA_WAITS = 48
"""With wait_for_quota: a day and a half of hourly resets, then the run stops anyway."""
QUOTA_WINDOW_SECONDS = 3600.0
"""The quota's sliding window: a spent quota has reset at the latest this long after."""
MAX_SANE_RESET = 7 * 86400.0
"""A quota reset further away than this (or inf) is no usable time: say "an hour"."""
TIMEOUT = 60.0
"""Seconds to wait for any byte of an answer."""
REQUEST_DEADLINE = 180.0
"""Seconds one attempt may take in all, headers and body: an answer trickling in byte by byte is
cut off."""
MAX_ANSWER_MB = 64.0
"""The largest answer read (sources.timetrack.max_answer_mb): a report page of 1,000 entries is
about 1 MB, and an answer without end must not fill the memory."""
MAX_CLOCK_SKEW = 7 * 86400.0
"""The service's clock (its Date header) is followed only within this distance of this
machine's; beyond it, the header is taken for a gateway's error and this machine's clock is used
(sources.timetrack.max_clock_skew_days)."""
FAILURES_BEFORE_STOP = 3
"""Requests in a row that fail every retry before the run stops sending (the service is down)."""
MAX_PAGES = 10_000
"""A list longer than this many pages is taken for a service that never stops paging."""

PER_PAGE = 200
"""The maximum page size of every paged list: the fewest requests."""
MIN_PER_PAGE = 10
"""The smallest page size a list falls back to when the service refuses larger ones."""

HISTORY_DAYS = 90
"""/me/time_entries serves starts from the day 90 days back; an older start_date is refused
with the earliest day it takes, which the source then uses."""
SINCE_MAX_AGE_DAYS = 89
"""A `since` older than 90 days is refused: past this age the source reloads the window."""
REPORT_HISTORY_START = "2006-01-01"
"""Where the report walk starts by default: entries can be backdated to any day, so the whole
history means from the service's beginning (about twenty 366-day windows, first run only)."""

SINCE_OVERLAP_SECONDS = 300
"""Incremental runs ask `since` the newest change seen minus this: a write that lands while a
run reads is not missed."""
REPORT_TRAILING_DAYS = 30
"""Days of the report search re-read by every incremental run, to catch edits and deletions."""

RECONCILE_HOURS = 24.0
"""Hours between reads of what has no `since` (lists, discovery, statistics) and of the report's
reconciliation: an hourly run then costs a request or so per workspace and table with `since`,
and a deletion or an edit to an old entry still arrives within a day."""
REPORT_FULL_DAYS = 7.0
"""Days between whole re-reads of the report's history: the only way the report search tells
that an entry older than the trailing window was deleted."""
QUOTA_SHARE = 0.5
"""The share of each hourly quota's remaining requests one run may spend: the rest is left to
the user's other tools (the service's most common complaint is integrations that spend it all)."""
CHANGES_OVERLAP_SECONDS = 300
"""The report's changes read asks for entries changed since the last one began, less this: an
edit stamped a little before it shows is not missed."""
