"""Analytics views: the answers people load time entries for, beside the raw tables.

Every run rebuilds plain SQL views in a schema of their own, `<dataset>_analytics`, so that
modelled answers and raw tables never mix:
- `entries`: one row per live time entry of every member, with the names of what it points at,
  its local date and ISO week, and hours that are never negative (a running entry counts up to
  the run that built the view);
- `hours_by_week`: week x workspace x project (and client) x user x currency;
- `utilisation_by_week`: member x week, hours against their working hours.

The views guard against the data's traps: dimension tables are reduced to one row per key
before any join (a member belongs to several organizations; a join on them would multiply
entries), project and task names are looked up within the entry's workspace (the report's own
names fill in for a project, client or task deleted since), and a timezone the database does not
know falls back to UTC instead of failing the query. Tables or columns that are
missing (a run of a few resources, a field the service stopped sending) read as nulls.

Only DuckDB (and MotherDuck) and PostgreSQL get views: their SQL is the one written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Dialect = Literal["duckdb", "postgres"]

DIALECTS: dict[str, Dialect] = {"duckdb": "duckdb", "motherduck": "duckdb", "postgres": "postgres"}
"""Destination kinds that get views, and the SQL dialect they speak."""

VIEWS = ("entries", "hours_by_week", "utilisation_by_week")

WORKING_DAYS_PER_WEEK = 5
"""`working_hours_in_minutes` is a working day's length at the service; a week has five."""


def analytics_schema(dataset: str) -> str:
    """The schema the views live in, beside the dataset's raw tables."""
    return f"{dataset}_analytics"


@dataclass(frozen=True)
class Landed:
    """What the dataset holds: its tables and each table's columns."""

    columns: dict[str, set[str]]

    def has(self, table: str) -> bool:
        return table in self.columns


_TYPES = {
    "bigint": "BIGINT",
    "text": "VARCHAR",
    "bool": "BOOLEAN",
    "ts": "TIMESTAMP WITH TIME ZONE",
}


class _Sql:
    """SQL fragments that differ between DuckDB and PostgreSQL, and the raw tables' names."""

    def __init__(self, dialect: Dialect, dataset: str, landed: Landed) -> None:
        self.dialect = dialect
        self.dataset = dataset
        self.landed = landed

    def table(self, name: str) -> str:
        return f"{_quote(self.dataset)}.{_quote(name)}"

    def col(self, table: str, alias: str, name: str, kind: str) -> str:
        """A column of a raw table, or a typed null when the table has no such column."""
        if name in self.landed.columns.get(table, set()):
            return f"{alias}.{_quote(name)}"
        return f"CAST(NULL AS {_TYPES[kind]})"

    def seconds_between(self, start: str, stop: str) -> str:
        if self.dialect == "duckdb":
            return f"date_diff('second', {start}, {stop})"
        return f"CAST(floor(extract(epoch FROM ({stop} - {start}))) AS BIGINT)"

    def tag_ids(self, table: str) -> str:
        """Rows (entry id, tag id) from a table's JSON `tag_ids`; anything not an integer out.

        Both dialects read each element as text and keep up to 18 digits (a bigint), so that a
        6.5 or a `true` is left out in DuckDB as in PostgreSQL (a cast would make them 6 and 1)."""
        if "tag_ids" not in self.landed.columns[table]:
            return self.empty([("entry_id", "bigint"), ("tag_id", "bigint")])
        if self.dialect == "duckdb":
            return (
                "SELECT entry_id, TRY_CAST(element AS BIGINT) AS tag_id FROM (SELECT "
                "id AS entry_id, unnest(TRY_CAST(tag_ids AS VARCHAR[])) AS element "
                f"FROM {self.table(table)}) AS unnested "
                "WHERE regexp_full_match(element, '-?[0-9]{1,18}')"
            )
        return (
            "SELECT t.id AS entry_id, CAST(element.value AS BIGINT) AS tag_id "
            f"FROM {self.table(table)} AS t CROSS JOIN LATERAL jsonb_array_elements_text("
            "CASE WHEN jsonb_typeof(t.tag_ids) = 'array' THEN t.tag_ids ELSE '[]'::jsonb END"
            ") AS element(value) WHERE element.value ~ '^-?[0-9]{1,18}$'"
        )

    def empty(self, columns: Iterable[tuple[str, str]]) -> str:
        """A relation with these (name, kind) columns and no rows: a table that never landed."""
        selected = ", ".join(f"CAST(NULL AS {_TYPES[kind]}) AS {_quote(n)}" for n, kind in columns)
        return f"SELECT {selected} WHERE 1 = 0"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _live(sql: _Sql, table: str, alias: str) -> str:
    """The condition that keeps rows not deleted at the service (kept with --keep-deleted)."""
    if "server_deleted_at" in sql.landed.columns[table]:
        return f"{alias}.server_deleted_at IS NULL"
    return "TRUE"


