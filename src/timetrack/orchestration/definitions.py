"""The module `dagster dev -m timetrack.orchestration.definitions` loads.

Settings come from the environment, as a deployment sets them:
- `TIMETRACK_ACCOUNTS`: the accounts file (default `accounts.toml`);
- `TIMETRACK_DESTINATION`: any dlt destination (default `duckdb`; credentials as dlt reads them);
- `TIMETRACK_DATASET`: the datasets' prefix (default `time_tracking`: `time_tracking_<name>`).
Tokens stay in the variables the accounts file names.
"""

from __future__ import annotations

import os

from timetrack.orchestration import definitions_from_file
from timetrack.run.pipeline import RunOptions

defs = definitions_from_file(
    os.environ.get("TIMETRACK_ACCOUNTS", "accounts.toml"),
    RunOptions(
        destination=os.environ.get("TIMETRACK_DESTINATION", "duckdb"),
        dataset=os.environ.get("TIMETRACK_DATASET", "time_tracking"),
        progress_every=60,
    ),
)
