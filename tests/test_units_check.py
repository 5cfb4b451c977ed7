"""`timetrack check` in the test's process, line by line, against an emulator over HTTP (with a
recording proxy in front where the service must answer otherwise): the user, each
organization's quota from /me/quota or from the headers, what a first sync needs, and which
tables the token reads, with the probes it sends to find out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import dlt
import pytest
import requests

from tests.helpers import DROPPED, LocalServer, clock
from timetrack.check import _number, _quotas, check_token, readable
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale
from timetrack.errors import NO_TOKEN, ApiError, ConfigurationError, QuotaExhaustedError
from timetrack.source.core import source_tables

FROZEN = 1_800_000_000.0
"""2027-01-15: the emulator's clock stays here, so a quota's reset does not move."""
HISTORY_DAYS = 1000
"""report_start_date, days before today: 1000 / 366 rounds up to 3 windows of the report, plus
the trailing one: 4 report requests per workspace."""


class Recording(LocalServer):
    """A proxy in front of an emulator that records each request's path and query, and answers
    some paths itself: `answer[path] = status` (a body of `{}`; 0 drops the connection) or
    `(status, body)`, for a service that differs."""

    def __init__(self, upstream: str) -> None:
        self.seen: list[str] = []
        self.answer: dict[str, int | tuple[int, bytes]] = {}
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                proxy.seen.append(self.path)
                path = self.path.split("?")[0]
                if proxy.answer.get(path) == 0:  # the connection dropped, no answer
                    self.close_connection = True
                    return
                if path in proxy.answer:
                    given = proxy.answer[path]
                    status, body = given if isinstance(given, tuple) else (given, b"{}")
                    self.send_response_only(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                headers = {k: v for k, v in self.headers.items() if k.lower() == "authorization"}
                got = local.session.get(upstream + self.path, headers=headers, timeout=30)
                self.send_response_only(got.status_code)
                for name, value in got.headers.items():
                    if name.lower() not in DROPPED:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(got.content)))
                self.end_headers()
                self.wfile.write(got.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(seed=7, limits=Limits(quota=True))) as emulator:
        clock(emulator.base_url, now=FROZEN, frozen=True)
        yield emulator


@pytest.fixture
def proxy(server: EmulatorServer) -> Iterator[Recording]:
    with Recording(server.base_url) as recording:
        yield recording


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "SOURCES__TIMETRACK__BASE_URL",
        "SOURCES__TIMETRACK__LAYOUT",
        "SOURCES__TIMETRACK__REPORT_START_DATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", "demo-token")
    # As a config.toml writes it (keys are case-sensitive there, unlike the environment's).
    dlt.config[START] = (date.today() - timedelta(days=HISTORY_DAYS)).isoformat()
    yield
    dlt.config[START] = None


START = "sources.timetrack.report_start_date"


@pytest.fixture(autouse=True)
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's sleeps (pacing, backoff, quota waits), recorded instead of slept."""
    seconds: list[float] = []
    monkeypatch.setattr("timetrack.source.client._sleep", seconds.append)
    return seconds


