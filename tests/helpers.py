"""Helpers for tests, imported from here (never from a conftest): the tokens and a client of
the emulator's API, fast runs against an emulator, reading back what landed in DuckDB and
PostgreSQL, the emulator's clock as the only time, an unkind proxy and a stub server."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import dlt
import duckdb
import orjson
import psycopg2
import pytest
import requests
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from tests.truth import LEGACY
from timetrack.emulator import EmulatorServer
from timetrack.emulator.expected import expected_rows
from timetrack.run.pipeline import RunOptions, RunSummary

Row = dict[str, Any]
Sync = Callable[..., RunSummary]
"""The `sync` fixture: run the source against an emulator into the test's own DuckDB file."""

TOKEN = "demo-token"
PARTIAL_TOKEN = "partial-token"
MEMBER_TOKEN = "member-token"
PREFIX = {"envelope": "/v1", "bare": "/api/v9"}
REPORT = {
    "envelope": "/v1/reports/workspace/{ws}/search/time_entries",
    "bare": "/reports/api/v3/workspace/{ws}/search/time_entries",
}


class Api:
    """Requests against one emulator in one layout; `data()` unwraps the envelope."""

    def __init__(self, base_url: str, layout: str, token: str | None = TOKEN) -> None:
        self.base_url = base_url
        self.layout = layout
        self.token = token
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + PREFIX[self.layout] + path

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        token = token or self.token
        auth = (token, "api_token") if token else None
        return self.session.request(method, self.url(path), auth=auth, timeout=30, **kwargs)

    def get(self, path: str, token: str | None = None, **params: Any) -> requests.Response:
        return self.call("GET", path, token=token, params=params)

    def data(self, response: requests.Response) -> Any:
        assert response.status_code == 200, (response.status_code, response.text)
        body = response.json()
        if self.layout == "envelope" and "total_count" not in body:
            assert set(body) == {"data"}, body
            return body["data"]
        return body

    def ok(self, path: str, token: str | None = None, **params: Any) -> Any:
        return self.data(self.get(path, token=token, **params))

    def report(self, ws: int, body: dict[str, Any], token: str | None = None) -> requests.Response:
        token = token or self.token
        return self.session.post(
            self.base_url + REPORT[self.layout].format(ws=ws),
            json=body,
            auth=(token, "api_token"),
            timeout=30,
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, self.base_url + "/_emulator" + path, timeout=60, **kwargs
        )
        assert response.status_code == 200, response.text
        return response.json()


DSN = "postgresql://postgres:postgres@127.0.0.1:5432/test"
"""Trust auth ignores the password; dlt insists on one."""


def fast_options(
    base_url: str,
    root: Path,
    *,
    name: str = "db",
    token: str = TOKEN,
    destination: Any = None,
    dataset: str = "timetrack",
    pipeline_name: str | None = None,
    resources: list[str] | None = None,
    full_refresh: bool = False,
    **source_args: Any,
) -> RunOptions:
    """RunOptions for a run against an emulator with no pacing (requests_per_second=0), into
    `root/<name>.duckdb` unless another destination is given, with state under `root/state`.

    Lists and the report's reconciliation are read every run (`reconcile_hours=0`, a setting
    users have) unless a test sets the cadence: most tests change the service between two runs
    and expect the next run to see it, whatever the clock says (tests/source/test_cadence.py
    tests the default)."""
    return RunOptions(
        destination=destination or dlt.destinations.duckdb(str(root / f"{name}.duckdb")),
        dataset=dataset,
        pipeline_name=pipeline_name or f"test_{name}",
        pipelines_dir=str(root / "state"),
        resources=resources or [],
        full_refresh=full_refresh,
        progress_every=0,
        source_args={
            "api_token": token,
            "base_url": base_url,
            "requests_per_second": 0,
            "reconcile_hours": 0,
            **source_args,
        },
    )


def _duckdb_tables(db: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
    """The tables of a dataset, dlt's own left out."""
    listed = db.execute(
        "select table_name from information_schema.tables where table_schema = ?", [dataset]
    ).fetchall()
    return [t for (t,) in listed if not t.startswith("_dlt")]


def db_counts(path: Path, dataset: str = "timetrack") -> dict[str, int]:
    """Rows per table of a DuckDB file (dlt's own tables left out)."""
    with duckdb.connect(str(path), read_only=True) as db:
        tables = _duckdb_tables(db, dataset)
        return {
            t: db.execute(f'select count(*) from {dataset}."{t}"').fetchone()[0]  # type: ignore[index]
            for t in tables
        }


def expected_counts(base_url: str, token: str = "demo-token") -> dict[str, int]:
    """What every table must hold for `token`, from the emulator's ground truth."""
    return expected_rows(base_url, token)


# --- the emulator's clock -----------------------------------------------------------------------


def clock(base_url: str, **body: Any) -> float:
    """Read (no body), set (`now`, `frozen`) or move (`advance`) the emulator's clock; returns
    its unix time."""
    if body:
        response = requests.post(f"{base_url}/_emulator/clock", json=body, timeout=10)
    else:
        response = requests.get(f"{base_url}/_emulator/clock", timeout=10)
    assert response.status_code == 200, response.text
    now: float = response.json()["unix"]
    return now


class ClockSleep:
    """A `sleep` for the client that moves the emulator's clock instead of waiting, and notes
    every wait; `then` runs after each move (another client spending the quota, say)."""

    def __init__(self, base_url: str, then: Callable[[], None] | None = None) -> None:
        self.base_url = base_url
        self.then = then
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) > 10:
            raise AssertionError(f"the client keeps waiting: {self.waits}")
        clock(self.base_url, advance=seconds)
        if self.then is not None:
            self.then()


