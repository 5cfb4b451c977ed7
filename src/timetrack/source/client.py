"""The HTTP client: authentication, pacing, retries, quota and errors in one place.

Every request of a run goes through one ApiClient, so pacing is shared by all of them and the
run summary can count requests, retries and waits.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from timetrack.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    FeatureNotOnPlanError,
    NotFoundError,
    QuotaExhaustedError,
    ServiceError,
)
from timetrack.source import settings
from timetrack.source.settings import Layout

Sleep = Callable[[float], None]


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
    timeout: float = settings.TIMEOUT

    def validate(self) -> None:
        """Refuse settings no run could work with."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://: {self.base_url}"
            )
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
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Parts of the run that failed while the rest loaded (a feature not on the plan)."""
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

    def count(self, status: str) -> None:
        """Count one attempt and its outcome."""
        with self.lock:
            self.requests += 1
            self.by_status[status] += 1

    def add_rows(self, table: str, n: int) -> None:
        """Count rows handed to dlt."""
        with self.lock:
            self.rows[table] += n


class Pacer:
    """Spaces requests evenly at a rate shared by every thread of a run (0: no pacing).

    Requests leave a little slower than the rate: what the service's leaky bucket sees is
    arrival times, and network jitter of a few milliseconds would otherwise tip it over.
    """

    MARGIN = 1.05

    def __init__(self, rate: float, sleep: Sleep = time.sleep) -> None:
        self.interval = self.MARGIN / rate if rate > 0 else 0.0
        self._sleep = sleep
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


def _header(headers: Mapping[str, str], suffix: str) -> str | None:
    """A header by the end of its name: the service prefixes quota headers with its brand."""
    for name, value in headers.items():
        if name.lower().endswith(suffix):
            return value
    return None


def _seconds(value: str | None) -> float | None:
    """A header holding seconds; None when absent or not a number."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # asctime and "-0000" dates are UTC by definition
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _never_connected(error: Exception) -> bool:
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