def _dimension(
    sql: _Sql, table: str, keys: tuple[str, ...], values: tuple[tuple[str, str, str], ...]
) -> str:
    """One row per key of a table: `values` are (output name, column, kind), reduced by max().

    Entries are joined to these only, so that no join can multiply them."""
    if any(key not in sql.landed.columns.get(table, set()) for key in keys):  # or no table
        return sql.empty([(k, "bigint") for k in keys] + [(out, kind) for out, _, kind in values])
    selected = [f"d.{_quote(k)} AS {_quote(k)}" for k in keys]
    selected += [
        f"max({sql.col(table, 'd', column, kind)}) AS {_quote(out)}" for out, column, kind in values
    ]
    group = ", ".join(f"d.{_quote(k)}" for k in keys)
    return (
        f"SELECT {', '.join(selected)} FROM {sql.table(table)} AS d "
        f"WHERE {' AND '.join(f'd.{_quote(k)} IS NOT NULL' for k in keys)} GROUP BY {group}"
    )


def _entry_source(sql: _Sql, table: str, as_of: str, *, report: bool) -> str:
    """The entries of one raw table in one shape: the report's, or the token owner's own.

    Both are read alike, a column the table lacks as a null: the owner's own entries have no
    rate, amount or currency, and names only when the service added them (`meta=true`)."""
    t = "e"
    start = sql.col(table, t, "start", "ts")
    stop = sql.col(table, t, "stop", "ts")
    recorded = sql.col(table, t, "seconds" if report else "duration", "bigint")
    elapsed = sql.seconds_between(start, stop)
    running = sql.seconds_between(start, as_of)
    seconds = (
        f"GREATEST(0, CASE WHEN {stop} IS NULL OR {recorded} < 0 THEN {running} "
        f"ELSE COALESCE({recorded}, {elapsed}) END)"
    )
    columns = {
        "id": f"{t}.id",
        "workspace_id": sql.col(table, t, "workspace_id", "bigint"),
        "user_id": sql.col(table, t, "user_id", "bigint"),
        "username": sql.col(table, t, "username", "text"),
        "project_id": sql.col(table, t, "project_id", "bigint"),
        "task_id": sql.col(table, t, "task_id", "bigint"),
        "description": sql.col(table, t, "description", "text"),
        "billable": sql.col(table, t, "billable", "bool"),
        "start": start,
        "stop": stop,
        "seconds": seconds,
        "hourly_rate_in_cents": sql.col(table, t, "hourly_rate_in_cents", "bigint"),
        "billable_amount_in_cents": sql.col(table, t, "billable_amount_in_cents", "bigint"),
        "currency": sql.col(table, t, "currency", "text"),
        # The names the report gave what an entry points at: they outlive a deleted project,
        # client or task, whose lookup row is gone.
        **{
            f"report_{name}": sql.col(table, t, name, "text")
            for name in ("project_name", "client_name", "task_name")
        },
    }
    selected = ", ".join(f"{expression} AS {_quote(name)}" for name, expression in columns.items())
    where = _live(sql, table, t)
    if not report and sql.landed.has("report_time_entries"):
        # The owner's own entries fill in what the report lacks: the running entry (the
        # report search lists stopped ones only), and the newest entries while a report walk
        # stopped by the quota has not reached them yet.
        where += (
            f" AND NOT EXISTS (SELECT 1 FROM {sql.table('report_time_entries')} AS r "
            f"WHERE r.id = {t}.id)"
        )
    return f"SELECT {selected} FROM {sql.table(table)} AS {t} WHERE {where}"


