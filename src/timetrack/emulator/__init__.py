"""A local emulator of the time-tracking API, faithful to `api-contract.md`.

Start one in a thread for tests::

    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        requests.get(server.base_url + "/v1/me", auth=("demo-token", "api_token"))
"""

from timetrack.emulator.config import Drift, EmulatorConfig, Faults, Limits, Scale
from timetrack.emulator.runner import EmulatorServer, check_host, serve_forever
from timetrack.emulator.server import Emulator

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
