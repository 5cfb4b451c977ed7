"""The command line's errors: one clean line, the right exit status, and a token that never
shows. The lines are checked in this process (tests/test_units_cli_inprocess.py); a good run,
with its settings read from .dlt/ files, goes through a real subprocess, end to end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from click.testing import Result

from tests.helpers import db_counts, expected_counts
from tests.test_units_cli_inprocess import command_environ, error_line, invoke
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale

SECRET = "sekrit-token-4242"
Cli = Callable[..., Result]


@pytest.fixture(scope="module")
def secret_emulator() -> EmulatorServer:
    with EmulatorServer(EmulatorConfig(token=SECRET)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """`timetrack ARGS` in this process (tests/test_units_cli_inprocess.py), from tmp_path."""

    def invoke_here(*args: str, token: str | None = SECRET, base_url: str = "") -> Result:
        env: dict[str, str | None] = {
            "SOURCES__TIMETRACK__API_TOKEN": token,
            "SOURCES__TIMETRACK__REQUESTS_PER_SECOND": "0",
            "SOURCES__TIMETRACK__BACKOFF_FACTOR": "0.01",
        }
        if base_url:
            env["SOURCES__TIMETRACK__BASE_URL"] = base_url
        if args and args[0] == "run":
            args = (*args, "--pipelines-dir", str(tmp_path / "state"), "--progress-every", "0")
        return invoke(tmp_path, *args, **env)

    return invoke_here


def _subprocess_env(**settings: str) -> dict[str, str]:
    return {**command_environ(), **settings}


def _one_error_line(result: Result) -> str:
    line = error_line(result)
    assert SECRET not in result.stdout + result.stderr, "the token never shows"
    return line


def test_wrong_token(cli: Cli, secret_emulator: EmulatorServer) -> None:
    line = _one_error_line(cli("run", token="wrong-token", base_url=secret_emulator.base_url))
    assert "API token was rejected" in line
    assert "wrong-token" not in line


def test_missing_token(cli: Cli, secret_emulator: EmulatorServer) -> None:
    line = _one_error_line(cli("run", token=None, base_url=secret_emulator.base_url))
    assert "no API token" in line


def test_unknown_workspace(cli: Cli, secret_emulator: EmulatorServer) -> None:
    result = cli("run", "--workspace-id", "123", base_url=secret_emulator.base_url)
    line = _one_error_line(result)
    assert "workspace 123 is not reachable with this token" in line
    assert result.exit_code == 1


def test_unreachable_url(cli: Cli) -> None:
    line = _one_error_line(cli("run", base_url="http://127.0.0.1:9"))
    assert line == "Error: cannot reach http://127.0.0.1:9: check base_url and the network"


def _quota_line(result: Result) -> str:
    assert result.exit_code == 75, result.stderr  # a scheduler retries later, no alert
    assert SECRET not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("stopped for the hourly API quota with progress saved")
    return lines[0]


def test_quota_spent(cli: Cli, make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(
        EmulatorConfig(token=SECRET, limits=Limits(quota=True, quota_per_hour=3))
    )
    # the whole quota (--quota-share 1): the service's own 402 stops the run
    result = cli("run", "--max-quota-wait", "0", "--quota-share", "1", base_url=server.base_url)
    line = _quota_line(result)
    assert "hourly API quota is spent" in line and "run again after" in line


def test_share_of_the_quota_spent(cli: Cli, make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(
        EmulatorConfig(token=SECRET, limits=Limits(quota=True, quota_per_hour=10))
    )
    line = _quota_line(cli("run", "--max-quota-wait", "0", base_url=server.base_url))
    # half of the 10 left at the start, in the organization's window; the service never said 402
    assert "this run spent its share of the hourly quota (org:9000001: 5 requests, 50%" in line
    log = requests.get(f"{server.base_url}/_emulator/requests", timeout=10).json()
    assert not [k for k in log["by_path_status"] if k.endswith(" 402")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--resource", "nosuch"], "unknown resource nosuch"),
        (["run", "--destination", "nosuchdb"], "unknown destination 'nosuchdb'"),
        (["run", "--layout", "weird"], "Invalid value for '--layout'"),
        (["run", "--requests-per-second", "-1"], "Invalid value for '--requests-per-second'"),
        (["run", "--base-url", "ftp://x"], "base_url must start with http:// or https://"),
    ],
)
def test_bad_options(
    cli: Cli, secret_emulator: EmulatorServer, args: list[str], expected: str
) -> None:
    result = cli(*args, base_url=secret_emulator.base_url)
    assert result.exit_code != 0
    assert expected in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_check_lists_what_the_token_reaches(cli: Cli, secret_emulator: EmulatorServer) -> None:
    result = cli("check", base_url=secret_emulator.base_url)
    assert result.exit_code == 0, result.stderr
    me = requests.get(
        f"{secret_emulator.base_url}/v1/me", auth=(SECRET, "api_token"), timeout=10
    ).json()["data"]
    assert (
        f"token OK: user {me['fullname']} (id {me['id']}) at {secret_emulator.base_url}"
        in result.stdout.splitlines()
    ), "the first line names the token's user, as the service knows them"
    assert "organizations: 2" in result.stdout and "workspaces: 3" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    line = _one_error_line(cli("check", token="nope", base_url=secret_emulator.base_url))
    assert "API token was rejected" in line


def test_a_good_run_with_dlt_toml_files_prints_a_summary_and_leaks_no_token(
    secret_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A real process, as a user runs it: settings from .dlt/secrets.toml and .dlt/config.toml
    in the working directory (dlt's conventions, read where it starts), and what dlt itself
    might print on stderr searched for the token too."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(
        f'[sources.timetrack]\napi_token = "{SECRET}"\n'
    )
    (tmp_path / ".dlt" / "config.toml").write_text(
        "[sources.timetrack]\n"
        f'base_url = "{secret_emulator.base_url}"\n'
        'layout = "bare"\n'
        "requests_per_second = 0\n"
        "workspace_ids = [4000002]\n"
    )
    requests.delete(secret_emulator.base_url + "/_emulator/requests", timeout=10)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetrack",
            "run",
            "--pipelines-dir",
            str(tmp_path / "state"),
            "--progress-every",
            "0",
        ],
        cwd=tmp_path,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "a good run: nothing on stderr, not even a dlt warning"
    assert "loaded" in result.stdout and "requests" in result.stdout, "a summary"
    assert "workspace_clients" in result.stdout and "workspace_tasks" in result.stdout
    assert SECRET not in result.stdout + result.stderr, "the token is not printed"
    log = requests.get(secret_emulator.base_url + "/_emulator/requests", timeout=10).json()
    assert log["by_path"].get("GET /api/v9/workspaces/4000002/clients", 0) >= 1, (
        "config.toml's layout and workspace_ids were read"
    )
    assert not any("/workspaces/4000001/clients" in p for p in log["by_path"])
    files = [p for p in tmp_path.rglob("*") if p.is_file() and ".dlt" not in p.parts]
    assert any(p.suffix == ".duckdb" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"token found in {path}"


def test_feature_not_on_plan_loads_the_rest_then_exits_nonzero(
    cli: Cli, make_emulator: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    """Also tests/source/test_resilience.py's former run: only the free plan's part fails."""
    server = make_emulator(
        EmulatorConfig(
            token=SECRET,
            scale=Scale(organizations=3, workspaces=3, time_entries=600),
            limits=Limits(restricted_features=frozenset({"reports", "groups"})),
        )
    )
    result = cli("run", base_url=server.base_url)
    assert result.exit_code == 1
    assert "loaded" in result.stdout and "workspace_tasks" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 2, result.stderr
    assert all("not included in the organization's plan" in e for e in errors), errors
    assert SECRET not in result.stdout + result.stderr
    counts = db_counts(tmp_path / "timetrack.duckdb", "time_tracking")
    expected = expected_counts(server.base_url, SECRET)
    free_groups = 3  # the free-plan organization's groups stay out
    assert counts["organizations_groups"] == expected["organizations_groups"] - free_groups, (
        "the groups of the organizations whose plan has them landed"
    )
    untouched = set(expected) - {"organizations_groups", "report_time_entries"}
    assert {t: counts.get(t) for t in untouched} == {t: expected[t] for t in untouched}, (
        "every table the plan does not restrict landed whole"
    )
    assert 0 < counts.get("report_time_entries", 0) < expected["report_time_entries"], (
        "the report of the organizations on a paid plan landed, the free one's did not"
    )


@pytest.mark.parametrize("dataset", ["timetrack", "TIMETRACK"])
def test_dataset_named_like_its_duckdb_file_is_refused(
    cli: Cli, secret_emulator: EmulatorServer, dataset: str
) -> None:
    line = _one_error_line(cli("run", "--dataset", dataset, base_url=secret_emulator.base_url))
    assert line == (
        f"Error: dataset '{dataset}' has the name of its DuckDB file timetrack.duckdb, which "
        "DuckDB cannot tell apart: choose another --dataset or --duckdb-file"
    ), "whatever the case"
