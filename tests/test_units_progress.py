"""What a run shows while it works (timetrack.run.progress.RunProgress), from a RequestStats
filled by hand: the line, when plain lines are printed, the live line on a terminal, and what a
quota wait says. The clock is frozen where a line names a time."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest

from timetrack.run import progress
from timetrack.run.progress import RunProgress
from timetrack.source.client import RequestStats

NOW = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    """Output that says it is a terminal, as a user's is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            # On a machine whose local time is five hours ahead: what is shown is UTC all the same.
            return NOW.astimezone(tz) if tz else (NOW + timedelta(hours=5)).replace(tzinfo=None)

    monkeypatch.setattr(progress, "datetime", Frozen)


def _stats(requests: int = 0, remaining: int | None = None, **rows: int) -> RequestStats:
    stats = RequestStats(requests=requests, phase="workspaces")
    stats.rows.update(rows)
    if remaining is not None:
        stats.estimate_remaining = lambda: remaining
    return stats


def test_the_line_names_the_phase_counts_retries_and_what_remains() -> None:
    stats = _stats(1234, remaining=5000, clients=1000, projects=500)
    shown = RunProgress(stats, 0, io.StringIO())
    assert shown.line() == (
        "workspaces: 1,234 requests, 1,500 rows extracted, about 5,000 requests to go"
    )
    stats.retries = 3
    assert shown.line() == (
        "workspaces: 1,234 requests, 1,500 rows extracted, 3 retries, about 5,000 requests to go"
    )
    shown.step("extract")
    assert stats.phase == "workspaces", "extracting: the source names what it reads"
    assert shown.line().endswith(", about 5,000 requests to go")
    shown.step("normalize")
    assert stats.phase == "normalize"
    assert shown.line() == "normalize: 1,234 requests, 1,500 rows extracted, 3 retries"


def test_nothing_remains_to_say_when_the_estimate_is_none_or_nothing() -> None:
    assert RunProgress(_stats(7), 0, io.StringIO()).line() == (
        "workspaces: 7 requests, 0 rows extracted"
    )
    for estimate in (None, 0):
        stats = _stats(7)
        stats.estimate_remaining = lambda estimate=estimate: estimate  # type: ignore[misc]
        assert RunProgress(stats, 0, io.StringIO()).line() == (
            "workspaces: 7 requests, 0 rows extracted"
        )


def test_a_live_line_only_on_a_terminal_and_when_asked_for() -> None:
    assert RunProgress(_stats(), 1.0, Terminal()).live is True
    assert RunProgress(_stats(), 0, Terminal()).live is False
    assert RunProgress(_stats(), 1.0, io.StringIO()).live is False


def test_no_progress_is_shown_when_not_asked_for() -> None:
    out = Terminal()
    stats = _stats(3)
    with RunProgress(stats, 0, out).shown():
        stats.requests = 4
        time.sleep(0.1)
    assert out.getvalue() == ""


def test_plain_lines_come_at_a_change_of_phase_and_stop_with_the_block(frozen: None) -> None:
    """The clock stands still: after the first line, only a change of phase is due (the first
    line, for the first phase, starts the interval: no second one follows it a poll later)."""
    out = io.StringIO()
    stats = _stats(3)
    shown = RunProgress(stats, 0.02, out)
    with shown.shown():
        time.sleep(0.15)
        stats.requests = 5  # no line for it: the same phase, and not yet due
        time.sleep(0.1)
        shown.step("load")
        time.sleep(0.15)
    printed = out.getvalue()
    assert printed.splitlines() == [
        "... workspaces: 3 requests, 0 rows extracted",
        "... load: 5 requests, 0 rows extracted",
    ]
    time.sleep(0.1)
    assert out.getvalue() == printed, "nothing after the block"


def test_plain_lines_repeat_every_interval_in_the_same_phase() -> None:
    out = io.StringIO()
    stats = _stats(3)
    with RunProgress(stats, 0.02, out).shown():
        time.sleep(0.3)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3, lines
    assert set(lines) == {"... workspaces: 3 requests, 0 rows extracted"}


def test_a_line_is_due_once_the_interval_has_passed(frozen: None) -> None:
    shown = RunProgress(_stats(), 5.0, io.StringIO())
    shown._last = NOW.timestamp() - 5
    assert shown._due() is True
    shown._last = NOW.timestamp() - 4.5
    assert shown._due() is False


