"""A settable clock, so tests can move time (quota windows, the 90-day history limit)."""

from __future__ import annotations

import threading
import time


class Clock:
    """Real time plus an offset, or a frozen instant; unix seconds as float."""

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen: float | None = None
        self._offset = 0.0 if start is None else start - time.time()

    def now(self) -> float:
        """The emulator's current unix time."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    def set(self, now: float, *, frozen: bool = False) -> None:
        """Jump to `now`; a frozen clock stays there until moved again."""
        with self._lock:
            if frozen:
                self._frozen = now
            else:
                self._frozen = None
                self._offset = now - time.time()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    @property
    def frozen(self) -> bool:
        """Whether the clock stands still."""
        return self._frozen is not None
