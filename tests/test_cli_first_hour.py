"""What a new user meets in the first hour, through the command line: help, quiet and JSON
output, local pacing, and one clear line for each fault they can cause.

The options and the error lines are checked in this process (tests/test_units_cli_inprocess.py);
a real subprocess stays where only a process shows it: dlt's own log on stderr, Ctrl-C, another
process holding the DuckDB file, the emulator command, one fault's line end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import TOKEN, db_counts, delta_rows, expected_counts
from tests.source.proxies import HoldReport, HttpProxy
from tests.test_units_cli_inprocess import command_environ, error_line, invoke
from timetrack.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=7)) as running:
        yield running


def _env(**extra: str) -> dict[str, str]:
    env = command_environ()
    env["SOURCES__TIMETRACK__API_TOKEN"] = TOKEN
    env.update(extra)
    return env


def _subprocess(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`timetrack ARGS` in a process of its own, from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "timetrack", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _run(tmp_path: Path, *args: str, **env: str | None) -> Result:
    """`timetrack run ARGS` in this process, from tmp_path, with the test's token."""
    return invoke(
        tmp_path,
        "run",
        "--pipelines-dir",
        str(tmp_path / "state"),
        *args,
        SOURCES__TIMETRACK__API_TOKEN=TOKEN,
        **env,
    )


@pytest.mark.parametrize("command", ["run", "check", "demo", "emulator", "report"])
def test_every_command_takes_h_and_shows_an_example(tmp_path: Path, command: str) -> None:
    short, long = invoke(tmp_path, command, "-h"), invoke(tmp_path, command, "--help")
    assert short.exit_code == 0 and short.stdout == long.stdout, "-h is --help"
    assert "Example" in short.stdout and "$ timetrack" in short.stdout, "help shows an example"


