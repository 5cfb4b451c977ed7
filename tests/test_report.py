"""`timetrack report`: its numbers against the emulator's records, its page in a real browser,
its command line.

The browser is Debian's Chromium (`.ci/run` installs it when missing), driven by Playwright; a
missing browser fails the test, it never skips.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import TOKEN, expected_counts
from tests.test_analytics import Shared, shared_sync
from tests.truth import Emulator, expected_entries
from timetrack.answers.report import ReportData, empty_note, open_pipeline, summarise, write_report
from timetrack.destination.target import resolve_target
from timetrack.emulator import EmulatorServer

XDIST_GROUP = "shared_sync"
"""One worker for the modules that read shared_sync's datasets: each worker syncs them once."""

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WEEKS = 6


class Synced:
    """One sync and the report written from it."""

    def __init__(self, data: ReportData, page: Path, shared: Shared) -> None:
        self.data = data
        self.page = page
        self.database = shared.database
        self.dataset = shared.dataset
        self.began = datetime.fromtimestamp(shared.began, UTC)
        self.ended = datetime.fromtimestamp(shared.ended, UTC)


def _today(emulator: EmulatorServer) -> date:
    now = Emulator(emulator.base_url, TOKEN).admin("/truth")["now"]
    return datetime.fromisoformat(now).astimezone(UTC).date()


def _report(kind: str, emulator: EmulatorServer, request: pytest.FixtureRequest) -> Synced:
    """The report of the session emulator's sync, which test_analytics.py's views read too
    (one sync per process for both modules)."""
    shared = shared_sync(kind, emulator, request)
    root = request.getfixturevalue("tmp_path_factory").mktemp(f"report_{kind}")
    page = root / "report.html"
    destination = shared.options.destination
    place = resolve_target(destination, shared.dataset, name="reader", pipelines_dir=str(root))
    pipeline = open_pipeline(place, str(root / "reader"))
    today = _today(emulator)  # the period ends with today's week: it holds the running entry
    data = write_report(pipeline, page, weeks=WEEKS, today=today, end=today)
    return Synced(data, page, shared)


@pytest.fixture(scope="module")
def in_duckdb(emulator: EmulatorServer, request: pytest.FixtureRequest) -> Synced:
    return _report("duckdb", emulator, request)


@pytest.fixture(scope="module")
def in_postgres(emulator: EmulatorServer, request: pytest.FixtureRequest) -> Synced:
    return _report("postgres", emulator, request)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def synced(request: pytest.FixtureRequest) -> Synced:
    found: Synced = request.getfixturevalue(f"in_{request.param}")
    return found


def test_the_numbers_are_the_records_sums(synced: Synced, emulator: EmulatorServer) -> None:
    data = synced.data
    today = _today(emulator)
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    assert data.weeks == weeks and data.period.partial == monday
    assert list(data.period.previous) == [week - timedelta(weeks=WEEKS) for week in weeks]
    everything = summarise(data, data.scopes()[0])
    truth = [
        row for row in expected_entries(emulator.base_url, TOKEN).values() if row["week"] in weeks
    ]
    running = [row for row in truth if row["seconds"] is None]
    stopped = [row for row in truth if row["seconds"] is not None]
    assert running, "the data must hold a running entry in the period for this test to mean it"
    # A running entry counts up to the sync: bracketed by when the sync began and ended.
    low = sum((synced.began - row["start"]).total_seconds() - 1 for row in running) / 3600
    high = sum((synced.ended - row["start"]).total_seconds() + 1 for row in running) / 3600
    stopped_hours = sum(row["seconds"] for row in stopped) / 3600
    assert data.entries == everything.now.entries == len(truth)
    assert stopped_hours + low <= everything.now.hours <= stopped_hours + high
    assert len(everything.now.people) == len({row["user_id"] for row in truth})

    amounts: dict[str, float] = defaultdict(float)
    for row in truth:
        if row["billable_amount"] is not None:
            amounts[row["currency"]] += row["billable_amount"]
    assert set(everything.now.amounts) == set(amounts)
    for currency, amount in amounts.items():
        assert math.isclose(everything.now.amounts[currency], amount, abs_tol=0.01), currency

    weekly: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in stopped:
        weekly[row["week"]][0 if row["billable"] else 1] += row["seconds"] / 3600
    for week in weeks:
        totals = everything.weeks[week]
        extra = totals.hours - sum(weekly[week])  # the running entry's hours, if any
        assert -1e-6 <= extra <= high + 1e-6, week
        billable = totals.billable_hours - weekly[week][0]
        assert -1e-6 <= billable <= high + 1e-6, week
    projects = sum(item.now.hours for item in everything.projects)
    assert math.isclose(projects, everything.now.hours, abs_tol=1e-6)

    clients: dict[str, float] = defaultdict(float)
    for row in stopped:
        clients[row["client_name"] or "(no client)"] += row["seconds"] / 3600
    by_name: dict[str, float] = defaultdict(float)
    for item in everything.clients:
        by_name[item.name] += item.now.hours
    for name, hours in by_name.items():
        assert -1e-6 <= hours - clients[name] <= high + 1e-6, name

    assert data.row_counts == expected_counts(emulator.base_url)
    assert data.last_sync is not None and synced.began <= data.last_sync <= synced.ended


