"""The HTTP client: authentication, pacing, retries, quota and errors in one place.

Every request of a run goes through one ApiClient, so pacing is shared by all of them and the
run summary can count requests, retries and waits. A request is one loop around two small
parts, as httpx and singer-sdk split theirs: `_attempt` sends once and reads the whole answer
within a deadline; `classify` turns what came back into a `Decision` (done, retry after N s,
wait for the quota, or this error) without any I/O, so the retry policy is tested without a
server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from timetrack.errors import (
    NO_TOKEN,
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    FeatureNotOnPlanError,
    NotFoundError,
    QuotaExhaustedError,
    RunStopped,
    ServiceError,
    mask_secret,
    printable,
)
from timetrack.hosts import is_loopback
from timetrack.source import settings
from timetrack.source.settings import Layout

Sleep = Callable[[float], None]


def _sleep(seconds: float) -> None:
    """time.sleep, looked up when called (a test may stand in a clock of its own)."""
    time.sleep(seconds)


Shape = Callable[[Any], bool]
"""Whether a payload has the shape an endpoint answers with."""


def is_object(payload: Any) -> bool:
    """A single record."""
    return isinstance(payload, dict)


def is_list_or_null(payload: Any) -> bool:
    """A list, or `null`: the service answers an empty list as `null` (seen for tasks;
    expected anywhere). An object is the wrong shape here, even one holding `data`: read as a
    list, its keys would pass for records and the listing for complete."""
    return payload is None or isinstance(payload, list)


def is_page_or_null(payload: Any) -> bool:
    """A page of a paged list: a list, `null`, or the task list's wrapper around one
    (`{"data": [...], "total_count": ...}`), which `list_payload` takes apart."""
    if isinstance(payload, dict):
        return "data" in payload and is_list_or_null(payload["data"])
    return is_list_or_null(payload)


def is_record_of(fields: Collection[str]) -> Shape:
    """An object carrying at least one of `fields`: an error object or `{}` answered with 200
    is no record, and read as one it would blank the row that landed."""
    wanted = frozenset(fields)

    def fits(payload: Any) -> bool:
        return isinstance(payload, dict) and not wanted.isdisjoint(payload)

    return fits


@dataclass(frozen=True)
class ClientSettings:
    """How the client talks to the service."""

    base_url: str = settings.DEFAULT_BASE_URL
    layout: Layout = "envelope"
    requests_per_second: float = settings.REQUESTS_PER_SECOND
    max_retries: int = settings.MAX_RETRIES
    backoff_factor: float = settings.BACKOFF_FACTOR
    max_retry_delay: float = settings.MAX_RETRY_DELAY
    max_quota_wait: float = settings.MAX_QUOTA_WAIT
    max_quota_waits: int = settings.MAX_QUOTA_WAITS
    """Quota waits one request may make before the run stops for the quota."""
    timeout: float = settings.TIMEOUT
    deadline: float = settings.REQUEST_DEADLINE
    """Seconds one attempt may take in all, however slowly its headers or body trickle in."""
    max_answer_bytes: int = int(settings.MAX_ANSWER_MB * 1024 * 1024)
    max_clock_skew: float = settings.MAX_CLOCK_SKEW
    allow_insecure_http: bool = False
    """Send the token over plain http:// to a host that is not this machine."""
    quota_share: float = 1.0
    """The share of each quota window's remaining requests (as its first answer of the run
    says) the run may spend; the rest is left to the user's other tools."""

    def validate(self) -> None:
        """Refuse settings no run could work with, or that would give the token away."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://: {self.base_url}"
            )
        host = urlsplit(self.base_url).hostname or ""
        if self.base_url.startswith("http://") and not (
            is_loopback(host) or self.allow_insecure_http
        ):
            raise ConfigurationError(
                f"base_url {self.base_url} is plain http:// to another machine: the token would "
                "cross the network in clear; use https://, or --allow-insecure-http "
                "(allow_insecure_http = true) if you must"
            )
        if self.max_answer_bytes <= 0 or self.max_clock_skew < 0:
            raise ConfigurationError("max_answer_mb and max_clock_skew_days must be positive")
        if self.layout not in settings.LAYOUTS:
            raise ConfigurationError(f"layout must be one of {', '.join(settings.LAYOUTS)}")
        if self.requests_per_second < 0 or self.max_retries < 0 or self.backoff_factor < 0:
            raise ConfigurationError("rate, retries and backoff factor must not be negative")


@dataclass
class RequestStats:
    """What a run cost: requests sent, retries, waits, rows extracted per table."""

    requests: int = 0
    retries: int = 0
    waits: list[float] = field(default_factory=list)
    """Every backoff or quota wait, in seconds, in order."""
    pacing_seconds: float = 0.0
    by_status: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    """Records that could not land (no key), per table: kept in `rejected_records`."""
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Parts of the run that failed while the rest loaded (a feature not on the plan)."""
    notes: list[str] = field(default_factory=list)
    """What the user may want to know that is no fault (pacing off for a local server)."""
    quota_stops: dict[str, QuotaExhaustedError] = field(default_factory=dict)
    """Quota windows spent beyond waiting, by key (`me`, `org:ID`): their scopes resume later."""
    deferred: list[str] = field(default_factory=list)
    """Scopes left for the next run because their quota was spent."""
    stop_reason: str | None = None
    """Set (by Ctrl-C, or by the service failing again and again) to stop sending."""
    phase: str = "discovery"
    """What the run is reading now, for its progress line."""
    on_quota_wait: Callable[[float, str], None] | None = field(default=None, repr=False)
    """Told (seconds, quota window) before each quota wait: the run shows its progress."""
    estimate_remaining: Callable[[], int | None] | None = field(default=None, repr=False)
    """Requests the run still needs, about; set by the source."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, message: str) -> None:
        """Note a part that could not load; the run still loads the rest, then fails."""
        with self.lock:
            if message not in self.errors:
                self.errors.append(message)

    def warn(self, message: str) -> None:
        """Note something the user should know, printed with the run summary."""
        with self.lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def note_once(self, message: str) -> None:
        """Note something the user may want to know that is no fault, once."""
        with self.lock:
            if message not in self.notes:
                self.notes.append(message)

    def defer(self, scope: str) -> None:
        """Note a scope left for the next run (its quota is spent)."""
        with self.lock:
            if scope not in self.deferred:
                self.deferred.append(scope)

    def stop(self, reason: str) -> None:
        """Ask every request from now on to stop the run instead of being sent."""
        with self.lock:
            self.stop_reason = self.stop_reason or reason

    def count(self, status: str) -> None:
        """Count one attempt and its outcome."""
        with self.lock:
            self.requests += 1
            self.by_status[status] += 1

    def add_rows(self, table: str, n: int) -> None:
        """Count rows handed to dlt."""
        with self.lock:
            self.rows[table] += n

    def reject(self, table: str, n: int = 1) -> None:
        """Count records that could not land."""
        with self.lock:
            self.rejected[table] += n


class Pacer:
    """Spaces requests evenly at a rate shared by every thread of a run (0: no pacing).

    Requests leave a little slower than the rate: what the service's leaky bucket sees is
    arrival times, and network jitter of a few milliseconds would otherwise tip it over.
    """

    MARGIN = 1.05

    def __init__(self, rate: float, sleep: Sleep | None = None) -> None:
        self.interval = self.MARGIN / rate if rate > 0 else 0.0
        self._sleep = sleep or _sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until this request's slot; returns the seconds waited."""
        if self.interval == 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