def test_json_and_local_pacing_say_what_they_promise(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = invoke(
        tmp_path,
        "run",
        *("--base-url", server.base_url, "--pipelines-dir", str(tmp_path / "state"), "--json"),
        SOURCES__TIMETRACK__API_TOKEN=TOKEN,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "", "--json prints nothing but the object"
    summary = json.loads(result.stdout)  # the whole of stdout is the one object
    assert summary["exit_code"] == 0 and summary["errors"] == []
    assert summary["rows"] == expected_counts(server.base_url), "--json's rows are the truth's"
    assert db_counts(tmp_path / "timetrack.duckdb", "time_tracking") == summary["rows"], (
        "--json's rows are what landed"
    )
    assert summary["requests"] > 0
    assert any("pacing is off" in note for note in summary["notes"]), "a local server: no pacing"
    # The same note in a run's printed summary: the Ctrl-C test's next run, below.


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


FAULTS = [
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
        "Error: organization 999 is not reachable with this token (it reaches: 9000001, 9000002)",
    ),
    (
        ["--organization-id", "9000002", "--workspace-id", "4000001"],
        {},
        "Error: workspace 4000001 is not in organization 9000002",
    ),
]


@pytest.mark.parametrize(("args", "env", "expected"), FAULTS)
def test_a_fault_the_user_can_cause_is_one_clear_line(
    server: EmulatorServer, tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = _run(tmp_path, "--base-url", server.base_url, "--progress-every", "0", *args, **env)
    line = error_line(result)
    assert line.startswith(expected), line


def test_a_fault_is_one_clear_line_from_a_real_process(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The in-process lines above are what a user's terminal shows: one case end to end."""
    args, env, expected = FAULTS[7]
    result = _subprocess(
        tmp_path,
        *("run", "--base-url", server.base_url, "--progress-every", "0"),
        *("--pipelines-dir", str(tmp_path / "state"), *args),
        **env,
    )
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == expected, "one line on stderr, nothing of dlt's log"


def test_a_base_url_with_the_prefix_names_the_url_asked_for(
    server: EmulatorServer, tmp_path: Path
) -> None:
    result = _run(tmp_path, "--base-url", server.base_url + "/v1", "--progress-every", "0")
    line = error_line(result)
    assert f"{server.base_url}/v1/v1/me" in line, line
    assert "base_url should be the service's root, without /v1" in line


def test_a_pipelines_dir_under_a_file_blames_the_folder(
    server: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("")
    folder = tmp_path / "afile"
    result = invoke(
        tmp_path,
        *("run", "--base-url", server.base_url, "--pipelines-dir", str(folder / "x")),
        SOURCES__TIMETRACK__API_TOKEN=TOKEN,
    )
    assert error_line(result) == (
        f"Error: --pipelines-dir {folder / 'x'}: {folder} is a file, not a folder"
    )


def test_a_duckdb_file_another_process_holds_is_named_as_such(
    server: EmulatorServer, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.read()",
            str(tmp_path / "timetrack.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = _run(tmp_path, "--base-url", server.base_url, "--progress-every", "0")
    finally:
        holder.communicate("", timeout=30)
    line = error_line(result)
    assert "another run holds this DuckDB file" in line, line


def test_ctrl_c_lands_what_was_fetched_exits_130_and_the_next_run_resumes_unpaced(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Ctrl-C while the report's history is read (the run held there by a proxy until the
    signal was sent): what was fetched lands, exit 130, and the next run completes; its
    printed summary says that a server on this machine (the proxy) is not paced, and why."""
    hold = HoldReport()

    with HttpProxy(server.base_url, hold) as proxy:
        command = [sys.executable, "-m", "timetrack", "run", "--base-url", proxy.base_url]
        command += ["--pipelines-dir", str(tmp_path / "state"), "--progress-every", "0"]
        process = subprocess.Popen(
            command, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert hold.reached.wait(timeout=120), "the run never reached the report"
            process.send_signal(signal.SIGINT)
        finally:
            hold.release.set()
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert b"Traceback" not in err
        assert b"interrupted: what was fetched before Ctrl-C has landed" in err
        landed = db_counts(tmp_path / "timetrack.duckdb", "time_tracking")
        assert landed["workspace_clients"] > 0, "what was fetched before Ctrl-C landed"
        assert (
            "report_time_entries" not in landed
            or landed["report_time_entries"]
            < (expected_counts(server.base_url)["report_time_entries"])
        ), "the run stopped in the report"
        again = _run(tmp_path, "--base-url", proxy.base_url, "--progress-every", "0")
        assert again.exit_code == 0, again.stderr
        assert again.stderr == "", "the summary goes to stdout"
        assert "note: pacing is off for http://127.0.0.1" in again.stdout, "the note says why"
        assert "pacing 0.0 s" in again.stdout, "a local server is not paced"
    assert db_counts(tmp_path / "timetrack.duckdb", "time_tracking") == expected_counts(
        server.base_url
    ), "the next run resumes to the whole truth"


def test_verbose_shows_the_full_cause_of_an_error(server: EmulatorServer, tmp_path: Path) -> None:
    result = _run(tmp_path, "--base-url", server.base_url, "--destination", "filesystem", "-v")
    assert result.exit_code == 1
    assert "Error: missing setting: set DESTINATION__FILESYSTEM__BUCKET_URL" in result.stderr
    assert "ConfigFieldMissingException" in result.stderr, "the whole error, from the log"


def test_filesystem_runs_print_no_dlt_warnings_and_delta_tables_merge(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """dlt's warnings would go to the real stderr: two real processes, Parquet and Delta."""
    bucket = tmp_path / "parquet"
    args: tuple[str, ...] = (
        "run",
        "--base-url",
        server.base_url,
        "--destination",
        "filesystem",
        "--quiet",
    )
    args += ("--pipelines-dir", str(tmp_path / "state"))
    parquet = _subprocess(tmp_path, *args, DESTINATION__FILESYSTEM__BUCKET_URL=str(bucket))
    assert parquet.returncode == 0, parquet.stderr
    assert parquet.stderr == "" and parquet.stdout == "", "Parquet: no dlt warning"
    assert any(bucket.rglob("*.parquet"))
    lake = tmp_path / "lake"
    delta = ("--table-format", "delta", "--resource", "workspace_tags", "--pipeline-name", "lake")
    first = _subprocess(tmp_path, *args, *delta, DESTINATION__FILESYSTEM__BUCKET_URL=str(lake))
    assert first.returncode == 0, first.stderr
    assert first.stderr == "" and first.stdout == "", "Delta: no dlt warning"
    second = _run(
        tmp_path,
        *args[1:],
        *delta,
        DESTINATION__FILESYSTEM__BUCKET_URL=str(lake),
    )
    assert second.exit_code == 0, second.stderr
    assert second.stdout == "" and second.stderr == "", "--quiet prints nothing"
    tags = delta_rows(str(lake / "time_tracking"), ["workspace_tags"])["workspace_tags"]
    assert len(tags) == expected_counts(server.base_url)["workspace_tags"], "merged, not appended"


def test_the_package_root_offers_what_a_dlt_user_reaches_for() -> None:
    import timetrack

    assert callable(timetrack.timetrack_source)
    assert "report_time_entries" in timetrack.source_tables()
    assert timetrack.EmulatorServer.__name__ == "EmulatorServer"


def test_the_demo_matches_the_truth_and_its_hint_works(tmp_path: Path) -> None:
    dlt_home = tmp_path / "dlt-home"  # dlt's own folder: the demo leaves no state there
    result = invoke(
        tmp_path,
        "demo",
        "--time-entries",
        "300",
        "--file",
        "demo.duckdb",
        DLT_DATA_DIR=str(dlt_home),
    )
    assert result.exit_code == 0, result.stderr
    assert not (dlt_home / "pipelines").exists(), list((dlt_home / "pipelines").iterdir())
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


def test_a_settings_file_dlt_cannot_read_is_one_clear_line(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """A `.dlt/secrets.toml` that is no TOML, met by whichever command asks dlt first (check
    asked outside any step of ours, and printed dlt's traceback)."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text("a = = 1\n")
    for command in ("check", "run"):  # run asked as it opened its destination, and blamed it
        result = _subprocess(tmp_path, command, "--base-url", server.base_url)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("Error: cannot read dlt's settings: "), lines
        assert "secrets.toml" in lines[0]
        assert "Unexpected character: '=' at line 1 col 4" in lines[0]
