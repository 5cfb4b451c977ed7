"""Every table, every contract column, by value: what landed equals the emulator's records.

One sync per database per token (but the demo token's into DuckDB, which test_crash_safety.py
compares value by value); the truth is built from the emulator alone (tests/truth.py).
"""

from __future__ import annotations

from pathlib import Path

import dlt
import pytest

from tests.helpers import (
    DSN,
    PARTIAL_TOKEN,
    TOKEN,
    UnkindProxy,
    duckdb_rows,
    fast_options,
    postgres_columns,
    postgres_dataset,
    postgres_rows,
)
from tests.truth import POSTGRES_TYPES, differences, expected_tables, type_problems
from timetrack.emulator import EmulatorServer
from timetrack.run.pipeline import run


def _verdict(problems: list[str]) -> str:
    return "what landed differs from the emulator's records:\n" + "\n".join(problems[:40])


def test_duckdb_holds_the_records_value_by_value(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The partial token's sync (the demo token's is PostgreSQL's test's, through a proxy)."""
    summary = run(fast_options(emulator.base_url, tmp_path, token=PARTIAL_TOKEN))
    expected = expected_tables(emulator.base_url, PARTIAL_TOKEN)
    problems = differences(expected, duckdb_rows(tmp_path / "db.duckdb"))
    assert not problems, _verdict(problems)
    assert summary.rows == {table: len(rows) for table, rows in expected.items()}


@pytest.mark.postgres
def test_postgres_holds_the_records_value_by_value_despite_offsets_and_stale_aliases(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The demo token's sync into PostgreSQL, through a proxy: timestamps at a +05:30 offset
    are the same instants; a legacy alias (`wid`, `pid`, ...) that disagrees with its neutral
    field beside it does not win; every column has its PostgreSQL type. One sync for what were
    two (the proxy's into DuckDB, and a plain one into PostgreSQL): the demo token's records in
    DuckDB by value are test_crash_safety.py's, the partial token's are this file's first test."""
    with postgres_dataset() as dataset:
        with UnkindProxy(emulator.base_url) as proxy:
            summary = run(
                fast_options(
                    proxy.base_url,
                    tmp_path,
                    token=TOKEN,
                    destination=dlt.destinations.postgres(DSN),
                    dataset=dataset,
                )
            )
        expected = expected_tables(emulator.base_url, TOKEN)
        problems = differences(expected, postgres_rows(dataset))
        types = type_problems(postgres_columns(dataset), POSTGRES_TYPES)
    assert not problems, _verdict(problems)
    assert types == []
    assert summary.rows == {table: len(rows) for table, rows in expected.items()}


@pytest.mark.postgres
def test_postgres_holds_the_partial_tokens_records_value_by_value(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    with postgres_dataset() as dataset:
        run(
            fast_options(
                emulator.base_url,
                tmp_path,
                token=PARTIAL_TOKEN,
                destination=dlt.destinations.postgres(DSN),
                dataset=dataset,
            )
        )
        problems = differences(
            expected_tables(emulator.base_url, PARTIAL_TOKEN), postgres_rows(dataset)
        )
        types = type_problems(postgres_columns(dataset), POSTGRES_TYPES)
    assert not problems, _verdict(problems)
    assert types == []