# --- the retry policy, free of I/O ------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """The answer is good: its parsed JSON body (None when empty)."""

    body: Any


@dataclass(frozen=True)
class Retry:
    """Try again after a backoff, or after `after` seconds when the service said so."""

    reason: str
    after: float | None = None


@dataclass(frozen=True)
class WaitForQuota:
    """The hourly quota is spent; it resets in `seconds` (inf: the service did not say)."""

    seconds: float


@dataclass(frozen=True)
class Fail:
    """Give up on this request with this error."""

    error: ApiError


Decision = Done | Retry | WaitForQuota | Fail


def header(headers: Mapping[str, str], suffix: str) -> str | None:
    """A header by the end of its name: the service prefixes quota headers with its brand."""
    suffix = suffix.lower()
    for name, value in headers.items():
        if name.lower().endswith(suffix):
            return value
    return None


def as_int(value: str | None) -> int | None:
    """A header's whole number, or None when absent or not one (a gateway's garbage)."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def delay_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a header holding either seconds or an HTTP date (Retry-After's
    two forms); None when absent or unreadable, inf when it names no finite time."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isnan(seconds):
            return None
        return max(0.0, seconds)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # asctime and "-0000" dates are UTC by definition
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def parse_json(content: bytes) -> Any:
    """A JSON body; raises ValueError when it is none. orjson refuses what the JSON grammar
    allows but Python cannot hold as is: a lone surrogate escape (`"\\ud83d"`) or a number
    beyond a double (`1e400`). One such field must not make a whole page unreadable, so those
    bodies are read again by the standard parser, lone surrogates replaced by U+FFFD and
    infinite numbers kept as their text (a column of another type then keeps it raw)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    text = content.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return _repaired(json.loads(text, parse_float=_finite_or_text, parse_constant=str))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite_or_text(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _repaired(value: Any) -> Any:
    """`value` with every string (keys too) made encodable as UTF-8."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)  # pairs were joined by the parser
    if isinstance(value, list):
        return [_repaired(item) for item in value]
    if isinstance(value, dict):
        return {_repaired(key): _repaired(item) for key, item in value.items()}
    return value


def message_of(content: bytes, reason: str, status: int) -> str:
    """The service's error text: a JSON string body, or the raw text, on one short line."""
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = content.decode("utf-8", "replace")
    text = body if isinstance(body, str) else str(body)
    text = " ".join(text.split())
    return text[:200] or reason or str(status)


def classify(
    method: str,
    where: str,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    now: datetime | None = None,
) -> Decision:
    """What to do with one answer of the service; `now` is the service's clock, which a
    Retry-After date is read against."""
    if 200 <= status < 300:
        if not content.strip():
            # Every read answers JSON, `null` included: an empty body is a broken answer (a
            # proxy's, or a 204), and taken for `null` it would pass for an empty list.
            return Retry("an empty body")
        try:
            return Done(parse_json(content))
        except ValueError:
            return Retry("a truncated or non-JSON body")
    if status in settings.RETRY_STATUSES:
        return Retry(f"HTTP {status}", delay_seconds(headers.get("Retry-After"), now))
    if status in (301, 302, 303, 307, 308) and headers.get("Location"):
        # Redirects are not followed: requests would drop the token on the way to another
        # host, and the refusal there would read as a rejected token.
        location = printable(str(headers.get("Location")))[:200]
        return Fail(
            ApiError(
                f"{method} {where} was redirected (HTTP {status}) to {location}: base_url must "
                "be the service's own address (set it to where this points, if that is the "
                "service)",
                status,
            )
        )
    message = message_of(content, "", status)
    if status == 402:
        resets = delay_seconds(header(headers, "quota-resets-in"))
        if resets is None and header(headers, "quota-remaining") is None:
            # No quota headers at all: a feature the plan lacks, never retried.
            return Fail(
                FeatureNotOnPlanError(
                    f"{method} {where}: not included in the organization's plan (402: {message})",
                    402,
                )
            )
        # A quota answer whose reset time is missing or unreadable: the window slides over
        # an hour, so an hour from now it has reset whatever the header would have said.
        return WaitForQuota(settings.QUOTA_WINDOW_SECONDS if resets is None else resets)
    if status == 401 or (status == 403 and "password" in message.lower()):
        return Fail(
            AuthenticationError(
                "the API token was rejected: check SOURCES__TIMETRACK__API_TOKEN "
                f"(HTTP {status}: {message if status == 403 else 'no credentials'})",
                status,
            )
        )
    if status == 403:
        return Fail(AccessDeniedError(f"{method} {where}: no access ({message})", status))
    if status == 404:
        return Fail(NotFoundError(f"{method} {where}: not found ({message})", status))
    return Fail(ApiError(f"{method} {where} failed with HTTP {status}: {message}", status))


def backoff(attempt: int, factor: float, retry_after: float | None, cap: float) -> float:
    """Seconds before retry `attempt` (1, 2, ...): factor * 2**(attempt-1), or what the service
    asked for, never more than `cap`."""
    delay = factor * 2 ** (attempt - 1) if retry_after is None else retry_after
    return min(delay, cap)


def quota_message(where: str, seconds: float, now: datetime) -> QuotaExhaustedError:
    """The error that stops the run for the hourly quota, saying when to run again."""
    if not math.isfinite(seconds) or seconds > settings.MAX_SANE_RESET:
        return QuotaExhaustedError(
            f"the hourly API quota is spent ({where}) and the service gave no usable reset "
            "time: run again in an hour",
            3600,
        )
    at = now + timedelta(seconds=seconds)
    return QuotaExhaustedError(
        f"the hourly API quota is spent ({where}); it resets in {math.ceil(seconds / 60)} min: "
        f"run again after {at:%H:%M} UTC",
        math.ceil(seconds),
    )


# --- the transport --------------------------------------------------------------------------


class _TransportFailure(Exception):
    """One attempt got no complete answer: refused, reset, timed out, cut short."""

    def __init__(self, reason: str, never_connected: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.never_connected = never_connected


class _TooLarge(Exception):
    """An answer larger than max_answer_bytes: never retried, the same answer would come."""


class _Attempt:
    """What one attempt is using, for the watchdog that ends it at its deadline: the
    connection (known once the pool hands it out, before any header) and then the response."""

    def __init__(self) -> None:
        self.connection: Any = None
        self.response: requests.Response | None = None


_attempts = threading.local()
"""The attempt the current thread is making: the pools below tell it their connection."""


class _WatchedHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        attempt = getattr(_attempts, "current", None)
        if attempt is not None:
            attempt.connection = connection
        return connection


class _WatchedHTTPSPool(_WatchedHTTPPool, HTTPSConnectionPool):
    """The same for https: its `_get_conn` is the one above."""


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose pools tell the current attempt their connection: the read
    timeout restarts with every byte, so headers trickled in one byte at a time would never
    time out; the watchdog shuts that connection's socket instead."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def _expire(attempt: _Attempt, late: threading.Event) -> None:
    """The attempt's deadline passed: shut whatever it is blocked reading."""
    if attempt.response is not None:
        _cut_off(attempt.response, late)
        return
    late.set()
    with contextlib.suppress(OSError):
        _shut(getattr(attempt.connection, "sock", None))


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    content: bytes
    reason: str


def _cut_off(response: requests.Response, late: threading.Event) -> None:
    """Shut the socket under a response still being read, so the blocked read ends."""
    late.set()
    connection = getattr(response.raw, "connection", None) or getattr(
        response.raw, "_connection", None
    )
    sock = getattr(connection, "sock", None)
    try:
        if sock is not None:
            _shut(sock)
        else:
            # An answer with `Connection: close` has let go of its connection's socket; the
            # body's file still reads from it: shut it through the file's descriptor.
            _shut_descriptor(response.raw._fp.fp.fileno())
    except (OSError, AttributeError, ValueError):
        pass
    with contextlib.suppress(OSError):
        response.close()


def _shut(sock: socket.socket | None) -> None:
    """Shut a socket both ways, so a read blocked on it ends; None: nothing to shut."""
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)


def _shut_descriptor(fd: int) -> None:
    """Shut down the socket behind a file descriptor (shutdown acts on the connection, so a
    duplicate of the descriptor reaches the reader blocked on the original)."""
    duplicate = socket.socket(fileno=os.dup(fd))
    try:
        _shut(duplicate)
    finally:
        duplicate.close()


def _never_connected(error: BaseException) -> bool:
    """Whether the connection was never made (refused, unknown host), unlike a dropped one."""
    pending: list[BaseException] = [error]
    visited: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return False


_QUOTA_SCOPE = re.compile(r"^/(organizations|workspaces)/(\d+)")
_REPORT_SCOPE = re.compile(r"/workspace/(\d+)/search/")


class ApiClient:
    """Talks to one service with one token; the token never leaves the session's auth."""

    def __init__(
        self,
        api_token: str,
        config: ClientSettings,
        *,
        sleep: Sleep | None = None,
        stats: RequestStats | None = None,
    ) -> None:
        if not api_token or not api_token.strip():
            raise ConfigurationError(NO_TOKEN)
        config.validate()
        self.config = config
        self.stats = stats if stats is not None else RequestStats()
        self.organization_of: dict[int, int] = {}
        """Workspace id -> organization id, filled by discovery: the quota is per organization."""
        self._failures_in_a_row = 0
        self._sleep = sleep or _sleep
        self._pacer = Pacer(config.requests_per_second, sleep)
        self._base = config.base_url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (api_token.strip(), "api_token")
        token = api_token.strip()
        self.token_fingerprint = hashlib.sha256(f"timetrack:{token}".encode()).hexdigest()[:16]
        """Tells one token from another in state, without keeping the token."""
        basic = base64.b64encode(f"{token}:api_token".encode()).decode()
        # How an error body may echo the token: as sent, in the Authorization header, quoted.
        self._echoes: dict[str, str] = {}
        if len(token) >= 6:  # a shorter one would mask every word it is part of
            self._echoes = {token: mask_secret(token), basic: mask_secret(basic)}
            self._echoes.setdefault(quote(token, safe=""), mask_secret(token))
        adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._clock_offset: float | None = None
        self._skew_warned = False
        self._share_lock = threading.Lock()
        self._spent: dict[str, int] = {}
        """Requests answered in each quota window this run (`me`, `org:ID`)."""
        self._allowed: dict[str, int] = {}
        """Requests this run may spend in each quota window: its share of what was left."""
        self._session.headers["User-Agent"] = "timetrack (dlt source)"
        self._session.headers["Accept"] = "application/json"

    # --- what resources call ------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The URL of an API path in the configured layout."""
        return self._base + settings.PREFIXES[self.config.layout] + path

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, shape: Shape | None = None
    ) -> Any:
        """GET an API path; returns the payload with the layout's envelope removed. With
        `shape`, an answer whose payload fails it is retried like a broken one, then fails."""
        body, _ = self.request("GET", self.url(path), params=params, shape=shape)
        return self.unwrap(body)

    def unwrap(self, body: Any) -> Any:
        """The payload inside the envelope layout's `{"data": ...}`."""
        if self.config.layout == "envelope" and isinstance(body, dict) and "data" in body:
            return body["data"]
        return body

    def _fits(self, body: Any, shape: Shape) -> bool:
        if self.config.layout == "envelope" and not (isinstance(body, dict) and "data" in body):
            return False  # an envelope without its data says nothing, not "nothing"
        return shape(self.unwrap(body))

    def report(self, workspace_id: int, body: Mapping[str, Any]) -> tuple[Any, Mapping[str, str]]:
        """One page of the report search: its rows (a list, or None for a `null` answer) and
        the response headers."""
        path = settings.REPORT_PATHS[self.config.layout].format(workspace_id=workspace_id)
        payload, headers = self.request(
            "POST", self._base + path, json=dict(body), shape=is_list_or_null
        )
        return self.unwrap(payload), headers

    def server_now(self) -> datetime:
        """The service's current time, from the Date header of its answers (asking /me once
        if nothing was asked yet): history windows follow the service's clock, not ours."""
        if self._clock_offset is None:
            self.get("/me")
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset or 0.0)

    def _now(self) -> datetime:
        """The service's clock as last seen in a Date header (ours until one was seen)."""
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset or 0.0)

    def now(self) -> datetime:
        """The service's clock as last seen in a Date header (ours until one was seen),
        without asking anything."""
        return self._now()

    @property
    def clock_known(self) -> bool:
        """Whether an answer of this run told the service's clock."""
        return self._clock_offset is not None

    def _note_share(self, key: str | None, headers: Mapping[str, str]) -> None:
        """Count an answered request against its window's share; the window's first answer
        says how many were left, and so how many this run may spend."""
        if key is None or self.config.quota_share >= 1:
            return
        with self._share_lock:
            self._spent[key] = self._spent.get(key, 0) + 1
            if key in self._allowed:
                return
            remaining = as_int(header(headers, "quota-remaining"))
            if remaining is not None:
                # What was left before this run's first request in the window, shared; at
                # least that first request, already spent.
                self._allowed[key] = max(
                    self._spent[key], math.floor(self.config.quota_share * (remaining + 1))
                )

    def stop(self, reason: str) -> None:
        """Send nothing more: every later request raises RunStopped with this reason."""
        self.stats.stop(reason)

    def quota_key(self, url: str) -> str | None:
        """The quota window a URL counts against: `me`, `org:ID`, or None when unknown."""
        path = url.removeprefix(self._base)
        prefix = settings.PREFIXES[self.config.layout]
        if path.startswith(prefix + "/me"):
            return "me"
        found = _QUOTA_SCOPE.match(path.removeprefix(prefix))
        if found and found.group(1) == "organizations":
            return f"org:{found.group(2)}"
        report = _REPORT_SCOPE.search(path)
        workspace = int(found.group(2)) if found else int(report.group(1)) if report else None
        if workspace is not None and workspace in self.organization_of:
            return f"org:{self.organization_of[workspace]}"
        return None

    # --- the one place requests are sent -------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        shape: Shape | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """Send with pacing and retries; returns the parsed JSON body and the headers."""
        where = url.removeprefix(self._base)
        key = self.quota_key(url)
        attempt = 0
        quota_waits = 0
        while True:
            self._check_go_on(key)
            waited = self._pacer.wait()  # not under the stats' lock: other threads count meanwhile
            with self.stats.lock:
                self.stats.pacing_seconds += waited
            try:
                answer = self._attempt(method, url, params, json)
            except _TooLarge:
                self.stats.count("too large")
                cap = self.config.max_answer_bytes / 1024 / 1024
                raise ServiceError(
                    f"{method} {where}: the answer is larger than {cap:g} MB and was not read; "
                    "if it is genuine, raise the cap (--max-answer-mb, or max_answer_mb under "
                    "[sources.timetrack])"
                ) from None
            except _TransportFailure as failure:
                self.stats.count("connection error")
                if attempt == 0 and failure.never_connected:
                    raise ConnectionFailedError(
                        f"cannot reach {self._base}: check base_url and the network"
                    ) from None
                decision: Decision = Retry(failure.reason)
                status: int | None = None
            else:
                status = answer.status
                self.stats.count(str(answer.status))
                self._note_clock(answer.headers)
                if 200 <= answer.status < 300:  # a refusal (402, 429) spends nothing
                    self._note_share(key, answer.headers)
                decision = classify(
                    method, where, answer.status, answer.headers, answer.content, self._now()
                )
                if isinstance(decision, Done) and shape and not self._fits(decision.body, shape):
                    decision = Retry("an answer of the wrong shape")
            if isinstance(decision, Done):
                self._failures_in_a_row = 0
                return decision.body, answer.headers
            if isinstance(decision, Fail):
                raise self._masked(self._explain(decision.error, url))
            if isinstance(decision, WaitForQuota):
                wait = decision.seconds + 1  # the reset is counted in whole seconds
                if wait <= self.config.max_quota_wait and quota_waits < self.config.max_quota_waits:
                    quota_waits += 1
                    if self.stats.on_quota_wait is not None:
                        self.stats.on_quota_wait(wait, key or where)
                    self._wait(wait)
                    continue
                error = quota_message(where, decision.seconds, datetime.now(UTC))
                if key is not None:
                    with self.stats.lock:
                        self.stats.quota_stops.setdefault(key, error)
                raise error
            if attempt >= self.config.max_retries:
                self._failures_in_a_row += 1
                if self._failures_in_a_row >= settings.FAILURES_BEFORE_STOP:
                    self.stop("the service failed every retry of several requests in a row")
                raise ServiceError(
                    f"{method} {where} failed {attempt + 1} times, last with {decision.reason}; "
                    "the service may be down: try again later",
                    status,  # the last answer's, None when the connection failed
                )
            attempt += 1
            with self.stats.lock:
                self.stats.retries += 1
            self._wait(
                backoff(
                    attempt, self.config.backoff_factor, decision.after, self.config.max_retry_delay
                )
            )

    def _check_go_on(self, key: str | None) -> None:
        if self.stats.stop_reason is not None:
            raise RunStopped(self.stats.stop_reason)
        spent = self.stats.quota_stops.get(key) if key is not None else None
        if spent is not None:  # known spent: asking again would only cost another refusal
            raise spent
        if key is not None and self.config.quota_share < 1:
            with self._share_lock:
                allowed = self._allowed.get(key)
                used = self._spent.get(key, 0)
            if allowed is not None and used >= allowed:
                share = self.config.quota_share
                error = QuotaExhaustedError(
                    f"this run spent its share of the hourly quota ({key}: {used} requests, "
                    f"{share:.0%} of what was left; quota_share sets it): what it read is "
                    "saved, and the next run goes on from there",
                    0,
                )
                with self.stats.lock:
                    self.stats.quota_stops.setdefault(key, error)
                raise error

    def _attempt(
        self, method: str, url: str, params: Mapping[str, Any] | None, json: Any
    ) -> _Answer:
        """Send once and read the whole answer, headers and body, before the deadline and
        within the size cap; raises _TransportFailure, or _TooLarge."""
        late = threading.Event()
        attempt = _Attempt()
        # The read timeout restarts with every byte: a watchdog shuts the socket when the whole
        # attempt, headers included, outlives its deadline.
        watchdog = threading.Timer(self.config.deadline, _expire, (attempt, late))
        watchdog.daemon = True
        _attempts.current = attempt
        watchdog.start()
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json,
                timeout=(min(10.0, self.config.timeout), self.config.timeout),
                stream=True,
                allow_redirects=False,
            )
            attempt.response = response
            with response:
                content = self._read(response)
            if late.is_set():
                raise _TransportFailure(f"an answer slower than {self.config.deadline:g} s", False)
            return _Answer(response.status_code, response.headers, content, response.reason)
        except requests.RequestException as error:
            if late.is_set():
                raise _TransportFailure(
                    f"an answer slower than {self.config.deadline:g} s", False
                ) from None
            # Refused, reset, timed out, or a body shorter than its Content-Length.
            raise _TransportFailure(type(error).__name__, _never_connected(error)) from None
        finally:
            watchdog.cancel()
            _attempts.current = None

    def _read(self, response: requests.Response) -> bytes:
        """The body, stopping as soon as it is larger than the cap (a Content-Length over it
        is not read at all)."""
        cap = self.config.max_answer_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge(int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > cap:
                raise _TooLarge(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _explain(self, error: ApiError, url: str) -> ApiError:
        """Add the URL asked for to a 'not found', and hint at a doubled path prefix."""
        if isinstance(error, NotFoundError):
            prefix = settings.PREFIXES[self.config.layout]
            hint = ""
            if self._base.endswith(prefix) or self._base.endswith("/api"):
                hint = f"; base_url should be the service's root, without {prefix}"
            return NotFoundError(f"{error} at {url.split('?')[0]}{hint}", error.status)
        return error

    def _masked(self, error: ApiError) -> ApiError:
        """The error with the token masked wherever the service's text echoed it."""
        text = str(error)
        for secret, shown in self._echoes.items():
            text = text.replace(secret, shown)
        error.args = (text,)  # ApiError keeps its status apart: the message is its one arg
        return error

    def _wait(self, seconds: float) -> None:
        with self.stats.lock:
            self.stats.waits.append(seconds)
        self._sleep(seconds)

    def _note_clock(self, headers: Mapping[str, str]) -> None:
        value = headers.get("Date")
        if not value:
            return
        try:
            served = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        if served.tzinfo is None:
            served = served.replace(tzinfo=UTC)
        offset = (served - datetime.now(UTC)).total_seconds()
        if abs(offset) > self.config.max_clock_skew:
            # A Date this far from ours is a gateway's or a broken clock's: followed, a cursor
            # would run ahead of every later change (or past the calendar's end).
            if not self._skew_warned:
                self._skew_warned = True
                self.stats.warn(
                    f"the service's clock (Date: {value[:40]}) is {abs(offset) / 86400:,.1f} "
                    "days from this machine's: this machine's clock is used instead"
                )
            self._clock_offset = 0.0
            return
        # Date has whole seconds: ignore sub-second noise so the clock does not jitter.
        self._clock_offset = offset if abs(offset) > 2 else 0.0


def pages_of(
    client: ApiClient,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    first_page: int = 1,
    per_page: int = settings.PER_PAGE,
) -> Iterator[tuple[int, list[Any] | None]]:
    """(page number, items) of every page of a paged list from `first_page`; items None for
    a `null` answer. Raises ServiceError for a page of the wrong shape or a service that answers
    a page it answered before (it ignores `page`, or cycles).

    A list ends only when the service says so or one page more proves it:
    - an empty page ends it;
    - a full page never does, whatever a total says (a wrong `total_count` once cut the task
      list to 203 of 445);
    - a short page ends it when the service's count of records (`total_count`, `X-Records`)
      is reached; without a count, the next page is asked for: a gateway that caps `per_page`
      below what was asked (50 for 200) answers pages that are all short, and taking the first
      for the end lost and then deleted rows. This costs one request per list whose last page
      is neither empty nor counted (an unchanged `since` read answers an empty page: free).
    A 400 that names the page size (a gateway's or a service's smaller maximum) makes the list
    go on with half the size, down to 10."""
    page = first_page
    answered: set[bytes] = set()
    read = (first_page - 1) * per_page  # a resumed list: every page before it was full
    confirming = False
    while True:
        where = f"GET {path} page {page}"
        try:
            body, headers = client.request(
                "GET",
                client.url(path),
                params={**(params or {}), "page": page, "per_page": per_page},
                shape=is_page_or_null,
            )
        except ApiError as error:
            smaller = _smaller_page(error, per_page)
            if smaller is None:
                raise
            # Every page before this one was full: the same records sit at page*old/new.
            page = (page - 1) * per_page // smaller + 1
            per_page = smaller
            continue
        payload = client.unwrap(body)
        items = list_payload(payload)
        if items:
            fingerprint = _fingerprint(items)
            if fingerprint in answered:
                if confirming:
                    # Past its end a service may answer the last page again rather than an
                    # empty one (which it does is not documented): either ends the list.
                    return
                # Checked before the page is handed on: a caller saving "page N done" must not.
                raise ServiceError(
                    f"{where}: the service answered a page it had answered before (it ignores "
                    "`page`, or its pages cycle); stopped instead of looping"
                )
            answered.add(fingerprint)
        count = len(items or [])
        read += count
        if count == 0 and confirming:
            return  # the page asked to prove the end is empty: nothing of it to hand on
        yield page, items
        if count == 0 or count > per_page:
            return  # empty, or the service sent the whole list at once
        total = _total(body, headers, items)
        if count < per_page:
            if total is not None and read >= total:
                return
            confirming = total is None
        if page - first_page >= settings.MAX_PAGES:
            raise ServiceError(f"{where}: more than {settings.MAX_PAGES} pages; stopped")
        page += 1


def page_size_refused(error: ApiError) -> bool:
    """Whether a 400 says the page size asked for was refused (a list's `per_page`, the
    report's `page_size`): the size is ours to guess where the reference names no maximum."""
    text = str(error).lower()
    return error.status == 400 and any(w in text for w in ("per_page", "page size", "page_size"))


def _smaller_page(error: ApiError, per_page: int) -> int | None:
    """Half the page size, when a 400 says the page size was refused; else None."""
    if not page_size_refused(error):
        return None
    smaller = per_page // 2
    return smaller if smaller >= settings.MIN_PER_PAGE else None


def _total(body: Any, headers: Mapping[str, str], items: list[Any] | None) -> int | None:
    """How many records the whole list holds, where the service says: the task list's
    `total_count` (in its own wrapper, which the envelope layout does not add to), the
    `X-Records` header (organization users), or `total_count` in each record (projects, per
    the reference). None when it does not say, or says nonsense."""
    candidates: list[Any] = []
    if isinstance(body, dict):
        candidates.append(body.get("total_count"))
    candidates.append(header(headers, "x-records"))
    if items and isinstance(items[0], dict):
        candidates.append(items[0].get("total_count"))
    for value in candidates:
        try:
            total = int(value)
        except (TypeError, ValueError):
            continue
        if total >= 0:
            return total
    return None


def _fingerprint(items: list[Any]) -> bytes:
    """A page's digest; repr, not JSON, since the standard parser may have read integers
    beyond what orjson writes."""
    return hashlib.blake2b(repr(items).encode()).digest()


def list_payload(payload: Any) -> list[Any] | None:
    """The items of a list answer (None for `null`), out of the task list's wrapper if it has
    one; the payload has passed `is_page_or_null`. The wrapper's `total_count` is read apart
    (`_total`), and only ever to end a list that a short page already suggests has ended."""
    items: list[Any] | None = payload.get("data") if isinstance(payload, dict) else payload
    return items  # a dict: the task list keeps its own wrapper