def _message(response: requests.Response) -> str:
    """The service's error text: a JSON string body, or the raw text, shortened."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = response.text
    text = body if isinstance(body, str) else str(body)
    text = " ".join(text.split())
    return text[:200] or response.reason or str(response.status_code)


class ApiClient:
    """Talks to one service with one token; the token never leaves the session's auth."""

    def __init__(
        self,
        api_token: str,
        config: ClientSettings,
        *,
        sleep: Sleep = time.sleep,
        stats: RequestStats | None = None,
    ) -> None:
        if not api_token or not api_token.strip():
            raise ConfigurationError(
                "no API token: set SOURCES__TIMETRACK__API_TOKEN or api_token in "
                ".dlt/secrets.toml under [sources.timetrack]"
            )
        config.validate()
        self.config = config
        self.stats = stats if stats is not None else RequestStats()
        self._sleep = sleep
        self._pacer = Pacer(config.requests_per_second, sleep)
        self._base = config.base_url.rstrip("/")
        self._session = requests.Session()
        self._session.auth = (api_token.strip(), "api_token")
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._clock_offset: float | None = None
        self._session.headers["User-Agent"] = "timetrack (dlt source)"
        self._session.headers["Accept"] = "application/json"

    # --- what resources call ------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The URL of an API path in the configured layout."""
        return self._base + settings.PREFIXES[self.config.layout] + path

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path; returns the payload with the layout's envelope removed."""
        body, _ = self.request("GET", self.url(path), params=params)
        if self.config.layout == "envelope" and isinstance(body, dict) and "data" in body:
            return body["data"]
        return body

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, per_page: int = settings.PER_PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a paged list, stopping at a short page or at `total_count`."""
        page = 1
        seen = 0
        while True:
            payload = self.get(path, {**(params or {}), "page": page, "per_page": per_page})
            total: int | None = None
            if isinstance(payload, dict):  # the task list keeps its own wrapper
                total = payload.get("total_count")
                payload = payload.get("data") or []
            items: list[dict[str, Any]] = list(payload or [])
            seen += len(items)
            if items:
                yield items
            if len(items) < per_page or (total is not None and seen >= total):
                return
            page += 1

    def report(self, workspace_id: int, body: Mapping[str, Any]) -> tuple[Any, Mapping[str, str]]:
        """One page of the report search; returns its rows and the response headers."""
        path = settings.REPORT_PATHS[self.config.layout].format(workspace_id=workspace_id)
        payload, headers = self.request("POST", self._base + path, json=dict(body))
        if self.config.layout == "envelope" and isinstance(payload, dict):
            payload = payload.get("data")
        return payload or [], headers

    def server_now(self) -> datetime:
        """The service's current time, from the Date header of its answers (asking /me once
        if nothing was asked yet): history windows follow the service's clock, not ours."""
        if self._clock_offset is None:
            self.get("/me")
        return datetime.now(UTC) + timedelta(seconds=self._clock_offset or 0.0)

    def _note_clock(self, headers: Mapping[str, str]) -> None:
        value = headers.get("Date")
        if not value:
            return
        try:
            served = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if served.tzinfo is None:
            served = served.replace(tzinfo=UTC)
        offset = (served - datetime.now(UTC)).total_seconds()
        # Date has whole seconds: ignore sub-second noise so the clock does not jitter.
        self._clock_offset = offset if abs(offset) > 2 else 0.0

    # --- the one place requests are sent -------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """Send with pacing and retries; returns the parsed JSON body and the headers."""
        where = url.removeprefix(self._base)
        attempt = 0
        quota_waits = 0
        while True:
            paced = self._pacer.wait()
            with self.stats.lock:
                self.stats.pacing_seconds += paced
            retry_after: float | None = None
            try:
                response = self._session.request(
                    method, url, params=params, json=json, timeout=self.config.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                self.stats.count("connection error")
                failure = type(error).__name__
                if attempt == 0 and _never_connected(error):
                    raise ConnectionFailedError(
                        f"cannot reach {self._base}: check base_url and the network"
                    ) from None
            else:
                status = response.status_code
                self.stats.count(str(status))
                self._note_clock(response.headers)
                if 200 <= status < 300:
                    if not response.content:
                        return None, response.headers
                    try:
                        return orjson.loads(response.content), response.headers
                    except orjson.JSONDecodeError:
                        failure = "a truncated or non-JSON body"
                elif status in settings.RETRY_STATUSES:
                    failure = f"HTTP {status}"
                    retry_after = _retry_after(response.headers)
                elif status == 402:
                    resets = _seconds(_header(response.headers, "quota-resets-in"))
                    if resets is None:
                        raise FeatureNotOnPlanError(
                            f"{method} {where}: not included in the organization's plan "
                            f"(402: {_message(response)})",
                            402,
                        )
                    wait = resets + 1
                    if wait <= self.config.max_quota_wait and quota_waits < 3:
                        quota_waits += 1
                        self._wait(wait)
                        continue
                    at = datetime.now(UTC) + timedelta(seconds=wait)
                    raise QuotaExhaustedError(
                        f"the hourly API quota is spent ({where}); it resets in "
                        f"{round(wait / 60)} min: run again after {at:%H:%M} UTC",
                        int(wait),
                    )
                else:
                    raise self._error(method, where, response)
            if attempt >= self.config.max_retries:
                raise ServiceError(
                    f"{method} {where} failed {attempt + 1} times, last with {failure}; "
                    "the service may be down: try again later"
                )
            attempt += 1
            with self.stats.lock:
                self.stats.retries += 1
            delay = self.config.backoff_factor * 2 ** (attempt - 1)
            if retry_after is not None:
                delay = retry_after
            self._wait(min(delay, self.config.max_retry_delay))

    def _wait(self, seconds: float) -> None:
        with self.stats.lock:
            self.stats.waits.append(seconds)
        self._sleep(seconds)

    def _error(self, method: str, where: str, response: requests.Response) -> ApiError:
        status = response.status_code
        message = _message(response)
        if status == 401 or (status == 403 and "password" in message.lower()):
            return AuthenticationError(
                "the API token was rejected: check SOURCES__TIMETRACK__API_TOKEN "
                f"(HTTP {status}: {message if status == 403 else 'no credentials'})",
                status,
            )
        if status == 403:
            return AccessDeniedError(f"{method} {where}: no access ({message})", status)
        if status == 404:
            return NotFoundError(f"{method} {where}: not found ({message})", status)
        return ApiError(f"{method} {where} failed with HTTP {status}: {message}", status)
