"""A local emulator of the time-tracking API, faithful to `api-contract.md`.

Start one in a thread for tests::

    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        requests.get(server.base_url + "/v1/me", auth=("demo-token", "api_token"))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from timetrack.emulator.config import Drift, EmulatorConfig, Faults, Limits, Scale

if TYPE_CHECKING:
    from timetrack.emulator.runner import EmulatorServer, check_host, serve_forever
    from timetrack.emulator.server import Emulator

_LAZY = {
    "Emulator": "timetrack.emulator.server",
    "EmulatorServer": "timetrack.emulator.runner",
    "check_host": "timetrack.emulator.runner",
    "serve_forever": "timetrack.emulator.runner",
}


def __getattr__(name: str) -> Any:
    """The server's parts load on first use: aiohttp and numpy cost `timetrack --help` and
    `timetrack run` 0.3 s they never need."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = [
    "Drift",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Faults",
    "Limits",
    "Scale",
    "check_host",
    "serve_forever",
]
