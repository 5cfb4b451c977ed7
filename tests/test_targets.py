"""Where data goes decides its state: other folders, datasets and destinations, in any order,
each get a complete sync through the command line; a killed load is recovered, with
--full-refresh or without. Every landing is compared by value with the emulator's truth.

The runs go through the command line in this process (tests/test_units_cli_inprocess.py); a
good run's empty stderr in a real process is tests/source/test_cli_errors.py's; the killed load
is a process of its own (forked from this one, as tests/source/test_crash_safety.py's are)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import requests
from click.testing import Result

from tests.helpers import DSN, TOKEN, duckdb_rows, postgres_dataset, postgres_rows
from tests.source import killable_run as killable
from tests.source.proxies import HoldReport, HttpProxy
from tests.test_units_cli_inprocess import cleared, invoke
from tests.truth import KEYS, differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.run.pipeline import run

SMALL = Scale(workspaces=2, users=12, time_entries=600)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=19, scale=SMALL)) as running:
        yield running


def _run(base_url: str, folder: Path, state: Path, *args: str, **env: str) -> Result:
    """`timetrack run` in this process from `folder` with the pipelines folder `state`,
    summary as JSON."""
    return invoke(
        folder,
        *("run", "--base-url", base_url, "--pipelines-dir", str(state), "--json", *args),
        SOURCES__TIMETRACK__API_TOKEN=TOKEN,
        DESTINATION__POSTGRES__CREDENTIALS=DSN,
        **env,
    )


def _summary(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "", "nothing but the summary: no dlt warning, no progress"
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def _truth(server: EmulatorServer) -> dict[str, dict[object, dict[str, object]]]:
    return expected_tables(server.base_url, TOKEN)


def test_each_place_keeps_its_own_state_gets_all_of_it_and_runs_one_at_a_time(
    tmp_path: Path,
) -> None:
    """One service, one pipelines folder, the places in turn: a first run in folder `a` (held
    mid-report by a proxy while a second run of its pipeline is refused), another folder, a
    PostgreSQL dataset of its own, folder `a` again after a change at the service with its
    pipeline folder as the previous version left it, and a new dataset in the same file. Each
    is complete (compared by value with the truth), each keeps its own state."""
    with EmulatorServer(EmulatorConfig(seed=23, scale=SMALL)) as server, postgres_dataset() as pg:
        url = server.base_url
        state = tmp_path / "pipelines"
        a = tmp_path / "a"
        database = a / "timetrack.duckdb"
        truth = _truth(server)
        first = _summary(_held_first_run(server, a, state))
        second = _summary(_run(url, tmp_path / "b", state))
        for folder, summary in (("a", first), ("b", second)):
            file = tmp_path / folder / "timetrack.duckdb"
            assert summary["where"] == f"DuckDB file {file}, dataset 'time_tracking'"
            assert differences(truth, duckdb_rows(file, "time_tracking")) == [], folder
        assert first["pipeline"] == "timetrack", "the first place keeps the name"
        assert str(second["pipeline"]).startswith("timetrack_"), "another place, another state"

        # The documented recipe (docs/usage.md): postgres with a dataset of its own (and -q,
        # which leaves --json's object alone).
        named = _summary(_run(url, a, state, "--destination", "postgres", "--dataset", pg, "-q"))
        assert named["where"] == f"postgres 127.0.0.1:5432/test, dataset {pg!r}"
        assert str(named["pipeline"]).startswith("timetrack_"), "another place, another state"
        assert named["views"], "the analytics views are built over jsonb columns"
        assert differences(truth, postgres_rows(pg)) == []
        with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
            cursor.execute(
                "select distinct data_type from information_schema.columns where "
                "table_schema = %s and column_name in ('tag_ids', 'groups', 'workspaces')",
                [pg],
            )
            assert {t for (t,) in cursor.fetchall()} == {"jsonb"}

        # A change at the service, then back to DuckDB in the first folder, with its pipeline
        # folder as the previous version left it (no record of its place; a place's own record
        # is tested without a run below): its own incremental state, which sees the change
        # without reading the full history again.
        (state / "timetrack" / "timetrack_target.json").unlink()
        created = _create_entry(server, _first_workspace(server))
        truth = _truth(server)
        back = _summary(_run(url, a, state))
        assert back["pipeline"] == "timetrack", "the previous version's state is kept"
        assert int(str(back["requests"])) < int(str(first["requests"])), "incremental, not anew"
        landed = duckdb_rows(database, "time_tracking")
        assert created in {row[KEYS["time_entries"]] for row in landed["time_entries"]}
        assert differences(truth, landed) == []

        # A new dataset in the same file: a complete first sync (another DuckDB file, or Delta
        # tables, are other places too: tests/test_units_targets.py, without a run; Delta runs
        # in tests/source/test_lake.py and test_cli_first_hour.py).
        named = _summary(_run(url, a, state, "--dataset", "ds2"))
        assert named["where"] == f"DuckDB file {database}, dataset 'ds2'"
        assert str(named["pipeline"]).startswith("timetrack_"), "another place, another state"
        assert differences(truth, duckdb_rows(database, "ds2")) == [], "the new dataset is whole"


def _held_first_run(server: EmulatorServer, folder: Path, state: Path) -> Result:
    """A run from `folder`, in a thread of this process, held in the report's history by a
    proxy while a second run of the same pipeline is refused; then it goes on. Its result."""
    hold = HoldReport()
    with HttpProxy(server.base_url, hold) as proxy:
        results: list[Result] = []
        first = threading.Thread(
            target=lambda: results.append(_run(proxy.base_url, folder, state)), daemon=True
        )
        first.start()
        try:
            assert hold.reached.wait(timeout=120), "the first run never got going"
            second = invoke(
                folder,
                *("run", "--base-url", server.base_url, "--pipelines-dir", str(state)),
                *("--progress-every", "0"),
                SOURCES__TIMETRACK__API_TOKEN=TOKEN,
            )
        finally:
            hold.release.set()
            first.join(timeout=300)
    assert second.exit_code == 1
    assert second.stderr.strip() == (
        f"Error: another run of pipeline timetrack (DuckDB file {folder / 'timetrack.duckdb'}, "
        "dataset 'time_tracking') is running: wait for it to end"
    )
    assert len(results) == 1, "the first run went on and ended"
    return results[0]


def _first_workspace(server: EmulatorServer) -> int:
    response = requests.get(
        f"{server.base_url}/v1/me/workspaces", auth=(TOKEN, "api_token"), timeout=10
    )
    workspace: int = response.json()["data"][0]["id"]
    return workspace


def _create_entry(server: EmulatorServer, workspace: int) -> int:
    now = requests.get(f"{server.base_url}/_emulator/clock", timeout=10).json()["now"]
    response = requests.post(
        f"{server.base_url}/v1/workspaces/{workspace}/time_entries",
        json={"start": now, "duration": 900, "description": "made between two runs"},
        auth=(TOKEN, "api_token"),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    created: int = response.json()["data"]["id"]
    return created


def _killed_load(base_url: str, pg: str, state: Path) -> int:
    """tests/source/killable_run.py's run into the PostgreSQL dataset `pg`, in a forked child
    (a process of its own, without a new interpreter's start-up) that SIGKILLs itself after
    its third load job; the child's wait status as `subprocess` gives it (-9 for SIGKILL)."""

    def work() -> None:
        for name in [k for k in os.environ if cleared(k)]:
            del os.environ[name]
        os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = DSN
        killable.arm("load", 3)
        run(killable.options(base_url, f"postgres:{pg}", str(state)))

    return killable.in_forked_child(work)


@pytest.mark.parametrize("recovery", [["--full-refresh"], []], ids=["full-refresh", "plain"])
def test_a_postgres_load_killed_midway_is_recovered(
    server: EmulatorServer, tmp_path: Path, recovery: list[str]
) -> None:
    state = tmp_path / "pipelines"
    with postgres_dataset() as pg:
        assert _killed_load(server.base_url, pg, state) == -signal.SIGKILL
        after = _run(
            server.base_url,
            tmp_path,
            state,
            *("--destination", "postgres", "--dataset", pg, "--pipeline-name", "killable"),
            *recovery,
        )
        assert after.exit_code == 0, after.stderr
        summary = json.loads(after.stdout)
        dropped = "dropped the pending load of an earlier run (--full-refresh)"
        assert (dropped in summary["notes"]) == bool(recovery), summary["notes"]
        assert differences(_truth(server), postgres_rows(pg)) == []


# --- the place, resolved without a run ------------------------------------------------------------


def test_each_kind_of_place_is_named_by_where_its_data_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timetrack.destination.target import resolve_target
    from timetrack.errors import ConfigurationError

    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", "postgresql://u:secret@db.example:6543/wh"
    )
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://bucket/lake")
    state = str(tmp_path / "pipelines")
    pg = resolve_target("postgres", "tracking", pipelines_dir=state)
    assert (pg.kind, pg.location, pg.pipeline_name) == (
        "postgres",
        "db.example:6543/wh",
        "timetrack",
    )
    assert "secret" not in pg.describe() and pg.describe() == (
        "postgres db.example:6543/wh, dataset 'tracking'"
    )
    files = resolve_target("filesystem", "t", pipelines_dir=state)
    assert files.location == "s3://bucket/lake" and files.describe().startswith("Parquet files")
    local = resolve_target("duckdb", "t", pipelines_dir=state, cwd=tmp_path, name="mine")
    assert local.location == str(tmp_path / "mine.duckdb")
    (tmp_path / "x").mkdir()
    given = resolve_target(
        "duckdb", "t", duckdb_file="x/y.duckdb", cwd=tmp_path, pipelines_dir=state
    )
    assert given.location == str(tmp_path / "x" / "y.duckdb")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "configured.duckdb"))
    configured = resolve_target("duckdb", "t", cwd=tmp_path, pipelines_dir=state)
    assert configured.location == str(tmp_path / "configured.duckdb")
    with pytest.raises(ConfigurationError, match="--duckdb-file needs --destination duckdb"):
        resolve_target("postgres", "t", duckdb_file="a.duckdb", pipelines_dir=state)


def test_a_name_taken_by_another_place_gets_a_digest_of_this_one(tmp_path: Path) -> None:
    from timetrack.destination.target import RECORD, resolve_target

    state = tmp_path / "pipelines"
    first = resolve_target("duckdb", "one", cwd=tmp_path, pipelines_dir=str(state))
    (state / "timetrack").mkdir(parents=True)
    (state / "timetrack" / RECORD).write_text(json.dumps(first.key, sort_keys=True))
    again = resolve_target("duckdb", "one", cwd=tmp_path, pipelines_dir=str(state))
    other = resolve_target("duckdb", "two", cwd=tmp_path, pipelines_dir=str(state))
    also = resolve_target("duckdb", "two", cwd=tmp_path, pipelines_dir=str(state))
    assert again.pipeline_name == "timetrack"
    assert other.pipeline_name == also.pipeline_name  # the same place, the same state
    assert other.pipeline_name.startswith("timetrack_") and len(other.pipeline_name) == 20