def entries_sql(sql: _Sql, as_of: datetime) -> str:
    """The `entries` view's query."""
    moment = f"CAST('{as_of.astimezone(UTC).isoformat()}' AS TIMESTAMP WITH TIME ZONE)"
    sources = [
        _entry_source(sql, table, moment, report=table == "report_time_entries")
        for table in ("report_time_entries", "time_entries")
        if sql.landed.has(table)
    ]
    tag_ids = " UNION ALL ".join(
        sql.tag_ids(table)
        for table in ("report_time_entries", "time_entries")
        if sql.landed.has(table)
    )
    members = _dimension(
        sql,
        "workspace_users",
        ("workspace_id", "user_id"),
        (("name", "name", "text"), ("timezone", "timezone", "text")),
    )
    workspaces = _dimension(
        sql,
        "workspaces",
        ("id",),
        (("name", "name", "text"), ("default_currency", "default_currency", "text")),
    )
    projects = _dimension(
        sql,
        "workspace_projects",
        ("workspace_id", "id"),
        (("name", "name", "text"), ("client_id", "client_id", "bigint")),
    )
    clients = _dimension(
        sql, "workspace_clients", ("workspace_id", "id"), (("name", "name", "text"),)
    )
    tasks = _dimension(sql, "workspace_tasks", ("workspace_id", "id"), (("name", "name", "text"),))
    tags = _dimension(sql, "workspace_tags", ("workspace_id", "id"), (("name", "name", "text"),))
    return f"""
WITH all_entries AS ({" UNION ALL ".join(sources)}),
members AS ({members}),
workspaces AS ({workspaces}),
projects AS ({projects}),
clients AS ({clients}),
tasks AS ({tasks}),
tags AS ({tags}),
entry_tags AS (
  SELECT et.entry_id, array_agg(g.name ORDER BY g.name) AS tag_names
  FROM (SELECT DISTINCT entry_id, tag_id FROM ({tag_ids}) AS ids) AS et
  JOIN all_entries AS a ON a.id = et.entry_id
  JOIN tags AS g ON g.workspace_id = a.workspace_id AND g.id = et.tag_id
  WHERE g.name IS NOT NULL
  GROUP BY et.entry_id
),
zones AS (SELECT name FROM pg_timezone_names()),
located AS (
  SELECT x.*, m.name AS member_name,
    CASE WHEN m.timezone IN (SELECT name FROM zones) THEN m.timezone ELSE 'UTC' END AS zone
  FROM all_entries AS x
  LEFT JOIN members AS m ON m.workspace_id = x.workspace_id AND m.user_id = x.user_id
)
SELECT
  x.id AS id,
  x.workspace_id AS workspace_id,
  w.name AS workspace_name,
  x.user_id AS user_id,
  COALESCE(x.member_name, x.username) AS user_name,
  x.project_id AS project_id,
  COALESCE(p.name, x.report_project_name) AS project_name,
  p.client_id AS client_id,
  COALESCE(c.name, x.report_client_name) AS client_name,
  x.task_id AS task_id,
  COALESCE(k.name, x.report_task_name) AS task_name,
  et.tag_names AS tag_names,
  x.description AS description,
  x.billable AS billable,
  x.start AS start,
  x.stop AS stop,
  CAST(x.start AT TIME ZONE x.zone AS DATE) AS local_date,
  CAST(date_trunc('week', CAST(x.start AT TIME ZONE x.zone AS DATE)) AS DATE) AS week,
  x.seconds AS seconds,
  CAST(x.seconds AS DOUBLE PRECISION) / 3600 AS hours,
  CAST(CASE WHEN x.billable_amount_in_cents IS NOT NULL THEN x.billable_amount_in_cents / 100.0
    WHEN x.billable AND x.hourly_rate_in_cents IS NOT NULL
    THEN x.hourly_rate_in_cents / 100.0 * x.seconds / 3600 END AS DECIMAL(18, 2))
    AS billable_amount,
  COALESCE(x.currency, w.default_currency) AS currency
FROM located AS x
LEFT JOIN workspaces AS w ON w.id = x.workspace_id
LEFT JOIN projects AS p ON p.workspace_id = x.workspace_id AND p.id = x.project_id
LEFT JOIN clients AS c ON c.workspace_id = x.workspace_id AND c.id = p.client_id
LEFT JOIN tasks AS k ON k.workspace_id = x.workspace_id AND k.id = x.task_id
LEFT JOIN entry_tags AS et ON et.entry_id = x.id
"""


def hours_by_week_sql(schema: str) -> str:
    """The `hours_by_week` view's query, over `entries`."""
    return f"""
SELECT
  week, workspace_id, max(workspace_name) AS workspace_name,
  project_id, max(project_name) AS project_name,
  client_id, max(client_name) AS client_name,
  user_id, max(user_name) AS user_name,
  currency,
  sum(hours) AS hours,
  sum(CASE WHEN billable THEN hours ELSE 0 END) AS billable_hours,
  sum(billable_amount) AS billable_amount,
  count(*) AS entries
FROM {_quote(schema)}.entries
GROUP BY week, workspace_id, project_id, client_id, user_id, currency
"""