def test_a_period_without_entries_says_where_the_newest_are(
    in_duckdb: Synced, tmp_path: Path, emulator: EmulatorServer
) -> None:
    database = in_duckdb.database
    place = resolve_target(
        dataset=in_duckdb.dataset, duckdb_file=str(database), pipelines_dir=str(tmp_path)
    )
    pipeline = open_pipeline(place, str(tmp_path))
    data = write_report(pipeline, tmp_path / "later.html", weeks=2, today=date(2031, 1, 15))
    newest = max(row["week"] for row in expected_entries(emulator.base_url, TOKEN).values())
    assert data.entries == 0 and data.newest_week == newest
    weeks = (date(2031, 1, 6) - newest).days // 7 + 1
    assert empty_note(data) == (
        f"no time entries in these weeks; the newest is in the week of {newest} "
        f"(--weeks {weeks} reaches it)"
    )
    assert "No time entries in these weeks" in (tmp_path / "later.html").read_text()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    return subprocess.run(
        [sys.executable, "-m", "timetrack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_writes_the_page_and_says_what_is_wrong(
    in_duckdb: Synced, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(in_duckdb.database, tmp_path / "timetrack.duckdb")
    dataset = ["--dataset", in_duckdb.dataset]
    done = _cli("report", *dataset, "--weeks", "4", "--out", "out.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote out.html: ") and "4 weeks" in done.stdout
    assert (tmp_path / "out.html").read_text().count("<script") == 3
    assert "note:" not in done.stdout

    # The faults, in-process (a process of its own costs seconds of start-up; the command
    # line's parsing and error handling are the same code).
    from click.testing import CliRunner

    from timetrack.cli import cli

    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith(("SOURCES__", "DESTINATION__"))]:
        monkeypatch.delenv(name)
    for args, message in (
        (["--pipeline-name", "nothing"], "no DuckDB file"),
        (["--dataset", "elsewhere"], "no analytics views in elsewhere_analytics"),
        (["--destination", "filesystem"], "built in DuckDB and PostgreSQL only"),
        (["--weeks", "0"], "--weeks"),
    ):
        failed = CliRunner().invoke(cli, ["report", *args])
        # An error of the command's own ends in SystemExit; anything else escaped it.
        assert isinstance(failed.exception, SystemExit), failed.exception
        assert failed.exit_code != 0 and "Traceback" not in failed.output, failed.output
        lines = [line for line in failed.stderr.splitlines() if line.strip()]
        assert message in failed.stderr and lines[-1].startswith("Error"), failed.output
    assert not (tmp_path / "nothing.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-01", "--to", "2026-02-01"], "--from 2026-03-01 is after --to"),
        (["--from", "2099-01-01"], "--from 2099-01-01 is after today"),
        (["--from", "2026-02-30"], "--from: expected YYYY-MM-DD"),
        (["--to", "next week"], "--to: expected YYYY-MM-DD"),
    ],
)
def test_a_bad_period_is_one_line_before_any_database(
    args: list[str], message: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from timetrack.cli import cli

    missing = str(tmp_path / "none.duckdb")  # the period is checked first: no such file error
    result = CliRunner().invoke(cli, ["report", "--duckdb-file", missing, *args])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and "no DuckDB file" not in result.output
    assert [line for line in result.output.splitlines() if line][-1].startswith("Error")