def _get(server: EmulatorServer, path: str, token: str = "demo-token") -> Any:
    answer = requests.get(server.base_url + path, auth=(token, "api_token"), timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def _records(server: EmulatorServer, entity: str, token: str = "demo-token") -> Any:
    answer = requests.get(
        f"{server.base_url}/_emulator/records/{entity}", params={"token": token}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def _quota_line(total: int, left: int, resets: int) -> str:
    return (
        f"      quota: {total:,} requests an hour on its plan; {left:,} left now "
        f"(resets in {resets:,} s)"
    )


def _owner_lines(base_url: str, quota: dict[int, tuple[int, int, int]]) -> list[str]:
    """What check says of the owner's token: built from the emulator's records, with what a
    first sync needs worked out by hand (see each organization's comment)."""
    return [
        "token OK: user Ada Lovelace 1 (id 6000001) at " + base_url,
        "organizations: 2",
        "  9000001  Organization 1",
        _quota_line(*quota[9000001]),
        # two workspaces x (6 tables + 4 report windows) + one page of 71 users + 1
        "      a first sync needs at least 22 requests (plus one per 1,000 report entries); "
        "fits in one hour's quota (22 of 600)",
        # 3 an unchanged run per workspace (test_check measures it); 10 a workspace, 2 an
        # organization and a page of users a day
        "      an unchanged run then costs 6 requests here (and 1 of /me's own quota); "
        "the daily reconciliation about 23 more",
        "      most frequent schedule that leaves half of 600 an hour to other tools: "
        "every 15 minutes",
        "  9000002  Organization 2",
        _quota_line(*quota[9000002]),
        # one workspace x (6 + 4) + one page of 65 users + 1
        "      a first sync needs at least 12 requests (plus one per 1,000 report entries); "
        "fits in one hour's quota (12 of 240)",
        "      an unchanged run then costs 3 requests here (and 1 of /me's own quota); "
        "the daily reconciliation about 13 more",
        "      most frequent schedule that leaves half of 240 an hour to other tools: "
        "every 15 minutes",
        "workspaces: 3",
        "  4000001  Workspace 1  (organization 9000001)",
        "  4000002  Workspace 2  (organization 9000002)",
        "  4000003  Workspace 3  (organization 9000001)",
        "tables this token can read:",
    ]


def test_the_owners_check_says_the_user_each_quota_as_me_quota_says_it_and_every_table(
    server: EmulatorServer, proxy: Recording, slept: list[float]
) -> None:
    me = _get(server, "/v1/me")
    assert (me["fullname"], me["id"]) == ("Ada Lovelace 1", 6000001)
    organizations = {o["id"]: o for o in _records(server, "organizations")}
    assert {o: organizations[o]["user_count"] for o in organizations} == {
        9000001: 71,
        9000002: 65,
    }, "the hand-worked page counts below assume these"
    for _ in range(3):  # spend some of one window, so what is left is not the plan's total
        _get(server, "/v1/organizations/9000001")

    lines = check_token(proxy.base_url)

    said = {q["organization_id"]: q for q in _get(server, "/v1/me/quota")}
    quota = {o: (q["total"], q["remaining"], q["resets_in_secs"]) for o, q in said.items()}
    assert quota[9000001][1] < quota[9000001][0] and quota[9000001][2] > 0
    assert lines[: len(_owner_lines("", quota))] == _owner_lines(proxy.base_url, quota)
    tables = lines[len(_owner_lines("", quota)) :]
    assert [line.split() for line in tables] == [[t, "yes"] for t in TABLES]
    assert tables[0] == "  organizations         yes", "names padded to the longest"
    probes = [p for p in proxy.seen if p.split("?")[0] not in DISCOVERY]
    assert probes == [], "the owner administers every scope: no table is asked about"
    assert slept == [], "a quick look: no pacing"


TABLES = source_tables()
"""Every table, in the order check lists them: the source's (test_units_core spells it out)."""
DISCOVERY = {"/v1/me", "/v1/me/organizations", "/v1/me/workspaces", "/v1/me/quota"}
ADMIN_TABLES = {
    "workspace": "workspace admin",
    "workspace_users": "workspace admin",
    "project_users": "workspace admin",
    "rates": "workspace admin",
    "organizations_users": "organization admin",
}


def test_without_me_quota_the_quota_is_the_plans_and_what_the_headers_say_is_left(
    server: EmulatorServer, proxy: Recording
) -> None:
    proxy.answer["/v1/me/quota"] = 404  # a service without it

    lines = check_token(proxy.base_url)

    # Each organization asked once for its headers; what was left after that request is what
    # /me/quota (which costs nothing) says now, the clock frozen.
    assert [p for p in proxy.seen if p.startswith("/v1/organizations/")] == [
        "/v1/organizations/9000001",
        "/v1/organizations/9000002",
    ]
    said = {q["organization_id"]: q for q in _get(server, "/v1/me/quota")}
    plans = {9000001: 600, 9000002: 240}  # Premium and Starter, by pricing_plan_id 2 and 1
    for org, plan in plans.items():
        line = _quota_line(plan, said[org]["remaining"], said[org]["resets_in_secs"])
        assert line in lines, (line, lines)
        assert said[org]["remaining"] == said[org]["total"] - 1, "one request spent there"


@pytest.mark.parametrize("answer", [[{"organization_id": "9000001", "remaining": 1}], {}, 5])
def test_a_me_quota_of_another_shape_is_not_read_and_the_headers_are(answer: Any) -> None:
    class Client:
        def get(self, path: str) -> Any:
            assert path == "/me/quota"
            return answer

    assert _quotas(Client()) == {}  # type: ignore[arg-type]


def test_a_me_quota_item_of_another_shape_is_skipped_and_a_refusal_reads_as_none() -> None:
    good = {"organization_id": 7, "remaining": 3}

    class Client:
        def __init__(self, answer: Any) -> None:
            self.answer = answer

        def get(self, path: str) -> Any:
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    assert _quotas(Client([good, "x", {"remaining": 1}, None])) == {7: good}  # type: ignore[arg-type]
    assert _quotas(Client(ApiError("refused", status=403))) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, ""), (0, "0"), (1234567, "1,234,567"), ("2500", "2,500"), ("lots", "lots")],
)
def test_a_number_is_shown_grouped_and_anything_else_as_it_came(value: Any, shown: str) -> None:
    assert _number(value) == shown