class FakeTime:
    """One monotonic clock for the client's pacer and the emulator's leaky bucket, moved only by
    the client's sleeps: pacing is checked in arrival times, without waiting for them."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def __getattr__(self, name: str) -> Any:  # everything else of the time module stays real
        return getattr(time, name)


# --- reading back what landed -------------------------------------------------------------------


def rows_by_id(db: duckdb.DuckDBPyConnection, table: str) -> dict[int, dict[str, Any]]:
    """A qualified table's rows by id (its first column), in id order; {} before it exists."""
    try:
        cursor = db.execute(f"select * from {table} order by 1")
    except duckdb.CatalogException:
        return {}
    names = [d[0] for d in cursor.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def duckdb_rows(path: Path, dataset: str = "timetrack") -> dict[str, list[Row]]:
    """Every row of every table of a dataset in a DuckDB file (dlt's own tables and columns
    left out); timestamps come back in UTC."""
    with duckdb.connect(str(path), read_only=True) as db:
        db.execute("set TimeZone = 'UTC'")
        tables = _duckdb_tables(db, dataset)
        out = {}
        for table in tables:
            cursor = db.execute(f'select * from "{dataset}"."{table}"')
            names = [d[0] for d in cursor.description]
            out[table] = [_row(names, values) for values in cursor.fetchall()]
        return out


def postgres_rows(dataset: str) -> dict[str, list[Row]]:
    """Every row of every table of a PostgreSQL schema (dlt's own left out)."""
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.tables where table_schema = %s",
            [dataset],
        )
        tables = [t for (t,) in cursor.fetchall() if not t.startswith("_dlt")]
        out = {}
        for table in tables:
            cursor.execute(f'select * from "{dataset}"."{table}"')
            names = [d[0] for d in cursor.description]
            out[table] = [_row(names, values) for values in cursor.fetchall()]
        return out


def _row(names: list[str], values: tuple[Any, ...]) -> Row:
    return {n: v for n, v in zip(names, values, strict=True) if not n.startswith("_dlt")}


def delta_rows(
    table_root: str, tables: Iterable[str], storage_options: dict[str, str] | None = None
) -> dict[str, list[Row]]:
    """Every row of the Delta tables `table_root/<table>` that exist, read with `deltalake`
    (dlt's own columns left out); timestamps come back in UTC."""
    out = {}
    for table in tables:
        try:
            lake = DeltaTable(f"{table_root}/{table}", storage_options=storage_options)
        except TableNotFoundError:
            continue
        out[table] = [_row(list(r), tuple(r.values())) for r in lake.to_pyarrow_table().to_pylist()]
    return out


@contextmanager
def postgres_dataset() -> Iterator[str]:
    """A fresh schema name in the test database, dropped afterwards; fails (never skips) when
    the server is not there."""
    try:
        connection = psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {DSN}: {error}")
    name = f"tt_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'drop schema if exists "{name}" cascade')
            cursor.execute(f'drop schema if exists "{name}_staging" cascade')
            cursor.execute(f'drop schema if exists "{name}_analytics" cascade')
        connection.close()


@contextmanager
def units_pipeline(kind: str, root: Path, name: str) -> Iterator[Any]:
    """A dlt pipeline `name` into `root/db.duckdb` (dataset `units`) or, for "postgres", into a
    fresh schema dropped afterwards; its state under `root/state`. For unit tests that load a
    few rows for real."""
    with contextlib.ExitStack() as stack:
        if kind == "duckdb":
            destination: Any = dlt.destinations.duckdb(str(root / "db.duckdb"))
            dataset = "units"
        else:
            destination = dlt.destinations.postgres(DSN)
            dataset = stack.enter_context(postgres_dataset())
        yield dlt.pipeline(
            pipeline_name=name,
            destination=destination,
            dataset_name=dataset,
            pipelines_dir=str(root / "state"),
        )


# --- an unkind service ----------------------------------------------------------------------------

STAMPS = frozenset(
    {
        "at",
        "start",
        "stop",
        "created_at",
        "updated_at",
        "server_deleted_at",
        "suspended_at",
        "rate_last_updated",
    }
)
OFFSET = timezone(timedelta(hours=5, minutes=30))
DROPPED = ("content-length", "content-encoding", "transfer-encoding", "connection")
"""Headers the proxy sets itself: it sends the body decoded, rewritten, in one piece."""


