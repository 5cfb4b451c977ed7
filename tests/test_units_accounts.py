"""run/accounts.py in the test's process: the accounts file and each of its faults, an account's
run options, the summary's lines, JSON and exit code, the prefixed output, and what a dead
process is said to have died of (tests/test_accounts.py runs accounts in their processes)."""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from timetrack.errors import ConfigurationError
from timetrack.run import accounts as accounts_module
from timetrack.run.accounts import (
    PRELOADED,
    Account,
    AccountResult,
    AccountsSummary,
    _child,
    _context,
    _died,
    _drain,
    _Prefixed,
    account_options,
    load_accounts,
    run_account,
    run_accounts,
)
from timetrack.run.pipeline import RunOptions, RunSummary
from timetrack.source import RequestStats


def _summary(*codes: int) -> AccountsSummary:
    results = [AccountResult(f"a{n}", code, rows=10) for n, code in enumerate(codes)]
    return AccountsSummary(results, elapsed=1.25)


def test_the_exit_code_is_zero_only_when_every_account_landed() -> None:
    assert _summary(0, 0).exit_code == 0, "every account landed"
    assert _summary().exit_code == 0, "no account, nothing failed"
    assert _summary(0, 75).exit_code == 75, "a quota stop alone is a quota stop"
    assert _summary(75, 1, 0).exit_code == 1, "a failure outranks a quota stop"
    assert _summary(1, 130, 75).exit_code == 130, "an interruption outranks everything"
    assert _summary(0, 2, 3).exit_code == 3, "any other code is passed on, the highest"


@pytest.mark.parametrize(
    ("code", "status"),
    [(0, "ok"), (75, "quota"), (130, "interrupted"), (1, "failed"), (2, "failed")],
)
def test_an_accounts_status_is_said_in_a_word(code: int, status: str) -> None:
    assert AccountResult("a", code).status == status


def test_the_summary_says_a_line_per_account_sorted_by_name() -> None:
    summary = AccountsSummary(
        [
            AccountResult("zeta", 1, message="environment variable Z is not set"),
            AccountResult(
                "a_long_name", 0, rows=12345, requests=1234, elapsed=61.25, peak_rss_mb=1234.6
            ),
            AccountResult("b", 75, rows=3, requests=8, elapsed=2.0, peak_rss_mb=88.4),
            AccountResult("c", 0),
            AccountResult("d", 0),
        ],
        elapsed=62.04,
    )
    assert summary.lines() == [
        "5 accounts in 62.0 s: 3 landed, 2 did not",
        "  a_long_name  ok             12,345 rows   1,234 requests    61.2 s  peak 1,235 MB",
        "  b            quota               3 rows       8 requests     2.0 s  peak 88 MB",
        "  c            ok                  0 rows       0 requests     0.0 s  peak 0 MB",
        "  d            ok                  0 rows       0 requests     0.0 s  peak 0 MB",
        "  zeta         failed              0 rows       0 requests     0.0 s  peak 0 MB"
        "  environment variable Z is not set",
    ]
    short = AccountsSummary([AccountResult("a", 0)], elapsed=0.0).lines()
    assert short[1] == "  a        ok                  0 rows       0 requests     0.0 s  peak 0 MB"


