"""Credentials never land: every workspace's `api_token` and private calendar secret (served
in /me/workspaces) are searched for in every table of DuckDB and PostgreSQL, in the pipeline
state (dlt's `_dlt_pipeline_state` table and the pipeline directory), in every file the runs
left behind and in what the command line prints. The emulator drifts, so credentials also come
retyped, and records without their key go to `rejected_records`."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dlt
import duckdb
import psycopg2
import pyarrow.parquet as pq
import pytest
import requests
from dlt.common.versioned_state import decompress_state

from tests.helpers import Sync
from tests.test_units_cli_inprocess import command_environ, invoke
from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer, Scale

TOKEN = "cred-test-token-5c1f9e"
DSN = "postgresql://postgres:postgres@127.0.0.1:5432/test"
SCALE = Scale(
    organizations=2,
    workspaces=4,
    users=20,
    projects_per_workspace=20,
    tasks_per_workspace=20,
    time_entries=600,
    days=60,
)
SEED = 241
"""With this seed one workspace comes without its id, one with `ical_url` retyped."""


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        token=TOKEN,
        seed=SEED,
        now=float(int(time.time())),
        scale=SCALE,
        drift=Drift(rate=0.5, alias_rate=0.1),
    )
    with EmulatorServer(config) as running:
        yield running


@pytest.fixture(scope="module")
def secrets(server: EmulatorServer) -> dict[str, str]:
    """Every credential to look for, by a label that says what it is."""
    found = requests.get(server.base_url + "/_emulator/secrets", timeout=30).json()
    out = {}
    for ws in found:
        out[f"api_token of workspace {ws['workspace_id']}"] = ws["api_token"]
        out[f"ical secret of workspace {ws['workspace_id']}"] = ws["ical_secret"]
        assert ws["ical_secret"] in ws["ical_url"]
        assert len(ws["api_token"]) >= 12 and len(ws["ical_secret"]) >= 12
    # They are really served, retyped or not: the search below is not vacuous.
    served = requests.get(
        server.base_url + "/v1/me/workspaces", auth=(TOKEN, "api_token"), timeout=30
    ).text
    assert sum(secret in served for secret in out.values()) >= len(out) - 2
    drift = requests.get(
        server.base_url + "/_emulator/drift", params={"entity": "workspaces"}, timeout=30
    ).json()["entities"]["workspaces"]
    kinds = {(d["kind"], d["fields"][0]) for d in drift}
    assert ("key_missing", "id") in kinds and ("retyped", "ical_url") in kinds, kinds
    return out


def _leaks(text: str, secrets: dict[str, str], where: str) -> list[str]:
    return [f"{label} in {where}" for label, secret in secrets.items() if secret in text]


_STATE_LIKE = re.compile(r"[A-Za-z0-9+/=]{40,}")


def _expand(text: str) -> str:
    """The text, plus every dlt compressed state (base64 of zlib JSON) found in it, decoded."""
    decoded = [text]
    for candidate in _STATE_LIKE.findall(text):
        try:
            decoded.append(json.dumps(decompress_state(candidate)))
        except Exception:  # not a state: perhaps plain base64
            try:
                decoded.append(base64.b64decode(candidate + "==").decode("utf-8", "ignore"))
            except (ValueError, binascii.Error):
                continue
    return "\n".join(decoded)


def _file_text(path: Path) -> str:
    """Everything a file holds as text: raw bytes, gzip content, Parquet values."""
    raw = path.read_bytes()
    parts = [raw.decode("utf-8", "ignore")]
    if raw[:2] == b"\x1f\x8b":
        parts.append(gzip.decompress(raw).decode("utf-8", "ignore"))
    if raw[:4] == b"PAR1":
        table = pq.read_table(path)
        parts.append(json.dumps(table.to_pylist(), default=str))
    return _expand("\n".join(parts))


def _files_leak(root: Path, secrets: dict[str, str]) -> tuple[list[str], int]:
    leaks: list[str] = []
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        leaks += _leaks(_file_text(path), secrets, str(path.relative_to(root)))
    return leaks, len(files)


def _duckdb_leaks(db: Path, secrets: dict[str, str], dataset: str) -> tuple[list[str], set[str]]:
    leaks: list[str] = []
    searched: set[str] = set()
    with duckdb.connect(str(db), read_only=True) as connection:
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            cursor = connection.execute(f'select * from "{schema}"."{table}"')
            text = json.dumps(cursor.fetchall(), default=str)
            leaks += _leaks(_expand(text), secrets, f"duckdb {schema}.{table}")
            searched.add(table)
        state_rows = connection.execute(
            f'select state from "{dataset}"._dlt_pipeline_state'
        ).fetchall()
        assert state_rows
        for (state,) in state_rows:
            decoded = json.dumps(decompress_state(state))
            assert "sources" in decoded
            leaks += _leaks(decoded, secrets, "duckdb _dlt_pipeline_state (decoded)")
    return leaks, searched


@pytest.fixture
def pg_dataset() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; fails (never skips) without a server."""
    try:
        connection = psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {DSN}: {error}")
    name = f"tt_cred_{uuid.uuid4().hex[:10]}"
    yield name
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'drop schema if exists "{name}" cascade')
        cursor.execute(f'drop schema if exists "{name}_staging" cascade')
    connection.close()


