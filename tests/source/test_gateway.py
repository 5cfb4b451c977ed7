"""A misbehaving gateway on 127.0.0.1 between the source and the emulator: pages capped below
what was asked, a skewed Date, 408 and 52x, answers huge, endless or trickling. Each run ends
equal to the truth, or with a one-line error in bounded time and memory, and a clean run after
it lands everything."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
import pytest
import requests

from tests.helpers import TOKEN, LocalServer, duckdb_rows, fast_options
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.errors import ApiError, ConfigurationError, ServiceError
from timetrack.run.pipeline import run
from timetrack.source.client import ApiClient, ClientSettings

SCALE = Scale(
    workspaces=2, users=30, projects_per_workspace=50, tasks_per_workspace=40, time_entries=400
)
"""Lists of more than two capped pages; entries only as many as the report and the owner's
entries need to land through the gateway."""
CAP = 20
"""Pages capped to 20: lists of two pages and more, at a small scale."""
HOP = ("content-length", "content-encoding", "transfer-encoding", "connection", "date")


class Gateway(LocalServer):
    """Forwards to `upstream`, misbehaving as its attributes say (set them between runs)."""

    def __init__(self, upstream: str) -> None:
        self.cap: int | None = None
        """per_page above this is cut to it, as a gateway may (the answer says nothing)."""
        self.strip_totals = False
        """Drop X-Records and X-Pages, so that no count says where a list ends."""
        self.date: str | None = None
        """The Date header sent instead of the service's."""
        self.statuses: dict[str, list[int]] = {}
        """Path fragment -> statuses answered, one per request, before passing through."""
        self.huge: dict[str, int] = {}
        """Path fragment -> bytes of a JSON answer sent instead (0: one without end)."""
        self.hits: dict[str, int] = {}
        self.cut_once: set[str] = set()
        """Path fragments whose next answer loses its last record (then passes whole)."""
        gateway = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            """Headers and body go out in separate writes: with Nagle's algorithm, the body
            waits for the client's delayed ACK of the headers (about 40 ms an answer)."""

            def forward(self) -> None:
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                parts = urlsplit(self.path)
                for fragment, statuses in gateway.statuses.items():
                    if fragment in parts.path and statuses:
                        self._plain(statuses.pop(0), b'"the gateway is busy"')
                        return
                for fragment, size in gateway.huge.items():
                    if fragment in parts.path:
                        self._huge(size)
                        return
                query = parse_qsl(parts.query)
                if gateway.cap is not None:
                    query = [
                        (k, str(min(int(v), gateway.cap)) if k == "per_page" else v)
                        for k, v in query
                    ]
                key = parts.path.split("/")[-1]
                gateway.hits[key] = gateway.hits.get(key, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type", "accept")
                }
                url = upstream + parts.path + ("?" + urlencode(query) if query else "")
                answer = local.session.request(
                    self.command, url, data=body, headers=headers, timeout=60
                )
                content = answer.content
                cut = next((f for f in gateway.cut_once if f in parts.path), None)
                if cut is not None and answer.status_code == 200:
                    gateway.cut_once.discard(cut)
                    body = orjson.loads(content)
                    if isinstance(body, dict) and isinstance(body.get("data"), list):
                        body["data"] = body["data"][:-1]
                    content = orjson.dumps(body)
                self.send_response_only(answer.status_code)
                dropped = {*HOP, *(("x-records", "x-pages") if gateway.strip_totals else ())}
                for name, value in answer.headers.items():
                    if name.lower() not in dropped:
                        self.send_header(name, value)
                self.send_header("Date", gateway.date or answer.headers.get("Date", ""))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _plain(self, status: int, content: bytes) -> None:
                self.send_response_only(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _huge(self, size: int) -> None:
                self.send_response_only(200)
                self.send_header("Content-Type", "application/json")
                if size:
                    self.send_header("Content-Length", str(size))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b" " * 65536
                sent = 0
                try:
                    piece = b"["
                    while not size or sent < size:
                        if size:
                            piece = piece[: size - sent]
                            self.wfile.write(piece)
                        else:  # chunked, without end
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        sent += len(piece)
                        piece = chunk
                        if not size and sent > 2**33:
                            break  # bounded, as every loop of a test must be
                except OSError:
                    pass  # the client hung up: the point

            do_GET = do_POST = forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=21, scale=SCALE)) as server:
        yield server


def _landed(root: Path) -> dict[str, list[dict[str, Any]]]:
    return duckdb_rows(root / "db.duckdb")