def test_the_summary_as_json_holds_each_accounts_run() -> None:
    summary = AccountsSummary(
        [
            AccountResult("a", 0, peak_rss_mb=101.26, summary={"rows": {"clients": 3}}),
            AccountResult("b", 75, message="quota spent"),
        ],
        elapsed=3.14159,
    )
    assert json.loads(json.dumps(summary.as_dict())) == {
        "exit_code": 75,
        "elapsed_seconds": 3.142,
        "accounts": {
            "a": {
                "status": "ok",
                "exit_code": 0,
                "message": "",
                "peak_rss_mb": 101.3,
                "rows": {"clients": 3},
            },
            "b": {"status": "quota", "exit_code": 75, "message": "quota spent", "peak_rss_mb": 0.0},
        },
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "{f} has no [[account]] table"),
        ("account = 3\n", "{f} has no [[account]] table"),
        ("account = []\n", "{f} has no [[account]] table"),
        ("other = 1\n[[account]]\n", "{f}: unknown key other; accounts are [[account]] tables"),
        ("b = 1\na = 2\n", "{f}: unknown key a, b; accounts are [[account]] tables"),
        ("account = [3]\n", "{f}, account 1: expected a table"),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\n[[account]]\nname = "a b"\n',
            "{f}, account 2: name must be letters, digits or _, got 'a b'",
        ),
        ("[[account]]\nname = 5\n", "{f}, account 1: name must be letters, digits or _, got 5"),
        (
            '[[account]]\nname = "a"\n',
            "{f}, account 'a': api_token_env must name the environment variable that holds its "
            "token",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = ""\n',
            "{f}, account 'a': api_token_env must name the environment variable that holds its "
            "token",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\napi_token = "s"\n',
            "{f}, account 1: unknown key api_token (known: api_token_env, base_url, layout, "
            "name, organization_ids, workspace_ids; a token never goes in the file, only the "
            "name of its variable, api_token_env)",
        ),
        (
            '[[account]]\nname="a"\napi_token_env="X"\n[[account]]\nname="A"\napi_token_env="Y"\n',
            "{f}: account name 'A' appears twice",
        ),
        (
            '[[account]]\nname="a_b"\napi_token_env="X"\n[[account]]\nname="a__b"\napi_token_env="Y"\n',
            "{f}: account name 'a__b' lands in the same dataset as 'a_b' (dlt normalises both to "
            "'a_b'): rename one",
        ),
        (
            f'[[account]]\nname = "{"n" * 65}"\napi_token_env = "X"\n',
            "{f}, account 1: name is 65 characters long; 64 at most",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\nworkspace_ids = ["1"]\n',
            "{f}, account 'a': workspace_ids must be a list of integers",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\norganization_ids = [true]\n',
            "{f}, account 'a': organization_ids must be a list of integers",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\nworkspace_ids = 1\n',
            "{f}, account 'a': workspace_ids must be a list of integers",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\nlayout = "flat"\n',
            "{f}, account 'a': layout must be one of envelope, bare",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\nbase_url = "ftp://x"\n',
            "{f}, account 'a': base_url must be an http(s) URL, got 'ftp://x'",
        ),
        (
            '[[account]]\nname = "a"\napi_token_env = "X"\nbase_url = 3\n',
            "{f}, account 'a': base_url must be an http(s) URL, got 3",
        ),
    ],
)
def test_a_bad_accounts_file_names_its_fault(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(path)
    assert str(caught.value) == message.format(f=path)


def test_every_unknown_key_of_an_account_is_named(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text('[[account]]\nname = "a"\napi_token_env = "X"\ntoken = 1\nurl = 2\n')
    with pytest.raises(ConfigurationError, match=r"account 1: unknown key token, url \(known"):
        load_accounts(path)


def test_a_file_that_is_missing_unreadable_or_not_toml_is_said_so(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(missing)
    assert str(caught.value) == f"no accounts file {missing}"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(binary)
    assert str(caught.value).startswith(f"cannot read the accounts file {binary}: ")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[account]\n")
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(broken)
    assert str(caught.value).startswith(f"{broken} is not valid TOML: ")


def test_a_good_file_reads_as_written(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    name = "n" * 64
    path.write_text(
        '[[account]]\nname = "acme_2"\napi_token_env = "ACME"\nbase_url = "http://x:1"\n'
        'layout = "bare"\norganization_ids = [7]\nworkspace_ids = [8, 9]\n'
        f'[[account]]\nname = "{name}"\napi_token_env = "B"\nlayout = "envelope"\n'
    )
    assert load_accounts(str(path)) == [
        Account("acme_2", "ACME", "http://x:1", "bare", (7,), (8, 9)),
        Account(name, "B", layout="envelope"),
    ]
    assert Account("acme", "X").pipeline_name == "timetrack_acme"
    assert Account("acme", "X").dataset("timetrack") == "timetrack_acme"


def test_an_accounts_options_are_its_own_and_the_rest_as_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACME_TOKEN", "acme-secret")
    base = RunOptions(
        dataset="tt",
        duckdb_file="/elsewhere/one.duckdb",
        source_args={"api_token": "other", "base_url": "http://all:1", "layout": "bare"},  # type: ignore[typeddict-item]
        strict=True,
    )
    account = Account("acme", "ACME_TOKEN", base_url="http://acme:2", workspace_ids=(5, 6))
    options = account_options(account, base)
    assert (options.dataset, options.pipeline_name, options.strict) == (
        "tt_acme",
        "timetrack_acme",
        True,
    )
    assert options.duckdb_file == str(tmp_path / "timetrack_acme.duckdb"), "a file per account"
    assert options.source_args == {
        "api_token": "acme-secret",
        "base_url": "http://acme:2",
        "layout": "bare",
        "workspace_ids": [5, 6],
    }
    assert base.source_args["api_token"] == "other", "the options for all are left as given"
    elsewhere = account_options(
        Account("b", "ACME_TOKEN", layout="envelope", organization_ids=(7,)),
        RunOptions(destination="postgres", duckdb_file="/x.duckdb"),
    )
    assert elsewhere.duckdb_file == "/x.duckdb", "no DuckDB file of its own off DuckDB"
    assert elsewhere.source_args == {
        "api_token": "acme-secret",
        "layout": "envelope",
        "organization_ids": [7],
    }


def test_an_account_without_its_token_fails_alone_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOBODY_TOKEN", raising=False)
    result = run_account(Account("nobody", "NOBODY_TOKEN"), RunOptions())
    assert (result.name, result.exit_code, result.status) == ("nobody", 1, "failed")
    assert result.message == "environment variable NOBODY_TOKEN is not set"
    assert result.peak_rss_mb > 10 and result.elapsed >= 0


def test_an_unexpected_error_is_that_accounts_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "x")

    def broken(options: Any, out: Any = None) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr("timetrack.run.pipeline.run", broken)
    result = run_account(Account("x", "X_TOKEN"), RunOptions())
    assert (result.exit_code, result.message) == (1, "unexpected error: KeyError: 'boom'")


def test_an_accounts_result_is_its_runs_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "x")
    stats = RequestStats(requests=12, errors=["a failed", "b failed"], rejected={"tags": 1})
    summary = RunSummary({"tags": 5, "clients": 2}, stats, 1.0, "duckdb", "tt_x", strict=True)
    given: list[Any] = []

    def ran(options: RunOptions, out: Any = None) -> RunSummary:
        given.append((options.pipeline_name, options.source_args["api_token"]))
        return summary

    monkeypatch.setattr("timetrack.run.pipeline.run", ran)
    result = run_account(Account("x", "X_TOKEN"), RunOptions())
    assert given == [("timetrack_x", "x")], "the run of its own options"
    assert (result.name, result.exit_code, result.rows, result.requests) == ("x", 1, 7, 12)
    assert result.message == (
        "a failed; b failed; 1 records could not land (--strict); see rejected_records"
    ), "the run's closing lines on one line, without their Error: prefix"
    assert result.summary == summary.as_dict()


def test_each_line_an_account_prints_carries_its_name() -> None:
    stream = io.StringIO()
    prefixed = _Prefixed("acme", stream)
    assert prefixed.write("one\ntw") == 6
    assert stream.getvalue() == "[acme] one\n", "a line is written once it is whole"
    prefixed.write("o\n\nthree\n")
    prefixed.flush()
    assert stream.getvalue() == "[acme] one\n[acme] two\n[acme] \n[acme] three\n"
    assert prefixed.isatty() is False


def test_a_dead_process_is_said_to_have_died_of_its_signal_or_status() -> None:
    assert _died(-signal.SIGKILL) == "its process died: SIGKILL"
    assert _died(3) == "its process exited with status 3 before it said how the run went"
    assert _died(0) == "its process exited with status 0 before it said how the run went"


def test_an_accounts_process_leads_its_own_group_and_sends_back_its_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The child's life in this process (mutmut follows no other): the group is asked of
    # os.setpgid, since this process leaving its own would cut it off from the terminal.
    groups: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "setpgid", lambda pid, group: groups.append((pid, group)))
    # A fork server's child starts with the server's environment: the parent's is sent along.
    monkeypatch.setenv("ACME_TOKEN", "the fork server's, stale")
    environ = {**os.environ, "ACME_TOKEN": "acme-secret", "GONE_LATER": "x"}
    monkeypatch.setenv("GONE_LATER", "x")  # put back as it was when the test ends
    datasets: list[tuple[str, str]] = []

    def ran(options: RunOptions, out: Any = None) -> RunSummary:
        datasets.append((options.dataset, options.source_args["api_token"]))
        return RunSummary({"tags": 3}, RequestStats(requests=2), 1.0, "duckdb", options.dataset)

    monkeypatch.setattr("timetrack.run.pipeline.run", ran)
    results: queue.Queue[AccountResult] = queue.Queue()
    _child(Account("acme", "ACME_TOKEN"), RunOptions(dataset="tt"), results, environ)
    assert groups == [(0, 0)], "a group of its own, led by itself: Ctrl-C reaches the parent only"
    assert datasets == [("tt_acme", "acme-secret")], "its run, of the options given for all"
    assert dict(os.environ) == environ, "the parent's environment, whole"
    sent = results.get_nowait()
    assert (sent.name, sent.exit_code, sent.rows, sent.message) == ("acme", 0, 3, "")
    assert results.empty(), "one result"


def test_results_that_came_in_are_all_taken_then_the_wait_ends_soon() -> None:
    results: queue.Queue[AccountResult] = queue.Queue()
    for name in ("a", "b"):
        results.put(AccountResult(name, 0))
    taken: list[AccountResult] = []
    started = time.monotonic()
    _drain(results, taken.append)
    assert [r.name for r in taken] == ["a", "b"]
    assert 0.2 <= time.monotonic() - started < 1, "a fifth of a second for one more, not longer"


def _high_water_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def test_the_peak_memory_is_the_kernels_high_water_mark_in_mb() -> None:
    from timetrack.run.accounts import _peak_rss_mb

    # getrusage's figure and /proc's are kept apart by the kernel: close, not equal.
    assert _peak_rss_mb() == pytest.approx(_high_water_kb() / 1024, rel=0.1)


def test_an_accounts_run_is_its_result_and_each_line_it_prints_carries_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.helpers import db_counts
    from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer, Scale

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACME_TOKEN", "demo-token")
    config = EmulatorConfig(seed=3, scale=Scale(time_entries=60), drift=Drift(rate=0.5))
    with EmulatorServer(config) as server:
        account = Account("acme", "ACME_TOKEN", base_url=server.base_url)
        base = RunOptions(
            pipelines_dir=str(tmp_path / "state"),
            resources=["workspace_clients", "workspace_tags"],  # two small lists: a fast run
            progress_every=0.001,
            source_args={"requests_per_second": 0, "reconcile_hours": 0},  # type: ignore[typeddict-unknown-key]
        )
        landed = run_account(account, base)
        strict = run_account(account, dataclasses.replace(base, strict=True))

    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert lines and all(line.startswith("[acme] ") for line in lines), lines[:5]
    counts = db_counts(tmp_path / "timetrack_acme.duckdb", "time_tracking_acme")
    assert (landed.exit_code, landed.message) == (0, "")
    assert landed.rows == sum(landed.summary["rows"].values()) > 0
    assert landed.summary["rows"]["workspace_clients"] == counts["workspace_clients"]
    assert landed.requests == landed.summary["requests"] > 0
    assert landed.summary["dataset"] == "time_tracking_acme", "the default dataset, its own"
    assert 0 < landed.elapsed < 120 and landed.peak_rss_mb > 50
    rejected = sum(strict.summary["rejected"].values())
    assert rejected > 0, "the drift leaves some records without a key"
    assert (strict.exit_code, strict.message) == (
        1,
        f"{rejected} records could not land (--strict); see rejected_records",
    ), "the run's closing lines, without their Error: prefix"


def _accounts(*names: str) -> list[Account]:
    return [Account(name, f"{name.upper()}_TOKEN") for name in names]


def _fake_run(monkeypatch: pytest.MonkeyPatch, run: Any) -> None:
    """Each forked account runs `run(account)` instead of a sync."""
    monkeypatch.setattr("timetrack.run.accounts.run_account", lambda account, base: run(account))


def test_accounts_run_in_processes_of_their_own_at_most_parallel_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"

    def run(account: Account) -> AccountResult:
        (tmp_path / f"{account.name}.start").write_text(str(time.monotonic()))
        deadline = time.monotonic() + 20
        while not go.exists() and time.monotonic() < deadline:  # the first ones wait
            time.sleep(0.02)
        (tmp_path / f"{account.name}.end").write_text(str(time.monotonic()))
        process = multiprocessing.current_process().name
        return AccountResult(
            account.name, 0, rows=len(account.name), peak_rss_mb=os.getpid(), message=process
        )

    def started() -> int:
        return len(list(tmp_path.glob("*.start")))

    seen: list[int] = []

    def go_once_four_started() -> None:
        deadline = time.monotonic() + 20
        while started() < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # time for a fifth to start, were it let
        seen.append(started())
        go.write_text("")

    def most_at_once(names: list[str]) -> int:
        spans = [
            (
                float((tmp_path / f"{n}.start").read_text()),
                float((tmp_path / f"{n}.end").read_text()),
            )
            for n in names
        ]
        return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)

    _fake_run(monkeypatch, run)
    names = ["a", "bb", "ccc", "dddd", "eeeee"]
    releaser = threading.Thread(target=go_once_four_started)
    releaser.start()
    began = time.monotonic()
    summary = run_accounts(_accounts(*names), RunOptions(), start_method="fork")
    took = time.monotonic() - began
    releaser.join()
    assert sorted((r.name, r.exit_code, r.rows, r.message) for r in summary.results) == [
        ("a", 0, 1, "timetrack-a"),
        ("bb", 0, 2, "timetrack-bb"),
        ("ccc", 0, 3, "timetrack-ccc"),
        ("dddd", 0, 4, "timetrack-dddd"),
        ("eeeee", 0, 5, "timetrack-eeeee"),
    ], "each account's result, from a process named after it"
    assert len({r.peak_rss_mb for r in summary.results} | {os.getpid()}) == 6, "own processes"
    assert seen == [4], "four at a time by default: the fifth waits for one to end"
    assert most_at_once(names) == 4
    assert summary.exit_code == 0 and 0.5 <= summary.elapsed <= took
    one = run_accounts(_accounts("x", "yy"), RunOptions(), 0, start_method="fork")
    assert len(one.results) == 2
    assert most_at_once(["x", "yy"]) == 1, "parallel below one runs one at a time"


