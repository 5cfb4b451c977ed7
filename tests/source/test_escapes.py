"""Bugs that once escaped every test, each pinned by the value a user would see: the exit code of
a run with errors and a quota stop, `--json`'s deferred scopes, Delta's last row per key, and a
credential nested in a field the contract does not name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers import Sync
from tests.source.proxies import HttpProxy, Reply, Seen
from timetrack.destination.lake import _keep_last
from timetrack.emulator import EmulatorServer
from timetrack.errors import QuotaExhaustedError
from timetrack.run.pipeline import RunSummary
from timetrack.source.client import RequestStats

NESTED_SECRET = "nested-secret-4b7e2a9d"


def _summary(stats: RequestStats) -> RunSummary:
    return RunSummary(rows={}, stats=stats, elapsed=1.0, destination="duckdb", dataset="d")


def test_errors_outrank_a_quota_stop_and_json_keeps_the_deferred_scopes() -> None:
    stats = RequestStats()
    stats.defer("report_time_entries of workspace 4000001")
    stats.quota_stops["org:9000001"] = QuotaExhaustedError("spent", 60)
    summary = _summary(stats)
    assert summary.exit_code == 75
    assert summary.as_dict()["deferred"] == ["report_time_entries of workspace 4000001"]
    stats.error("workspace_clients of workspace 4000002: HTTP 500")
    assert summary.exit_code == 1, "an error is not a quota stop: the scheduler must see it"
    assert summary.as_dict()["exit_code"] == 1
    assert summary.as_dict()["deferred"] == ["report_time_entries of workspace 4000001"]


def test_delta_keeps_the_last_row_read_of_each_key(tmp_path: Path) -> None:
    first, second = tmp_path / "1.parquet", tmp_path / "2.parquet"
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("gone", pa.string())])
    rows = ({"id": [1, 2], "name": ["old one", "two"], "gone": [None, None]}, first)
    pq.write_table(pa.table(rows[0], schema=schema), rows[1])
    rows = ({"id": [1, 3], "name": ["new one", "x"], "gone": [None, "2026"]}, second)
    pq.write_table(pa.table(rows[0], schema=schema), rows[1])
    _keep_last([first, second], ["id"], "gone")
    kept = pa.concat_tables([pq.read_table(first), pq.read_table(second)]).to_pylist()
    assert sorted((r["id"], r["name"]) for r in kept) == [(1, "new one"), (2, "two")]


def _nest(seen: Seen, forward: Any) -> Reply | None:
    """Clients come with a field no contract names, holding a credential two levels down."""
    if not seen.path.endswith("/clients"):
        return None
    reply: Reply = forward(seen)
    body = reply.json()
    items = body["data"] if isinstance(body, dict) else body
    for item in items or []:
        item["vendor_link"] = {"oauth": {"access_token": NESTED_SECRET}, "label": "kept label"}
    return reply.with_json(body)


def test_a_credential_nested_in_an_unnamed_field_never_lands(
    emulator: EmulatorServer, sync: Sync, tmp_path: Path
) -> None:
    with HttpProxy(emulator.base_url, _nest) as proxy:
        assert sync(proxy.base_url).exit_code == 0
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as db:
        landed = db.execute("select vendor_link from timetrack.workspace_clients").fetchall()
        tables = db.execute(
            "select table_name from information_schema.tables where table_schema = 'timetrack'"
        ).fetchall()
        dump = "\n".join(
            str(db.execute(f'select * from timetrack."{t}"').fetchall()) for (t,) in tables
        )
    assert landed and all("kept label" in str(value) for (value,) in landed)
    assert NESTED_SECRET not in dump
    state = "\n".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.json"))
    assert NESTED_SECRET not in state
