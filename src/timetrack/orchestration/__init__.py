"""Dagster definitions for many accounts: the tables as assets (through `dagster-dlt`),
partitioned by account, an hourly schedule, and retries that respect a quota stop.

One partition is one account: its run is `timetrack run` for that account (its own pipeline,
dataset, token, pacing and quota), so what Dagster materializes is exactly what the command line
loads, views included. A run the hourly quota stopped asks Dagster to retry when the quota
resets (`RetryRequested`), instead of failing and alerting; any other failure fails the run.

Dagster spreads the partitions: on one machine each run is its own process (the default run
launcher, with the multiprocess executor inside it), and the queue's concurrency limit says how
many accounts sync at once; across machines, the Kubernetes or Celery run launchers and
executors (`dagster-k8s`, `dagster-celery`) take the same definitions unchanged.

Install with `pip install 'timetrack[dagster]'`; load with
`dagster dev -m timetrack.orchestration.definitions` (reads `TIMETRACK_ACCOUNTS`).
"""

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    Failure,
    MaterializeResult,
    RetryRequested,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
    multiprocess_executor,
    schedule,
)
from dagster_dlt import DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from timetrack.errors import TimetrackError
from timetrack.run.accounts import Account, account_options, load_accounts
from timetrack.run.pipeline import EXIT_OK, EXIT_QUOTA, RunOptions, RunSummary, options_target, run
from timetrack.source.endpoints import REJECTED_TABLE

GROUP = "timetrack"
JOB = "timetrack_sync"
HOURLY = "0 * * * *"
QUOTA_RETRIES = 24
"""A quota stop is retried this many times (a day of hourly resets) before it counts as a
failure: a backfill of a large account completes over several resets."""


class TimetrackTranslator(DagsterDltTranslator):
    """Asset keys `timetrack/<table>`, in one group, with no upstream source asset."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=AssetKey([GROUP, data.resource.name]), deps=[], group_name=GROUP
        )


_SPECS_TOKEN = "unused-for-specs"
_SPECS_URL = "http://127.0.0.1:9"
"""The source the asset specs are built from needs a token and a URL, and uses neither: the
specs read only its resources (each partition's run builds its own source)."""


def _table(key: AssetKey) -> str:
    return key.path[-1]


def quota_or_failure(summary: RunSummary, account: str, retries: int, wait: float | None) -> None:
    """Raise what Dagster should do with a run that did not land: retry a quota stop when the
    quota resets (at most `retries` times; `wait` overrides the reset's time), fail the rest."""
    if summary.exit_code == EXIT_OK:
        return
    message = "; ".join(summary.closing_lines()) or f"exit code {summary.exit_code}"
    if summary.exit_code == EXIT_QUOTA:
        resets = [stop.resets_in for stop in summary.stats.quota_stops.values()]
        seconds = wait if wait is not None else max(60.0, min(resets, default=3600.0))
        raise RetryRequested(max_retries=retries, seconds_to_wait=seconds) from Failure(
            description=f"account {account}: {message}"
        )
    raise Failure(description=f"account {account}: {message}")


def build_definitions(
    accounts: Sequence[Account],
    base: RunOptions | None = None,
    *,
    cron: str = HOURLY,
    quota_retries: int = QUOTA_RETRIES,
    retry_wait: float | None = None,
) -> Definitions:
    """Definitions for these accounts: the assets, a job over them, the hourly schedule.

    `base` holds what every account shares (destination, dataset, pacing, ...), as for
    `timetrack run --accounts`; `retry_wait` replaces the quota's reset time (for tests)."""
    from timetrack.source import timetrack_source

    options = base or RunOptions(progress_every=60)
    by_name = {account.name: account for account in accounts}
    partitions = StaticPartitionsDefinition(list(by_name))
    shape = timetrack_source(api_token=_SPECS_TOKEN, base_url=_SPECS_URL)
    pipeline = options_target(options).pipeline()

    @dlt_assets(
        dlt_source=shape,
        dlt_pipeline=pipeline,
        name="timetrack_tables",
        dagster_dlt_translator=TimetrackTranslator(),
        partitions_def=partitions,
    )
    def timetrack_tables(context: AssetExecutionContext) -> Iterator[MaterializeResult[Any]]:
        account = by_name[context.partition_key]
        selected = sorted(context.selected_asset_keys, key=lambda k: k.to_user_string())
        everything = {spec.key for spec in context.assets_def.specs}
        tables = [_table(k) for k in selected if _table(k) != REJECTED_TABLE]  # always loaded
        resources = [] if set(selected) == everything else tables
        try:
            one = dataclasses.replace(account_options(account, options), resources=resources)
            summary = run(one)
        except TimetrackError as error:
            raise Failure(description=f"account {account.name}: {error}") from None
        quota_or_failure(summary, account.name, quota_retries, retry_wait)
        for key in selected:
            table = _table(key)
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "account": account.name,
                    "dataset": one.dataset,
                    "rows_loaded": summary.rows.get(table, 0),
                    "requests": summary.stats.requests,
                },
            )

    # Dagster takes the job's partitions from its assets, and the job from the schedule.
    job = define_asset_job(JOB, selection=[timetrack_tables])

    @schedule(job=job, cron_schedule=cron, name="timetrack_hourly")
    def hourly(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        moment = context.scheduled_execution_time or datetime.now(UTC)
        for name in by_name:
            yield RunRequest(run_key=f"{name}:{moment.isoformat()}", partition_key=name)

    schedules: list[ScheduleDefinition] = [hourly]
    assets: list[AssetsDefinition] = [timetrack_tables]
    return Definitions(assets=assets, schedules=schedules, executor=multiprocess_executor)


def definitions_from_file(path: str | Path, base: RunOptions | None = None) -> Definitions:
    """Definitions for the accounts of an accounts file (as `timetrack run --accounts`)."""
    return build_definitions(load_accounts(path), base)
