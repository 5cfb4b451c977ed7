"""Fixtures for source tests: a sync into a DuckDB file of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TOKEN, Sync, fast_options
from timetrack.run.pipeline import RunSummary, run


@pytest.fixture
def sync(tmp_path: Path) -> Sync:
    """Run the source into tmp_path/<name>.duckdb with no pacing unless told otherwise."""

    def go(base_url: str, token: str = TOKEN, name: str = "db", **kwargs: Any) -> RunSummary:
        return run(fast_options(base_url, tmp_path, name=name, token=token, **kwargs))

    return go
