"""timetrack: load a time-tracking service's data into a database with dlt.

The names a dlt user reaches for are here: `timetrack_source`, `source_tables`, and the
emulator's `EmulatorServer` and `EmulatorConfig` for trying it without an account.

The packages follow the data: `source` (the service's tables, read at the lowest cost in
requests) -> `run` (dlt's extract, normalize and load, for one account or many) ->
`destination` (where it lands: DuckDB, PostgreSQL, Delta tables) -> `answers` (analytics views
and the report). Beside that flow: `cli` and `check` (the commands), `live` (webhooks keeping
tables current between runs), `orchestration` (Dagster), `emulator` (the service, locally).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from timetrack.emulator import EmulatorConfig, EmulatorServer
    from timetrack.source import source_tables, timetrack_source

_LAZY = {
    "timetrack_source": "timetrack.source",
    "source_tables": "timetrack.source",
    "EmulatorConfig": "timetrack.emulator",
    "EmulatorServer": "timetrack.emulator",
}

__all__ = ["EmulatorConfig", "EmulatorServer", "__version__", "source_tables", "timetrack_source"]


def __getattr__(name: str) -> Any:
    """Load on first use: the command line starts without dlt and aiohttp."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)