def utilisation_sql(sql: _Sql, schema: str) -> str:
    """The `utilisation_by_week` view's query: every active member in every week that has
    entries, tracked or not, against five working days of their `working_hours_in_minutes`
    (the workspace's when the member has none; the longest when they are in several)."""
    member_minutes = sql.col("workspace_users", "u", "working_hours_in_minutes", "bigint")
    workspace_minutes = sql.col("workspaces", "w", "working_hours_in_minutes", "bigint")
    workspace_join = (
        f"LEFT JOIN {sql.table('workspaces')} AS w ON w.id = u.workspace_id"
        if sql.landed.has("workspaces")
        else ""
    )
    inactive = sql.col("workspace_users", "u", "inactive", "bool")
    active = sql.col("workspace_users", "u", "active", "bool")
    return f"""
WITH members AS (
  SELECT u.user_id, max({sql.col("workspace_users", "u", "name", "text")}) AS user_name,
    max(COALESCE({member_minutes}, {workspace_minutes})) AS day_minutes
  FROM {sql.table("workspace_users")} AS u {workspace_join}
  WHERE u.user_id IS NOT NULL AND {_live(sql, "workspace_users", "u")}
    AND COALESCE({inactive}, FALSE) = FALSE AND COALESCE({active}, TRUE) = TRUE
  GROUP BY u.user_id
),
weeks AS (SELECT DISTINCT week FROM {_quote(schema)}.entries WHERE week IS NOT NULL),
tracked AS (
  SELECT user_id, week, sum(hours) AS hours, count(*) AS entries
  FROM {_quote(schema)}.entries GROUP BY user_id, week
)
SELECT
  m.user_id AS user_id,
  m.user_name AS user_name,
  wk.week AS week,
  COALESCE(t.hours, 0) AS hours,
  COALESCE(t.entries, 0) AS entries,
  m.day_minutes * {WORKING_DAYS_PER_WEEK} / 60.0 AS working_hours,
  COALESCE(t.hours, 0) - m.day_minutes * {WORKING_DAYS_PER_WEEK} / 60.0 AS over_under_hours,
  CASE WHEN m.day_minutes > 0
    THEN COALESCE(t.hours, 0) / (m.day_minutes * {WORKING_DAYS_PER_WEEK} / 60.0) END
    AS utilisation
FROM members AS m
CROSS JOIN weeks AS wk
LEFT JOIN tracked AS t ON t.user_id = m.user_id AND t.week = wk.week
"""


def view_statements(
    dialect: Dialect, dataset: str, landed: Landed, as_of: datetime
) -> list[tuple[str, str]]:
    """(view name, CREATE statement) for every view the dataset can answer, in build order."""
    sql = _Sql(dialect, dataset, landed)
    schema = analytics_schema(dataset)
    if not (landed.has("report_time_entries") or landed.has("time_entries")):
        return []
    queries = [("entries", entries_sql(sql, as_of)), ("hours_by_week", hours_by_week_sql(schema))]
    if landed.has("workspace_users") and "user_id" in landed.columns["workspace_users"]:
        queries.append(("utilisation_by_week", utilisation_sql(sql, schema)))
    return [
        (name, f"CREATE VIEW {_quote(schema)}.{_quote(name)} AS {query}") for name, query in queries
    ]


def landed_columns(
    execute: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]], dataset: str
) -> Landed:
    """The tables and columns of a dataset, from the database's information schema."""
    rows = execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
        (dataset,),
    )
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(str(table), set()).add(str(column))
    return Landed(columns)


def build_views(pipeline: Any, kind: str, as_of: datetime | None = None) -> list[str]:
    """Rebuild the analytics views of a pipeline's dataset in one transaction; the names of the
    views built (none for a destination without SQL views, or a dataset without entries).

    Views are dropped and created again rather than replaced: PostgreSQL cannot replace a view
    whose columns changed, and a reader never sees them missing, since DDL is transactional in
    both databases. A view someone built on top of ours makes the drop fail, loudly, instead of
    being dropped with it."""
    dialect = DIALECTS.get(kind)
    if dialect is None:
        return []
    moment = as_of or datetime.now(UTC)
    with pipeline.sql_client() as client:
        dataset = str(client.dataset_name)

        def execute(query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return list(client.execute_sql(query, *args) or [])

        landed = landed_columns(execute, dataset)
        statements = view_statements(dialect, dataset, landed, moment)
        schema = _quote(analytics_schema(dataset))
        with client.begin_transaction():
            client.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for name in reversed(VIEWS):
                client.execute_sql(f"DROP VIEW IF EXISTS {schema}.{_quote(name)}")
            for _, statement in statements:
                client.execute_sql(statement)
    return [name for name, _ in statements]