def test_unknown_quota_and_headers_read_as_unknown_and_question_marks(
    server: EmulatorServer, proxy: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan the contract does not list and no quota anywhere: nothing invented."""
    proxy.answer["/v1/me/quota"] = 404
    proxy.answer["/v1/organizations/9000001"] = 200  # `{}`, no quota headers
    monkeypatch.setattr("timetrack.check.PLAN_QUOTAS", {1: 240})
    lines = check_token(proxy.base_url)
    at = lines.index("  9000001  Organization 1")
    assert (
        lines[at + 1]
        == "      quota: unknown requests an hour on its plan; ? left now (resets in ? s)"
    )
    assert lines[at + 2].endswith("report entries)"), "no hours without a plan"
    assert "most frequent schedule" not in lines[at + 4]


def test_the_layout_is_passed_on(server: EmulatorServer, proxy: Recording) -> None:
    lines = check_token(proxy.base_url, layout="bare")
    assert lines[0].startswith("token OK: user Ada Lovelace 1 (id 6000001)")
    assert proxy.seen and all(p.startswith("/api/v9/") for p in proxy.seen), proxy.seen


def test_no_token_is_the_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__TIMETRACK__API_TOKEN")
    with pytest.raises(ConfigurationError) as caught:
        check_token("http://127.0.0.1:9")
    assert str(caught.value) == NO_TOKEN


def _tables(lines: list[str]) -> dict[str, str]:
    at = lines.index("tables this token can read:")
    return {line.split()[0]: line.split(None, 1)[1] for line in lines[at + 1 :]}


def test_a_member_is_told_what_needs_an_admin_with_one_small_probe_per_scope(
    server: EmulatorServer, proxy: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", "member-token")
    tables = _tables(check_token(proxy.base_url))
    assert tables == {
        t: f"no (needs {ADMIN_TABLES[t]})" if t in ADMIN_TABLES else "yes" for t in TABLES
    }
    probes = sorted(p for p in proxy.seen if p.split("?")[0] not in DISCOVERY)
    assert probes == sorted(
        [
            "/v1/organizations/9000001/users?page=1&per_page=1",
            "/v1/organizations/9000001/groups",  # which this service lets members read
            *[f"/v1/workspaces/{w}/statistics" for w in (4000001, 4000003)],
            *[f"/v1/workspaces/{w}/workspace_users" for w in (4000001, 4000003)],
            *[f"/v1/workspaces/{w}/project_users" for w in (4000001, 4000003)],
            *[
                f"/v1/workspaces/{w}/rates/workspace/{w}?type=billable_rates"
                for w in (4000001, 4000003)
            ],
        ]
    ), "one probe per table and scope, the smallest answer"


def test_a_member_who_administers_one_workspace_reads_there_and_an_odd_refusal_is_undecided(
    server: EmulatorServer, proxy: Recording, monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", "member-token")
    member = _get(server, "/v1/me", token="member-token")["id"]
    for workspace, role in ((4000001, "admin"), (4000002, "user")):
        requests.put(
            f"{server.base_url}/_emulator/workspaces/{workspace}/members/{member}",
            json={"role": role},
            timeout=10,
        ).raise_for_status()
    failing = ["/v1/workspaces/4000002/project_users", "/v1/workspaces/4000003/project_users"]
    for path in failing:
        proxy.answer[path] = 500
    proxy.answer["/v1/workspaces/4000003/rates/workspace/4000003"] = 0
    tables = _tables(check_token(proxy.base_url))
    assert tables["workspace_users"] == (
        "in 1 of 3 workspaces; not in 4000002, 4000003 (needs workspace admin)"
    )
    assert tables["project_users"] == "could not tell (4000002: HTTP 500; 4000003: HTTP 500)"
    assert tables["organizations_users"] == "no (needs organization admin)"
    assert tables["rates"] == "could not tell (4000003: HTTP ?)", "no answer, no status"
    assert not any(p.startswith("/v1/workspaces/4000001/workspace_users") for p in proxy.seen), (
        "no probe where discovery calls the user admin"
    )
    assert [proxy.seen.count(path) for path in failing] == [2, 2], "a quick look: one retry"
    assert slept == [0.5, 0.5, 0.5], "after half a second, and no pacing"


def test_a_me_of_another_shape_is_an_error_not_a_crash(
    server: EmulatorServer, proxy: Recording
) -> None:
    proxy.answer["/v1/me"] = (200, b"[]")
    with pytest.raises(ApiError, match="an answer of the wrong shape"):
        check_token(proxy.base_url)


def test_a_spent_quota_fails_the_check_at_once(proxy: Recording, slept: list[float]) -> None:
    with (
        EmulatorServer(
            EmulatorConfig(seed=7, limits=Limits(quota=True, quota_per_hour=1))
        ) as spent,
        Recording(spent.base_url) as front,
    ):
        _get(spent, "/v1/organizations/9000001")  # the hour's one request
        clock(spent.base_url, advance=3590)  # it resets in 10 s: a run would wait for that
        front.answer["/v1/me/quota"] = 404  # so that check asks the organization itself
        with pytest.raises(QuotaExhaustedError):
            check_token(front.base_url)
    assert slept == [], "no wait for the quota's reset: check says so and ends"


@pytest.mark.parametrize(("days", "needed"), [(732, 11), (733, 12)])
def test_a_first_sync_needs_a_report_request_per_366_days_and_the_trailing_one(
    server: EmulatorServer, proxy: Recording, days: int, needed: int
) -> None:
    """732 days are two windows of 366, 733 need a third; with the trailing window and the
    organization's 6 tables, a page of users and its groups: 9 + 2 or 10 + 2."""
    dlt.config[START] = (date.today() - timedelta(days=days)).isoformat()
    lines = check_token(proxy.base_url)
    at = lines.index("  9000002  Organization 2")
    assert lines[at + 2].startswith(f"      a first sync needs at least {needed} requests"), lines


def test_a_first_sync_needs_a_request_per_200_users() -> None:
    with (
        EmulatorServer(EmulatorConfig(seed=7, scale=Scale(users=900))) as big,
        Recording(big.base_url) as front,
    ):
        users = {o["id"]: o["user_count"] for o in _records(big, "organizations")}
        lines = check_token(front.base_url)
    at = lines.index("  9000002  Organization 2")
    pages = -(-users[9000002] // 200)
    assert pages > 1, users
    # one workspace x (6 + 4) + the users' pages + 1
    assert lines[at + 2].startswith(f"      a first sync needs at least {11 + pages} requests")
    assert lines[at + 3].endswith(f"the daily reconciliation about {12 + pages} more"), lines


def test_a_table_that_needs_no_right_is_yes_without_a_request() -> None:
    from timetrack.source.endpoints import ENDPOINTS

    free = next(e for e in ENDPOINTS if not e.needs)
    assert readable(None, None, free) == "yes"  # type: ignore[arg-type]


def test_the_quota_is_what_me_quota_says_of_its_total_else_the_plans(
    server: EmulatorServer, proxy: Recording
) -> None:
    said = [
        {"organization_id": 9000001, "remaining": 5, "resets_in_secs": 7, "total": 0},
        {"organization_id": 9000002, "remaining": 1, "resets_in_secs": 2, "total": 1},
        {"organization_id": 9000003, "remaining": 1, "resets_in_secs": 2, "total": 9},
    ]
    proxy.answer["/v1/me/quota"] = (200, json.dumps({"data": said}).encode())
    lines = check_token(proxy.base_url)
    assert _quota_line(600, 5, 7) in lines, "a total of 0 says nothing: the plan's 600"
    assert _quota_line(1, 1, 2) in lines, "a total of 1 is the service's word"
    with EmulatorServer(
        EmulatorConfig(seed=7, limits=Limits(quota=True, quota_per_hour=100))
    ) as custom:
        lines = check_token(custom.base_url)
        remaining = {q["organization_id"]: q["remaining"] for q in _get(custom, "/v1/me/quota")}
    assert any(
        line.startswith(f"      quota: 100 requests an hour on its plan; {remaining[9000002]} left")
        for line in lines
    ), ("a quota other than the plan's, as /me/quota says it", lines)


def test_a_user_count_that_is_no_number_counts_as_none(
    server: EmulatorServer, proxy: Recording
) -> None:
    organizations = _get(server, "/v1/me/organizations")
    for organization in organizations:
        organization["user_count"] = "many"
    proxy.answer["/v1/me/organizations"] = (200, json.dumps({"data": organizations}).encode())
    lines = check_token(proxy.base_url)
    at = lines.index("  9000002  Organization 2")
    # one workspace x (6 + 4) + one page of users (none counted) + 1
    assert lines[at + 2].startswith("      a first sync needs at least 12 requests"), lines
