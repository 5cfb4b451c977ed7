"""A service that departs from the contract (emulator drift) never fails a run: every record
with a usable key lands, the others are kept in `rejected_records` with their reason, and alias
quirks resolve to the right values. Checked record by record against `/_emulator/drift` and the
emulator's undrifted records."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import requests

from tests.helpers import Sync, db_counts, expected_counts, fast_options
from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer, Scale
from timetrack.run.pipeline import RunOptions, RunSummary, run
from timetrack.source import settings
from timetrack.source.schema import LEGACY_ALIASES, is_secret, parse_timestamp

Json = dict[str, Any]

SCALE = Scale(
    organizations=2,
    workspaces=3,
    users=40,
    projects_per_workspace=60,
    tasks_per_workspace=50,
    time_entries=1500,
    days=100,
)
DRIFT = Drift(rate=0.1, alias_rate=0.1)

TABLES: dict[str, tuple[str, str, str]] = {
    # table: (entity of /_emulator/records, its key field, entity of /_emulator/drift)
    "organizations": ("organizations", "id", "organizations"),
    "workspaces": ("workspaces", "id", "workspaces"),
    "workspace": ("statistics", "workspace_id", "statistics"),
    "workspace_clients": ("clients", "id", "clients"),
    "workspace_tags": ("tags", "id", "tags"),
    "organizations_groups": ("groups", "group_id", "groups"),
    "workspace_users": ("workspace_users", "id", "workspace_users"),
    "organizations_users": ("organization_users", "id", "organization_users"),
    "workspace_projects": ("projects", "id", "projects"),
    "workspace_tasks": ("tasks", "id", "tasks"),
    "time_entries": ("time_entries", "id", "time_entries"),
    "report_time_entries": ("time_entries", "id", "report_time_entries"),
}
KEY_OF = {table: key for table, (_, key, _) in TABLES.items()}


class World:
    """One drifting emulator, its undrifted records and its drift listing."""

    def __init__(self, server: EmulatorServer) -> None:
        self.base_url = server.base_url
        self.listing: Json = self.admin("/drift")
        self.now = datetime.fromisoformat(self.admin("/truth")["now"])
        self._records: dict[str, list[Json]] = {}

    def admin(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.base_url}/_emulator{path}", params=params, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    def records(self, entity: str, **params: Any) -> list[Json]:
        name = entity + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        if name not in self._records:
            self._records[name] = self.admin(f"/records/{entity}", **params)
        return self._records[name]

    def truth(self, table: str) -> dict[int, Json]:
        """The records `table` must hold after a complete sync, by key (none drifted)."""
        entity, key, _ = TABLES[table]
        if table == "time_entries":
            first_day = datetime.combine(
                self.now.date() - timedelta(days=settings.HISTORY_DAYS), datetime.min.time(), UTC
            )
            me = self.admin("/truth", token="demo-token")["user_id"]
            return {
                r["id"]: r
                for r in self.records(entity, user="me")
                if r["user_id"] == me
                and r["server_deleted_at"] is None
                and datetime.fromisoformat(r["start"]) >= first_day
            }
        if table == "report_time_entries":
            return {
                r["id"]: r
                for r in self.records(entity)
                if r["server_deleted_at"] is None and r["stop"] is not None
            }
        if table == "organizations_users":  # members who left stay listed
            return {r[key]: r for r in self.records(entity)}
        return {r[key]: r for r in self.records(entity) if r.get("server_deleted_at") is None}

    def departures(self, table: str, section: str = "entities") -> list[Json]:
        entity = TABLES[table][2]
        found: list[Json] = self.listing[section].get(entity, [])
        return found

    def key_missing(self, table: str) -> set[int]:
        """Keys of the table's records the service serves without their key."""
        truth = self.truth(table)
        return {
            d["key"]
            for d in self.departures(table)
            if d["kind"] == "key_missing" and d["key"] in truth
        }


def _landed(db: Path, table: str, columns: str = "*") -> list[Json]:
    with duckdb.connect(str(db), read_only=True) as connection:
        cursor = connection.execute(f'select {columns} from timetrack."{table}"')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _columns(db: Path, table: str) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return [
            c
            for (c,) in connection.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'timetrack' and table_name = ?",
                [table],
            ).fetchall()
        ]


