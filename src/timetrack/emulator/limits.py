"""The service's two limits: a leaky bucket per token and a sliding hourly quota."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass


class LeakyBucket:
    """Requests per second per token; a request that would overflow the bucket is refused.

    Uses the monotonic real clock: the rate limit is about wall time, not the settable clock.
    """

    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.capacity = float(burst)
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> float | None:
        """None if admitted, else the seconds until a request would be admitted."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            level, last = self._levels.get(key, (0.0, now))
            level = max(0.0, level - (now - last) * self.rate)
            if level + 1 > self.capacity:
                self._levels[key] = (level, now)
                return (level + 1 - self.capacity) / self.rate
            self._levels[key] = (level + 1, now)
            return None


@dataclass(frozen=True)
class QuotaState:
    """What the quota headers say after a request."""

    allowed: bool
    remaining: int
    resets_in: int


class HourlyQuota:
    """A sliding 60-minute window of requests per (token, bucket); times from the emulator clock."""

    WINDOW = 3600.0

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def charge(
        self,
        token: str,
        bucket: str | None,
        limit: int,
        now: float,
        *,
        enforce: bool,
        count: bool = True,
    ) -> QuotaState:
        """Count one request if under `limit` (always, when not enforcing); with count=False
        only report the state. A None bucket reports the token's /me window."""
        with self._lock:
            window = self._windows.setdefault((token, bucket or "me"), deque())
            while window and window[0] <= now - self.WINDOW:
                window.popleft()
            allowed = not enforce or len(window) < limit
            if allowed and count:
                window.append(now)
            remaining = max(0, limit - len(window))
            resets_in = math.ceil(window[0] + self.WINDOW - now) if window else 0
            return QuotaState(allowed, remaining, max(0, resets_in))

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()
