"""A big organization in bounded memory, made small: 50,000 report entries under a DuckDB
memory cap of 52 MB, where dlt's own merge runs out of it (as it ran out of 256 MB at a million
entries). Measured on 2026-12-06 at 50,000 entries: this release's merge fits 44 MB (not 36),
dlt's own runs out of 60 MB; the cap sits between (at 100,000 entries, 56 MB, the same test
took twice as long). What lands is compared value by value with the emulator's records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dlt.destinations.impl.duckdb.duck import DuckDbClient
from dlt.destinations.job_client_impl import SqlJobClientBase

from tests.helpers import TOKEN, duckdb_rows, fast_options
from tests.truth import Tables, differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.errors import TimetrackError
from timetrack.run import loading
from timetrack.run.pipeline import run

ENTRIES = 50_000
CAP = {"memory_limit": "52MB", "threads": 2}
"""Threads fixed: DuckDB's memory per query grows with them, and machines differ in cores."""


@pytest.fixture(scope="module")
def big() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=20, scale=Scale(time_entries=ENTRIES))) as server:
        yield server


@pytest.fixture(scope="module")
def truth(big: EmulatorServer) -> Tables:
    """What the tables must hold, from the emulator's records: computed once (the tests only
    read from the emulator, and the truth of 50,000 entries takes seconds to work out)."""
    return expected_tables(big.base_url, TOKEN)


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", json.dumps(CAP))


@pytest.mark.usefixtures("capped")
def test_a_load_the_cap_stopped_is_finished_by_the_next_run_and_lands_whole(
    big: EmulatorServer,
    truth: Tables,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The previous release's merge (dlt's own, which numbers every staged row in memory) runs
    out of the cap: the run fails in one line that names the setting, with no traceback. The
    next run, under the same cap, loads the package the failed one left (a first load of the
    whole report, by this release's merge, as a first run's own load would be), then syncs (a
    merge into the full table): the big report lands whole, value by value, in bounded memory."""
    monkeypatch.delenv("RUNTIME__LOG_LEVEL", raising=False)
    with monkeypatch.context() as previous_release:
        previous_release.setattr(loading, "install", lambda: None)
        previous_release.setattr(
            DuckDbClient,
            "_create_merge_followup_jobs",
            SqlJobClientBase._create_merge_followup_jobs,
        )
        with pytest.raises(TimetrackError) as failed:
            run(fast_options(big.base_url, tmp_path))
    message = str(failed.value)
    cap = CAP["memory_limit"]
    assert f"in table report_time_entries: DuckDB ran out of memory (memory_limit {cap})" in message
    assert loading.MEMORY_SETTING in message
    assert "\n" not in message
    assert "Traceback" not in capfd.readouterr().err

    summary = run(fast_options(big.base_url, tmp_path))
    assert summary.exit_code == 0, "the next run under the same cap succeeds"
    landed = duckdb_rows(tmp_path / "db.duckdb")
    assert len(landed["report_time_entries"]) > ENTRIES * 0.9, "the big report landed whole"
    problems = differences(truth, landed)
    assert not problems, "\n".join(problems[:40])


def test_the_merge_keeps_one_row_per_key_and_leaves_deleted_rows_out(tmp_path: Path) -> None:
    """The rows a merge inserts: every key once (the window numbers only the keys that come
    twice), deleted ones left out, by the SQL loading.py gives dlt."""
    import duckdb

    db = duckdb.connect(str(tmp_path / "m.duckdb"), config={"memory_limit": "16MB"})
    db.execute("create table staged (id bigint, v text, deleted_at text)")
    db.execute(
        "insert into staged values (1, 'a', null), (2, 'b', null), (2, 'b', null), "
        "(3, 'c', 'gone'), (4, 'd', null), (4, 'd', 'gone')"
    )
    select = loading.KeysFirstMergeJob.gen_select_from_dedup_sql(
        "staged",
        ['"id"'],
        ['"id"', '"v"'],
        condition='"deleted_at" IS NULL',
        condition_columns=['"deleted_at"'],
    )
    rows = sorted(db.execute(select).fetchall())
    assert rows[:2] == [(1, "a"), (2, "b")]
    assert rows[2:] in ([], [(4, "d")])  # key 4 keeps one of its two rows, as dlt's merge does
