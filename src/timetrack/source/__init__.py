"""The dlt source of timetrack and the HTTP client it runs on."""

from timetrack.source.client import ApiClient, ClientSettings, RequestStats
from timetrack.source.core import source_tables, timetrack_source

__all__ = ["ApiClient", "ClientSettings", "RequestStats", "source_tables", "timetrack_source"]