def _duplicates(db: Path, table: str) -> int:
    key = KEY_OF[table]
    with duckdb.connect(str(db), read_only=True) as connection:
        row = connection.execute(
            f'select count(*) - count(distinct "{key}") from timetrack."{table}"'
        ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def drifting() -> Any:
    """One drifting emulator shared by the tests of this module (they only read from it)."""
    now = float(int(time.time()))  # the 90-day window of time_entries follows the clock
    with EmulatorServer(EmulatorConfig(seed=11, now=now, scale=SCALE, drift=DRIFT)) as server:
        yield server


@pytest.fixture(scope="module")
def world(drifting: EmulatorServer) -> World:
    found = World(drifting)
    # The scenario needs drift where it matters, and none where it would hide the rest (a
    # workspace or organization without id takes its whole scope out of reach).
    for table in ("organizations", "workspaces"):
        assert not found.key_missing(table), f"seed makes a {table} record lose its key"
    assert sum(len(found.key_missing(t)) for t in TABLES) > 5
    return found


@dataclass
class FirstRun:
    """The module's one complete sync of the drifting service (envelope layout): `db` as it
    stood after it (a copy, for the tests that read), `root` where the next run goes on."""

    summary: RunSummary
    db: Path
    root: Path


@pytest.fixture(scope="module")
def first_run(
    drifting: EmulatorServer, world: World, tmp_path_factory: pytest.TempPathFactory
) -> FirstRun:
    root = tmp_path_factory.mktemp("drift")
    summary = run(fast_options(drifting.base_url, root))
    with duckdb.connect(str(root / "db.duckdb")) as connection:
        connection.execute("checkpoint")  # the whole database in the file, for the copy
    snapshot = root / "after_first_run.duckdb"
    shutil.copyfile(root / "db.duckdb", snapshot)
    return FirstRun(summary, snapshot, root)


def _strict_run(base_url: str, tmp_path: Path, name: str, resources: list[str]) -> RunSummary:
    return run(
        RunOptions(
            destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
            dataset="timetrack",
            pipeline_name=f"strict_{name}",
            pipelines_dir=str(tmp_path / "state"),
            resources=resources,
            progress_every=0,
            strict=True,
            source_args={"api_token": "demo-token", "base_url": base_url, "requests_per_second": 0},
        )
    )


@pytest.mark.parametrize("layout", ["envelope", "bare"])
def test_drifting_service_lands_every_record_with_a_key(
    drifting: EmulatorServer,
    world: World,
    sync: Sync,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    layout: str,
) -> None:
    if layout == "envelope":  # the module's sync, shared with the tests below
        first: FirstRun = request.getfixturevalue("first_run")
        db, summary = first.db, first.summary
    else:
        db, summary = tmp_path / "db.duckdb", sync(drifting.base_url, layout=layout)
    assert summary.exit_code == 0, (summary.stats.errors, summary.closing_lines())
    assert not summary.stats.errors and not summary.stats.deferred
    assert not summary.stats.warnings, summary.stats.warnings  # the views built over drift too
    assert len(summary.views) == 3, summary.views

    for table in TABLES:
        truth = set(world.truth(table))
        lost = world.key_missing(table)
        landed = [row[KEY_OF[table]] for row in _landed(db, table, f'"{KEY_OF[table]}"')]
        assert set(landed) == truth - lost, (
            table,
            sorted(set(landed) ^ (truth - lost))[:10],
        )
        assert len(landed) == len(set(landed)), f"duplicate keys in {table}"

    rejected = _landed(db, "rejected_records")
    expected_rejects = {t: len(world.key_missing(t)) for t in TABLES if world.key_missing(t)}
    assert Counter(r["table_name"] for r in rejected) == Counter(expected_rejects)
    assert dict(summary.stats.rejected) == expected_rejects
    counts = expected_counts(drifting.base_url)
    assert db_counts(db) == {
        # project users and groups do not drift: their counts stand as they are
        **{t: n - len(world.key_missing(t)) if t in TABLES else n for t, n in counts.items()},
        "rejected_records": sum(expected_rejects.values()),
    }
    assert summary.rows["rejected_records"] == sum(expected_rejects.values())
    for row in rejected:
        key = KEY_OF[row["table_name"]]
        assert row["reason"] == f"no {key}", row
        assert row["record_key"] is None
        assert row["_dlt_load_id"]
        record = json.loads(row["record"])
        assert isinstance(record, dict) and key not in record, row
        assert not [k for k in record if is_secret(k)], row


def _scope_of(table: str, canonical: Json) -> str:
    if table == "organizations_users":  # the service's records do not say which organization
        return "organization"
    if table == "time_entries":
        return "token"
    return f"workspace {canonical['workspace_id']}"


def test_rejected_records_are_the_keyless_ones_with_their_table_scope_and_content(
    world: World, first_run: FirstRun
) -> None:
    rejected = _landed(first_run.db, "rejected_records")
    assert rejected
    aliases = {(d["key"], d["alias"]): d for t in TABLES for d in world.departures(t, "aliases")}
    for table in TABLES:
        lost = world.key_missing(table)
        rows = [r for r in rejected if r["table_name"] == table]
        truth = world.truth(table)
        expected_scopes = Counter(_scope_of(table, truth[k]) for k in lost)
        scopes = [r["scope"] for r in rows]
        if table == "organizations_users":
            organizations = {f"organization {o['id']}" for o in world.records("organizations")}
            assert set(scopes) <= organizations, scopes
            scopes = ["organization" for _ in scopes]
        assert Counter(scopes) == expected_scopes, table
        for row in rows:
            served = json.loads(row["record"])
            if table == "report_time_entries":
                # A report row holding the one entry without id: its start says which it was.
                (entry,) = served["time_entries"]
                start = parse_timestamp(entry["start"])
                assert any(
                    parse_timestamp(truth[k]["start"]) == start
                    and row["scope"] == f"workspace {truth[k]['workspace_id']}"
                    for k in lost
                ), row
                continue
            key = KEY_OF[table]
            # The list's own count, which projects and clients carry in each record it lists.
            served.pop("total_count", None)
            matches = []
            for k in lost:
                # The truth knows the organization of users and groups; the API does not say.
                canonical = {
                    n: v
                    for n, v in truth[k].items()
                    if n != key
                    and not is_secret(n)
                    and not (n == "organization_id" and table.startswith("organizations_"))
                }
                quirk = [d for (dk, _), d in aliases.items() if dk == k]
                for d in quirk:
                    if d["kind"] == "alias_alone":
                        canonical.pop(d["field"], None)
                    canonical[d["alias"]] = d["value"]
                if served == canonical:
                    matches.append(k)
            assert len(matches) == 1, (table, served)


def test_strict_fails_the_run_only_when_records_were_rejected(
    drifting: EmulatorServer, world: World, tmp_path: Path
) -> None:
    lossy = next(t for t in ("workspace_tags", "workspace_users") if world.key_missing(t))
    clean = next(
        t
        for t in ("organizations_groups", "workspace_clients", "workspace_projects")
        if not world.key_missing(t)
    )
    failed = _strict_run(drifting.base_url, tmp_path, "lossy", [lossy])
    assert failed.stats.rejected[lossy] == len(world.key_missing(lossy))
    assert failed.exit_code == 1
    assert any("--strict" in line for line in failed.closing_lines())
    assert db_counts(tmp_path / "lossy.duckdb")[lossy] == len(world.truth(lossy)) - len(
        world.key_missing(lossy)
    ), "strict still lands what it can"
    passed = _strict_run(drifting.base_url, tmp_path, "clean", [clean])
    assert passed.exit_code == 0 and not passed.stats.rejected


def test_a_second_run_adds_no_duplicates(
    drifting: EmulatorServer, world: World, first_run: FirstRun
) -> None:
    """The second run goes on from the module's first, in its own folder and state."""
    db = first_run.root / "db.duckdb"
    first = first_run.summary
    before = db_counts(first_run.db)
    second = run(fast_options(drifting.base_url, first_run.root))
    assert second.exit_code == 0, second.closing_lines()
    after = db_counts(db)
    assert {t: n for t, n in after.items() if t != "rejected_records"} == {
        t: n for t, n in before.items() if t != "rejected_records"
    }
    for table in TABLES:
        assert _duplicates(db, table) == 0, table
    # rejected_records is a log: each run appends what it could not land, once per record
    rejected = _landed(db, "rejected_records", "table_name, _dlt_load_id")
    loads = Counter(r["_dlt_load_id"] for r in rejected)
    assert len(loads) == 2
    assert sorted(loads.values(), reverse=True)[0] == sum(first.stats.rejected.values())
    assert sum(loads.values()) == sum(first.stats.rejected.values()) + sum(
        second.stats.rejected.values()
    )


def _same(canonical: Any, landed: Any) -> bool:
    """Whether a landed value is the canonical one (timestamps compared as instants)."""
    if isinstance(canonical, bool) or isinstance(landed, bool):
        return bool(canonical == landed)
    if isinstance(canonical, int | float) and isinstance(landed, int | float):
        return float(canonical) == float(landed)
    if isinstance(canonical, str) and isinstance(landed, datetime):
        return parse_timestamp(canonical) == parse_timestamp(landed)
    if isinstance(canonical, str) and hasattr(landed, "isoformat"):  # a date
        return bool(canonical[:10] == landed.isoformat())
    if isinstance(landed, str) and not isinstance(canonical, str):
        try:
            return bool(json.loads(landed) == canonical)
        except ValueError:
            return False
    return bool(canonical == landed)


def _served(value: Any, landed: Any) -> bool:
    if isinstance(landed, str):
        try:
            return bool(json.loads(landed) == value) or landed == value
        except ValueError:
            return bool(landed == value)
    return bool(landed == value) or (
        isinstance(value, str) and _same(value, landed) and parse_timestamp(value) is not None
    )


def test_retyped_values_land_somewhere(world: World, first_run: FirstRun) -> None:
    db = first_run.db
    assert first_run.summary.exit_code == 0
    checked: Counter[str] = Counter()
    misses = []
    for table in TABLES:
        key = KEY_OF[table]
        truth = world.truth(table)
        retyped = [
            d
            for d in world.departures(table)
            if d["kind"] == "retyped"
            and d["key"] in truth
            and d["fields"][0] not in LEGACY_ALIASES
            and not is_secret(d["fields"][0])
        ]
        if not retyped:
            continue
        rows = {r[key]: r for r in _landed(db, table)}
        columns = _columns(db, table)
        for departure in retyped:
            field = departure["fields"][0]
            row = rows.get(departure["key"])
            assert row is not None, (table, departure)
            canonical = truth[departure["key"]].get(field)
            if table == "report_time_entries" and field == "seconds":
                canonical = truth[departure["key"]]["duration"]
            value = row.get(field)
            variants = [c for c in columns if c.startswith(f"{field}__")]
            kept = [row[c] for c in variants if row[c] is not None]
            in_column = value is not None and (
                _same(canonical, value) or _served(departure["value"], value)
            )
            in_variant = any(_served(departure["value"], v) for v in kept)
            if in_column or in_variant:
                checked[table] += 1
            else:
                misses.append((table, departure, value, dict(zip(variants, kept, strict=False))))
    assert not misses, misses[:5]
    assert sum(checked.values()) >= 10, checked


def test_alias_quirks_resolve_to_the_records_values(world: World, first_run: FirstRun) -> None:
    db = first_run.db
    kinds: Counter[str] = Counter()
    wrong = []
    for table in ("time_entries", "workspace_projects", "workspace_users"):
        truth = world.truth(table)
        rows = {r["id"]: r for r in _landed(db, table)}
        assert not set(LEGACY_ALIASES) & set(_columns(db, table)), "aliases are folded"
        for quirk in world.departures(table, "aliases"):
            if quirk["key"] not in truth or quirk["key"] not in rows:
                continue
            field = quirk["field"]
            expected = truth[quirk["key"]][field]
            if quirk["kind"] == "alias_alone":
                assert quirk["value"] == expected, "the lone alias carries the value"
            kinds[f"{table} {quirk['kind']} {field}"] += 1
            if rows[quirk["key"]][field] != expected:
                wrong.append((table, quirk, rows[quirk["key"]][field], expected))
    assert not wrong, wrong[:5]
    assert any("time_entries alias_disagrees" in k for k in kinds), kinds
    assert any("time_entries alias_alone" in k for k in kinds), kinds
    assert any("alias_disagrees" in k and "time_entries" not in k for k in kinds), kinds
    # the fields that only the record can tell (no scope column covers them)
    assert {k.split()[-1] for k in kinds} & {"project_id", "user_id", "task_id", "client_id"}


def test_a_workspace_served_without_id_is_rejected_not_dropped(
    make_emulator: Callable[..., EmulatorServer], sync: Sync, tmp_path: Path
) -> None:
    """Discovery cannot read from a workspace without id, but the record must still be kept in
    `rejected_records` (and counted), as every other keyless record is, not vanish unseen."""
    scale = Scale(
        organizations=2,
        workspaces=4,
        users=20,
        projects_per_workspace=20,
        tasks_per_workspace=20,
        time_entries=600,
        days=60,
    )
    server = make_emulator(
        EmulatorConfig(seed=37, now=float(int(time.time())), scale=scale, drift=Drift(rate=0.5))
    )
    keyless = [
        d
        for d in requests.get(
            server.base_url + "/_emulator/drift", params={"entity": "workspaces"}, timeout=60
        ).json()["entities"]["workspaces"]
        if d["kind"] == "key_missing"
    ]
    assert len(keyless) == 1, "seed 37 serves one workspace without its id"
    name = next(
        w["name"]
        for w in requests.get(server.base_url + "/_emulator/records/workspaces", timeout=60).json()
        if w["id"] == keyless[0]["key"]
    )
    summary = sync(server.base_url, resources=["workspaces"])  # the one table it concerns
    rejected = [
        r
        for r in _landed(tmp_path / "db.duckdb", "rejected_records")
        if r["table_name"] == "workspaces"
    ]
    assert summary.stats.rejected["workspaces"] == 1, dict(summary.stats.rejected)
    assert len(rejected) == 1, rejected
    record = json.loads(rejected[0]["record"])
    assert rejected[0]["reason"] == "no id" and record["name"] == name
    assert not [k for k in record if is_secret(k)]
