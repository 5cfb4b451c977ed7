"""The dlt source: `timetrack_source`, every table of the guide and more, complete and typed,
kept current by incremental runs, resumable when a run stops halfway."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

import dlt
import orjson
from dlt.common.configuration.inject import with_config
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.sources import DltResource

from timetrack.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    QuotaExhaustedError,
    RunStopped,
    TimetrackError,
)
from timetrack.hosts import is_loopback
from timetrack.source import settings
from timetrack.source.cadence import Cadence
from timetrack.source.client import (
    ApiClient,
    ClientSettings,
    RequestStats,
    is_list_or_null,
    is_object,
    is_record_of,
    pages_of,
)
from timetrack.source.discovery import Discovery
from timetrack.source.endpoints import BY_TABLE, ENDPOINTS, REJECTED_TABLE, Endpoint
from timetrack.source.landed import (
    changed_rows,
    gone_rows,
    landed_values,
    landed_versions,
    landed_where,
)
from timetrack.source.reports import report_rows
from timetrack.source.schema import (
    TABLES,
    Rejected,
    Row,
    as_key,
    clean,
    column_hints,
    converter,
    parse_timestamp,
)

_EARLIEST = re.compile(r"not be earlier than (\d{4}-\d{2}-\d{2})")
_SINCE_TOO_OLD = "since cannot be older"


class SourceArgs(TypedDict, total=False):
    """Settings of `timetrack_source` given in code; what is left out comes from dlt's
    configuration (`sources.timetrack.*`)."""

    api_token: str
    base_url: str
    layout: str
    organization_ids: list[int]
    workspace_ids: list[int]
    requests_per_second: float
    max_quota_wait: float
    wait_for_quota: bool
    max_retries: int
    backoff_factor: float
    time_entries_start: str
    report_start_date: str
    report_trailing_days: int
    keep_deleted: bool
    max_answer_mb: float
    max_clock_skew_days: float
    allow_insecure_http: bool
    reconcile_hours: float
    report_full_days: float
    quota_share: float
    rates: bool


@with_config(sections=("sources", "timetrack"))
def configured_client(
    api_token: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    layout: str = "envelope",
    allow_insecure_http: bool = False,
    **overrides: Any,
) -> ApiClient:
    """A client resolved the way the source resolves its settings (arguments, then dlt's
    configuration under `sources.timetrack`), for commands that talk to the service outside a
    run; `overrides` set ClientSettings fields."""
    return ApiClient(
        api_token,
        ClientSettings(
            base_url=base_url,
            layout=layout,  # type: ignore[arg-type]
            allow_insecure_http=allow_insecure_http,
            **overrides,
        ),
    )


@dlt.source(name="timetrack", section="timetrack", max_table_nesting=0)
def timetrack_source(
    api_token: str = dlt.secrets.value,
    base_url: str = settings.DEFAULT_BASE_URL,
    layout: str = "envelope",
    organization_ids: list[int] | None = None,
    workspace_ids: list[int] | None = None,
    requests_per_second: float | None = None,
    max_quota_wait: float = settings.MAX_QUOTA_WAIT,
    wait_for_quota: bool = False,
    max_retries: int = settings.MAX_RETRIES,
    backoff_factor: float = settings.BACKOFF_FACTOR,
    time_entries_start: str | None = None,
    report_start_date: str | None = None,
    report_trailing_days: int = settings.REPORT_TRAILING_DAYS,
    keep_deleted: bool = False,
    max_answer_mb: float = settings.MAX_ANSWER_MB,
    max_clock_skew_days: float = settings.MAX_CLOCK_SKEW / 86400,
    allow_insecure_http: bool = False,
    reconcile_hours: float = settings.RECONCILE_HOURS,
    report_full_days: float = settings.REPORT_FULL_DAYS,
    quota_share: float = settings.QUOTA_SHARE,
    rates: bool = False,
    live_tables: dict[int, list[str]] | None = None,
    arrow: bool = False,
    stats: RequestStats | None = None,
) -> list[DltResource]:
    """Every table of a time-tracking account, configured under `sources.timetrack`.

    Args:
        api_token: The API token (a secret: `SOURCES__TIMETRACK__API_TOKEN`).
        base_url: The service's root URL, without the layout's path prefix.
        layout: `envelope` (`/v1`, bodies in `{"data": ...}`) or `bare` (`/api/v9`).
        organization_ids: Only these organizations (default: every one the token reaches).
        workspace_ids: Only these workspaces (default: every one the token reaches).
        requests_per_second: Pacing shared by every request of the run; 0 turns it off.
            Default: the service's 1 a second, and none for a server on this machine.
        max_quota_wait: Seconds to sleep for a spent hourly quota before stopping.
        wait_for_quota: Sleep through every quota reset until the backfill is done.
        max_retries: Retries after the first attempt of a failed request.
        backoff_factor: Retry n waits backoff_factor * 2**(n-1) seconds.
        time_entries_start: A later first day for `time_entries`' first window (YYYY-MM-DD).
        report_start_date: Where `report_time_entries`' history starts (YYYY-MM-DD).
        report_trailing_days: Days of the report re-read by every later run.
        keep_deleted: Keep deleted records as rows with `server_deleted_at` set.
        max_answer_mb: The largest answer read; a larger one fails its table, unread.
        max_clock_skew_days: How far the service's clock (its Date header) may be from this
            machine's and still be followed; beyond it, this machine's clock is used.
        allow_insecure_http: Send the token over plain http:// to another machine.
        reconcile_hours: Hours between reads of what has no `since` (lists, discovery,
            statistics) and of the report's reconciliation (the trailing window re-read whole,
            older windows asked for changes); 0 reads them every run.
        report_full_days: Days between whole re-reads of the report's history, which find
            entries deleted before the trailing window; 0 re-reads it every run.
        quota_share: The share of each hourly quota's remaining requests one run may spend
            (0.5 leaves half to the user's other tools); beyond it the run stops, lands what it
            read and exits 75, and the next run goes on. `wait_for_quota` spends it all.
        rates: Load `rates`, the rate and labor cost histories (one request per history on
            the first run, then only for histories whose record says they changed).
        live_tables: Workspace id -> tables that webhooks keep live (`timetrack.live`): their
            hourly reads are skipped, and they are read on the reconciliation's cadence.
        arrow: Hand the report's pages to dlt as Arrow tables: much faster, for destinations
            loaded from Parquet (`loader_file_format="parquet"`: DuckDB, filesystem).
        stats: Pass a RequestStats to read what the run cost afterwards.

    After the first run, `time_entries`, `workspace_projects` and `workspace_tasks` ask only for
    changes (`since`), `report_time_entries` asks for the entries changed since the last run
    (newest change first), and the rest waits for its cadence (`reconcile_hours`). A run
    stopped by the quota, Ctrl-C or a failing service lands what it fetched and saves where
    every walk stood; the next run goes on from there.
    """
    # Text stays text: dlt's detection would type a new column from its first value, and a
    # time it reads but cannot move to UTC ("0001-01-01T00:00:00+05:00", in a new field or a
    # `__raw` column) fails the load of its package, then of every later run.
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    _check_options(
        reconcile_hours=reconcile_hours,
        report_full_days=report_full_days,
        quota_share=quota_share,
        time_entries_start=time_entries_start,
        report_start_date=report_start_date,
    )
    pace, notes = _pacing(requests_per_second, base_url)
    client = ApiClient(
        api_token,
        ClientSettings(
            base_url=base_url,
            layout=layout,  # type: ignore[arg-type]
            requests_per_second=pace,
            max_quota_wait=float("inf") if wait_for_quota else max_quota_wait,
            max_quota_waits=(
                settings.WAIT_FOR_QUOTA_WAITS if wait_for_quota else settings.MAX_QUOTA_WAITS
            ),
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            max_answer_bytes=int(max_answer_mb * 1024 * 1024),
            max_clock_skew=max_clock_skew_days * 86400,
            allow_insecure_http=allow_insecure_http,
            quota_share=1.0 if wait_for_quota else quota_share,
        ),
        stats=stats,
    )
    client.stats.notes.extend(notes)
    sync = Sync(client, Discovery(client, organization_ids, workspace_ids), not keep_deleted)
    sync.report_start = date.fromisoformat(report_start_date or settings.REPORT_HISTORY_START)
    sync.time_entries_start = time_entries_start
    sync.rates_enabled = rates
    sync.live = {int(k): frozenset(v) for k, v in (live_tables or {}).items()}
    sync.cadence = Cadence(
        lambda: dlt.current.source_state(),
        sync.service_time,
        {
            "lists": reconcile_hours * 3600,
            "report_reconcile": reconcile_hours * 3600,
            "report_full": report_full_days * 86400,
        },
    )
    client.stats.estimate_remaining = sync.estimate_remaining
    readers = _readers(
        sync,
        report_start_date=report_start_date,
        report_trailing_days=report_trailing_days,
        arrow=arrow,
    )
    return _resources(sync, readers)


def _check_options(
    *,
    reconcile_hours: float,
    report_full_days: float,
    quota_share: float,
    time_entries_start: str | None,
    report_start_date: str | None,
) -> None:
    """Settings a user can get wrong, refused in one line before any request."""
    for name, number in (
        ("reconcile_hours", reconcile_hours),
        ("report_full_days", report_full_days),
    ):
        if not number >= 0:  # also refuses NaN
            raise ConfigurationError(f"{name} must be 0 (every run) or more, not {number}")
    if not 0 < quota_share <= 1:
        raise ConfigurationError(
            f"quota_share must be above 0 and at most 1 (a share of the quota), not {quota_share}"
        )
    for name, value in (
        ("time_entries_start", time_entries_start),
        ("report_start_date", report_start_date),
    ):
        if value is not None:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ConfigurationError(f"{name} must be YYYY-MM-DD, not {value!r}") from None
            if day > datetime.now(UTC).date() + timedelta(days=1):
                raise ConfigurationError(
                    f"{name} {value} is in the future: nothing would load; give a past day"
                )


def _pacing(requests_per_second: float | None, base_url: str) -> tuple[float, list[str]]:
    """Requests a second, and the note saying why when it was not given."""
    if requests_per_second is not None:
        return requests_per_second, []
    if is_loopback(urlsplit(base_url).hostname or ""):
        # Pacing is for the service's rate limit; an emulator on this machine has none
        # unless asked, and 1 a second made a local first run 95% waiting.
        return 0.0, [
            f"pacing is off for {base_url}, a server on this machine "
            "(set requests_per_second to pace it)"
        ]
    return settings.REQUESTS_PER_SECOND, []


def _readers(
    sync: Sync,
    *,
    report_start_date: str | None,
    report_trailing_days: int,
    arrow: bool,
) -> dict[str, Callable[[Endpoint], Iterator[Any]]]:
    """How each kind of endpoint (`Endpoint.reader`) is read."""
    return {
        "organizations": sync.organizations,
        "workspaces": sync.workspaces,
        "single": sync.single,
        "list": sync.whole_list,
        "paged": sync.whole_list,
        "since": sync.since,
        "rates": sync.rates,
        "me": lambda endpoint: sync.my_entries(endpoint, sync.time_entries_start),
        "report": lambda endpoint: report_rows(
            sync.client,
            sync.discovery,
            sync.reject,
            sync.known_complete,
            sync.completed,
            start_date=report_start_date,
            trailing_days=report_trailing_days,
            arrow=arrow,
            cadence=sync.cadence,
            on_tags=lambda ws, tags: sync._flag_unknown("workspace_tags", ws, tags),
            covered=lambda ws: "report_time_entries" in sync.live.get(ws, ()),
        ),
    }


def _resources(
    sync: Sync, readers: dict[str, Callable[[Endpoint], Iterator[Any]]]
) -> list[DltResource]:
    """One dlt resource a declared endpoint (`rates` selected only when asked), and the table
    of records that could not land."""
    resources = [
        _declare(
            endpoint,
            sync,
            readers[endpoint.reader],
            sync.hard_delete,
            selected=endpoint.reader != "rates" or sync.rates_enabled,
        )
        for endpoint in ENDPOINTS
    ]
    resources.append(
        dlt.resource(
            lambda: sync.rejected_rows(),
            name=REJECTED_TABLE,
            write_disposition="append",
            columns=cast(TTableSchemaColumns, column_hints(REJECTED_TABLE)),
        )
    )
    return resources


_PHASES = {
    "organizations": "discovery",
    "workspaces": "discovery",
    "single": "lists",
    "list": "lists",
    "paged": "lists",
    "since": "lists",
    "me": "your own entries",
    "report": "report history",
    "rates": "rate histories",
}


def _declare(
    endpoint: Endpoint,
    sync: Sync,
    read: Callable[[Endpoint], Iterator[Any]],
    hard_delete: bool,
    selected: bool = True,
) -> DltResource:
    def rows() -> Iterator[Any]:
        sync.state = dlt.current.source_state()
        sync.client.stats.phase = f"{_PHASES[endpoint.reader]}: {endpoint.table}"
        try:
            sync.same_owner()
            sync.plan_discovery()
            yield from read(endpoint)
        except QuotaExhaustedError:
            sync.client.stats.defer(endpoint.table)
        except RunStopped:
            return  # what was fetched lands; the state says where to go on
        finally:
            sync.finished.add(endpoint.table)

    return dlt.resource(
        rows,
        name=endpoint.table,
        table_name=endpoint.table,
        primary_key=endpoint.primary_key,
        write_disposition="merge",
        columns=cast(TTableSchemaColumns, column_hints(endpoint.table, hard_delete=hard_delete)),
        selected=selected,
    )


@dataclass
class Sync:
    """What every reader of a run shares: the client, the scope, the rejected records."""

    client: ApiClient
    discovery: Discovery
    hard_delete: bool
    rejects: list[Row] = field(default_factory=list)
    finished: set[str] = field(default_factory=set)
    done_now: dict[str, set[str]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """The source's state, kept from the first resource that ran: the progress estimate reads
    the report's walks from it outside any resource."""
    report_start: date = date(2006, 1, 1)
    cadence: Cadence = field(default_factory=lambda: Cadence(dict, lambda: 0.0, {}))
    discovery_due: bool | None = None
    """Whether this run reads /me/organizations and /me/workspaces (None: not decided yet)."""
    time_entries_start: str | None = None
    rates_enabled: bool = False
    live: dict[int, frozenset[str]] = field(default_factory=dict)
    """Workspace id -> tables its webhooks keep live (see `covered`)."""
    rate_marks_now: dict[tuple[str, int], dict[Any, Row]] = field(default_factory=dict)
    """This run's rows of the tables whose records say when their rates changed."""
    _own: Any = None
    """The owner's entries, read once (see `_own_entries`): the record, or the error it raised."""

    def estimate_remaining(self) -> int | None:
        """Requests the run still needs, about: one per scope of each table not read yet (more
        for long lists), and one per report window not walked yet (more for busy ones)."""
        known = self.discovery.known_ids()
        if known is None:  # asked before discovery ran: no estimate yet
            return None
        organization_ids, workspace_ids = known
        organizations, workspaces = len(organization_ids), len(workspace_ids)
        walks = self.state.get("resources", {}).get("report_time_entries", {})
        today = datetime.now(UTC).date()
        needed = 0
        for endpoint in ENDPOINTS:
            if endpoint.table in self.finished or (
                endpoint.reader == "rates" and not self.rates_enabled
            ):
                continue
            if endpoint.reader == "report":
                for workspace_id in workspace_ids:
                    key = str(workspace_id)
                    walk = walks.get("walk", {}).get(key)
                    done = walks.get("complete_through", {}).get(key)
                    if walk:
                        first = date.fromisoformat(walk["from"])
                        last = date.fromisoformat(walk["before"] or walk["to"])
                    else:
                        first = date.fromisoformat(done) if done else self.report_start
                        last = today
                    needed += max(0, (last - first).days) // 366 + 1
            elif endpoint.scope == "organization":
                needed += organizations
            elif endpoint.scope == "workspace":
                needed += workspaces
            else:
                needed += 1
        return needed

    # --- the cadence ---------------------------------------------------------------------------

    def service_time(self) -> float:
        """The service's time now (unix seconds), for the cadence. A run that has asked nothing
        yet asks first what it needs anyway: the owner's entries changed since the last run."""
        if not self.client.clock_known and self._own is None:
            # An error is kept in self._own: the owner's table meets it again.
            with contextlib.suppress(TimetrackError):
                self._own_entries(BY_TABLE["time_entries"])
        return self.client.now().timestamp()

    def plan_discovery(self) -> None:
        """Decide once per run whether discovery reads the service or what it remembers: the
        organizations and workspaces the token reaches are read on the lists' cadence (and
        whenever a scope failed in an earlier run: one may have gone)."""
        if self.discovery_due is not None:
            return
        remembered = dlt.current.source_state().get("discovery")
        due = remembered is None or self.cadence.due("discovery", "token")
        if not due:
            assert remembered is not None
            self.discovery.remember(remembered["organizations"], remembered["workspaces"])
        self.discovery_due = due

    def _discovered(self) -> None:
        """Keep what discovery read (credentials left out) for the runs between its reads."""
        if not self.discovery.read_now:
            return
        organizations, workspaces = self.discovery.reachable()
        dlt.current.source_state()["discovery"] = {
            "organizations": [clean(r) for r in organizations],
            "workspaces": [clean(r) for r in workspaces],
        }
        self.cadence.done("discovery", "token")

    def covered(self, table: str, ws_id: int) -> bool:
        """Whether this run skips the hourly read of a table of a workspace: its webhooks keep
        it live (`timetrack listen` landing every change) and the table's own reconciliation,
        on the lists' cadence, is not due. A listener that stops covers nothing, and the next
        run's `since` (or the report's changes) goes on from where the last read stood."""
        if table not in self.live.get(ws_id, ()):
            return False
        return not self.cadence.due(f"live:{table}", str(ws_id))

    def _flag_unknown(self, part: str, scope_id: int, named: set[Any]) -> None:
        """Make a list due next run when rows of another table name ids it lacks (a client
        created since it was read, a tag): what else shows it changed."""
        named.discard(None)
        if not named:
            return
        endpoint = BY_TABLE[part]
        column = endpoint.scope_column
        landed = landed_versions(part, endpoint.primary_key, column, scope_id)
        if named - set(landed):
            self.cadence.flag(part, str(scope_id))

    # --- records that cannot land ------------------------------------------------------------

    def reject(self, table: str, record: Any, reason: str, key: Any, scope: str) -> None:
        """Keep a record that cannot land for `rejected_records`, credentials left out."""
        raw = clean(record)
        self.rejects.append(
            {
                "table_name": table,
                "record_key": None if key is None else str(key)[:200],
                "reason": reason,
                "record": orjson.dumps(raw, default=str).decode(),
                "scope": scope,
            }
        )
        self.client.stats.reject(table)

    def rows(
        self, convert: Callable[[Any], Row], records: list[Any] | None, table: str, scope: str
    ) -> list[Row]:
        """Rows of the records that can land; the others are rejected with their reason."""
        out = []
        for record in records or []:
            try:
                out.append(convert(record))
            except Rejected as rejected:
                self.reject(table, record, rejected.reason, rejected.key, scope)
        return out

    def rejected_rows(self) -> Iterator[list[Row]]:
        """The rejected records of the run: extracted last, after every other table. Being
        last, it also closes the backfill cycle, or keeps it open when the run stopped early."""
        stats = self.client.stats
        cycle = dlt.current.source_state().setdefault("backfill", {"open": False, "done": {}})
        if stats.deferred or stats.quota_stops or stats.stop_reason:
            cycle["open"] = True
            for table, keys in self.done_now.items():
                cycle["done"][table] = sorted(set(cycle["done"].get(table, [])) | keys)
        else:
            cycle.update(open=False, done={})
        if self.rejects:
            yield self.rejects

    # --- a backfill that takes several runs ---------------------------------------------------

    def known_complete(self, table: str, scope: str) -> bool:
        """Whether this scope of this table was read whole by an earlier run of a backfill the
        quota (or Ctrl-C) stopped: until the backfill is done, it is not read again."""
        cycle = self.state.get("backfill", {})
        return bool(cycle.get("open")) and scope in cycle.get("done", {}).get(table, ())

    def completed(self, table: str, scope: str) -> None:
        """Note a scope of a table read whole in this run."""
        self.done_now.setdefault(table, set()).add(scope)

    # --- scopes ------------------------------------------------------------------------------

    def each_scope(
        self, endpoint: Endpoint, read_scope: Callable[[int], Iterator[list[Row]]]
    ) -> Iterator[list[Row]]:
        """Rows of every organization or workspace in scope. One whose answer fails (a feature
        not on its plan, a workspace gone, a service failing every retry) is noted as an error
        and the rest still load; one whose quota is spent is left for the next run; one that
        refuses a member what only its admins read is skipped with a warning (`admin_refusal`)."""
        ids = (
            self.discovery.organization_ids()
            if endpoint.scope == "organization"
            else self.discovery.workspace_ids()
        )
        on_cadence = endpoint.reader in ("single", "list", "paged")
        for scope_id in ids:
            label = f"{endpoint.table} of {endpoint.scope} {scope_id}"
            if self.known_complete(endpoint.table, str(scope_id)):
                continue
            if on_cadence and not self.cadence.due(endpoint.table, str(scope_id)):
                continue
            live = endpoint.reader == "since" and endpoint.table in self.live.get(scope_id, ())
            if live and self.covered(endpoint.table, scope_id):
                continue
            began = self.client.now().timestamp() if self.client.clock_known else None
            try:
                for batch in read_scope(scope_id):
                    if endpoint.table in RATE_SOURCES:
                        kept = self.rate_marks_now.setdefault((endpoint.table, scope_id), {})
                        kept.update((row.get("id"), row) for row in batch)
                    if on_cadence and batch:
                        batch = changed_rows(endpoint.table, endpoint.primary_key, batch)
                    if batch:
                        self.client.stats.add_rows(endpoint.table, len(batch))
                        yield batch
                self.completed(endpoint.table, str(scope_id))
                if on_cadence:
                    self.cadence.done(endpoint.table, str(scope_id), began)
                if live:
                    self.cadence.done(f"live:{endpoint.table}", str(scope_id), began)
            except QuotaExhaustedError:
                self.client.stats.defer(label)
            except (RunStopped, AuthenticationError):
                raise
            except ApiError as error:
                admin = self.discovery.administers(endpoint.scope, scope_id)
                warning = admin_refusal(endpoint, scope_id, error, admin)
                if warning is None:
                    self.client.stats.error(f"{label}: {error}")
                    # A scope that fails may have left the token's reach: discovery looks again.
                    self.cadence.flag("discovery", "token")
                else:
                    self.client.stats.warn(warning)
                    # A member's refusal is this cadence's answer: asked again at the next
                    # reconciliation, not at every hourly run.
                    if on_cadence:
                        self.cadence.done(endpoint.table, str(scope_id), began)

    def _landed(self, endpoint: Endpoint, scope_id: int) -> bool:
        """Whether rows of this scope landed before."""
        column = endpoint.scope_column
        return bool(landed_versions(endpoint.table, endpoint.primary_key, column, scope_id))

    def _scope_label(self, endpoint: Endpoint, scope_id: int | None) -> str:
        return endpoint.scope if scope_id is None else f"{endpoint.scope} {scope_id}"

    def _convert(self, endpoint: Endpoint, scope_id: int | None) -> Callable[[Any], Row]:
        column = endpoint.scope_column
        context = {column: scope_id} if column and scope_id is not None else {}
        return converter(endpoint.table, endpoint.primary_key, **context)

    # --- readers -----------------------------------------------------------------------------

    def organizations(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """Every organization in scope, from discovery's one request; nothing between
        discovery's reads (the table stays as it was)."""
        if self.discovery_due is False:
            return
        records = [*self.discovery.organizations(), *self.discovery.unusable.get(endpoint.path, [])]
        batch = self.rows(self._convert(endpoint, None), records, endpoint.table, "token")
        batch = changed_rows(endpoint.table, endpoint.primary_key, batch)
        self.client.stats.add_rows(endpoint.table, len(batch))
        if batch:
            yield batch

    def same_owner(self) -> None:
        """A dataset holds what one user may see: its state (cursors, walks, what landed) is
        that user's. Another user's token would read less (a member's) or other entries, and
        its listings would delete the first user's rows: refused. The first run asks `/me`
        once; a new token of the same user (rotated) is taken, and asks `/me` once more."""
        state = dlt.current.source_state()
        fingerprint = self.client.token_fingerprint
        owner: dict[str, Any] | None = state.get("token_owner")
        if owner is not None and owner.get("fingerprint") == fingerprint:
            return  # checked, by this resource or an earlier one
        me = self.client.get("/me", shape=is_object)
        user_id = me.get("id")
        if owner is not None and owner.get("user_id") != user_id:
            raise ConfigurationError(
                f"this dataset holds what the token of user {owner.get('user_id')} may see; "
                f"this token is user {user_id}'s: sync it into another --dataset (each user's "
                "view is a dataset of its own)"
            )
        state["token_owner"] = {"fingerprint": fingerprint, "user_id": user_id}

    def workspaces(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """Reachable workspaces, plus those that were and are no longer: kept, but marked with
        `unreachable_since` (and reported) instead of passing for current. Between discovery's
        reads, nothing (the table stays as it was)."""
        if self.discovery_due is False:
            return
        convert = self._convert(endpoint, None)
        known: dict[str, dict[str, Any]] = dlt.current.source_state().setdefault("workspaces", {})
        batch = []
        for record in [
            *self.discovery.workspaces(),
            *self.discovery.unusable.get(endpoint.path, []),
        ]:
            try:
                row = convert(record)
            except Rejected as rejected:
                self.reject(endpoint.table, record, rejected.reason, rejected.key, "token")
                continue
            row["unreachable_since"] = None
            batch.append(row)
            # All of it but credentials: a row written back from state loses nothing.
            known[str(row["id"])] = clean(record)
        if not self.discovery.narrowed:
            # A run narrowed to some workspaces says nothing about the others.
            reachable = {str(r["id"]) for r in batch}
            for key, remembered in list(known.items()):
                if key in reachable:
                    continue
                try:
                    row = convert(dict(remembered))
                except Rejected:
                    continue
                now = self.client.server_now()
                row["unreachable_since"] = (
                    parse_timestamp(remembered.get("unreachable_since")) or now
                )
                remembered["unreachable_since"] = row["unreachable_since"].isoformat()
                self.client.stats.warn(
                    f"workspace {key} ({remembered.get('name')}) is no longer reachable with this "
                    "token: its rows are kept as last seen, marked in workspaces.unreachable_since"
                )
                batch.append(row)
        batch = changed_rows(endpoint.table, endpoint.primary_key, batch)
        self.client.stats.add_rows(endpoint.table, len(batch))
        self._discovered()
        if batch:
            yield batch

    def single(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """One object per scope (a workspace's statistics)."""

        def read(scope_id: int) -> Iterator[list[Row]]:
            path = endpoint.path.format(organization_id=scope_id, workspace_id=scope_id)
            fields = set(TABLES[endpoint.table]) - {endpoint.scope_column}
            payload = self.client.get(path, endpoint.params or None, shape=is_record_of(fields))
            scope = self._scope_label(endpoint, scope_id)
            yield self.rows(self._convert(endpoint, scope_id), [payload], endpoint.table, scope)

        return self.each_scope(endpoint, read)

    def whole_list(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """A list read whole every run (in pages if it pages); a page that landed in a run
        stopped halfway is not asked again. Rows that landed before and are no longer listed
        were deleted at the service: only a complete, well-formed listing in one run proves
        that, so a resumed or `null` listing deletes nothing."""
        listings: dict[str, int] = dlt.current.resource_state().setdefault("next_page", {})

        def read(scope_id: int) -> Iterator[list[Row]]:
            key = str(scope_id)
            convert = self._convert(endpoint, scope_id)
            scope = self._scope_label(endpoint, scope_id)
            path = endpoint.path.format(organization_id=scope_id, workspace_id=scope_id)
            first = listings.get(key, 1)
            confirmed = first == 1
            seen: set[Any] = set()
            if endpoint.reader == "paged":
                for page, items in pages_of(self.client, path, endpoint.params, first_page=first):
                    if page == 1 and items is None and self._landed(endpoint, scope_id):
                        confirmed = False  # a `null` first page does not delete what landed
                    batch = self.rows(convert, items, endpoint.table, scope)
                    seen.update(row[endpoint.primary_key] for row in batch)
                    yield batch
                    listings[key] = page + 1
                listings.pop(key, None)
            else:
                items = self.client.get(path, endpoint.params or None, shape=is_list_or_null)
                if items is None and self._landed(endpoint, scope_id):
                    # `null` is the service's empty list, and what a broken answer may look
                    # like: before it deletes what landed, it is asked once more.
                    items = self.client.get(path, endpoint.params or None, shape=is_list_or_null)
                batch = self.rows(convert, items, endpoint.table, scope)
                seen.update(row[endpoint.primary_key] for row in batch)
                yield batch
            if confirmed and endpoint.scope_column:
                landed = landed_versions(
                    endpoint.table, endpoint.primary_key, endpoint.scope_column, scope_id
                )
                if any(k not in seen for k in landed):
                    # Before rows are deleted, the list is read once more: an answer cut
                    # short (a gateway, a page lost) must not delete what it left out. Only
                    # what both readings lack is gone. One request, only when rows would go.
                    seen |= self._keys_listed(endpoint, path, convert)
                now = self.client.server_now()
                yield gone_rows(endpoint.table, endpoint.primary_key, landed, seen, now)

        return self.each_scope(endpoint, read)

    def _keys_listed(
        self, endpoint: Endpoint, path: str, convert: Callable[[Any], Row]
    ) -> set[Any]:
        """The keys of a whole reading of a list (nothing is landed or rejected from it)."""
        if endpoint.reader == "paged":
            records = [
                record
                for _, items in pages_of(self.client, path, endpoint.params)
                for record in items or []
            ]
        else:
            records = self.client.get(path, endpoint.params or None, shape=is_list_or_null) or []
        keys = set()
        for record in records:
            try:
                keys.add(convert(record)[endpoint.primary_key])
            except Rejected:
                continue
        return keys

    def since(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """Every page on the first run (resumable), then only what changed (`since`), per
        scope. The cursor never passes the service's clock, so one far-future timestamp
        cannot freeze it."""
        state = dlt.current.resource_state()
        cursors: dict[str, int] = state.setdefault("since", {})
        listings: dict[str, dict[str, int]] = state.setdefault("listing", {})

        def changes(path: str, scope_id: int, since: int) -> Iterator[list[Row]]:
            convert = self._convert(endpoint, scope_id)
            scope = self._scope_label(endpoint, scope_id)
            params = {**endpoint.params, "since": since}
            for _, items in pages_of(self.client, path, params):
                batch = self.rows(convert, items, endpoint.table, scope)
                # The overlap sends the newest changes again: what is the same as what landed
                # (same `at`, not deleted) is not written again.
                keys = [row[endpoint.primary_key] for row in batch]
                landed = landed_values(endpoint.table, endpoint.primary_key, keys, ("at",))
                yield [
                    row
                    for row in batch
                    if row.get("server_deleted_at") is not None
                    or row.get("at") is None
                    or landed.get(row[endpoint.primary_key]) != (row.get("at"),)
                ]

        def read(scope_id: int) -> Iterator[list[Row]]:
            key = str(scope_id)
            path = endpoint.path.format(organization_id=scope_id, workspace_id=scope_id)
            now = int(self.client.server_now().timestamp())
            if key in cursors and key not in listings:
                latest: datetime | None = None
                clients: set[Any] = set()
                try:
                    for batch in changes(path, scope_id, cursors[key]):
                        latest = _latest(batch, latest)
                        if endpoint.table == "workspace_projects":
                            clients.update(row.get("client_id") for row in batch)
                        yield batch
                except ApiError as error:
                    if error.status != 400:
                        raise
                    # A cursor the service no longer takes (too old): list everything again.
                    del cursors[key]
                    yield from read(scope_id)
                    return
                _advance(cursors, key, latest, now)
                # A changed project naming a client the clients table lacks: read it next run.
                self._flag_unknown("workspace_clients", scope_id, clients)
                return
            listing = listings.setdefault(key, {"page": 1, "started": now})
            resumed = listing["page"] > 1
            convert = self._convert(endpoint, scope_id)
            scope = self._scope_label(endpoint, scope_id)
            for page, items in pages_of(
                self.client, path, endpoint.params, first_page=listing["page"]
            ):
                batch = self.rows(convert, items, endpoint.table, scope)
                latest = _latest(batch, None)
                if latest is not None:
                    seen = min(int(latest.timestamp()), now)  # never past the service's clock
                    listing["latest"] = max(listing.get("latest", seen), seen)
                yield batch
                listing["page"] = page + 1
            del listings[key]
            # The next run asks for what changed since the newest change this listing saw, or
            # since it began if that is earlier (a listing resumed over hours), less the
            # overlap for writers whose change is stamped a little before it shows.
            since = min(listing.get("latest", listing["started"]), listing["started"])
            cursors[key] = since - settings.SINCE_OVERLAP_SECONDS
            if resumed or listing["page"] > 2:
                # Offset pages shift when a record is deleted between two of them: the next
                # record then falls out of both. Read what changed since the listing began; a
                # deletion among it means the pages may have shifted, so list once more.
                found = [row for batch in changes(path, scope_id, cursors[key]) for row in batch]
                yield found
                if any(row.get("server_deleted_at") is not None for row in found):
                    for _, items in pages_of(self.client, path, endpoint.params):
                        yield self.rows(convert, items, endpoint.table, scope)

        return self.each_scope(endpoint, read)

    def my_entries(self, endpoint: Endpoint, start: str | None) -> Iterator[list[Row]]:
        """The token owner's entries; a failure of theirs (every retry failed, a refusal) fails
        this table alone, as a scope's failure does, and the other tables still land. A token
        rejected or a service never reached stops the run as anywhere else."""
        try:
            yield from self._my_entries(endpoint, start)
        except (AuthenticationError, ConnectionFailedError, QuotaExhaustedError):
            raise
        except ApiError as error:
            self.client.stats.error(f"{endpoint.table}: {error}")

    def rates(self, endpoint: Endpoint) -> Iterator[list[Row]]:
        """The rate histories whose record's `*_last_updated` moved since they were read (all
        of them on the first run), one request each. A history replaces what landed of it: a
        period no longer listed was deleted. A `null` answer proves nothing and is asked again
        next run; a 404 (the record is gone) leaves it to the record's own deletion."""
        done_by_scope: dict[str, dict[str, str]] = dlt.current.resource_state().setdefault(
            "read", {}
        )

        def read(ws_id: int) -> Iterator[list[Row]]:
            done = done_by_scope.setdefault(str(ws_id), {})
            convert = self._convert(endpoint, ws_id)
            scope = self._scope_label(endpoint, ws_id)
            marks = self._rate_marks(ws_id)
            for (level, level_id, kind), mark in sorted(marks.items()):
                key = f"{level}:{level_id}:{kind}"
                if done.get(key) == mark:
                    continue
                path = endpoint.path.format(workspace_id=ws_id, level=level, level_id=level_id)
                try:
                    items = self.client.get(path, {"type": kind}, shape=is_list_or_null)
                except ApiError as error:
                    if error.status != 404:
                        raise
                    done[key] = mark
                    continue
                batch = self.rows(convert, items, endpoint.table, scope)
                for row in batch:
                    row.update(level=level, level_id=level_id)
                    row["type"] = row.get("type") or kind
                yield batch
                if items is None:
                    continue
                where = [
                    ("workspace_id", "=", ws_id),
                    ("level", "=", level),
                    ("level_id", "=", level_id),
                    ("type", "=", kind),
                ]
                landed = landed_where(endpoint.table, "id", where)
                listed = {row["id"] for row in batch}
                now = self.client.server_now()
                yield gone_rows(endpoint.table, "id", landed, listed, now)
                done[key] = mark
            # Histories of records that are gone (a deleted project, a member who left) or no
            # longer have a rate: their periods go too.
            columns = ("level", "level_id", "type")
            kept = landed_where(endpoint.table, "id", [("workspace_id", "=", ws_id)], columns)
            orphans = {k: v for k, v in kept.items() if (v[0], v[1], v[2]) not in marks}
            if orphans:
                yield gone_rows(endpoint.table, "id", orphans, set(), self.client.server_now())
                for level, level_id, kind in {v for v in orphans.values()}:
                    done.pop(f"{level}:{level_id}:{kind}", None)

        return self.each_scope(endpoint, read)

    def _rate_marks(self, ws_id: int) -> dict[tuple[str, int, str], str]:
        """(level, level id, type) -> when its rate last changed, for every record of the
        workspace that says so: what landed, updated by this run's rows."""
        marks: dict[tuple[str, int, str], str] = {}
        for table, (level, fields) in RATE_SOURCES.items():
            names = [name for name, _ in fields]
            rows: dict[Any, Row] = {
                key: dict(zip(names, values, strict=True))
                for key, values in landed_versions(
                    table, "id", "workspace_id", ws_id, names
                ).items()
            }
            rows.update(self.rate_marks_now.get((table, ws_id), {}))
            for key, row in rows.items():
                if as_key(key) is None or row.get("server_deleted_at") is not None:
                    continue
                for name, kind in fields:
                    moment = _moment(row.get(name))
                    if moment is not None:
                        marks[(level, int(key), kind)] = moment
        for record in self.discovery.workspaces():
            if as_key(record.get("id")) == ws_id:
                moment = _moment(record.get("rate_last_updated"))
                if moment is not None:
                    marks[("workspace", ws_id, "billable_rates")] = moment
        return marks

    def _own_entries(
        self,
        endpoint: Endpoint,
        start: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> _OwnRead:
        """Read the owner's entries once per run: changes since the last run, or the whole
        window. Kept (with any error it raised) for the owner's table, which may come after
        the cadence asked for the service's clock and this read answered it."""
        if isinstance(self._own, _OwnRead):
            return self._own
        if isinstance(self._own, BaseException):
            raise self._own
        try:
            if state is None:
                # This resource's state, reached from the source's: the read may run inside
                # another resource (the cadence asking for the service's clock).
                resources = dlt.current.source_state().setdefault("resources", {})
                state = resources.setdefault(endpoint.table, {})
            own = self._read_own(endpoint, start or self.time_entries_start, state)
        except TimetrackError as error:
            self._own = error
            raise
        self._own = own
        return own

    def _read_own(self, endpoint: Endpoint, start: str | None, state: dict[str, Any]) -> _OwnRead:
        client = self.client
        # The service's clock if an answer told it, else ours: a `since` the service finds
        # too old after all is refused (400) and the window is read instead.
        records = None
        window_start: datetime | None = None
        since = state.get("since")
        guess = client.now().timestamp()
        if since is not None and since > guess - settings.SINCE_MAX_AGE_DAYS * 86400:
            try:
                records = client.get(endpoint.path, {"since": since}, shape=is_list_or_null)
            except ApiError as error:
                if error.status != 400 or _SINCE_TOO_OLD not in str(error):
                    raise
                since = None
        else:
            since = None
        now = client.server_now()
        landed: dict[Any, tuple[Any, ...]] = {}
        if since is None:
            records, first_day = _window(client, endpoint.path, now.date(), start)
            window_start = datetime.combine(first_day, datetime.min.time(), UTC)
            landed = landed_versions(endpoint.table, "id", None, None, (), window_start)
            if records is None and landed:
                # `null` is the service's empty list, and what a broken answer may look like:
                # before it deletes what landed, it is asked once more, then believed.
                records, _ = _window(client, endpoint.path, now.date(), first_day.isoformat())
                records = [] if records is None else records
        return _OwnRead(records, window_start, landed, now, state)

    def _my_entries(self, endpoint: Endpoint, start: str | None) -> Iterator[list[Row]]:
        """The whole 90-day window first, then changes via `since`. A window answered `null`
        proves nothing, so the next run reads the window again."""
        client = self.client
        if self.known_complete(endpoint.table, "token"):
            return
        own = self._own_entries(endpoint, start, dlt.current.resource_state())
        records, window_start, landed, now, state = (
            own.records,
            own.window_start,
            own.landed,
            own.now,
            own.state,
        )
        batch = self.rows(self._convert(endpoint, None), records, endpoint.table, "token")
        wanted: set[Any] = set()
        if self.discovery.narrowed:
            wanted = set(self.discovery.workspace_ids())
            batch = [row for row in batch if row.get("workspace_id") in wanted]
        client.stats.add_rows(endpoint.table, len(batch))
        if batch:
            yield batch
        if records is None and window_start is not None:
            return  # nothing proven, nothing to delete: the window is read again next run
        if window_start is not None:
            # A window lists live entries only: what landed in it and is missing now was
            # deleted (after a gap too long for `since` to tell).
            returned = {row["id"] for row in batch}
            gone = gone_rows(endpoint.table, "id", landed, returned, now)
            if self.discovery.narrowed:
                gone = [row for row in gone if row.get("workspace_id") in wanted]
            if gone:
                yield gone
        # The next run asks for what changed after this read began, less the overlap.
        state["since"] = int(now.timestamp()) - settings.SINCE_OVERLAP_SECONDS
        self.completed(endpoint.table, "token")


@dataclass
class _OwnRead:
    """What one read of the owner's entries found (see `Sync._own_entries`)."""

    records: Any
    window_start: datetime | None
    landed: dict[Any, tuple[Any, ...]]
    now: datetime
    state: dict[str, Any]


def admin_refusal(
    endpoint: Endpoint, scope_id: int, error: ApiError, admin: bool | None
) -> str | None:
    """The warning for a refusal that only says the token's user is no admin where the table
    needs one: a 403 (not a rejected token) on a table that `needs` a right, in a scope
    discovery did not call the user admin of. None for any other failure, which stays an
    error: a 403 to an admin is no question of rights, and nothing else is one.

    Most users hold a member's token: their run lands every other table and exits 0. A
    refusal ends the scope's read before its listing is complete, and only a complete listing
    deletes what it no longer holds: a 403 never reads as an empty list, and the rows an
    admin's run landed stay as they were."""
    if not endpoint.needs or not isinstance(error, AccessDeniedError) or error.status != 403:
        return None
    if admin is True:
        return None
    return f"{endpoint.table} of {endpoint.scope} {scope_id}: needs {endpoint.needs}"


RATE_SOURCES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "workspace_users": (
        "workspace_user",
        (("rate_last_updated", "billable_rates"), ("labor_cost_last_updated", "labor_costs")),
    ),
    "project_users": (
        "project_user",
        (("rate_last_updated", "billable_rates"), ("labor_cost_last_updated", "labor_costs")),
    ),
    "workspace_projects": ("project", (("rate_last_updated", "billable_rates"),)),
}
"""Tables whose records say when their rate (and labor cost) last changed: table -> (the rate
level their id names, (field, rate type) pairs). A record whose field is null never had a rate
set: its history holds nothing its own `rate` does not. Tasks carry no such field: their
histories are not read."""


def _moment(value: Any) -> str | None:
    """A `*_last_updated` value as one spelling (ISO 8601, UTC), whatever read it."""
    moment = value if isinstance(value, datetime) else parse_timestamp(value)
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _latest(batch: list[Row], latest: datetime | None) -> datetime | None:
    for row in batch:
        at = row.get("at")
        if isinstance(at, datetime) and (latest is None or at > latest):
            latest = at
    return latest


def _advance(cursors: dict[str, int], key: str, latest: datetime | None, now: int) -> None:
    """Move a `since` cursor to the newest change seen, less an overlap for late writers; never
    past the service's clock (a far-future `at` would freeze it) and never backwards."""
    if latest is None:
        return
    candidate = min(int(latest.timestamp()), now) - settings.SINCE_OVERLAP_SECONDS
    cursors[key] = max(cursors.get(key, 0), candidate)


def _window(client: ApiClient, path: str, today: date, start: str | None) -> tuple[Any, date]:
    """Every entry /me/time_entries allows, from 90 days back (or a later start) to
    tomorrow; returns them and the first day asked for."""
    begin = today - timedelta(days=settings.HISTORY_DAYS)
    if start:
        begin = max(begin, date.fromisoformat(start))
    params = {"start_date": begin.isoformat(), "end_date": (today + timedelta(days=2)).isoformat()}
    try:
        return client.get(path, params, shape=is_list_or_null), begin
    except ApiError as error:
        # The service's clock decides the window; its 400 names the earliest day it takes.
        found = _EARLIEST.search(str(error))
        if error.status != 400 or not found:
            raise
        begin = date.fromisoformat(found.group(1))
        return client.get(
            path, {**params, "start_date": begin.isoformat()}, shape=is_list_or_null
        ), begin


def source_tables() -> list[str]:
    """Names of the tables the source can load, in its resource order."""
    return [e.table for e in ENDPOINTS]


__all__ = ["BY_TABLE", "SourceArgs", "configured_client", "source_tables", "timetrack_source"]
