"""Fault injection, reproducible from the seed whatever the order requests arrive in.

The draw for a request depends on the seed, the request itself and how many identical requests
came before it, so a retry gets a fresh draw and two runs of the same client see the same faults.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter

from timetrack.emulator.config import FAULT_KINDS, Faults


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