@pytest.mark.postgres
def test_no_credential_lands_in_postgres(
    server: EmulatorServer,
    secrets: dict[str, str],
    sync: Sync,
    tmp_path: Path,
    pg_dataset: str,
) -> None:
    destination = dlt.destinations.postgres(DSN)
    for _ in range(2):  # the second run merges through the staging schema
        summary = sync(
            server.base_url,
            token=TOKEN,
            destination=destination,
            dataset=pg_dataset,
            pipeline_name="pg_cred",
        )
        assert summary.exit_code == 0, summary.closing_lines()
    leaks: list[str] = []
    searched: set[tuple[str, str]] = set()
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_schema in (%s, %s)",
            [pg_dataset, pg_dataset + "_staging"],
        )
        columns = cursor.fetchall()
        for schema, table, column, _ in columns:
            # every column as text: text, jsonb, and anything else a value could hide in
            cursor.execute(f'select "{column}"::text from "{schema}"."{table}"')
            values = "\n".join(v for (v,) in cursor.fetchall() if v is not None)
            leaks += _leaks(_expand(values), secrets, f"postgres {schema}.{table}.{column}")
            searched.add((table, column))
        cursor.execute(f'select state from "{pg_dataset}"._dlt_pipeline_state')
        states = cursor.fetchall()
        assert states
        for (state,) in states:
            leaks += _leaks(
                json.dumps(decompress_state(state)), secrets, "postgres _dlt_pipeline_state"
            )
    assert ("workspaces", "name") in searched and ("rejected_records", "record") in searched
    file_leaks, _ = _files_leak(tmp_path, secrets)
    assert not leaks + file_leaks, leaks + file_leaks


def test_no_credential_is_printed_or_lands_in_duckdb_state_or_files(
    server: EmulatorServer, secrets: dict[str, str], tmp_path: Path
) -> None:
    """Two runs through the command line: a first one in a real process (what dlt itself may
    print is searched too), then an incremental one in the other layout with --strict, in this
    process; then the DuckDB file, the pipeline's state and every file they left."""
    everything = {**secrets, "the user's API token": TOKEN}
    common = ("run", "--base-url", server.base_url, "--pipelines-dir", str(tmp_path / "state"))
    env = command_environ()
    env["SOURCES__TIMETRACK__API_TOKEN"] = TOKEN
    env["SOURCES__TIMETRACK__REQUESTS_PER_SECOND"] = "0"
    plain = subprocess.run(
        [sys.executable, "-m", "timetrack", *common, "--progress-every", "0.2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plain.returncode == 0, plain.stderr
    assert "loaded" in plain.stdout and "rejected_records" in plain.stdout
    strict = invoke(
        tmp_path,
        *common,
        *("--progress-every", "0", "--strict", "--layout", "bare"),
        SOURCES__TIMETRACK__API_TOKEN=TOKEN,
        SOURCES__TIMETRACK__REQUESTS_PER_SECOND="0",
    )
    assert strict.exit_code == 1, strict.stderr
    assert "--strict" in strict.stderr
    leaks: list[str] = []
    for name, out, err in (
        ("plain", plain.stdout, plain.stderr),
        ("strict", strict.stdout, strict.stderr),
    ):
        leaks += _leaks(out, everything, f"stdout of the {name} run")
        leaks += _leaks(err, everything, f"stderr of the {name} run")

    db = tmp_path / "timetrack.duckdb"
    found, searched = _duckdb_leaks(db, secrets, "time_tracking")
    leaks += found
    assert {"workspaces", "rejected_records", "_dlt_pipeline_state"} <= searched
    with duckdb.connect(str(db), read_only=True) as connection:
        workspaces = connection.execute("select count(*) from time_tracking.workspaces").fetchone()
        rejected = connection.execute(
            "select count(*) from time_tracking.rejected_records"
        ).fetchone()
    assert workspaces is not None and workspaces[0] >= 3
    assert rejected is not None and rejected[0] > 0, "keyless records were searched too"
    # the pipeline's working directory (state.json, schemas, load packages, trace)
    state_file = tmp_path / "state" / "timetrack" / "state.json"
    assert state_file.exists()
    state = json.loads(state_file.read_text())
    leaks += _leaks(json.dumps(state), secrets, "state.json")
    assert state["sources"]["timetrack"]["workspaces"], "remembered workspaces are in state"
    file_leaks, count = _files_leak(tmp_path, everything)
    assert count > 10
    assert not leaks + file_leaks, leaks + file_leaks
