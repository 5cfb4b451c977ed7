"""The command line in this process (click's runner), for the tests of its options and error
lines: what a subprocess would print on stdout and stderr, without two seconds of Python
start-up per call. What only a real process shows (dlt's own log on stderr, a signal, a lock
held by another process, .dlt/ files of the working folder) stays in a subprocess in the test
files that need it; this module holds the helper and the tests of the helper itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests import TELEMETRY_OFF
from timetrack.cli import cli

CLEARED = ("SOURCES__", "DESTINATION__", "RUNTIME__")
"""Settings of the test's own environment that must not reach the command line."""


def cleared(name: str) -> bool:
    """Whether an environment variable of the test's is kept from the commands it runs: one of
    CLEARED's, but dlt's usage events stay off (tests/conftest.py)."""
    return name.startswith(CLEARED) and name != TELEMETRY_OFF


def command_environ() -> dict[str, str]:
    """The test's environment for a command it runs in a process of its own."""
    return {k: v for k, v in os.environ.items() if not cleared(k)}


@contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def invoke(cwd: Path, *args: str, **env: str | None) -> Result:
    """`timetrack ARGS` in this process from the folder `cwd`, with only the settings in `env`
    (None unsets one); every variable the command sets is put back afterwards. An exception
    that escapes the command fails the test (a subprocess would print its traceback)."""
    cwd.mkdir(parents=True, exist_ok=True)
    settings: dict[str, str | None] = {k: None for k in os.environ if cleared(k)}
    settings.update(env)
    with _working_folder(cwd):
        return CliRunner().invoke(cli, list(args), env=settings, catch_exceptions=False)


def error_line(result: Result) -> str:
    """The one line a fault prints on stderr, after checking it is one line and a failure."""
    assert result.exit_code != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def test_invoke_gives_the_commands_own_streams_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", "from-the-test")
    monkeypatch.delenv("RUNTIME__LOG_LEVEL", raising=False)  # whatever an earlier test left
    result = invoke(tmp_path, "run", "--destination", "nosuchdb", "--progress-every", "0")
    assert error_line(result).startswith("Error: unknown destination 'nosuchdb'")
    assert result.exit_code == 1, "a timetrack error exits 1"
    assert result.stdout == "", "nothing on stdout"
    assert os.environ["SOURCES__TIMETRACK__API_TOKEN"] == "from-the-test", "settings put back"
    assert "RUNTIME__LOG_LEVEL" not in os.environ, "run's log level does not leak"
    assert Path.cwd() != tmp_path, "the working folder is put back"