def test_the_live_line_follows_the_counts() -> None:
    out = Terminal()
    stats = _stats(0)
    with RunProgress(stats, 1.0, out).shown():
        time.sleep(0.1)
        stats.requests = 42
        time.sleep(0.8)
    assert "workspaces: 0 requests, 0 rows extracted" in out.getvalue()
    assert "workspaces: 42 requests, 0 rows extracted" in out.getvalue()
    assert "... " not in out.getvalue(), "no plain lines on a terminal"


def test_a_quota_wait_says_how_long_what_is_done_and_when_the_run_should_end(
    frozen: None,
) -> None:
    out = io.StringIO()
    stats = _stats(1000, remaining=2500)
    RunProgress(stats, 0, out)
    assert stats.on_quota_wait is not None
    stats.on_quota_wait(120.0, "org:7")
    # One hour's quota allowed 1,000 requests: 2,500 more take three hours, the first from now.
    stats.requests = 1600
    stats.on_quota_wait(30.0, "org:7")  # the best hour so far still counts: 1,000 an hour
    stats.requests = 1700
    stats.estimate_remaining = lambda: 0
    stats.on_quota_wait(90.0, "me")
    stats.on_quota_wait(89.0, "me")
    assert out.getvalue().splitlines() == [
        "... hourly quota spent (org:7): waiting 2 min until 10:02:00 UTC; 1,000 requests done, "
        "about 2,500 still needed, done around 2026-12-06 12:02 UTC",
        "... hourly quota spent (org:7): waiting 30 s until 10:00:30 UTC; 1,600 requests done, "
        "about 2,500 still needed, done around 2026-12-06 12:00 UTC",
        "... hourly quota spent (me): waiting 2 min until 10:01:30 UTC; 1,700 requests done, "
        "about 0 still needed, done around 2026-12-06 10:01 UTC",
        "... hourly quota spent (me): waiting 89 s until 10:01:29 UTC; 1,700 requests done, "
        "about 0 still needed, done around 2026-12-06 10:01 UTC",
    ]


def test_a_quota_wait_names_no_end_without_an_estimate_or_a_pace(frozen: None) -> None:
    out = io.StringIO()
    unknown = _stats(10)
    RunProgress(unknown, 0, out)
    assert unknown.on_quota_wait is not None
    unknown.on_quota_wait(5.0, "me")
    nothing_done = _stats(0, remaining=10)
    RunProgress(nothing_done, 0, out)
    assert nothing_done.on_quota_wait is not None
    nothing_done.on_quota_wait(5.0, "me")
    one_done = _stats(1, remaining=3)
    RunProgress(one_done, 0, out)
    assert one_done.on_quota_wait is not None
    one_done.on_quota_wait(5.0, "me")
    assert out.getvalue().splitlines() == [
        "... hourly quota spent (me): waiting 5 s until 10:00:05 UTC; 10 requests done",
        "... hourly quota spent (me): waiting 5 s until 10:00:05 UTC; 0 requests done, "
        "about 10 still needed",
        "... hourly quota spent (me): waiting 5 s until 10:00:05 UTC; 1 requests done, "
        "about 3 still needed, done around 2026-12-06 12:00 UTC",
    ]


def test_a_quota_wait_on_a_terminal_goes_through_the_live_console(frozen: None) -> None:
    out = Terminal()
    stats = _stats(3)
    RunProgress(stats, 1.0, out)
    assert stats.on_quota_wait is not None
    stats.on_quota_wait(5.0, "me")
    assert out.getvalue() == (
        "... hourly quota spent (me): waiting 5 s until 10:00:05 UTC; 3 requests done\n"
    )


@pytest.mark.parametrize("out", [io.StringIO(), Terminal()], ids=["plain", "terminal"])
def test_the_progress_threads_never_keep_a_stopped_run_alive(out: io.StringIO) -> None:
    before = set(threading.enumerate())
    with RunProgress(_stats(), 0.02, out).shown():
        started = set(threading.enumerate()) - before
    assert started and all(thread.daemon for thread in started), started


def test_a_plain_line_reaches_a_log_file_at_once(tmp_path: Path, frozen: None) -> None:
    """A scheduler's log is a file: the line is there when printed, not when a buffer fills."""
    stats = _stats(3)
    with (tmp_path / "run.log").open("w") as log:
        RunProgress(stats, 0, log)
        assert stats.on_quota_wait is not None
        stats.on_quota_wait(5.0, "me")
        assert (tmp_path / "run.log").read_text() == (
            "... hourly quota spent (me): waiting 5 s until 10:00:05 UTC; 3 requests done\n"
        )
