"""The Dagster definitions: every account's partition materialized in-process against its own
emulator lands equal to that emulator's records; a quota stop asks for a retry, not a failure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import DagsterEventType, build_schedule_context

from tests.helpers import TOKEN, duckdb_rows
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale
from timetrack.orchestration import GROUP, JOB, build_definitions
from timetrack.run.accounts import Account
from timetrack.run.pipeline import RunOptions
from timetrack.source import source_tables

SCALE = Scale(time_entries=300)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    configs = {
        "north": EmulatorConfig(seed=11, scale=SCALE),
        "south": EmulatorConfig(seed=12, scale=SCALE),
        "spent": EmulatorConfig(seed=13, scale=SCALE, limits=Limits(quota=True, quota_per_hour=6)),
    }
    started = {name: EmulatorServer(config).start() for name, config in configs.items()}
    yield started
    for server in started.values():
        server.stop()


def _definitions(
    servers: dict[str, EmulatorServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    names: tuple[str, ...] = ("north", "south", "spent"),
) -> object:
    monkeypatch.chdir(tmp_path)
    accounts = []
    for name in names:
        server = servers[name]
        monkeypatch.setenv(f"{name.upper()}_TOKEN", TOKEN)
        accounts.append(Account(name, f"{name.upper()}_TOKEN", base_url=server.base_url))
    base = RunOptions(
        dataset="dg",
        pipelines_dir=str(tmp_path / "state"),
        progress_every=0,
        source_args={"requests_per_second": 0, "max_quota_wait": 0},
    )
    return build_definitions(accounts, base, quota_retries=1, retry_wait=0.1)


def test_every_partition_materializes_its_account_equal_to_the_truth(
    servers: dict[str, EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = _definitions(servers, tmp_path, monkeypatch, names=("north", "south"))
    job = defs.resolve_job_def(JOB)  # type: ignore[attr-defined]
    assert job.partitions_def.get_partition_keys() == ["north", "south"]
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}  # type: ignore[attr-defined]
    # every table but the opt-in `rates` (timetrack_source(rates=True) adds it)
    tables = [t for t in source_tables() if t != "rates"]
    assert keys == {f"{GROUP}/{table}" for table in [*tables, "rejected_records"]}

    for name in job.partitions_def.get_partition_keys():  # every partition
        result = job.execute_in_process(partition_key=name)
        assert result.success
        materialized = {
            event.asset_key.path[-1]
            for event in result.get_asset_materialization_events()
            if event.asset_key is not None
        }
        assert materialized == {*tables, "rejected_records"}
        landed = duckdb_rows(tmp_path / f"timetrack_{name}.duckdb", f"dg_{name}")
        problems = differences(expected_tables(servers[name].base_url, TOKEN), landed)
        assert not problems, (name, problems[:10])


def test_a_quota_stop_is_retried_not_failed_outright(
    servers: dict[str, EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = _definitions(servers, tmp_path, monkeypatch)
    result = defs.resolve_job_def(JOB).execute_in_process(
        partition_key="spent", raise_on_error=False
    )  # type: ignore[attr-defined]
    kinds = [event.event_type for event in result.all_events]
    assert DagsterEventType.STEP_UP_FOR_RETRY in kinds  # asked to come back when it resets
    assert DagsterEventType.STEP_RESTARTED in kinds
    assert not result.success  # the quota never resets within the test: after its retries
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "quota" in str(failure.event_specific_data).lower()


def test_the_hourly_schedule_asks_for_every_account(
    servers: dict[str, EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = _definitions(servers, tmp_path, monkeypatch)
    schedule = defs.resolve_schedule_def("timetrack_hourly")  # type: ignore[attr-defined]
    assert schedule.cron_schedule == "0 * * * *"
    at = datetime(2026, 11, 28, 5, tzinfo=UTC)
    context = build_schedule_context(
        scheduled_execution_time=at,
        repository_def=defs.get_repository_def(),  # type: ignore[attr-defined]
    )
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert sorted(r.partition_key for r in requests) == ["north", "south", "spent"]
    assert {r.run_key for r in requests} == {
        f"{n}:{at.isoformat()}" for n in ("north", "south", "spent")
    }
