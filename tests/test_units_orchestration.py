"""What Dagster is told about a run that did not land (timetrack.orchestration), on its own:
a quota stop is retried when the quota resets, anything else fails with the run's own words;
and what the definitions declare (assets, their group and pipeline) and ask of a run, with the
run itself replaced (tests/test_orchestration.py runs the definitions against emulators)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, Failure, RetryRequested

from timetrack.errors import QuotaExhaustedError
from timetrack.orchestration import _table, quota_or_failure
from timetrack.run.accounts import Account
from timetrack.run.pipeline import RunOptions, RunSummary
from timetrack.source.client import RequestStats


def _summary(**stats: object) -> RunSummary:
    return RunSummary(
        rows={"clients": 4},
        stats=RequestStats(**stats),  # type: ignore[arg-type]
        elapsed=1.0,
        destination="duckdb",
        dataset="tt",
    )


def _stop(seconds: int) -> QuotaExhaustedError:
    return QuotaExhaustedError(f"spent, resets in {seconds} s", seconds)


def test_a_run_that_landed_asks_nothing() -> None:
    quota_or_failure(_summary(), "acme", retries=3, wait=None)


def test_a_quota_stop_is_retried_at_the_soonest_reset_at_least_a_minute_away() -> None:
    with pytest.raises(RetryRequested) as caught:
        quota_or_failure(
            _summary(quota_stops={"org:1": _stop(900), "org:2": _stop(300)}, deferred=["x"]),
            "acme",
            retries=24,
            wait=None,
        )
    assert (caught.value.max_retries, caught.value.seconds_to_wait) == (24, 300)
    cause = caught.value.__cause__
    assert isinstance(cause, Failure)
    assert cause.description == (
        "account acme: stopped for the hourly API quota with progress saved: 4 rows landed, "
        "1 parts left for the next run; spent, resets in 300 s"
    )
    with pytest.raises(RetryRequested) as soon:
        quota_or_failure(_summary(quota_stops={"me": _stop(5)}), "acme", 2, None)
    assert soon.value.seconds_to_wait == 60, "never sooner than a minute"


def test_a_quota_stop_with_no_reset_said_waits_an_hour_or_as_told() -> None:
    with pytest.raises(RetryRequested) as caught:
        quota_or_failure(_summary(deferred=["x"]), "acme", 24, None)
    assert caught.value.seconds_to_wait == 3600
    with pytest.raises(RetryRequested) as told:
        quota_or_failure(_summary(quota_stops={"me": _stop(900)}), "acme", 24, 0.5)
    assert told.value.seconds_to_wait == 0.5


def test_any_other_outcome_fails_with_the_runs_words() -> None:
    with pytest.raises(Failure) as caught:
        quota_or_failure(
            _summary(errors=["workspace 5: no access"], quota_stops={"me": _stop(60)}),
            "acme",
            24,
            None,
        )
    assert not isinstance(caught.value, RetryRequested)
    assert caught.value.description == (
        "account acme: Error: workspace 5: no access; stopped for the hourly API quota with "
        "progress saved: 4 rows landed, 0 parts left for the next run; spent, resets in 60 s"
    ), "an error outranks the quota stop beside it: no retry"
    with pytest.raises(Failure) as interrupted:
        quota_or_failure(_summary(stop_reason="interrupted by Ctrl-C"), "b", 24, None)
    assert interrupted.value.description == (
        "account b: interrupted: what was fetched before Ctrl-C has landed; the next run "
        "resumes from there"
    )


def test_an_assets_table_is_the_last_part_of_its_key() -> None:
    assert _table(AssetKey(["timetrack", "workspace_projects"])) == "workspace_projects"


def test_an_accounts_file_gives_a_partition_per_account_and_their_tables_as_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timetrack.orchestration import JOB, definitions_from_file

    monkeypatch.chdir(tmp_path)
    file = tmp_path / "accounts.toml"
    file.write_text(
        '[[account]]\nname = "north"\napi_token_env = "N"\n'
        '[[account]]\nname = "south"\napi_token_env = "S"\n'
    )
    defs = definitions_from_file(
        file, RunOptions(dataset="tracking", pipelines_dir=str(tmp_path / "state"))
    )
    job = defs.resolve_job_def(JOB)
    assert job.partitions_def is not None
    assert job.partitions_def.get_partition_keys() == ["north", "south"]
    assert_specs_land_where(defs, state=tmp_path / "state", dataset="tracking")


def assert_specs_land_where(defs: object, *, state: Path, dataset: str) -> None:
    """Every asset `timetrack/<table>`, in the group `timetrack`, with no upstream asset, and
    the pipeline behind it in `state` for `dataset` (what the options said)."""
    from timetrack.source import timetrack_source

    shape = timetrack_source(api_token="unused", base_url="http://127.0.0.1:9")
    tables = set(shape.selected_resources)
    assert "time_entries" in tables and "rejected_records" in tables, "a table an asset"
    (assets,) = defs.assets  # type: ignore[attr-defined]
    specs = {spec.key: spec for spec in assets.specs}
    assert set(specs) == {AssetKey(["timetrack", table]) for table in tables}
    for spec in specs.values():
        assert (spec.group_name, list(spec.deps)) == ("timetrack", []), spec.key
        pipeline = spec.metadata["dagster_dlt/pipeline"]
        assert (pipeline.pipelines_dir, pipeline.dataset_name) == (str(state), dataset)


def test_with_no_options_a_partition_runs_its_account_as_run_does_with_progress_each_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timetrack import orchestration

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))  # dlt's default pipelines folder
    monkeypatch.setenv("NORTH_TOKEN", "secret")
    given: list[RunOptions] = []

    def run(options: RunOptions) -> RunSummary:  # what `timetrack run` would be asked
        given.append(options)
        summary = _summary(requests=7)
        summary.rows = {"workspace_clients": 3}
        return summary

    monkeypatch.setattr(orchestration, "run", run)
    defs = orchestration.build_definitions([Account("north", "NORTH_TOKEN")])
    assert_specs_land_where(defs, state=tmp_path / "dlt" / "pipelines", dataset="time_tracking")
    job = defs.resolve_job_def(orchestration.JOB)
    assert job.executor_def.name == "multiprocess", "each step its own process, not the default"

    clients, rejected = (
        AssetKey(["timetrack", "workspace_clients"]),
        AssetKey(["timetrack", "rejected_records"]),
    )
    some = job.execute_in_process(partition_key="north", asset_selection=[clients, rejected])
    assert some.success
    (options,) = given
    assert options == RunOptions(
        dataset="time_tracking_north",
        pipeline_name="timetrack_north",
        duckdb_file=str(tmp_path / "timetrack_north.duckdb"),
        resources=["workspace_clients"],  # rejected_records is always loaded
        progress_every=60,
        source_args={"api_token": "secret"},
    )
    landed = {
        event.asset_key: event.materialization.metadata
        for event in some.get_asset_materialization_events()
    }
    assert {key: meta["rows_loaded"].value for key, meta in landed.items()} == {
        clients: 3,
        rejected: 0,
    }
    assert {meta["dataset"].value for meta in landed.values()} == {"time_tracking_north"}


def test_merged_with_a_projects_own_definitions_the_job_syncs_the_tables_alone(
    tmp_path: Path,
) -> None:
    from dagster import Definitions, asset

    from timetrack.orchestration import JOB, build_definitions

    @asset
    def weather() -> None:
        """Someone else's asset, not partitioned by account."""

    ours = build_definitions(
        [Account("north", "N")], RunOptions(pipelines_dir=str(tmp_path / "state"))
    )
    merged = Definitions.merge(ours, Definitions(assets=[weather]))
    job = merged.resolve_job_def(JOB)
    assert job.asset_layer.selected_asset_keys == {spec.key for spec in ours.assets[0].specs}  # type: ignore[index]
    assert AssetKey("weather") in merged.resolve_all_asset_keys()
