"""Shared fixtures: emulators on free ports, and a client of one emulator per layout.

Helpers (the client, the tokens, fast runs, reading back) live in tests/helpers.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import TELEMETRY_OFF, Api
from timetrack.emulator import EmulatorConfig, EmulatorServer

# dlt sends anonymous usage events to dltHub from every run by default: not from the tests,
# which have no internet to send them to (and spent 5 to 8% of a sync's CPU on them). Processes
# the tests start inherit it; commands run in the test's process keep it too.
os.environ[TELEMETRY_OFF] = "false"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One default emulator shared by tests that only read."""
    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        yield server


@pytest.fixture(params=["envelope", "bare"])
def api(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Api:
    """A client of the shared emulator, once per layout."""
    return Api(emulator.base_url, request.param)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with their own configuration; stopped after the test."""
    started: list[EmulatorServer] = []

    def start(config: EmulatorConfig | None = None) -> EmulatorServer:
        server = EmulatorServer(config or EmulatorConfig()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
