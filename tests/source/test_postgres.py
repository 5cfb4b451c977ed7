"""The real PostgreSQL at 127.0.0.1:5432: the same truth, no duplicates, real types.

These tests never skip: without the server they fail, loudly, as CI must.
"""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import psycopg2
import pytest

from tests.helpers import DSN, Sync, expected_counts, postgres_dataset
from timetrack.emulator import EmulatorServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def dataset() -> Iterator[str]:
    """A fresh schema, dropped afterwards."""
    with postgres_dataset() as name:
        yield name


def _counts(dataset: str) -> dict[str, int]:
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            [dataset],
        )
        tables = [t for (t,) in cursor.fetchall() if not t.startswith("_dlt")]
        counts = {}
        for table in tables:
            cursor.execute(f'select count(*) from "{dataset}"."{table}"')
            counts[table] = cursor.fetchone()[0]  # type: ignore[index]
        return counts


def test_postgres_equals_the_truth_twice(
    emulator: EmulatorServer, sync: Sync, dataset: str
) -> None:
    destination = dlt.destinations.postgres(DSN)
    sync(emulator.base_url, destination=destination, dataset=dataset, pipeline_name="pg")
    expected = expected_counts(emulator.base_url)
    assert _counts(dataset) == expected
    sync(emulator.base_url, destination=destination, dataset=dataset, pipeline_name="pg")
    assert _counts(dataset) == expected


def test_postgres_column_types(emulator: EmulatorServer, sync: Sync, dataset: str) -> None:
    sync(
        emulator.base_url,
        destination=dlt.destinations.postgres(DSN),
        dataset=dataset,
        pipeline_name="pg_types",
        resources=["time_entries", "workspace_projects"],
    )
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name, column_name, data_type, is_nullable "
            "from information_schema.columns where table_schema = %s",
            [dataset],
        )
        columns = {(t, c): (kind, nullable) for t, c, kind, nullable in cursor.fetchall()}
    assert columns[("time_entries", "id")] == ("bigint", "NO")
    assert columns[("time_entries", "start")] == ("timestamp with time zone", "YES")
    assert columns[("time_entries", "stop")] == ("timestamp with time zone", "YES")
    assert columns[("time_entries", "tags")][0] == "jsonb"
    assert columns[("workspace_projects", "start_date")] == ("date", "YES")
    assert columns[("workspace_projects", "workspace_id")] == ("bigint", "NO")
    assert columns[("workspace_projects", "rate")][0] == "double precision"
    assert ("time_entries", "wid") not in columns
