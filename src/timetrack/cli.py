"""The `timetrack` command line: one group, one subcommand per job."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from timetrack import __version__
from timetrack.emulator.config import FAULT_KINDS, Drift, EmulatorConfig, Faults, Limits, Scale
from timetrack.errors import TimetrackError, mask_secret, printable, unreadable_settings

if TYPE_CHECKING:
    from timetrack.run.pipeline import RunOptions
    from timetrack.source.core import SourceArgs


Command = Callable[..., Any]
"""A click command, as the option decorators below take and give it. They run at import, before
mutmut can switch a mutant on (`# pragma: no mutate block`): `--help` and the commands' tests
read what they declare."""


class _Group(click.Group):
    """Turns timetrack's own errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TimetrackError as error:
            raise click.ClickException(printable(str(error))) from None
        except Exception as error:
            unreadable = unreadable_settings(error)
            if unreadable is None:
                raise
            raise click.ClickException(printable(str(unreadable))) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="timetrack")
def cli() -> None:
    """Load a time-tracking service's data into DuckDB, PostgreSQL, Parquet or any dlt
    destination, and emulate the service locally.

    \b
    Try it with no account:
      $ timetrack demo
    """


def _parse_fault(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    rates: dict[str, float] = {}
    for value in values:
        kind, sep, rate = value.partition("=")
        if not sep or kind not in FAULT_KINDS:
            raise click.BadParameter(
                f"expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
            )
        try:
            rates[kind] = float(rate)
        except ValueError:
            raise click.BadParameter(f"rate of {kind} is not a number: {rate}") from None
    return rates


def _scale_options(command: Command) -> Command:  # pragma: no mutate block
    """One option per field of Scale, with the default, help and range its metadata gives."""
    for item in reversed(fields(Scale)):
        meta = item.metadata
        command = click.option(
            "--" + item.name.replace("_", "-"),
            item.name,
            default=item.default,
            show_default=True,
            type=click.IntRange(meta.get("min"), meta.get("max")),
            help=meta.get("help"),
        )(command)
    return command


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from timetrack.emulator.timefmt import parse_date_or_ts

    try:
        return parse_date_or_ts(value)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD or an RFC3339 time") from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--token",
    default="demo-token",
    show_default=True,
    help="API token of the user who sees every organization and workspace.",
)
@click.option(
    "--partial-token",
    default="partial-token",
    show_default=True,
    help="API token of a second user who sees one workspace only (as its admin).",
)
@click.option(
    "--member-token",
    default="member-token",
    show_default=True,
    help="API token of a plain member, admin of nothing: refused organization users, "
    "workspace statistics and workspace users (403); its report holds its own entries.",
)
@click.option(
    "--seed",
    default=7,
    show_default=True,
    type=int,
    help="Seed of the generated data and of the fault draws.",
)
@click.option(
    "--now",
    callback=_parse_now,
    metavar="TIME",
    help="Start the clock at this time instead of the real time.",
)
@_scale_options
@click.option(
    "--rate-limit",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Requests per second per token before 429 (0: off).",
)
@click.option(
    "--burst",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Requests the rate limit lets through at once.",
)
@click.option(
    "--retry-after/--no-retry-after",
    default=False,
    show_default=True,
    help="Send Retry-After with 429 and 503 answers.",
)
@click.option(
    "--quota/--no-quota",
    default=False,
    show_default=True,
    help="Enforce the hourly quota per token and organization (402 when spent).",
)
@click.option(
    "--quota-per-hour",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Requests an hour per organization (0: the plan's 30, 240 or 600).",
)
@click.option(
    "--me-quota-per-hour",
    default=30,
    show_default=True,
    type=click.IntRange(1),
    help="Requests an hour to /me paths per user.",
)
@click.option(
    "--restrict-feature",
    "restricted",
    multiple=True,
    type=click.Choice(["groups", "reports", "rates"]),
    help="Answer a plain 402 for this feature on free-plan organizations (repeatable).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_parse_fault,
    metavar="KIND=RATE",
    help=f"Inject a fault in this share of requests (repeatable); KIND is one of "
    f"{', '.join(FAULT_KINDS)}.",
)
@click.option(
    "--slow-seconds",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0),
    help="Delay of a 'slow' fault.",
)
@click.option(
    "--drift",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of records, on every endpoint, served departing from the contract (a field "
    "dropped, null, retyped or new; a few without their key); see /_emulator/drift.",
)
@click.option(
    "--alias-quirks",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of records whose legacy aliases (wid, uid, pid, tid, cid) are stale or stand "
    "alone.",
)
@click.option(
    "--utc-only", is_flag=True, help="Spell timestamps in UTC only (no +02:00-style offsets)."
)
@click.option("--empty-lists", is_flag=True, help="Answer empty lists as [] instead of null.")
@click.option(
    "--admin-token",
    help="Require this token in the X-Emulator-Admin-Token header on every /_emulator/ "
    "request; needed to listen beyond localhost.",
)
def emulator(
    host: str,
    port: int,
    token: str,
    partial_token: str,
    member_token: str,
    seed: int,
    now: float | None,
    rate_limit: float,
    burst: int,
    retry_after: bool,
    quota: bool,
    quota_per_hour: int,
    me_quota_per_hour: int,
    restricted: tuple[str, ...],
    faults: dict[str, float],
    slow_seconds: float,
    drift: float,
    alias_quirks: float,
    utc_only: bool,
    empty_lists: bool,
    admin_token: str | None,
    **scale: int,
) -> None:
    """Serve a local emulator of the time-tracking API until Ctrl-C.

    \b
    Example (then point `timetrack run --base-url http://127.0.0.1:8080` at it):
      $ timetrack emulator --port 8080 --quota --fault 503=0.05

    Both URL layouts are served at once: /v1 with the {"data": ...} envelope and /api/v9 bare.
    Admin endpoints under /_emulator/ give the ground truth, the request log and the clock.
    """
    from timetrack.emulator import Emulator, serve_forever

    config = EmulatorConfig(
        token=token,
        partial_token=partial_token,
        member_token=member_token,
        seed=seed,
        now=now,
        scale=Scale(**scale),
        limits=Limits(
            rate_per_second=rate_limit,
            burst=burst,
            send_retry_after=retry_after,
            quota=quota,
            quota_per_hour=quota_per_hour,
            me_quota_per_hour=me_quota_per_hour,
            restricted_features=frozenset(restricted),
        ),
        faults=Faults(rates=faults, slow_seconds=slow_seconds),
        drift=Drift(rate=drift, alias_rate=alias_quirks),
        offsets=not utc_only,
        empty_lists_null=not empty_lists,
        admin_token=admin_token,
    )
    instance = Emulator(config)

    def ready(bound: int) -> None:
        click.echo(f"emulator serving at http://{host}:{bound} (envelope /v1, bare /api/v9)")
        # The emulator's own demo tokens are no secrets (a user needs them to point `run` at
        # it); a token the user chose may be one used elsewhere: masked.
        defaults = EmulatorConfig()
        shown = [
            t if t == default else mask_secret(t)
            for t, default in (
                (token, defaults.token),
                (partial_token, defaults.partial_token),
                (member_token, defaults.member_token),
            )
        ]
        click.echo(
            f"tokens: {shown[0]} (everything), {shown[1]} (one workspace), {shown[2]} (a member, "
            "admin of nothing); ground truth at /_emulator/truth; Ctrl-C stops"
        )

    serve_forever(instance, host, port, ready)


def _date_option(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=name) from None


def _day_option(value: str | None, name: str) -> date | None:
    checked = _date_option(value, name)
    return None if checked is None else date.fromisoformat(checked)


def _source_args(**given: Any) -> SourceArgs:
    """Only the options the user gave: the rest comes from dlt's configuration."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or value == ():
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    return cast("SourceArgs", out)


_base_url = click.option(
    "--base-url",
    help="Root URL of the service (default: sources.timetrack.base_url, or the "
    "guide's https://api.example.com).",
)
_duckdb_file = click.option(
    "--duckdb-file",
    type=click.Path(dir_okay=False),
    help="With --destination duckdb: the DuckDB file (default: PIPELINE_NAME.duckdb in the "
    "current folder, or destination.duckdb.credentials in dlt's configuration).",
)
_layout = click.option(
    "--layout",
    type=click.Choice(["envelope", "bare"]),
    help='URL layout: envelope (/v1, {"data": ...}; the default) or bare (/api/v9).',
)


@cli.command()
@click.option(
    "--destination",
    default="duckdb",
    show_default=True,
    help="Any dlt destination: duckdb, postgres, filesystem (Parquet files, or Delta tables "
    "with --table-format delta), bigquery, snowflake, ... Credentials come from dlt's "
    "configuration.",
)
@click.option(
    "--table-format",
    type=click.Choice(["delta"]),
    help="With --destination filesystem: Delta tables, which merge on keys and delete what the "
    "service deleted, as a database does (default: destination.filesystem.table_format in dlt's "
    "configuration; unset, plain Parquet files, which append).",
)
@click.option(
    "--dataset",
    default="time_tracking",
    show_default=True,
    help="Dataset (schema) the tables land in.",
)
@_duckdb_file
@click.option(
    "--pipeline-name",
    default="timetrack",
    show_default=True,
    help="dlt pipeline name (default DuckDB file NAME.duckdb). Each place data goes "
    "(destination, file or database, dataset) keeps its own state: the first place keeps "
    "this name, others get NAME_<digest of the place>.",
)
@click.option(
    "--pipelines-dir",
    type=click.Path(file_okay=False),
    help="Where dlt keeps pipeline state (default: dlt's, ~/.dlt/pipelines, or "
    "/var/dlt/pipelines when run as root, shared by every pipeline on the machine).",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="TABLE",
    help="Load only this table (repeatable); default: all.",
)
@_base_url
@_layout
@click.option(
    "--organization-id",
    "organization_ids",
    multiple=True,
    type=int,
    help="Only this organization (repeatable); default: all the token reaches.",
)
@click.option(
    "--workspace-id",
    "workspace_ids",
    multiple=True,
    type=int,
    help="Only this workspace (repeatable); default: all the token reaches.",
)
@click.option(
    "--requests-per-second",
    type=click.FloatRange(0),
    help="Pace requests to this rate (default 1, the service's; 0: no pacing).",
)
@click.option(
    "--max-quota-wait",
    type=click.FloatRange(0),
    help="Seconds to wait for a spent hourly quota to reset before stopping (default 300).",
)
@click.option(
    "--wait-for-quota",
    is_flag=True,
    default=None,
    help="Sleep through every hourly quota reset until the sync is done, instead of stopping "
    "(exit 75) with the progress saved.",
)
@click.option(
    "--max-answer-mb",
    type=click.FloatRange(0.001),
    help="The largest answer read, in MB (default 64); a larger one fails its table unread.",
)
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    default=None,
    help="Allow a plain http:// base URL on another machine (the token then crosses the "
    "network in clear; refused by default).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit non-zero when records that cannot land (no usable key) were rejected.",
)
@click.option(
    "--keep-deleted",
    is_flag=True,
    default=None,
    help="Keep deleted records as rows with server_deleted_at set instead of removing them.",
)
@click.option(
    "--report-start-date",
    metavar="YYYY-MM-DD",
    help="Where report_time_entries' history starts (default 2006-01-01: all of it).",
)
@click.option(
    "--report-trailing-days",
    type=click.IntRange(1),
    help="Days report_time_entries re-reads whole at each reconciliation (default 30).",
)
@click.option(
    "--reconcile-hours",
    type=click.FloatRange(0),
    help="Hours between reads of lists with no 'since' (clients, tags, users, groups, "
    "statistics, discovery) and of the report's reconciliation (default 24; 0: every run).",
)
@click.option(
    "--report-full-days",
    type=click.FloatRange(0),
    help="Days between whole re-reads of the report's history, which find old deletions "
    "(default 7; 0: every run).",
)
@click.option(
    "--quota-share",
    type=click.FloatRange(0, 1, min_open=True),
    help="Share of each hourly quota's remaining requests a run may spend (default 0.5: half "
    "is left to other tools); beyond it the run stops with exit 75, progress saved.",
)
@click.option(
    "--rates",
    is_flag=True,
    default=None,
    help="Also load `rates`, the rate and labor cost histories: one request per history on "
    "the first run (hundreds for a team), then only those whose record says they changed.",
)
@click.option("--full-refresh", is_flag=True, help="Drop the tables and state, load anew.")
@click.option(
    "--accounts",
    "accounts_file",
    type=click.Path(dir_okay=False),
    help="TOML file of accounts ([[account]]: name, api_token_env, optional base_url, layout, "
    "organization_ids, workspace_ids): each syncs into DATASET_<name> with its own pipeline "
    "timetrack_<name> (in DuckDB, its own file timetrack_<name>.duckdb).",
)
@click.option(
    "--parallel",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="With --accounts: accounts synced at the same time, each in its own process.",
)
@click.option(
    "--progress-every",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between progress lines on stderr when it is not a terminal (0: none).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show dlt's log (INFO) and the full cause of errors."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the summary as one JSON object on stdout (for schedulers).",
)
def run(
    destination: str,
    table_format: str | None,
    dataset: str,
    duckdb_file: str | None,
    pipeline_name: str,
    pipelines_dir: str | None,
    resources: tuple[str, ...],
    base_url: str | None,
    layout: str | None,
    organization_ids: tuple[int, ...],
    workspace_ids: tuple[int, ...],
    requests_per_second: float | None,
    max_quota_wait: float | None,
    wait_for_quota: bool | None,
    max_answer_mb: float | None,
    allow_insecure_http: bool | None,
    strict: bool,
    keep_deleted: bool | None,
    report_start_date: str | None,
    report_trailing_days: int | None,
    reconcile_hours: float | None,
    report_full_days: float | None,
    quota_share: float | None,
    rates: bool | None,
    full_refresh: bool,
    accounts_file: str | None,
    parallel: int,
    progress_every: float,
    quiet: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """Sync every table into a destination (DuckDB by default).

    The API token comes from SOURCES__TIMETRACK__API_TOKEN or .dlt/secrets.toml. Exits 0
    when everything landed, 75 when the hourly quota (or the run's share of it, --quota-share)
    stopped the run with its progress saved (run again later), 130 after Ctrl-C (the next run
    resumes), 1 on errors. After the first run, each run reads what changed; lists and the
    report's reconciliation wait for their cadence (--reconcile-hours, daily by default).

    \b
    Examples:
      $ timetrack run --base-url http://127.0.0.1:8080     # a local emulator
      $ timetrack run --destination postgres --dataset tracking
      $ timetrack run --destination filesystem --table-format delta
      $ timetrack run --resource time_entries --workspace-id 123 --json
      $ timetrack run --accounts accounts.toml --parallel 8 --destination postgres
    """
    options = _run_options(
        destination=destination,
        table_format=table_format,
        dataset=dataset,
        pipeline_name=pipeline_name,
        pipelines_dir=pipelines_dir,
        duckdb_file=duckdb_file,
        resources=resources,
        full_refresh=full_refresh,
        quiet=quiet or as_json,
        progress_every=progress_every,
        strict=strict,
        source_args=_source_args(
            base_url=base_url,
            layout=layout,
            organization_ids=organization_ids,
            workspace_ids=workspace_ids,
            requests_per_second=requests_per_second,
            max_quota_wait=max_quota_wait,
            wait_for_quota=wait_for_quota,
            max_answer_mb=max_answer_mb,
            allow_insecure_http=allow_insecure_http,
            keep_deleted=keep_deleted,
            report_start_date=_date_option(report_start_date, "--report-start-date"),
            report_trailing_days=report_trailing_days,
            reconcile_hours=reconcile_hours,
            report_full_days=report_full_days,
            quota_share=quota_share,
            rates=rates,
        ),
    )
    if accounts_file is not None:
        _refuse_with_accounts(
            pipeline_name=pipeline_name,
            duckdb_file=duckdb_file,
            organization_ids=organization_ids,
            workspace_ids=workspace_ids,
        )
    from timetrack.run.environ import unless_set

    # dlt's own log (warnings about file formats, tracebacks of failed jobs) is for -v: what
    # a user needs comes as timetrack's lines, the whole error in last_error.log.
    with unless_set({"RUNTIME__LOG_LEVEL": "INFO" if verbose else "CRITICAL"}):
        if accounts_file is None:
            _run_one(options, verbose=verbose, quiet=quiet, as_json=as_json)
        else:
            _run_accounts(accounts_file, options, parallel, quiet=quiet, as_json=as_json)


def _run_options(
    *, resources: tuple[str, ...], quiet: bool, progress_every: float, **given: Any
) -> RunOptions:
    """The run's options; quiet (or --json) shows no progress."""
    from timetrack.run.pipeline import RunOptions

    return RunOptions(
        resources=list(resources),
        progress_every=0 if quiet else progress_every,
        quiet=quiet,
        **given,
    )


def _refuse_with_accounts(
    *,
    pipeline_name: str,
    duckdb_file: str | None,
    organization_ids: tuple[int, ...],
    workspace_ids: tuple[int, ...],
) -> None:
    """Options an accounts file sets per account cannot also be given for all of them."""
    given = {
        "--pipeline-name": pipeline_name != "timetrack",
        "--duckdb-file": duckdb_file is not None,
        "--organization-id": bool(organization_ids),
        "--workspace-id": bool(workspace_ids),
    }
    clash = [name for name, set_ in given.items() if set_]
    if clash:
        raise click.UsageError(
            f"{', '.join(clash)} cannot go with --accounts: each account has its own "
            "pipeline, and its organization_ids and workspace_ids in the file"
        )


def _run_one(options: RunOptions, *, verbose: bool, quiet: bool, as_json: bool) -> None:
    """One account's run: its summary on stdout, why it did not end cleanly on stderr, and
    the exit code that says which (0, 1, 75 or 130)."""
    from timetrack.run.pipeline import run as run_pipeline

    try:
        summary = run_pipeline(options)
    except TimetrackError as error:
        if verbose and "(full detail: " in str(error):
            log = str(error).rsplit("(full detail: ", 1)[1].rstrip(")")
            click.echo(Path(log).read_text(), err=True)
        raise
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    elif not quiet:
        for line in summary.lines():
            click.echo(printable(line))
    for line in summary.closing_lines():
        click.echo(printable(line), err=True)
    if summary.exit_code:
        raise SystemExit(summary.exit_code)


def _run_accounts(
    path: str, options: RunOptions, parallel: int, *, quiet: bool, as_json: bool
) -> None:
    from timetrack.run.accounts import load_accounts, run_accounts

    accounts = load_accounts(path)
    summary = run_accounts(accounts, options, parallel=parallel)
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    elif not quiet:
        for line in summary.lines():
            click.echo(printable(line))
    for result in summary.results:
        if result.exit_code:
            click.echo(printable(f"Error: account {result.name}: {result.message}"), err=True)
    if summary.exit_code:
        raise SystemExit(summary.exit_code)


@cli.command()
@click.option(
    "--destination",
    default="duckdb",
    show_default=True,
    help="Where `timetrack run` loaded: duckdb or postgres (the views exist there only).",
)
@click.option(
    "--dataset",
    default="time_tracking",
    show_default=True,
    help="The dataset `timetrack run` loaded; the views are in DATASET_analytics.",
)
@_duckdb_file
@click.option(
    "--pipeline-name",
    default="timetrack",
    show_default=True,
    help="The run's pipeline name: for duckdb, the default file NAME.duckdb.",
)
@click.option(
    "--weeks",
    default=12,
    show_default=True,
    type=click.IntRange(1, 520),
    help="ISO weeks to show, ending with the last full week (or --to's week).",
)
@click.option(
    "--from",
    "start",
    metavar="YYYY-MM-DD",
    help="First day: the period starts with its ISO week (instead of --weeks) and runs to "
    "today's week, marked partial, unless --to is given.",
)
@click.option(
    "--to",
    "end",
    metavar="YYYY-MM-DD",
    help="Last day: the period ends with its ISO week (today's is marked partial).",
)
@click.option(
    "--out",
    "out",
    default="timetrack-report.html",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="HTML file to write (replaced if present).",
)
def report(
    destination: str,
    dataset: str,
    duckdb_file: str | None,
    pipeline_name: str,
    weeks: int,
    start: str | None,
    end: str | None,
    out: str,
) -> None:
    """Write one self-contained HTML page of answers from the analytics views, per
    organization and workspace: where the hours went (projects and clients), who is over or
    under their working hours, billable share and amounts per week, and what changed against
    the previous period of the same length. Every table sorts and downloads as CSV.

    The page needs no network: open it in any browser.

    \b
    Examples:
      $ timetrack report                        # from timetrack.duckdb, last 12 full weeks
      $ timetrack report --from 2026-07-01 --to 2026-09-30 --out q3.html
      $ timetrack report --destination postgres --dataset tracking --weeks 26 --out h2.html
    """
    import tempfile

    from timetrack.answers.report import choose_period, empty_note, open_pipeline, write_report
    from timetrack.destination.target import resolve_target

    first_day, last_day = _day_option(start, "--from"), _day_option(end, "--to")
    choose_period(datetime.now(UTC).date(), weeks, first_day, last_day)  # its errors, first

    with tempfile.TemporaryDirectory() as state_dir:
        target = resolve_target(
            destination,
            dataset,
            name=pipeline_name,
            duckdb_file=duckdb_file,
            pipelines_dir=state_dir,
        )
        pipeline = open_pipeline(target, state_dir)
        data = write_report(
            pipeline,
            Path(out),
            weeks=weeks,
            start=first_day,
            end=last_day,
        )
    click.echo(
        f"wrote {out}: {data.entries:,} entries, {data.hours:,.1f} hours, {data.period.describe()}"
    )
    if empty_note(data):
        click.echo(f"note: {empty_note(data)}")


@cli.command()
@_base_url
@_layout
def check(base_url: str | None, layout: str | None) -> None:
    """Check the API token: who it is, which organizations and workspaces it reaches, each
    organization's hourly quota and what a first sync needs, and which tables it can read (a
    member who is no admin cannot read organization users, workspace statistics and
    workspace_users).

    \b
    Example:
      $ export SOURCES__TIMETRACK__API_TOKEN=demo-token
      $ timetrack check --base-url http://127.0.0.1:8080
    """
    from timetrack.check import check_token

    for line in check_token(base_url=base_url, layout=layout):
        click.echo(printable(line))


@cli.command()
@click.option(
    "--file",
    "path",
    default="timetrack_demo.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file to create (replaced if present).",
)
@click.option(
    "--time-entries",
    default=4000,
    show_default=True,
    type=click.IntRange(0),
    help="Time entries the emulator generates.",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the emulator's data.")
def demo(path: str, time_entries: int, seed: int) -> None:
    """Start the emulator in-process, sync it into a local DuckDB file, print rows per table.

    \b
    Example:
      $ timetrack demo --time-entries 20000
    """
    from timetrack.demo import run_demo

    for line in run_demo(path, time_entries=time_entries, seed=seed):
        click.echo(printable(line))


def _place_options(command: Command) -> Command:  # pragma: no mutate block
    """The options of `run` that say where data goes, for the commands of live tables."""
    for option in reversed(
        [
            click.option(
                "--destination",
                default="duckdb",
                show_default=True,
                help="Where `timetrack run` loads: duckdb, postgres or another SQL destination "
                "of dlt's; credentials come from dlt's configuration.",
            ),
            click.option(
                "--dataset",
                default="time_tracking",
                show_default=True,
                help="Dataset (schema) the tables land in, as for `run`.",
            ),
            _duckdb_file,
            click.option(
                "--pipeline-name",
                default="timetrack",
                show_default=True,
                help="The pipeline name `run` uses (the listener's own is NAME_live).",
            ),
            click.option(
                "--pipelines-dir",
                type=click.Path(file_okay=False),
                help="Where dlt keeps pipeline state, as for `run` (the webhook journal is kept "
                "there too).",
            ),
        ]
    ):
        command = option(command)
    return command


def _place(
    destination: str,
    dataset: str,
    duckdb_file: str | None,
    pipeline_name: str,
    pipelines_dir: str | None,
) -> Any:
    from timetrack.destination.target import resolve_target

    return resolve_target(
        destination,
        dataset,
        name=pipeline_name,
        duckdb_file=duckdb_file,
        pipelines_dir=pipelines_dir,
    )


@cli.group()
def webhooks() -> None:
    """Subscribe to the service's webhooks, which push every change within seconds at no
    quota cost, for `timetrack listen` to land.

    \b
    Examples:
      $ timetrack webhooks setup --callback-url https://tt.example.org/hooks
      $ timetrack webhooks status
      $ timetrack webhooks remove
    """


def _service_options(command: Command) -> Command:  # pragma: no mutate block
    command = click.option(
        "--workspace-id",
        "workspace_ids",
        multiple=True,
        type=int,
        help="Only this workspace (repeatable); default: all the token reaches.",
    )(command)
    return _base_url(_layout(_place_options(command)))


@webhooks.command("setup")
@click.option(
    "--callback-url",
    required=True,
    help="The URL the service POSTs events to: where `timetrack listen` is reachable.",
)
@click.option(
    "--wait-seconds",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for the listener to validate each new subscription.",
)
@_service_options
def webhooks_setup(
    callback_url: str, wait_seconds: float, workspace_ids: tuple[int, ...], **given: Any
) -> None:
    """Subscribe every workspace the token reaches, within its plan's limits (Free: time
    entries, projects and clients; Starter adds tasks, tags and members; Premium everything),
    keep each secret as a dlt secret in .dlt/secrets.toml, and wait for `timetrack listen` to
    validate. Running it again changes nothing."""
    from timetrack.live.subscriptions import Settings, setup

    settings = Settings(given.pop("base_url"), given.pop("layout"), workspace_ids)
    for line in setup(_place(**given), settings, callback_url, wait_seconds):
        click.echo(printable(line))


@webhooks.command("status")
@_service_options
def webhooks_status(workspace_ids: tuple[int, ...], **given: Any) -> None:
    """Each workspace's subscription (validated, pending events, live tables), the tables
    that rely on the hourly run, and the listener's last heartbeat."""
    from timetrack.live.subscriptions import Settings, status

    settings = Settings(given.pop("base_url"), given.pop("layout"), workspace_ids)
    for line in status(_place(**given), settings):
        click.echo(printable(line))


@webhooks.command("remove")
@_service_options
def webhooks_remove(workspace_ids: tuple[int, ...], **given: Any) -> None:
    """Delete setup's subscriptions and forget their secrets."""
    from timetrack.live.subscriptions import Settings, remove

    settings = Settings(given.pop("base_url"), given.pop("layout"), workspace_ids)
    for line in remove(_place(**given), settings):
        click.echo(printable(line))


@cli.command()
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 for every interface; events are verified by their "
    "signature wherever they come from).",
)
@_place_options
@click.option(
    "--keep-deleted",
    is_flag=True,
    help="Keep deleted records as rows with server_deleted_at set, as `run --keep-deleted`.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def listen(port: int, host: str, keep_deleted: bool, quiet: bool, **given: Any) -> None:
    """Receive the service's webhook events and land them, within seconds, into the tables
    `timetrack run` fills (same keys, types, cleaning and deletions). Each signed event is
    journalled before it is acknowledged, so none is lost to a crash; run `timetrack webhooks
    setup` once first. `run` goes on working beside it on the same destination.

    \b
    Example:
      $ timetrack listen --port 8765 --destination postgres --dataset tracking
    """
    from timetrack.live.listener import ListenOptions
    from timetrack.live.listener import listen as serve
    from timetrack.run.environ import unless_set

    with unless_set({"RUNTIME__LOG_LEVEL": "CRITICAL"}):  # dlt's log is not the listener's
        target = _place(**given)

        def ready(bound: int) -> None:
            if not quiet:
                click.echo(
                    f"listening on http://{host}:{bound}/ for {target.describe()}; Ctrl-C stops",
                )

        serve(target, ListenOptions(host, port, keep_deleted, quiet), ready)


def main() -> None:
    """Console-script entry point."""
    collect_garbage_less_often()
    cli(prog_name="timetrack")


def collect_garbage_less_often() -> None:
    """Python's cycle collector after 10,000 new objects instead of 700.

    A run allocates millions of short-lived objects (dlt's extract and normalize, the HTTP
    answers), nearly all freed by reference counting as they go: at the default the collector
    ran thousands of times a run for little to free. Measured against the emulator,
    alternated: 5 to 7% less CPU a small run, 15% less time a full sync of a million entries,
    peak memory within 3% (docs/benchmarks.md). The tests set the same in their own processes
    (tests/conftest.py), where it took 8% off the suite's CPU."""
    gc.set_threshold(10_000, 10, 10)
