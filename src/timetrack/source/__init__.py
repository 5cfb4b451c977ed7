"""The dlt source of timetrack and the HTTP client it runs on."""

import inspect

from timetrack.source.client import ApiClient, ClientSettings, RequestStats
from timetrack.source.core import source_tables, timetrack_source
from timetrack.source.endpoints import REJECTED_TABLE

# dlt's decorator hides the function behind a factory object, whose help() shows neither the
# arguments nor the tables: say both where help() looks.
timetrack_source.__doc__ = (
    f"timetrack_source{inspect.signature(timetrack_source)}\n\n"
    f"{inspect.cleandoc(timetrack_source.__doc__ or '')}\n\n"
    f"Resources (one table each): {', '.join(source_tables())}; records that cannot land go "
    f"to {REJECTED_TABLE}.\n"
)

__all__ = ["ApiClient", "ClientSettings", "RequestStats", "source_tables", "timetrack_source"]