def test_a_dead_process_is_its_accounts_failure_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(account: Account) -> AccountResult:
        if account.name == "exits":
            os._exit(3)
        if account.name == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        return AccountResult(account.name, 0)

    _fake_run(monkeypatch, run)
    summary = run_accounts(
        _accounts("exits", "killed", "fine"), RunOptions(), 3, start_method="fork"
    )
    said = {r.name: (r.exit_code, r.message) for r in summary.results}
    assert said == {
        "exits": (1, "its process exited with status 3 before it said how the run went"),
        "killed": (1, "its process died: SIGKILL"),
        "fine": (0, ""),
    }


def test_ctrl_c_reaches_the_running_accounts_and_the_rest_never_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = tmp_path / "ready"

    def run(account: Account) -> AccountResult:
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
        ready.write_text(account.name)
        return AccountResult(account.name, 130 if stopped.wait(20) else 0, message="stopped")

    def interrupt() -> None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # the parent's: it passes it on

    _fake_run(monkeypatch, run)
    before = signal.getsignal(signal.SIGINT)
    sender = threading.Thread(target=interrupt)
    sender.start()
    summary = run_accounts(_accounts("first", "second"), RunOptions(), 1, start_method="fork")
    sender.join()
    said = {r.name: (r.exit_code, r.message) for r in summary.results}
    assert said == {"first": (130, "stopped"), "second": (130, "not started: interrupted")}
    assert summary.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is before, "the handler is put back"


def test_accounts_are_forked_from_a_server_that_imported_the_run_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    class Asked(Exception):
        pass

    def context(start_method: str) -> None:
        asked.append(start_method)
        raise Asked

    with monkeypatch.context() as patched:
        patched.setattr(accounts_module, "_context", context)
        with pytest.raises(Asked):
            run_accounts([], RunOptions())
    assert asked == ["forkserver"], "each account in a fresh process, without an import each"
    preloaded: list[list[str]] = []
    server = multiprocessing.get_context("forkserver")
    monkeypatch.setattr(type(server), "set_forkserver_preload", lambda self, m: preloaded.append(m))
    assert _context("forkserver").get_start_method() == "forkserver"
    assert preloaded == [PRELOADED] and PRELOADED == ["timetrack.run.pipeline"]
    assert _context("fork").get_start_method() == "fork"
    assert _context("spawn").get_start_method() == "spawn"
    assert preloaded == [PRELOADED], "a preload for the fork server only"
