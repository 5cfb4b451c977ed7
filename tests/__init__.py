"""The tests. `TELEMETRY_OFF` is here, not in tests/helpers.py, so that tests/conftest.py sets
it without importing dlt: xdist's controller, which runs no test, starts its workers sooner."""

TELEMETRY_OFF = "RUNTIME__DLTHUB_TELEMETRY"
"""dlt's setting for its usage events, off in the tests (tests/conftest.py)."""
