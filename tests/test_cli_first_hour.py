"""What a new user meets in the first hour, through the real command line in a subprocess:
help, quiet and JSON output, local pacing, and one clear line for each fault they can cause."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests.helpers import TOKEN, db_counts, delta_rows, expected_counts
from timetrack.emulator import EmulatorConfig, EmulatorServer, Faults

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=7)) as running:
        yield running


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__"))
    }
    env["SOURCES__TIMETRACK__API_TOKEN"] = TOKEN
    env.update(extra)
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    def invoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "timetrack", *args]
        if args and args[0] == "run" and "--pipelines-dir" not in args:
            command += ["--pipelines-dir", str(tmp_path / "state")]
        return subprocess.run(
            command, cwd=tmp_path, env=_env(**env), capture_output=True, text=True, timeout=180
        )

    return invoke


def _error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a fault prints, after checking it is one line, not a traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.mark.parametrize("command", ["run", "check", "demo", "emulator", "report"])
def test_every_command_takes_h_and_shows_an_example(cli: Cli, command: str) -> None:
    short, long = cli(command, "-h"), cli(command, "--help")
    assert short.returncode == 0 and short.stdout == long.stdout
    assert "Example" in short.stdout and "$ timetrack" in short.stdout


def test_json_prints_one_object_that_matches_what_landed(
    cli: Cli, server: EmulatorServer, tmp_path: Path
) -> None:
    result = cli("run", "--base-url", server.base_url, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is the one object
    assert summary["exit_code"] == 0 and summary["errors"] == []
    assert summary["rows"] == expected_counts(server.base_url)
    assert db_counts(tmp_path / "timetrack.duckdb", "time_tracking") == summary["rows"]
    assert summary["requests"] > 0
    assert any("pacing is off" in note for note in summary["notes"])


def test_quiet_prints_nothing_and_a_local_server_is_not_paced(
    cli: Cli, server: EmulatorServer
) -> None:
    quiet = cli("run", "--base-url", server.base_url, "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    loud = cli("run", "--base-url", server.base_url, "--progress-every", "0")
    assert "note: pacing is off for http://127.0.0.1" in loud.stdout
    assert "pacing 0.0 s" in loud.stdout


def test_the_emulator_prints_its_demo_tokens() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "timetrack", "emulator", "--port", "0", "--time-entries", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        assert (
            "tokens: demo-token (everything), partial-token (one workspace), member-token (a "
            "member, admin of nothing)" in process.stdout.readline()
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--destination", "duckdbb"],
            {},
            "Error: unknown destination 'duckdbb': use duckdb, postgres, filesystem",
        ),
        (
            ["--destination", "postgres"],
            {"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://postgres@127.0.0.1:5432/test"},
            "Error: missing setting: set DESTINATION__POSTGRES__CREDENTIALS__PASSWORD (or the "
            "whole DESTINATION__POSTGRES__CREDENTIALS=postgresql://USER:PASSWORD@HOST:5432/"
            "DATABASE)",
        ),
        (
            ["--destination", "filesystem"],
            {},
            "Error: missing setting: set DESTINATION__FILESYSTEM__BUCKET_URL",
        ),
        (
            ["--table-format", "delta"],
            {},
            "Error: --table-format delta needs --destination filesystem, not duckdb",
        ),
        (
            ["--destination", "filesystem"],
            {
                "DESTINATION__FILESYSTEM__BUCKET_URL": "lake",
                "DESTINATION__FILESYSTEM__TABLE_FORMAT": "iceberg",
            },
            "Error: table format 'iceberg' is not supported: use delta",
        ),
        (
            [],
            {"DESTINATION__DUCKDB__CREDENTIALS": "/nonexistent/folder/x.duckdb"},
            "Error: the DuckDB file's folder /nonexistent/folder does not exist: create it, or "
            "choose another file (--duckdb-file, DESTINATION__DUCKDB__CREDENTIALS)",
        ),
        (
            ["--report-start-date", "2030-01-01"],
            {},
            "Error: report_start_date 2030-01-01 is in the future: nothing would load",
        ),
        (
            ["--organization-id", "999"],
            {},
            "Error: organization 999 is not reachable with this token "
            "(it reaches: 9000001, 9000002)",
        ),
        (
            ["--organization-id", "9000002", "--workspace-id", "4000001"],
            {},
            "Error: workspace 4000001 is not in organization 9000002",
        ),
    ],
)
def test_a_fault_the_user_can_cause_is_one_clear_line(
    cli: Cli, server: EmulatorServer, args: list[str], env: dict[str, str], expected: str
) -> None:
    line = _error(cli("run", "--base-url", server.base_url, "--progress-every", "0", *args, **env))
    assert line.startswith(expected), line


def test_a_base_url_with_the_prefix_names_the_url_asked_for(
    cli: Cli, server: EmulatorServer
) -> None:
    line = _error(cli("run", "--base-url", server.base_url + "/v1", "--progress-every", "0"))
    assert f"{server.base_url}/v1/v1/me" in line, line
    assert "base_url should be the service's root, without /v1" in line


def test_a_pipelines_dir_under_a_file_blames_the_folder(
    cli: Cli, server: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("")
    line = _error(
        cli("run", "--base-url", server.base_url, "--pipelines-dir", str(tmp_path / "afile" / "x"))
    )
    folder = tmp_path / "afile"
    assert line == f"Error: --pipelines-dir {folder / 'x'}: {folder} is a file, not a folder"


def test_two_runs_on_one_duckdb_file_say_another_run_holds_it(
    cli: Cli, server: EmulatorServer, tmp_path: Path
) -> None:
    assert cli("run", "--base-url", server.base_url, "--quiet").returncode == 0
    with duckdb.connect(str(tmp_path / "timetrack.duckdb")):  # another process holds the file
        line = _error(
            subprocess.run(
                [
                    *(sys.executable, "-m", "timetrack", "run", "--base-url", server.base_url),
                    *("--pipelines-dir", str(tmp_path / "state2"), "--progress-every", "0"),
                ],
                cwd=tmp_path,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
        )
    assert "another run holds this DuckDB file" in line, line


def test_ctrl_c_lands_what_was_fetched_exits_130_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    slow = EmulatorConfig(seed=7, faults=Faults(rates={"slow": 1.0}, slow_seconds=0.2))
    with EmulatorServer(slow) as server:
        command = [sys.executable, "-m", "timetrack", "run", "--base-url", server.base_url]
        command += ["--pipelines-dir", str(tmp_path / "state"), "--progress-every", "0.5"]
        process = subprocess.Popen(
            command, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        started = time.monotonic()
        while b"report history" not in process.stderr.readline():
            assert time.monotonic() - started < 120, "the run never reached the report"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert b"Traceback" not in err
        assert b"interrupted: what was fetched before Ctrl-C has landed" in err
        landed = db_counts(tmp_path / "timetrack.duckdb", "time_tracking")
        assert landed["workspace_clients"] > 0, "what was fetched before Ctrl-C landed"
        again = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert db_counts(tmp_path / "timetrack.duckdb", "time_tracking") == expected_counts(
            server.base_url
        )


def test_verbose_shows_the_full_cause_of_an_error(cli: Cli, server: EmulatorServer) -> None:
    result = cli("run", "--base-url", server.base_url, "--destination", "filesystem", "-v")
    assert result.returncode == 1
    assert "Error: missing setting: set DESTINATION__FILESYSTEM__BUCKET_URL" in result.stderr
    assert "ConfigFieldMissingException" in result.stderr, "the whole error, from the log"


def test_a_filesystem_run_prints_no_dlt_warnings(
    cli: Cli, server: EmulatorServer, tmp_path: Path
) -> None:
    bucket = tmp_path / "parquet"
    result = cli(
        "run",
        "--base-url",
        server.base_url,
        "--destination",
        "filesystem",
        "--quiet",
        DESTINATION__FILESYSTEM__BUCKET_URL=str(bucket),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    assert any(bucket.rglob("*.parquet"))


def test_a_filesystem_run_with_table_format_delta_writes_delta_tables(
    cli: Cli, server: EmulatorServer, tmp_path: Path
) -> None:
    bucket = tmp_path / "lake"
    args = ("run", "--base-url", server.base_url, "--destination", "filesystem")
    for _ in range(2):
        result = cli(
            *args,
            "--table-format",
            "delta",
            "--resource",
            "workspace_tags",
            "--quiet",
            DESTINATION__FILESYSTEM__BUCKET_URL=str(bucket),
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == "" and result.stdout == ""
    tags = delta_rows(str(bucket / "time_tracking"), ["workspace_tags"])["workspace_tags"]
    assert len(tags) == expected_counts(server.base_url)["workspace_tags"], "merged, not appended"


def test_the_package_root_offers_what_a_dlt_user_reaches_for() -> None:
    import timetrack

    assert callable(timetrack.timetrack_source)
    assert "report_time_entries" in timetrack.source_tables()
    assert timetrack.EmulatorServer.__name__ == "EmulatorServer"


def test_the_demo_matches_the_truth_and_its_hint_works(cli: Cli, tmp_path: Path) -> None:
    result = cli("demo", "--time-entries", "300", "--file", "demo.duckdb")
    assert result.returncode == 0, result.stderr
    table_lines = [line for line in result.stdout.splitlines() if "truth" in line]
    assert len(table_lines) >= 12 and all("= truth" in line for line in table_lines[1:])
    *_, hint, report = result.stdout.strip().splitlines()
    assert hint.startswith(f"explore it: {sys.executable} -c ")
    assert report.endswith("open demo.html") and (tmp_path / "demo.html").stat().st_size > 10**6
    # Pasted into a fresh shell, with no virtual environment active: it names the interpreter
    # that has duckdb, so it works as printed.
    bare = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    shown = subprocess.run(
        ["bash", "-c", hint.removeprefix("explore it: ")],
        cwd=tmp_path,
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "workspace_id" in shown.stdout, shown.stderr
