"""Fault injection, reproducible from the seed whatever the order requests arrive in: which
fault hits a request, and what each fault does to it.

The draw for a request depends on the seed, the request itself and how many identical requests
came before it, so a retry gets a fresh draw and two runs of the same client see the same faults.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import Counter

from aiohttp import web

from timetrack.emulator.config import FAULT_KINDS, Faults
from timetrack.emulator.http import json_response

FAULT_MESSAGES = {
    "429": "Too Many Requests",
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Unavailable",
    "504": "Gateway Timeout",
}
"""The faults that answer with an HTTP status, and their bodies."""


def status_fault(kind: str, headers: dict[str, str], send_retry_after: bool) -> web.Response:
    """The answer of a status fault (a gateway's, before the API sees the request)."""
    if send_retry_after and kind in ("429", "503"):
        headers = {**headers, "Retry-After": "1"}
    return json_response(FAULT_MESSAGES[kind], int(kind), headers)


class FaultPlan:
    """Decides which fault, if any, hits each request."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.seed = seed
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        """Whether any fault has a rate above zero."""
        return any(rate > 0 for rate in self.faults.rates.values())

    def draw(self, request_key: str) -> str | None:
        """The fault kind for this request, or None."""
        if not self.active:
            return None
        with self._lock:
            nth = self._seen[request_key]
            self._seen[request_key] += 1
        digest = hashlib.blake2b(
            f"{self.seed}|{request_key}|{nth}".encode(), digest_size=8
        ).digest()
        point = int.from_bytes(digest, "big") / 2**64
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += self.faults.rates.get(kind, 0.0)
            if point < edge:
                with self._lock:
                    self.injected[kind] += 1
                return kind
        return None

    async def before_answer(self, kind: str | None, request: web.Request) -> str | None:
        """Apply a fault that acts before the answer: a slow one waits (then answers normally),
        a dropped one closes the connection without an answer. Returns the fault still to act."""
        if kind == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
            return None
        if kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return kind

    def after_answer(self, kind: str | None, response: web.StreamResponse) -> None:
        """Apply a fault that acts on the answer: a truncated one loses half its JSON body."""
        if kind == "truncate" and isinstance(response, web.Response) and response.body:
            raw = bytes(response.body)  # type: ignore[arg-type]
            response.body = raw[: max(1, len(raw) // 2)]