def _refusing_big_pages(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    """The gateway's handler, made to refuse a per_page above 100 with a 400; the original is
    returned, to put back."""
    original = gateway.server.RequestHandlerClass

    class Handler(original):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            if int(query.get("per_page", "0")) > 100:
                self._plain(400, b'"per_page must not exceed 100"')
                return
            super().forward()

        do_GET = do_POST = forward

    gateway.server.RequestHandlerClass = Handler
    return original


def test_refused_capped_and_cut_pages_behind_a_skewed_clock_lose_and_delete_nothing(
    upstream: EmulatorServer, tmp_path: Path
) -> None:
    # One pipeline through one gateway whose Date is 200 days ahead (not believed: the next
    # run still sees an edit), two runs: page sizes above 100 refused with a 400 (the source
    # falls back); then pages capped below what was asked without a count, and lists cut
    # short once by a record (a second run, so deletions are read through the caps and cuts).
    truth = expected_tables(upstream.base_url, TOKEN)
    assert len(truth["workspace_projects"]) > 2 * CAP and len(truth["organizations_users"]) > CAP
    with Gateway(upstream.base_url) as gateway:
        gateway.date = time.strftime(
            "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 200 * 86400)
        )
        original = _refusing_big_pages(gateway)
        refused = run(fast_options(gateway.base_url, tmp_path))
        assert refused.exit_code == 0, refused.lines()
        assert differences(truth, _landed(tmp_path)) == [], "refused page sizes fall back"
        assert any(
            "days from this machine's: this machine's clock is used" in w
            for w in refused.stats.warnings
        ), refused.stats.warnings
        gateway.server.RequestHandlerClass = original
        # An edit to one of the owner's entries at the service, then another run through it.
        # The newest: within the report's trailing window, so both tables see the edit.
        own = max(truth["time_entries"].values(), key=lambda row: row["start"])
        edited = requests.put(
            f"{upstream.base_url}/v1/workspaces/{own['workspace_id']}/time_entries/{own['id']}",
            json={"description": "edited behind a skewed gateway"},
            auth=(TOKEN, "api_token"),
            timeout=10,
        )
        assert edited.status_code == 200, edited.text
        gateway.cap, gateway.strip_totals = CAP, True
        gateway.cut_once = {"/clients", "/tags", "/workspace_users"}
        gateway.hits.clear()
        capped = run(fast_options(gateway.base_url, tmp_path))
        assert capped.exit_code == 0, capped.lines()
        assert not gateway.cut_once, "every cut was served"
        # one more reading where rows would have gone, and none elsewhere (clients are one
        # page, whatever the cap)
        assert gateway.hits["clients"] == len(truth["workspaces"]) + 1
    landed = _landed(tmp_path)
    edits = {row["id"]: row["description"] for row in landed["time_entries"]}
    assert edits[own["id"]] == "edited behind a skewed gateway", "a skewed Date froze since"
    truth = expected_tables(upstream.base_url, TOKEN)
    assert differences(truth, landed) == [], "capped pages and cut lists lose or delete nothing"


def test_a_count_that_says_the_list_goes_on_is_followed_without_asking_more(
    upstream: EmulatorServer, tmp_path: Path
) -> None:
    with Gateway(upstream.base_url) as gateway:
        gateway.cap = CAP  # X-Records stays: organization users say how many there are
        summary = run(fast_options(gateway.base_url, tmp_path, resources=["organizations_users"]))
        assert summary.exit_code == 0, summary.lines()
    truth = expected_tables(upstream.base_url, TOKEN)["organizations_users"]
    assert {row["id"] for row in _landed(tmp_path)["organizations_users"]} == set(truth)
    per_organization: dict[int, int] = {}
    for row in truth.values():
        per_organization[row["organization_id"]] = (
            per_organization.get(row["organization_id"], 0) + 1
        )
    # one request a page of CAP, and none to prove the end: the count said where it was
    assert gateway.hits["users"] == sum(-(-n // CAP) for n in per_organization.values())


STATUSES = {"/projects": [408, 425], "/tags": [520, 522], "/clients": [524]}
"""Each gateway status once, at most two in a row on a path (three retries are allowed)."""


def test_gateway_statuses_are_retried(upstream: EmulatorServer, tmp_path: Path) -> None:
    tables = ["workspace_projects", "workspace_tags", "workspace_clients"]
    with Gateway(upstream.base_url) as gateway:
        gateway.statuses = {path: list(statuses) for path, statuses in STATUSES.items()}
        summary = run(fast_options(gateway.base_url, tmp_path, resources=tables, backoff_factor=0))
        assert summary.exit_code == 0, summary.lines()
        assert not any(gateway.statuses.values()), "every status was answered"
        assert summary.stats.retries == 5
        assert summary.stats.by_status.keys() >= {"408", "425", "520", "522", "524"}
    truth = expected_tables(upstream.base_url, TOKEN)
    landed = _landed(tmp_path)
    for table in tables:
        assert {r["id"] for r in landed[table]} == set(truth[table]), table


def test_a_huge_and_an_endless_answer_fail_their_tables_in_one_line_then_a_clean_run_lands(
    upstream: EmulatorServer, tmp_path: Path
) -> None:
    # the two tables and one beside them, which lands
    tables = ["workspace_clients", "workspace_tags", "workspace_projects"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Gateway(upstream.base_url) as gateway:
        # 200 MB with a Content-Length, and a chunked answer without end
        gateway.huge = {"/clients": 200 * 1024 * 1024, "/tags": 0}
        started = time.monotonic()
        summary = run(fast_options(gateway.base_url, tmp_path, resources=tables, max_answer_mb=8))
        took = time.monotonic() - started
    assert summary.exit_code == 1
    truth = expected_tables(upstream.base_url, TOKEN)
    landed = _landed(tmp_path)
    assert not landed.get("workspace_clients") and not landed.get("workspace_tags"), landed
    beside = {"workspace_projects": landed["workspace_projects"]}
    assert differences({"workspace_projects": truth["workspace_projects"]}, beside) == [], (
        "the table beside them lands"
    )
    for path in ("clients", "tags"):
        errors = [e for e in summary.stats.errors if path in e]
        assert errors and all("larger than 8 MB and was not read" in e for e in errors), errors
    assert all("\n" not in e for e in summary.stats.errors)
    assert took < 60
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 1500, grown_mb
    clean = run(fast_options(upstream.base_url, tmp_path, resources=tables))
    assert clean.exit_code == 0, clean.lines()
    landed = _landed(tmp_path)
    landed.pop("rejected_records", None)
    assert differences({t: truth[t] for t in tables}, landed) == []


def _trickler() -> LocalServer:
    """A server that sends its answer one byte every 0.2 s: its headers whole then its body
    on the first request, headers included on the next."""
    requests_seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers_first = not requests_seen
            requests_seen.append(1)
            body = b"[" + b" " * 10_000 + b"]"
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
            )
            try:
                if headers_first:
                    self.wfile.write(head)
                    self.wfile.flush()
                    head = b""
                for byte in head + body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return LocalServer(Handler)


def test_a_trickling_answer_is_cut_at_the_deadline() -> None:
    with _trickler() as server:
        client = ApiClient(
            TOKEN,
            ClientSettings(
                base_url=server.base_url,
                requests_per_second=0,
                max_retries=1,
                backoff_factor=0,
                deadline=1,
                timeout=5,
            ),
        )
        started = time.monotonic()
        with pytest.raises(ServiceError, match="an answer slower than 1 s"):
            client.get("/me")
        # two attempts of 1 s (a trickling body, then trickling headers), not 2,000 s
        assert time.monotonic() - started < 5
        assert client.stats.requests == 2


def test_plain_http_to_another_machine_is_refused_unless_allowed() -> None:
    with pytest.raises(ConfigurationError, match="plain http:// to another machine"):
        ClientSettings(base_url="http://api.example.com").validate()
    ClientSettings(base_url="http://api.example.com", allow_insecure_http=True).validate()
    ClientSettings(base_url="http://localhost:8080").validate()
    ClientSettings(base_url="https://api.example.com").validate()


def test_a_redirect_is_not_followed_and_says_where_it_points(tmp_path: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response_only(302)
            self.send_header("Location", "https://elsewhere.example/v1/me\x1b[31m")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with LocalServer(Handler) as server:
        client = ApiClient(TOKEN, ClientSettings(base_url=server.base_url, requests_per_second=0))
        with pytest.raises(ApiError) as caught:
            client.get("/me")
    assert str(caught.value) == (
        "GET /v1/me was redirected (HTTP 302) to https://elsewhere.example/v1/me[31m: base_url "
        "must be the service's own address (set it to where this points, if that is the "
        "service)"
    )
    assert client.stats.requests == 1, "not retried, not followed"


def test_what_the_terminal_shows_has_no_control_characters() -> None:
    from timetrack.errors import printable

    forged = "Acme\x1b[2K\rError: your token leaked\u202eevil\nnext\x07"
    assert printable(forged) == "Acme[2KError: your token leakedevil next"
    assert printable("Zoë 東京 — ok") == "Zoë 東京 — ok"


def test_a_full_disk_still_gives_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from timetrack.run import pipeline as pipeline_module

    def full(self: Path, *args: Any, **kwargs: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    fake = type("P", (), {"working_dir": str(tmp_path)})()
    where = pipeline_module._write_log(fake, RuntimeError("boom"), pipeline_module.RunOptions())
    assert where == f"not written to {tmp_path / 'last_error.log'}: No space left on device"
    cause = pipeline_module._cause(OSError(28, "No space left on device"))
    assert cause.startswith("the disk is full: free space where dlt keeps pipelines")
