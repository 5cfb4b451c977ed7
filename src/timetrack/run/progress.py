"""What a run shows while it works: the phase, counts, what remains, and quota waits.

On a terminal it is one live line (rich's status); otherwise (a log, a scheduler) plain lines
every few seconds and at each change of phase, so that nothing scrolls away unseen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TextIO

from rich.console import Console

from timetrack.source.client import RequestStats


class RunProgress:
    """Progress of one run, from its RequestStats and the phase the pipeline is in."""

    def __init__(self, stats: RequestStats, every: float, out: TextIO) -> None:
        self.stats = stats
        self.every = every
        self.out = out
        self.console = Console(file=out, highlight=False)
        self.live = every > 0 and self.console.is_terminal
        self._step = "extract"
        self._shown = ""
        self._done_at_last_wait = 0
        self._per_hour = 0
        stats.on_quota_wait = self._waiting

    def step(self, name: str) -> None:
        """The pipeline's step: extract, normalize, load; past extract, it is the phase."""
        self._step = name
        self.stats.phase = name if name != "extract" else self.stats.phase

    def line(self) -> str:
        """One line: phase, requests, rows, and what remains when it can be estimated."""
        stats = self.stats
        rows = sum(stats.rows.values())
        text = f"{stats.phase}: {stats.requests:,} requests, {rows:,} rows extracted"
        if stats.retries:
            text += f", {stats.retries} retries"
        remaining = stats.estimate_remaining() if stats.estimate_remaining else None
        if self._step == "extract" and remaining:
            text += f", about {remaining:,} requests to go"
        return text

    @contextmanager
    def shown(self) -> Iterator[None]:
        """Show progress while the block runs."""
        if self.every <= 0:
            yield
            return
        if self.live:
            with self.console.status(self.line()) as status:
                done = threading.Event()

                def refresh() -> None:
                    while not done.wait(0.5):
                        status.update(self.line())

                thread = threading.Thread(target=refresh, daemon=True)
                thread.start()
                try:
                    yield
                finally:
                    done.set()
            return
        done = threading.Event()

        def report() -> None:
            while not done.wait(min(self.every, 1.0)):
                line = self.line()
                phase = line.split(":", 1)[0]
                if phase != self._shown.split(":", 1)[0] or self._due():
                    self._print(f"... {line}")
                    self._shown = line
                    # A line for a new phase starts the interval too: no second one a poll later.
                    self._last = datetime.now(UTC).timestamp()

        self._last = 0.0
        thread = threading.Thread(target=report, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()

    def _due(self) -> bool:
        """Whether `every` seconds have passed since the last line."""
        return datetime.now(UTC).timestamp() - self._last >= self.every

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _waiting(self, seconds: float, window: str) -> None:
        """Before a quota wait: how long, until when, what is done, what remains, and when
        the run expects to finish at the pace one hour's quota allowed."""
        stats = self.stats
        remaining = stats.estimate_remaining() if stats.estimate_remaining else None
        resumes = datetime.now(UTC) + timedelta(seconds=seconds)
        # What one hour's quota allowed (a short wait in a sliding window counts less).
        self._per_hour = max(self._per_hour, stats.requests - self._done_at_last_wait)
        self._done_at_last_wait = stats.requests
        pause = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
        line = (
            f"... hourly quota spent ({window}): waiting {pause} until {resumes:%H:%M:%S} UTC; "
            f"{stats.requests:,} requests done"
        )
        if remaining is not None:
            line += f", about {remaining:,} still needed"
            if self._per_hour > 0:
                hours = max(0, -(-remaining // self._per_hour) - 1)
                line += f", done around {resumes + timedelta(hours=hours):%Y-%m-%d %H:%M} UTC"
        if self.live:
            self.console.print(line)
        else:
            self._print(line)
