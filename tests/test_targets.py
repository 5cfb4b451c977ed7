"""Where data goes decides its state: other folders, datasets and destinations, in any order,
each get a complete sync through the command line; a killed load is recovered, with
--full-refresh or without. Every landing is compared by value with the emulator's truth.

The runs go through the command line in this process (tests/test_units_cli_inprocess.py); a
good run's empty stderr in a real process is tests/source/test_cli_errors.py's; the killed load
is a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from click.testing import Result

from tests.helpers import DSN, TOKEN, delta_rows, duckdb_rows, postgres_dataset, postgres_rows
from tests.source.proxies import HoldReport, HttpProxy
from tests.test_units_cli_inprocess import CLEARED, invoke
from tests.truth import KEYS, differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

SMALL = Scale(workspaces=2, users=12, time_entries=600)
KILLABLE = Path(__file__).parent / "source" / "killable_run.py"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=19, scale=SMALL)) as running:
        yield running


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    env["SOURCES__TIMETRACK__API_TOKEN"] = TOKEN
    env["DESTINATION__POSTGRES__CREDENTIALS"] = DSN
    env.update(extra)
    return env


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


def test_each_place_keeps_its_own_state_and_gets_all_of_it(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Folders sharing a pipelines folder, a new dataset in the same file, another file, and a
    pipeline folder as the previous version left it: each complete, each its own state."""
    state = tmp_path / "pipelines"
    truth = _truth(server)
    first = _summary(_run(server.base_url, tmp_path / "a", state))
    second = _summary(_run(server.base_url, tmp_path / "b", state))
    for folder, summary in (("a", first), ("b", second)):
        database = tmp_path / folder / "timetrack.duckdb"
        assert summary["where"] == f"DuckDB file {database}, dataset 'time_tracking'"
        assert differences(truth, duckdb_rows(database, "time_tracking")) == [], folder
    assert first["pipeline"] == "timetrack", "the first place keeps the name"
    assert str(second["pipeline"]).startswith("timetrack_"), "another place, another state"
    # Back in the first folder, with its pipeline folder as the previous version left it (no
    # record of its place; a place's own record is tested without a run below): its own
    # state, so an unchanged run reads no full history again.
    (state / "timetrack" / "timetrack_target.json").unlink()
    again = _summary(_run(server.base_url, tmp_path / "a", state))
    assert again["pipeline"] == "timetrack", "the previous version's state is kept"
    assert int(str(again["requests"])) < int(str(first["requests"])), "incremental, not anew"

    # A new dataset in the same file, and another file: each a complete first sync.
    named = _summary(_run(server.base_url, tmp_path / "a", state, "--dataset", "ds2"))
    database = tmp_path / "a" / "timetrack.duckdb"
    assert named["where"] == f"DuckDB file {database}, dataset 'ds2'"
    assert differences(truth, duckdb_rows(database, "ds2")) == [], "the new dataset is whole"
    elsewhere = _summary(
        _run(server.base_url, tmp_path / "a", state, "--duckdb-file", "other.duckdb")
    )
    assert elsewhere["pipeline"] != "timetrack"
    other = duckdb_rows(tmp_path / "a" / "other.duckdb", "time_tracking")
    assert differences(truth, other) == [], "another file is a complete first sync"


def test_duckdb_postgres_duckdb_delta_each_complete_and_current(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(seed=23, scale=SMALL)) as server, postgres_dataset() as pg:
        url = server.base_url
        state = tmp_path / "pipelines"
        database = tmp_path / "timetrack.duckdb"
        _summary(_run(url, tmp_path, state))
        # The documented recipe (docs/usage.md): postgres with a dataset of its own (and -q,
        # which leaves --json's object alone).
        named = _summary(
            _run(url, tmp_path, state, "--destination", "postgres", "--dataset", pg, "-q")
        )
        assert named["where"] == f"postgres 127.0.0.1:5432/test, dataset {pg!r}"
        assert str(named["pipeline"]).startswith("timetrack_"), "another place, another state"
        assert named["views"], "the analytics views are built over jsonb columns"
        assert differences(_truth(server), postgres_rows(pg)) == []
        with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
            cursor.execute(
                "select distinct data_type from information_schema.columns where "
                "table_schema = %s and column_name in ('tag_ids', 'groups', 'workspaces')",
                [pg],
            )
            assert {t for (t,) in cursor.fetchall()} == {"jsonb"}
        # A change at the service, then back to DuckDB: its own incremental state sees it.
        ws = _first_workspace(server)
        created = _create_entry(server, ws)
        back = _summary(_run(url, tmp_path, state))
        assert back["pipeline"] == "timetrack"
        landed = duckdb_rows(database, "time_tracking")
        assert created in {row[KEYS["time_entries"]] for row in landed["time_entries"]}
        assert differences(_truth(server), landed) == []
        lake = tmp_path / "lake"
        _summary(
            _run(
                url,
                tmp_path,
                state,
                *("--destination", "filesystem", "--table-format", "delta"),
                DESTINATION__FILESYSTEM__BUCKET_URL=str(lake),
            )
        )
        truth = _truth(server)
        assert differences(truth, delta_rows(str(lake / "time_tracking"), truth)) == []


def _first_workspace(server: EmulatorServer) -> int:
    import requests

    response = requests.get(
        f"{server.base_url}/v1/me/workspaces", auth=(TOKEN, "api_token"), timeout=10
    )
    workspace: int = response.json()["data"][0]["id"]
    return workspace


def _create_entry(server: EmulatorServer, workspace: int) -> int:
    import requests

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


@pytest.mark.parametrize("recovery", [["--full-refresh"], []], ids=["full-refresh", "plain"])
def test_a_postgres_load_killed_midway_is_recovered(
    server: EmulatorServer, tmp_path: Path, recovery: list[str]
) -> None:
    state = tmp_path / "pipelines"
    with postgres_dataset() as pg:
        command = [sys.executable, str(KILLABLE), server.base_url, f"postgres:{pg}", str(state)]
        killed = subprocess.run(
            [*command, "load", "3"],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(),
        )
        assert killed.returncode == -9, killed.stderr
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


def test_a_second_run_of_one_pipeline_is_refused_while_the_first_runs(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The first run, in a thread of this process, is held in the report's history by a proxy
    while the second is refused; then it goes on and ends well."""
    hold = HoldReport()

    state = tmp_path / "pipelines"
    with HttpProxy(server.base_url, hold) as proxy:
        results: list[Result] = []
        first = threading.Thread(
            target=lambda: results.append(_run(proxy.base_url, tmp_path, state)), daemon=True
        )
        first.start()
        try:
            assert hold.reached.wait(timeout=120), "the first run never got going"
            second = invoke(
                tmp_path,
                *("run", "--base-url", server.base_url, "--pipelines-dir", str(state)),
                *("--progress-every", "0"),
                SOURCES__TIMETRACK__API_TOKEN=TOKEN,
            )
        finally:
            hold.release.set()
            first.join(timeout=300)
    assert second.exit_code == 1
    assert second.stderr.strip() == (
        f"Error: another run of pipeline timetrack (DuckDB file {tmp_path / 'timetrack.duckdb'}, "
        "dataset 'time_tracking') is running: wait for it to end"
    )
    assert [r.exit_code for r in results] == [0], "the first run went on and ended well"
