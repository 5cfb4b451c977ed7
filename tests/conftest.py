"""Shared fixtures: emulators on free ports, and a client of one emulator per layout.

Helpers (the client, the tokens, fast runs, reading back) live in tests/helpers.py."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _pytest.nodeid import NodeId

from tests import TELEMETRY_OFF
from timetrack.emulator import EmulatorConfig

if TYPE_CHECKING:
    from tests.helpers import Api
    from timetrack.emulator import EmulatorServer

# dlt sends anonymous usage events to dltHub from every run by default: not from the tests,
# which have no internet to send them to (and spent 5 to 8% of a sync's CPU on them). Processes
# the tests start inherit it; commands run in the test's process keep it too.
os.environ[TELEMETRY_OFF] = "false"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One default emulator shared by tests that only read."""
    from timetrack.emulator import EmulatorServer  # the controller of xdist's workers runs none

    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        yield server


@pytest.fixture(params=["envelope", "bare"])
def api(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Api:
    """A client of the shared emulator, once per layout."""
    from tests.helpers import Api  # here: the controller of xdist's workers never imports dlt

    return Api(emulator.base_url, request.param)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with their own configuration; stopped after the test."""
    started: list[EmulatorServer] = []

    def start(config: EmulatorConfig | None = None) -> EmulatorServer:
        from timetrack.emulator import EmulatorServer

        server = EmulatorServer(config or EmulatorConfig()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group and order the tests for the Makefile's `pytest -n 3 --dist loadgroup`.

    A module-scoped fixture (a loaded dataset, an emulator of 50,000 entries, a browser) is
    built again by each worker that runs one of its tests: the tests that use one go to one
    worker, as one group, and the other tests one by one; modules that read one sync made once
    per process (test_analytics.shared_sync) name a group of their own (`XDIST_GROUP`).
    End-to-end tests go first, unit tests (test_units_*, fast) last, so that the workers end
    together instead of one waiting on a long test it picked up last."""
    if getattr(config.option, "loadgroup", False):  # set in xdist's workers
        for item in items:
            fixtures = getattr(item, "_fixtureinfo", None)
            defs = fixtures.name2fixturedefs.values() if fixtures else []
            shared = getattr(getattr(item, "module", None), "XDIST_GROUP", None)
            if shared or any(d[-1].scope == "module" for d in defs):
                group = shared or item.nodeid.split("::")[0]
                item.add_marker(pytest.mark.xdist_group(group))
                # xdist (3.6.1, as 3.8) reads a group from the "@group" its hook appends to an
                # id, set through an attribute pytest 9 no longer reads (`_nodeid`): appended
                # here to the one it reads, until xdist does so for pytest 9.
                if hasattr(item, "_id") and "@" not in item.nodeid:
                    item._id = NodeId.parse(f"{item.nodeid}@{group}")
    items.sort(key=lambda item: Path(item.nodeid.split("::")[0]).name.startswith("test_units"))


def pytest_configure(config: pytest.Config) -> None:
    """The test process collects garbage as `timetrack` does (`cli.main`), from before it
    imports and collects the tests (0.3 to 0.5 s less a worker): the in-process runs and
    emulators then cost what they cost a user, 8% less CPU than at Python's default."""
    from timetrack.cli import collect_garbage_less_often

    collect_garbage_less_often()


def pytest_unconfigure(config: pytest.Config) -> None:
    """An xdist worker, its tests done and reported, leaves without Python's clean-up: freeing
    what its emulators and datasets held took 2 to 4 s at the end of every `make check`, while
    the controller waited for the workers to exit."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(_leave_now)


def _leave_now() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
