"""The command line: help for every command and option, clean one-line errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from timetrack.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands() -> list[str]:
    return sorted(cli.commands)


@pytest.mark.parametrize("name", _commands())
def test_every_command_has_help_and_is_in_the_docs(name: str) -> None:
    command = cli.commands[name]
    assert command.help, f"{name} has no help text"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
            assert param.opts[0] in result.output
    assert any(f"timetrack {name}" in page.read_text() for page in DOCS)


def test_bad_option_is_one_line_and_nonzero() -> None:
    result = CliRunner().invoke(cli, ["emulator", "--fault", "500=2"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: fault rates must be >= 0 and add up to at most 1"
    ]


def test_emulator_command_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "timetrack",
            "emulator",
            "--port",
            "0",
            "--token",
            "cli-secret-x",
            "--time-entries",
            "500",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        base = f"http://127.0.0.1:{match.group(1)}"
        response = requests.get(base + "/api/v9/me", auth=("cli-secret-x", "api_token"), timeout=10)
        assert response.status_code == 200
        assert (
            requests.get(base + "/_emulator/truth", timeout=10).json()["time_entries"]["total"]
            == 500
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert "cli-secret-x" not in line + out + err
    assert "Traceback" not in err
    assert process.returncode == 0


def test_port_in_use_is_a_clean_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "timetrack", "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert "Traceback" not in result.stderr
