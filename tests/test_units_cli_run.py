"""`timetrack run` in the test's process (click's runner): what it prints on stdout and stderr
and the exit code, for a run that lands, one that rejects records under --strict, --json,
--quiet, --verbose on a failure, and --accounts (its accounts forked, so that they run this
process's code); tests/test_cli_first_hour.py runs the same as real processes."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import db_counts
from tests.test_units_cli_inprocess import error_line, invoke
from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer, Scale


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(seed=3, scale=Scale(time_entries=60), drift=Drift(rate=0.5))
    with EmulatorServer(config) as emulator:
        yield emulator


def _run(server: EmulatorServer, cwd: Path, *args: str) -> list[str]:
    return [
        "run",
        "--base-url",
        server.base_url,
        "--requests-per-second",
        "0",
        "--progress-every",
        "0",
        *args,
    ]


def test_a_run_prints_its_summary_and_strict_fails_on_rejected_records(
    server: EmulatorServer, tmp_path: Path
) -> None:
    landed = invoke(tmp_path, *_run(server, tmp_path), SOURCES__TIMETRACK__API_TOKEN="demo-token")
    assert landed.exit_code == 0, landed.stderr
    counts = db_counts(tmp_path / "timetrack.duckdb", "time_tracking")
    lines = landed.stdout.splitlines()
    assert lines[0].startswith(f"loaded {sum(counts.values()):,} rows into DuckDB file ")
    for table in ("workspace_clients", "time_entries", "rejected_records"):
        assert f"  {table}" in landed.stdout and f"{counts[table]:,}" in landed.stdout
    rejected = counts["rejected_records"]
    assert rejected > 0, "the drift leaves records without a key"
    assert any(line.startswith(f"warning: {rejected} records could not land") for line in lines)
    assert landed.stderr == "", "a clean run says nothing on stderr"

    fresh = tmp_path / "strict"
    strict = invoke(
        fresh, *_run(server, fresh, "--strict"), SOURCES__TIMETRACK__API_TOKEN="demo-token"
    )
    assert strict.exit_code == 1
    assert strict.stdout.splitlines()[0].startswith("loaded "), "the summary still on stdout"
    assert strict.stderr.splitlines() == [
        f"Error: {rejected} records could not land (--strict); see rejected_records"
    ], "a first run into another file rejects what the first one did"


def test_json_is_one_object_and_quiet_prints_nothing(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = invoke(
        tmp_path, *_run(server, tmp_path, "--json"), SOURCES__TIMETRACK__API_TOKEN="demo-token"
    )
    assert result.exit_code == 0, result.stderr
    said = json.loads(result.stdout)
    counts = db_counts(tmp_path / "timetrack.duckdb", "time_tracking")
    assert said["exit_code"] == 0 and said["rows"] == counts
    assert said["deferred"] == [] and said["dataset"] == "time_tracking"
    quiet = invoke(
        tmp_path, *_run(server, tmp_path, "-q"), SOURCES__TIMETRACK__API_TOKEN="demo-token"
    )
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_verbose_shows_the_whole_error_a_failure_wrote_down(
    server: EmulatorServer, tmp_path: Path
) -> None:
    args = _run(server, tmp_path, "--destination", "postgres", "--dataset", "nowhere")
    plain = invoke(tmp_path, *args, SOURCES__TIMETRACK__API_TOKEN="demo-token")
    line = error_line(plain)
    assert line.startswith("Error: missing settings: set DESTINATION__POSTGRES__CREDENTIALS__")
    log = Path(line.rsplit("(full detail: ", 1)[1].rstrip(")"))
    verbose = invoke(tmp_path, *args, "--verbose", SOURCES__TIMETRACK__API_TOKEN="demo-token")
    assert verbose.exit_code == 1
    assert log.read_text().strip() in verbose.stderr, "the log's whole text, on stderr"
    assert verbose.stderr.rstrip().splitlines()[-1] == line
    assert "Traceback (most recent call last)" in verbose.stderr


def test_accounts_print_a_line_each_and_each_failure_on_stderr(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timetrack.run import accounts

    forked = functools.partial(accounts.run_accounts, start_method="fork")
    parallel: list[int] = []

    def run_accounts(*args: Any, **kwargs: Any) -> Any:
        parallel.append(kwargs["parallel"])
        return forked(*args, **kwargs)

    monkeypatch.setattr(accounts, "run_accounts", run_accounts)
    monkeypatch.delenv("NOBODY_TOKEN", raising=False)
    monkeypatch.setenv("ACME_TOKEN", "demo-token")
    file = tmp_path / "accounts.toml"
    file.write_text(
        f'[[account]]\nname = "acme"\napi_token_env = "ACME_TOKEN"\n'
        f'base_url = "{server.base_url}"\n'
        '[[account]]\nname = "nobody"\napi_token_env = "NOBODY_TOKEN"\n'
    )
    args = ["run", "--accounts", str(file), "--parallel", "1"]
    args += ["--requests-per-second", "0", "--progress-every", "0"]
    first = invoke(tmp_path, *args, "--json", ACME_TOKEN="demo-token")
    as_json = json.loads(first.stdout)
    acme = db_counts(tmp_path / "timetrack_acme.duckdb", "time_tracking_acme")
    assert as_json["exit_code"] == 1 and first.exit_code == 1
    assert as_json["accounts"]["acme"]["rows"] == acme, "a first run lands every row"
    assert as_json["accounts"]["nobody"]["status"] == "failed"
    shown = invoke(tmp_path, *args, ACME_TOKEN="demo-token")
    assert shown.exit_code == 1
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("2 accounts in ") and lines[0].endswith(": 1 landed, 1 did not")
    assert lines[1].startswith("  acme     ok ") and lines[2].startswith("  nobody   failed ")
    assert shown.stderr.splitlines() == [
        "Error: account nobody: environment variable NOBODY_TOKEN is not set"
    ]
    quiet = invoke(tmp_path, *args, "--quiet", ACME_TOKEN="demo-token")
    assert quiet.stdout == "" and quiet.exit_code == 1
    assert parallel == [1, 1, 1], "--parallel reaches the accounts' runs"
    missing = invoke(tmp_path, "run", "--accounts", "nope.toml")
    assert (missing.exit_code, missing.stderr) == (1, "Error: no accounts file nope.toml\n")