def unkind(value: Any) -> Any:
    """The same data as a less tidy service may send it: every timestamp at a +05:30 offset
    (the same instant), and legacy aliases that disagree with the neutral field beside them
    (the neutral field is the one to believe)."""
    if isinstance(value, list):
        return [unkind(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: unkind(v) for k, v in value.items()}
    for name in STAMPS & out.keys():
        if isinstance(out[name], str) and "T" in out[name]:
            moment = datetime.fromisoformat(out[name]).astimezone(UTC)
            out[name] = moment.astimezone(OFFSET).isoformat()
    for neutral, alias in LEGACY.items():
        if alias in out and isinstance(out.get(neutral), int):
            out[alias] = out[neutral] + 1
    return out


class LocalServer:
    """An HTTP server of the test's own on a free port of 127.0.0.1, served from a thread while
    the `with` block runs."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A shutdown is noticed within 50 ms (serve_forever's default polls every 0.5 s).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class UnkindProxy(LocalServer):
    """An HTTP proxy in front of an emulator that passes everything through (status, Date,
    quota and cursor headers) but rewrites API answers with `unkind`."""

    def __init__(self, upstream: str) -> None:
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # an answer's last bytes wait for no delayed ACK

            def forward(self) -> None:
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type", "accept")
                }
                answer = local.session.request(
                    self.command, upstream + self.path, data=body, headers=headers, timeout=60
                )
                content = answer.content
                if answer.status_code == 200 and content and not self.path.startswith("/_"):
                    content = orjson.dumps(unkind(orjson.loads(content)))
                self.send_response_only(answer.status_code)  # no Date of our own
                for name, value in answer.headers.items():
                    if name.lower() not in DROPPED:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)


def duckdb_columns(
    path: Path, dataset: str = "timetrack"
) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (DuckDB type, nullable) of a dataset in a DuckDB file."""
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "select table_name, column_name, data_type, is_nullable "
            "from information_schema.columns where table_schema = ?",
            [dataset],
        ).fetchall()
    return _columns(rows)


def postgres_columns(dataset: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (PostgreSQL type, nullable) of a schema."""
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name, column_name, data_type, is_nullable "
            "from information_schema.columns where table_schema = %s",
            [dataset],
        )
        return _columns(cursor.fetchall())


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, tuple[str, bool]]]:
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, kind, nullable in rows:
        out.setdefault(table, {})[column] = (kind, nullable == "YES")
    return out


class StubServer(LocalServer):
    """A server that answers every request with the next of `answers` (status, headers, JSON
    body), the last one over and over: for what the emulator cannot be made to send."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        remaining = list(answers)
        self.requests = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # an answer's last bytes wait for no delayed ACK

            def do_GET(self) -> None:
                stub.requests += 1
                status, headers, body = remaining.pop(0) if len(remaining) > 1 else remaining[0]
                content = orjson.dumps(body)
                self.send_response_only(status)
                headers = {"Date": self.date_time_string(), **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)


KILLABLE = Path(__file__).parent / "source" / "killable_run.py"
"""A run in a process of its own that SIGKILLs itself at a chosen moment."""


def killable_run(server: EmulatorServer, tmp_path: Path, kill_at: str = "never", n: int = 0) -> int:
    """Run tests/source/killable_run.py on the emulator into tmp_path; its exit code."""
    result = subprocess.run(
        [
            sys.executable,
            str(KILLABLE),
            server.base_url,
            str(tmp_path / "db.duckdb"),
            str(tmp_path / "state"),
            kill_at,
            str(n),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if kill_at == "never":
        assert result.returncode == 0, result.stderr
    return result.returncode


class S3Server:
    """moto's S3-compatible server on 127.0.0.1 in a process of its own (in this process,
    deltalake's calls that hold the GIL would starve it), with one empty bucket; `env` points
    dlt's filesystem destination at the bucket, `storage_options` point deltalake at it."""

    def __init__(self, bucket: str = "lake") -> None:
        self.bucket = bucket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "DESTINATION__FILESYSTEM__BUCKET_URL": f"s3://{bucket}",
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID": "test-key",
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY": "test-secret",
            "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": self.endpoint,
            "DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME": "us-east-1",
        }
        self.storage_options = {
            "aws_access_key_id": "test-key",
            "aws_secret_access_key": "test-secret",
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "aws_allow_http": "true",
        }

    def __enter__(self) -> S3Server:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # moto loads its S3 backend on the first request, which can take seconds on a busy
        # machine: the read may take long, and a refused or timed-out ask is tried again
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    answer = requests.put(f"{self.endpoint}/{self.bucket}", timeout=(2, 30))
                    # 409: an earlier, timed-out ask made the bucket after all
                    assert answer.status_code in (200, 409), answer.text
                    return self
                except requests.RequestException:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise AssertionError("moto's S3 server did not start") from None
                    time.sleep(0.1)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
