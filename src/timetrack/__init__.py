"""timetrack: load a time-tracking service's data into a database with dlt."""

__version__ = "0.1.0"
