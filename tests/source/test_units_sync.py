"""The readers of the source (`Sync`), each on a scripted service and in-memory state: scopes,
paging, `since` cursors, the 90-day window, deletions, rejected records, the estimate.

The real client and discovery run against answers written here; dlt's state and what landed
are stand-ins, so no pipeline runs. Expectations are literals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
import orjson
import pytest

from timetrack.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    ConnectionFailedError,
    QuotaExhaustedError,
    RunStopped,
)
from timetrack.source import client as client_module
from timetrack.source import core
from timetrack.source.client import ApiClient, ClientSettings, _Answer
from timetrack.source.discovery import Discovery
from timetrack.source.endpoints import BY_TABLE
from timetrack.source.schema import Rejected

BASE = "https://service.test"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())

Route = Callable[[dict[str, Any]], Any]


class Service:
    """Answers GETs by path: a body, or a function of the params returning one (an exception
    is raised). Every request is recorded as (path, params)."""

    def __init__(self, **routes: Any) -> None:
        self.routes: dict[str, Any] = {
            "/me": {"id": 1},
            "/me/organizations": [{"id": 1}, {"id": 2}],
            "/me/workspaces": [
                {"id": 10, "organization_id": 1, "name": "ten"},
                {"id": 11, "organization_id": 2, "name": "eleven"},
            ],
        }
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def route(self, path: str, answer: Any) -> None:
        self.routes[path] = answer

    def attempt(self, method: str, url: str, params: Any, json: Any) -> _Answer:
        path = url.removeprefix(BASE + "/v1")
        self.asked.append((path, dict(params or {})))
        answer = self.routes.get(path, [])  # any other list: empty
        if callable(answer):
            answer = answer(dict(params or {}))
        if isinstance(answer, ApiError):
            body = orjson.dumps(str(answer))
            return _Answer(answer.status or 500, {}, body, "Error")
        date_header = NOW.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return _Answer(200, {"Date": date_header}, orjson.dumps({"data": answer}), "OK")

    def paths(self) -> list[str]:
        return [path for path, _ in self.asked]


class _Frozen(datetime):
    """The client's clock, stopped at NOW: the service's Date says NOW too."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW


class World:
    """A Sync on a Service with the state and landed rows held here."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        service: Service | None = None,
        hard_delete: bool = True,
        **wanted: Any,
    ) -> None:
        self.service = service or Service()
        monkeypatch.setattr(client_module, "datetime", _Frozen)
        self.client = ApiClient("tok", ClientSettings(base_url=BASE, requests_per_second=0))
        self.client._attempt = self.service.attempt  # type: ignore[method-assign]
        self.client._sleep = lambda seconds: None
        self.sync = core.Sync(self.client, Discovery(self.client, **wanted), hard_delete)
        self.source_state: dict[str, Any] = {}
        self.resource_state: dict[str, Any] = {}
        self.landed: dict[tuple[str, Any], dict[Any, tuple[Any, ...]]] = {}
        self.gone_calls: list[tuple[Any, ...]] = []
        self.landed_calls: list[tuple[Any, ...]] = []
        monkeypatch.setattr(dlt.current, "source_state", lambda: self.source_state)
        monkeypatch.setattr(dlt.current, "resource_state", lambda: self.resource_state)
        # No pipeline of an earlier test (one test_guide left active, say) is what landed here.
        monkeypatch.setattr(dlt.current, "pipeline", self._no_pipeline)
        monkeypatch.setattr(core, "landed_versions", self._landed_versions)
        monkeypatch.setattr(core, "gone_rows", self._gone_rows)

    @staticmethod
    def _no_pipeline() -> Any:
        raise LookupError("no pipeline: nothing landed but what World.landed holds")

    def _landed_versions(
        self,
        table: str,
        key: str,
        scope_column: str | None,
        scope_id: Any,
        compare: Any = (),
        start_from: Any = None,
    ) -> dict[Any, tuple[Any, ...]]:
        self.landed_calls.append((table, key, scope_column, scope_id, compare, start_from))
        return self.landed.get((table, scope_id), {})

    def _gone_rows(
        self, table: str, key: str, landed: Any, present: Any, deleted_at: Any
    ) -> list[dict[str, Any]]:
        self.gone_calls.append((table, key, dict(landed), set(present), deleted_at))
        return [{key: k, "server_deleted_at": deleted_at} for k in landed if k not in present]

    def read(self, table: str, **kwargs: Any) -> list[list[dict[str, Any]]]:
        endpoint = BY_TABLE[table]
        reader = {
            "organizations": self.sync.organizations,
            "workspaces": self.sync.workspaces,
            "single": self.sync.single,
            "list": self.sync.whole_list,
            "paged": self.sync.whole_list,
            "since": self.sync.since,
        }.get(endpoint.reader)
        if reader is None:
            return list(self.sync.my_entries(endpoint, kwargs.get("start")))
        return list(reader(endpoint))


# --- rejected records, rows, the backfill cycle ------------------------------------------------


def test_a_rejected_record_is_kept_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.reject("t", {"id": "x", "api_token": "secret", "d": date(2026, 1, 2)}, "why", "x", "s")
    w.sync.reject("t", ["not", "a", "dict"], "shape", None, "token")
    w.sync.reject("u", {"id": 1}, "long", "k" * 300, "workspace 3")
    assert w.sync.rejects == [
        {
            "table_name": "t",
            "record_key": "x",
            "reason": "why",
            "record": '{"id":"x","d":"2026-01-02"}',
            "scope": "s",
        },
        {
            "table_name": "t",
            "record_key": None,
            "reason": "shape",
            "record": '["not","a","dict"]',
            "scope": "token",
        },
        {
            "table_name": "u",
            "record_key": "k" * 200,
            "reason": "long",
            "record": '{"id":1}',
            "scope": "workspace 3",
        },
    ]
    assert w.client.stats.rejected == {"t": 2, "u": 1}


def test_a_record_of_an_odd_type_is_kept_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.reject("t", {"n": {1, 2}.__class__.__name__, "v": {3}}, "r", 0, "s")
    assert w.sync.rejects[0]["record"] == '{"n":"set","v":"{3}"}'
    assert w.sync.rejects[0]["record_key"] == "0"


def test_rows_convert_what_can_land_and_reject_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)

    def convert(record: Any) -> dict[str, Any]:
        if record == "bad":
            raise Rejected("no good", "k")
        return {"v": record}

    assert w.sync.rows(convert, [1, "bad", 2], "t", "scope") == [{"v": 1}, {"v": 2}]
    assert w.sync.rows(convert, None, "t", "scope") == []
    assert [(r["reason"], r["record_key"], r["scope"], r["record"]) for r in w.sync.rejects] == [
        ("no good", "k", "scope", '"bad"')
    ]


def test_the_rejected_table_closes_a_complete_backfill(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.source_state["backfill"] = {"open": True, "done": {"t": ["1"]}}
    w.sync.completed("t", "2")
    assert list(w.sync.rejected_rows()) == []
    assert w.source_state["backfill"] == {"open": False, "done": {}}
    fresh = World(monkeypatch)
    fresh.sync.reject("t", {}, "r", None, "s")
    assert list(fresh.sync.rejected_rows()) == [fresh.sync.rejects]
    assert fresh.source_state == {"backfill": {"open": False, "done": {}}}


@pytest.mark.parametrize("stopped_by", ["deferred", "quota_stops", "stop_reason"])
def test_a_stopped_run_keeps_the_backfill_open(
    monkeypatch: pytest.MonkeyPatch, stopped_by: str
) -> None:
    w = World(monkeypatch)
    w.source_state["backfill"] = {"open": False, "done": {"t": ["3", "1"], "u": ["9"]}}
    w.sync.completed("t", "2")
    w.sync.completed("t", "1")
    w.sync.completed("v", "5")
    if stopped_by == "deferred":
        w.client.stats.defer("x")
    elif stopped_by == "quota_stops":
        w.client.stats.quota_stops["me"] = QuotaExhaustedError("q", 1)
    else:
        w.client.stats.stop("Ctrl-C")
    assert list(w.sync.rejected_rows()) == []
    assert w.source_state["backfill"] == {
        "open": True,
        "done": {"t": ["1", "2", "3"], "u": ["9"], "v": ["5"]},
    }


def test_known_complete_only_while_a_backfill_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    assert not w.sync.known_complete("t", "1")
    w.sync.state = {"backfill": {"open": True, "done": {"t": ["1"]}}}
    assert w.sync.known_complete("t", "1")
    assert not w.sync.known_complete("t", "2")
    assert not w.sync.known_complete("u", "1")
    w.sync.state = {"backfill": {"open": False, "done": {"t": ["1"]}}}
    assert not w.sync.known_complete("t", "1")
    w.sync.state = {"backfill": {"open": True}}
    assert not w.sync.known_complete("t", "1")


def test_completed_scopes_are_noted_per_table(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.completed("t", "1")
    w.sync.completed("t", "2")
    w.sync.completed("u", "1")
    assert w.sync.done_now == {"t": {"1", "2"}, "u": {"1"}}


# --- the estimate ----------------------------------------------------------------------------


def test_no_estimate_before_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    assert World(monkeypatch).sync.estimate_remaining() is None


def test_the_estimate_counts_one_request_per_scope_and_report_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/me/organizations", [{"id": 1}, {"id": 2}])
    service.route(
        "/me/workspaces",
        [{"id": 10, "organization_id": 1}, {"id": 11, "organization_id": 1}, {"id": 12}],
    )
    w = World(monkeypatch, service)
    w.sync.discovery.organizations()
    w.sync.discovery.workspaces()
    today = datetime.now(UTC).date()
    w.sync.report_start = today - timedelta(days=10)
    # token: organizations, workspaces, time_entries; 2 organizations x 2 tables; 3 workspaces
    # x 8 tables; the report: one window per workspace.
    assert w.sync.estimate_remaining() == 3 + 2 * 2 + 3 * 8 + 3
    w.sync.finished.update({"workspace_clients", "organizations", "organizations_users"})
    assert w.sync.estimate_remaining() == 2 + 1 * 2 + 3 * 7 + 3
    w.sync.report_start = today - timedelta(days=366)
    assert w.sync.estimate_remaining() == 2 + 1 * 2 + 3 * 7 + 3 * 2
    w.sync.report_start = today + timedelta(days=5)
    assert w.sync.estimate_remaining() == 2 + 1 * 2 + 3 * 7 + 3


class _UtcAheadOfLocal(datetime):
    """core's clock: NOW in UTC; asked without a zone, the previous evening (UTC-14)."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW if tz is not None else datetime(2026, 11, 26, 22, 0)


def test_the_estimate_counts_report_days_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.discovery.organizations()
    w.sync.discovery.workspaces()
    w.sync.finished.update(e for e in BY_TABLE if e != "report_time_entries")
    monkeypatch.setattr(core, "datetime", _UtcAheadOfLocal)
    w.sync.report_start = date(2025, 11, 26)  # 366 days before NOW's day: two windows
    assert w.sync.estimate_remaining() == 2 * 2


def test_the_estimate_follows_each_report_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.discovery.organizations()
    w.sync.discovery.workspaces()
    w.sync.finished.update(e for e in BY_TABLE if e != "report_time_entries")
    today = datetime.now(UTC).date()
    w.sync.report_start = today
    walk = {"from": "2020-01-01", "before": "2021-01-02", "to": "2030-01-01"}
    w.sync.state = {
        "resources": {
            "report_time_entries": {
                "walk": {"10": walk},
                "complete_through": {"11": (today - timedelta(days=800)).isoformat()},
            }
        }
    }
    assert w.sync.estimate_remaining() == 2 + 3, "367 days: 2 windows; 800 days: 3"
    walk["before"] = None
    assert w.sync.estimate_remaining() == (3653 // 366 + 1) + 3, "no window done: up to `to`"
    w.sync.state["resources"]["report_time_entries"]["walk"] = {}
    w.sync.state["resources"]["report_time_entries"]["complete_through"] = {}
    assert w.sync.estimate_remaining() == 2


# --- scopes ----------------------------------------------------------------------------------


def test_each_scope_loads_the_rest_when_one_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    endpoint = BY_TABLE["workspace_tags"]

    def read(scope_id: int) -> Iterator[list[dict[str, Any]]]:
        if scope_id == 10:
            raise AccessDeniedError("no access", 403)
        yield [{"id": 1}, {"id": 2}]
        yield []

    assert list(w.sync.each_scope(endpoint, read)) == [[{"id": 1}, {"id": 2}]]
    assert w.client.stats.errors == ["workspace_tags of workspace 10: no access"]
    assert w.client.stats.rows == {"workspace_tags": 2}
    assert w.sync.done_now == {"workspace_tags": {"11"}}


def test_each_scope_of_organizations_defers_a_spent_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    endpoint = BY_TABLE["organizations_groups"]
    asked: list[int] = []

    def read(scope_id: int) -> Iterator[list[dict[str, Any]]]:
        asked.append(scope_id)
        if scope_id == 1:
            raise QuotaExhaustedError("spent", 60)
        yield [{"group_id": 5}]

    assert list(w.sync.each_scope(endpoint, read)) == [[{"group_id": 5}]]
    assert asked == [1, 2]
    assert w.client.stats.deferred == ["organizations_groups of organization 1"]
    assert w.sync.done_now == {"organizations_groups": {"2"}}


@pytest.mark.parametrize("error", [RunStopped("stop"), AuthenticationError("bad token", 401)])
def test_each_scope_stops_for_a_stop_or_a_bad_token(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    w = World(monkeypatch)

    def read(scope_id: int) -> Iterator[list[dict[str, Any]]]:
        raise error
        yield []

    with pytest.raises(type(error)):
        list(w.sync.each_scope(BY_TABLE["workspace_tags"], read))


def test_each_scope_skips_what_an_open_backfill_read(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.state = {"backfill": {"open": True, "done": {"workspace_tags": ["10"]}}}
    asked: list[int] = []

    def read(scope_id: int) -> Iterator[list[dict[str, Any]]]:
        asked.append(scope_id)
        yield [{"id": scope_id}]

    assert list(w.sync.each_scope(BY_TABLE["workspace_tags"], read)) == [[{"id": 11}]]
    assert asked == [11]


def test_scope_labels_and_converters(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    tags = BY_TABLE["workspace_tags"]
    assert w.sync._scope_label(tags, 10) == "workspace 10"
    assert w.sync._scope_label(BY_TABLE["organizations"], None) == "token"
    assert w.sync._convert(tags, 10)({"id": 1}) == {"id": 1, "workspace_id": 10}
    assert w.sync._convert(tags, None)({"id": 1}) == {"id": 1}
    assert w.sync._convert(BY_TABLE["time_entries"], 5)({"id": 1}) == {"id": 1}
    groups = w.sync._convert(BY_TABLE["organizations_groups"], 2)({"group_id": 3})
    assert groups == {"group_id": 3, "organization_id": 2}


def test_landed_asks_by_scope_column(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    asked: list[tuple[Any, ...]] = []

    def versions(*args: Any) -> dict[Any, Any]:
        asked.append(args)
        return {1: ()} if args[3] == 10 else {}

    monkeypatch.setattr(core, "landed_versions", versions)
    assert w.sync._landed(BY_TABLE["workspace_tags"], 10) is True
    assert w.sync._landed(BY_TABLE["workspace_tags"], 11) is False
    assert asked[0] == ("workspace_tags", "id", "workspace_id", 10)


# --- discovery's tables ------------------------------------------------------------------------


def test_organizations_with_their_unusable_records_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/me/organizations", [{"id": 1, "name": "a"}, {"name": "no id"}])
    w = World(monkeypatch, service)
    assert w.read("organizations") == [[{"id": 1, "name": "a"}]]
    assert w.client.stats.rows == {"organizations": 1}
    assert [(r["table_name"], r["reason"], r["scope"]) for r in w.sync.rejects] == [
        ("organizations", "no id", "token")
    ]


def test_no_organizations_no_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/organizations", [])
    w = World(monkeypatch, service)
    assert w.read("organizations") == []
    assert w.client.stats.rows == {"organizations": 0}


def test_workspaces_are_remembered_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route(
        "/me/workspaces",
        [{"id": 10, "api_token": "s", "name": "ten"}, {"id": None}, {"id": "w1"}],
    )
    service.route("/me/organizations", [{"id": 1}, {"id": "x1"}])
    w = World(monkeypatch, service)
    assert w.read("workspaces") == [[{"id": 10, "name": "ten", "unreachable_since": None}]]
    # what discovery read is remembered for the runs between its reads, credentials left out
    assert w.source_state == {
        "workspaces": {"10": {"id": 10, "name": "ten"}},
        "discovery": {"organizations": [{"id": 1}], "workspaces": [{"id": 10, "name": "ten"}]},
    }
    assert w.sync.rejects == [
        {
            "table_name": "workspaces",
            "record_key": None,
            "reason": "no id",
            "record": '{"id":null}',
            "scope": "token",
        },
        {
            "table_name": "workspaces",
            "record_key": "w1",
            "reason": "id is not an integer: 'w1'",
            "record": '{"id":"w1"}',
            "scope": "token",
        },
    ]
    assert w.client.stats.warnings == []
    assert w.client.stats.rows == {"workspaces": 1}
    w.read("organizations")
    assert w.sync.rejects[2]["record_key"] == "x1"
    assert w.sync.rejects[2]["table_name"] == "organizations"


def test_a_workspace_out_of_reach_is_kept_and_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    earlier = "2026-01-01T00:00:00+00:00"
    w.source_state["workspaces"] = {
        "10": {"id": 10, "name": "ten"},
        "9": {"id": "nine"},
        "12": {"id": 12, "name": "gone"},
        "13": {"id": 13, "name": "long gone", "unreachable_since": earlier},
        "14": {"id": None},
    }
    (batch,) = w.read("workspaces")
    assert batch == [
        {"id": 10, "organization_id": 1, "name": "ten", "unreachable_since": None},
        {"id": 11, "organization_id": 2, "name": "eleven", "unreachable_since": None},
        {"id": 12, "name": "gone", "unreachable_since": NOW},
        {"id": 13, "name": "long gone", "unreachable_since": datetime(2026, 1, 1, tzinfo=UTC)},
    ]
    assert w.source_state["workspaces"]["12"]["unreachable_since"] == NOW.isoformat()
    assert w.source_state["workspaces"]["13"]["unreachable_since"] == earlier
    assert w.client.stats.warnings == [
        "workspace 12 (gone) is no longer reachable with this token: its rows are kept as last "
        "seen, marked in workspaces.unreachable_since",
        "workspace 13 (long gone) is no longer reachable with this token: its rows are kept as "
        "last seen, marked in workspaces.unreachable_since",
    ]
    assert w.client.stats.rows == {"workspaces": 4}


def test_a_narrowed_run_says_nothing_of_other_workspaces(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch, workspace_ids=[10])
    w.source_state["workspaces"] = {"12": {"id": 12, "name": "elsewhere"}}
    (batch,) = w.read("workspaces")
    assert [row["id"] for row in batch] == [10]
    assert w.client.stats.warnings == []


def test_no_workspaces_no_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/workspaces", [])
    w = World(monkeypatch, service)
    assert w.read("workspaces") == []


# --- single objects and whole lists ----------------------------------------------------------


def test_a_single_object_per_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/statistics", {"members_count": 3})
    service.route("/workspaces/11/statistics", [1])
    w = World(monkeypatch, service)
    assert w.read("workspace") == [[{"members_count": 3, "workspace_id": 10}]]
    assert ("/workspaces/10/statistics", {}) in service.asked
    assert w.client.stats.errors[0].startswith("workspace of workspace 11: GET ")


def test_a_whole_list_deletes_what_it_no_longer_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/clients", [{"id": 1, "name": "a"}, {"id": "x"}])
    service.route("/workspaces/11/clients", [])
    w = World(monkeypatch, service)
    w.landed[("workspace_clients", 10)] = {1: (), 2: ()}
    batches = w.read("workspace_clients")
    assert batches == [
        [{"id": 1, "name": "a", "workspace_id": 10}],
        [{"id": 2, "server_deleted_at": NOW}],
    ]
    assert ("/workspaces/10/clients", {"status": "both"}) in service.asked
    assert w.gone_calls == [
        ("workspace_clients", "id", {1: (), 2: ()}, {1}, NOW),
        ("workspace_clients", "id", {}, set(), NOW),
    ]
    assert [(r["table_name"], r["reason"], r["scope"]) for r in w.sync.rejects] == [
        ("workspace_clients", "id is not an integer: 'x'", "workspace 10")
    ]


def test_a_null_list_is_asked_again_with_its_filters_and_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/workspaces/10/clients", _in_turn(None, {"id": 9}, [{"id": 2}]))
    w = World(monkeypatch, service)
    w.landed[("workspace_clients", 10)] = {2: ()}
    assert w.read("workspace_clients") == [[{"id": 2, "workspace_id": 10}]]
    asked = [params for path, params in service.asked if path == "/workspaces/10/clients"]
    assert asked == [{"status": "both"}] * 3, "null, then an object of the wrong shape"


def test_a_null_list_is_asked_again_before_it_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Any] = [None, [{"id": 2}]]
    service = Service()
    service.route("/workspaces/10/project_groups", lambda params: answers.pop(0))
    service.route("/workspaces/11/project_groups", None)
    w = World(monkeypatch, service)
    w.landed[("project_groups", 10)] = {2: ()}
    assert w.read("project_groups") == [[{"id": 2, "workspace_id": 10}]], "no empty batches"
    assert service.paths().count("/workspaces/10/project_groups") == 2
    assert service.paths().count("/workspaces/11/project_groups") == 1, "nothing landed: at once"
    assert ("/workspaces/10/project_groups", {}) in service.asked, "no params for a list without"


def test_a_paged_list_reads_every_page_and_saves_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = {1: [{"id": n} for n in range(1, 201)], 2: [{"id": 201}]}
    service = Service()
    service.route("/organizations/1/users", lambda params: pages.get(params["page"], []))
    service.route("/organizations/2/users", [])
    w = World(monkeypatch, service)
    w.landed[("organizations_users", 1)] = {5: (), 999: ()}
    batches = w.read("organizations_users")
    assert [len(b) for b in batches] == [200, 1, 1]
    assert batches[2] == [{"id": 999, "server_deleted_at": NOW}]
    assert batches[1] == [{"id": 201, "organization_id": 1}]
    assert w.resource_state == {"next_page": {}}
    asked = [params for path, params in service.asked if path == "/organizations/1/users"]
    # page 2 is short and uncounted: page 3 proves the end; a row would go, so the list is
    # read once more before it does
    assert [p["page"] for p in asked] == [1, 2, 3, 1, 2, 3]
    assert {p["per_page"] for p in asked} == {200}


def test_a_resumed_paged_list_deletes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/organizations/1/users", [{"id": 7}])
    service.route("/organizations/2/users", [{"id": 8}])
    w = World(monkeypatch, service)
    w.resource_state["next_page"] = {"1": 3}
    w.landed[("organizations_users", 1)] = {5: ()}
    w.landed[("organizations_users", 2)] = {5: ()}
    batches = w.read("organizations_users")
    assert batches == [
        [{"id": 7, "organization_id": 1}],
        [{"id": 8, "organization_id": 2}],
        [{"id": 5, "server_deleted_at": NOW}],
    ]
    first = [params for path, params in service.asked if path == "/organizations/1/users"]
    assert first == [{"page": 3, "per_page": 200}, {"page": 4, "per_page": 200}]


def test_a_paged_list_stopped_halfway_goes_on_from_its_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route(
        "/organizations/1/users",
        lambda params: [{"id": params["page"] * 1000 + n} for n in range(200)],
    )
    w = World(monkeypatch, service)
    reader = w.sync.whole_list(BY_TABLE["organizations_users"])
    next(reader)
    assert w.resource_state == {"next_page": {}}
    next(reader)
    assert w.resource_state == {"next_page": {"1": 2}}, "page 1 landed: page 2 is next"


def test_a_null_first_page_deletes_nothing_that_landed(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/organizations/1/users", None)
    service.route("/organizations/2/users", None)
    w = World(monkeypatch, service)
    w.landed[("organizations_users", 1)] = {5: ()}
    assert w.read("organizations_users") == []
    assert [call[2] for call in w.gone_calls] == [{}], "only organization 2, where none landed"


# --- since -----------------------------------------------------------------------------------


def _in_turn(*answers: Any) -> Route:
    """A route answering each of `answers` in turn, then the last again."""
    left = list(answers)
    return lambda params: left.pop(0) if len(left) > 1 else left[0]


def test_a_list_of_the_wrong_shape_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/clients", _in_turn({"id": 5}, [{"id": 1}]))
    w = World(monkeypatch, service)
    assert w.read("workspace_clients")[0] == [{"id": 1, "workspace_id": 10}]
    assert service.paths().count("/workspaces/10/clients") == 2


def test_a_paged_lists_unusable_records_are_rejected_with_their_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/organizations/1/users", [{"id": 1}, {"name": "no id"}])
    w = World(monkeypatch, service)
    w.read("organizations_users")
    assert [(r["table_name"], r["reason"], r["scope"]) for r in w.sync.rejects] == [
        ("organizations_users", "no id", "organization 1")
    ]
    assert w.landed_calls == [
        ("organizations_users", "id", "organization_id", 1, (), None),
        ("organizations_users", "id", "organization_id", 2, (), None),
    ]


def _projects(service: Service, **by_workspace: Any) -> None:
    for ws in (10, 11):
        service.route(f"/workspaces/{ws}/projects", by_workspace.get(f"ws{ws}", []))


def test_a_first_listing_sets_the_cursor_at_its_newest_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    at = "2026-11-27T10:00:00Z"
    _projects(service, ws10=[{"id": 1, "at": at}, {"id": 2, "at": "2026-11-27T09:00:00Z"}])
    w = World(monkeypatch, service)
    batches = w.read("workspace_projects")
    assert [len(b) for b in batches] == [2]
    ten_o_clock = int(datetime(2026, 11, 27, 10, tzinfo=UTC).timestamp())
    assert w.resource_state == {
        "since": {"10": ten_o_clock - 300, "11": STAMP - 300},
        "listing": {},
    }
    asked = [params for path, params in service.asked if path == "/workspaces/10/projects"]
    assert asked == [
        {"active": "both", "page": 1, "per_page": 200},
        {"active": "both", "page": 2, "per_page": 200},  # the same page again: the end
    ]


def test_a_listing_keeps_the_newest_change_of_all_its_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()

    def projects(params: dict[str, Any]) -> Any:
        if "since" in params:
            return []
        if params["page"] == 1:
            return [{"id": n, "at": "2026-11-27T11:00:00Z"} for n in range(200)]
        return [{"id": 500, "at": "2026-11-27T09:00:00Z"}, {"id": "bad"}]

    service.route("/workspaces/10/projects", projects)
    w = World(monkeypatch, service)
    batches = w.read("workspace_projects")
    assert batches[0][0] == {
        "id": 0,
        "at": datetime(2026, 11, 27, 11, tzinfo=UTC),
        "workspace_id": 10,
    }
    eleven = int(datetime(2026, 11, 27, 11, tzinfo=UTC).timestamp())
    assert w.resource_state["since"]["10"] == eleven - 300
    assert [(r["table_name"], r["record_key"], r["scope"]) for r in w.sync.rejects] == [
        ("workspace_projects", "bad", "workspace 10")
    ]


def test_changes_keep_the_newest_of_all_their_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()

    def projects(params: dict[str, Any]) -> Any:
        if params["page"] == 1:
            return [{"id": n, "at": "2026-11-27T11:00:00Z"} for n in range(200)]
        return [{"id": 500, "at": "2026-11-27T09:00:00Z"}, {"name": "no id"}]

    service.route("/workspaces/10/projects", projects)
    w = World(monkeypatch, service)
    w.resource_state.update({"since": {"10": 1000, "11": 2000}, "listing": {}})
    batches = w.read("workspace_projects")
    assert batches[1][0] == {
        "id": 500,
        "at": datetime(2026, 11, 27, 9, tzinfo=UTC),
        "workspace_id": 10,
    }
    eleven = int(datetime(2026, 11, 27, 11, tzinfo=UTC).timestamp())
    assert w.resource_state["since"]["10"] == eleven - 300
    assert [(r["table_name"], r["reason"], r["scope"]) for r in w.sync.rejects] == [
        ("workspace_projects", "no id", "workspace 10")
    ]


def test_a_future_change_does_not_move_the_cursor_past_the_services_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    _projects(service, ws10=[{"id": 1, "at": "2099-01-01T00:00:00Z"}])
    w = World(monkeypatch, service)
    w.read("workspace_projects")
    assert w.resource_state["since"]["10"] == STAMP - 300


def test_later_runs_ask_for_changes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    _projects(service, ws10=[{"id": 1, "at": "2026-11-27T11:00:00Z"}])
    w = World(monkeypatch, service)
    w.resource_state.update({"since": {"10": 1000, "11": 2000}, "listing": {}})
    batches = w.read("workspace_projects")
    assert batches == [
        [{"id": 1, "at": datetime(2026, 11, 27, 11, tzinfo=UTC), "workspace_id": 10}],
    ]
    asked = [params for path, params in service.asked if path.endswith("/projects")]
    assert asked == [
        {"active": "both", "since": 1000, "page": 1, "per_page": 200},
        {"active": "both", "since": 1000, "page": 2, "per_page": 200},
        {"active": "both", "since": 2000, "page": 1, "per_page": 200},
    ]
    eleven = int(datetime(2026, 11, 27, 11, tzinfo=UTC).timestamp())
    assert w.resource_state["since"] == {"10": eleven - 300, "11": 2000}


def test_a_cursor_never_moves_back(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    _projects(service, ws10=[{"id": 1, "at": "2020-01-01T00:00:00Z"}])
    w = World(monkeypatch, service)
    w.resource_state.update({"since": {"10": STAMP - 100, "11": 5}, "listing": {}})
    w.read("workspace_projects")
    assert w.resource_state["since"] == {"10": STAMP - 100, "11": 5}


def test_a_cursor_the_service_refuses_lists_everything_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()

    def projects(params: dict[str, Any]) -> Any:
        if "since" in params:
            return ApiError("since is too old", 400)
        return [{"id": 3, "at": "2026-11-27T10:00:00Z"}]

    service.route("/workspaces/10/projects", projects)
    service.route("/workspaces/11/projects", [])
    w = World(monkeypatch, service)
    w.resource_state.update({"since": {"10": 5}, "listing": {}})
    batches = w.read("workspace_projects")
    assert [[row["id"] for row in batch] for batch in batches] == [[3]]
    ten_o_clock = int(datetime(2026, 11, 27, 10, tzinfo=UTC).timestamp())
    assert w.resource_state["since"]["10"] == ten_o_clock - 300


def test_another_error_of_a_cursor_is_the_scopes_error(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/projects", ApiError("teapot", 418))
    service.route("/workspaces/11/projects", [])
    w = World(monkeypatch, service)
    w.resource_state.update({"since": {"10": 5, "11": 6}, "listing": {}})
    assert w.read("workspace_projects") == []
    assert w.resource_state["since"]["10"] == 5
    assert len(w.client.stats.errors) == 1
    assert w.client.stats.errors[0].startswith("workspace_projects of workspace 10: GET ")


def test_a_long_listing_reads_changes_since_it_began(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    full = [{"id": n, "at": "2026-11-27T08:00:00Z"} for n in range(200)]

    def projects(params: dict[str, Any]) -> Any:
        if "since" in params:
            return [{"id": 7, "at": "2026-11-27T11:00:00Z"}]
        return full if params["page"] == 1 else [{"id": 500}]

    service.route("/workspaces/10/projects", projects)
    service.route("/workspaces/11/projects", [])
    w = World(monkeypatch, service)
    batches = w.read("workspace_projects")
    assert [len(b) for b in batches] == [200, 1, 1]
    assert batches[2][0]["id"] == 7
    eight = int(datetime(2026, 11, 27, 8, tzinfo=UTC).timestamp())
    since_asked = [p for path, p in service.asked if "since" in p and path.endswith("10/projects")]
    assert since_asked == [
        {"active": "both", "since": eight - 300, "page": 1, "per_page": 200},
        {"active": "both", "since": eight - 300, "page": 2, "per_page": 200},
    ]
    assert w.resource_state["since"]["10"] == eight - 300


def test_a_deletion_during_a_long_listing_lists_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    full = [{"id": n} for n in range(200)]

    def projects(params: dict[str, Any]) -> Any:
        if "since" in params:
            return [{"id": 7, "server_deleted_at": "2026-11-27T11:00:00Z"}]
        return full if params["page"] == 1 else [{"id": 500}, {"id": None}]

    service.route("/workspaces/10/projects", projects)
    service.route("/workspaces/11/projects", [])
    w = World(monkeypatch, service)
    batches = w.read("workspace_projects")
    assert [len(b) for b in batches] == [200, 1, 1, 200, 1]
    assert w.resource_state["since"]["10"] == STAMP - 300, "no change seen: since it began"
    assert batches[2] == [
        {"id": 7, "server_deleted_at": datetime(2026, 11, 27, 11, tzinfo=UTC), "workspace_id": 10}
    ]
    assert batches[3][0] == {"id": 0, "workspace_id": 10}
    assert [(r["table_name"], r["scope"]) for r in w.sync.rejects] == [
        ("workspace_projects", "workspace 10")
    ] * 2, "the listing and the second listing each reject it"
    asked = [p for path, p in service.asked if path == "/workspaces/10/projects"]
    assert asked[-3:] == [
        {"active": "both", "page": 1, "per_page": 200},
        {"active": "both", "page": 2, "per_page": 200},
        {"active": "both", "page": 3, "per_page": 200},
    ], "listed once more, whole, with its filters"


def test_a_resumed_listing_goes_on_from_its_page(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    started = STAMP - 7200

    def projects(params: dict[str, Any]) -> Any:
        if "since" in params:
            return []
        return [{"id": 9, "at": "2026-11-27T11:30:00Z"}]

    service.route("/workspaces/10/projects", projects)
    service.route("/workspaces/11/projects", [])
    w = World(monkeypatch, service)
    w.resource_state.update(
        {"since": {}, "listing": {"10": {"page": 4, "started": started, "latest": started - 50}}}
    )
    batches = w.read("workspace_projects")
    assert [len(b) for b in batches] == [1]
    pages = [p.get("page") for path, p in service.asked if path == "/workspaces/10/projects"]
    assert pages == [4, 5, 1]
    assert w.resource_state["since"]["10"] == started - 300, "since it began, hours ago"


def test_a_listing_notes_its_newest_change_page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route(
        "/workspaces/10/projects",
        lambda params: [
            {"id": params["page"] * 1000 + n, "at": "2026-11-27T09:00:00Z"} for n in range(200)
        ],
    )
    w = World(monkeypatch, service)
    reader = w.sync.since(BY_TABLE["workspace_projects"])
    next(reader)
    nine = int(datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp())
    assert w.resource_state["listing"] == {"10": {"page": 1, "started": STAMP, "latest": nine}}
    next(reader)
    assert w.resource_state["listing"]["10"]["page"] == 2


# --- the token owner's entries ----------------------------------------------------------------


def test_the_first_run_reads_the_whole_window(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [{"id": 1, "workspace_id": 10}])
    w = World(monkeypatch, service)
    assert w.read("time_entries") == [[{"id": 1, "workspace_id": 10}]]
    assert service.asked[-1] == (
        "/me/time_entries",
        {"start_date": "2026-08-29", "end_date": "2026-11-29"},
    )
    assert w.resource_state == {"since": STAMP - 300}
    assert w.gone_calls == [
        ("time_entries", "id", {}, {1}, NOW),
    ]
    assert w.client.stats.rows == {"time_entries": 1}
    assert w.landed_calls == [
        ("time_entries", "id", None, None, (), datetime(2026, 8, 29, tzinfo=UTC))
    ]


def test_unusable_entries_are_rejected_for_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", _in_turn({"id": 1}, [{"id": 2}, {"id": "x"}]))
    w = World(monkeypatch, service)
    assert w.read("time_entries") == [[{"id": 2}]]
    assert [(r["table_name"], r["record_key"], r["scope"]) for r in w.sync.rejects] == [
        ("time_entries", "x", "token")
    ]
    assert service.paths().count("/me/time_entries") == 2, "an object is no list: asked again"


def test_an_entry_missing_from_the_window_was_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [{"id": 1}])
    w = World(monkeypatch, service)
    w.landed[("time_entries", None)] = {1: (), 2: ()}
    assert w.read("time_entries") == [[{"id": 1}], [{"id": 2, "server_deleted_at": NOW}]]


def test_a_later_run_asks_since_its_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [{"id": 3}])
    w = World(monkeypatch, service)
    w.resource_state["since"] = STAMP - 3600
    w.landed[("time_entries", None)] = {1: ()}
    service.route("/me/time_entries", _in_turn({"id": 3}, [{"id": 3}]))
    assert w.read("time_entries") == [[{"id": 3}]]
    assert w.landed_calls == []
    assert service.asked[-1] == ("/me/time_entries", {"since": STAMP - 3600})
    assert w.gone_calls == [], "changes prove no deletion"
    assert w.resource_state == {"since": STAMP - 300}


def test_a_cursor_older_than_89_days_reads_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [])
    w = World(monkeypatch, service)
    w.resource_state["since"] = STAMP - 89 * 86400
    w.read("time_entries")
    assert "start_date" in service.asked[-1][1]
    fresher = World(monkeypatch, service)
    fresher.resource_state["since"] = STAMP - 89 * 86400 + 1
    fresher.read("time_entries")
    assert service.asked[-1][1] == {"since": STAMP - 89 * 86400 + 1}


def test_a_cursor_the_service_calls_too_old_reads_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route(
        "/me/time_entries",
        lambda params: (
            ApiError("since cannot be older than 3 months", 400)
            if "since" in params
            else [{"id": 4}]
        ),
    )
    w = World(monkeypatch, service)
    w.resource_state["since"] = STAMP - 3600
    assert w.read("time_entries") == [[{"id": 4}]]
    assert [set(p) for _, p in service.asked if _ == "/me/time_entries"] == [
        {"since"},
        {"start_date", "end_date"},
    ]


@pytest.mark.parametrize(
    "error", [ApiError("since cannot be older", 404), ApiError("something else", 400)]
)
def test_other_refusals_of_a_cursor_fail_the_table_alone(
    monkeypatch: pytest.MonkeyPatch, error: ApiError
) -> None:
    service = Service()
    service.route("/me/time_entries", lambda params: error if "since" in params else [])
    w = World(monkeypatch, service)
    w.resource_state["since"] = STAMP - 3600
    assert w.read("time_entries") == []
    [line] = w.client.stats.errors
    assert line.startswith("time_entries: GET /v1/me/time_entries") and str(error) in line
    assert [set(p) for _, p in service.asked if _ == "/me/time_entries"] == [{"since"}]
    assert w.resource_state["since"] == STAMP - 3600, "the cursor is kept for the next run"


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("rejected", 401),
        ConnectionFailedError("cannot reach", None),
        QuotaExhaustedError("spent", 60),
    ],
)
def test_a_rejected_token_an_unreachable_service_or_the_quota_still_stop_the_table(
    monkeypatch: pytest.MonkeyPatch, error: ApiError
) -> None:
    w = World(monkeypatch)

    def failing(*args: Any) -> Iterator[Any]:
        raise error
        yield

    monkeypatch.setattr(w.sync, "_my_entries", failing)
    with pytest.raises(type(error)):
        w.read("time_entries")
    assert w.client.stats.errors == []


def test_a_null_window_asked_again_may_hold_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", _in_turn(None, [{"id": 1}]))
    w = World(monkeypatch, service)
    w.landed[("time_entries", None)] = {1: (), 2: ()}
    assert w.read("time_entries", start="2026-11-01") == [
        [{"id": 1}],
        [{"id": 2, "server_deleted_at": NOW}],
    ]
    windows = [p for path, p in service.asked if path == "/me/time_entries"]
    assert windows == [{"start_date": "2026-11-01", "end_date": "2026-11-29"}] * 2


def test_a_null_window_is_asked_again_then_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", None)
    w = World(monkeypatch, service)
    w.landed[("time_entries", None)] = {1: ()}
    assert w.read("time_entries") == [[{"id": 1, "server_deleted_at": NOW}]]
    windows = [p for path, p in service.asked if path == "/me/time_entries"]
    assert windows == [{"start_date": "2026-08-29", "end_date": "2026-11-29"}] * 2


def test_a_null_window_with_nothing_landed_proves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", None)
    w = World(monkeypatch, service)
    assert w.read("time_entries") == []
    assert len([p for p, _ in service.asked if p == "/me/time_entries"]) == 1
    assert w.gone_calls == []
    assert w.resource_state == {}, "no cursor: the window is read again next run"
    assert w.sync.done_now == {}


def test_a_later_start_day_narrows_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [])
    w = World(monkeypatch, service)
    w.read("time_entries", start="2026-11-01")
    assert service.asked[-1][1] == {"start_date": "2026-11-01", "end_date": "2026-11-29"}


def test_a_narrowed_run_keeps_only_its_workspaces_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [{"id": 1, "workspace_id": 10}, {"id": 2, "wid": 11}])
    w = World(monkeypatch, service, workspace_ids=[10])
    w.landed[("time_entries", None)] = {5: (), 6: ()}
    monkeypatch.setattr(
        core,
        "gone_rows",
        lambda *args: [{"id": 5, "workspace_id": 10}, {"id": 6, "workspace_id": 11}],
    )
    assert w.read("time_entries") == [
        [{"id": 1, "workspace_id": 10}],
        [{"id": 5, "workspace_id": 10}],
    ]
    assert w.client.stats.rows == {"time_entries": 1}


def test_a_backfill_that_read_the_entries_skips_them(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.state = {"backfill": {"open": True, "done": {"time_entries": ["token"]}}}
    assert w.read("time_entries") == []
    assert w.service.asked == []
    assert w.sync.done_now == {}


def test_the_entries_are_noted_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/time_entries", [])
    w = World(monkeypatch, service)
    assert w.read("time_entries") == []
    assert w.sync.done_now == {"time_entries": {"token"}}


# --- a resource as dlt sees it -------------------------------------------------------------------


def test_a_resource_declares_its_table_key_and_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)

    def read(endpoint: Any) -> Iterator[list[dict[str, Any]]]:
        assert endpoint is BY_TABLE["workspace_tags"]
        assert w.client.stats.phase == "lists: workspace_tags"
        yield [{"id": 1, "workspace_id": 3}]

    resource = core._declare(BY_TABLE["workspace_tags"], w.sync, read, True)
    assert (resource.name, resource.table_name, resource.write_disposition) == (
        "workspace_tags",
        "workspace_tags",
        "merge",
    )
    columns = resource.compute_table_schema()["columns"]
    assert columns["server_deleted_at"]["hard_delete"] is True
    assert columns["id"]["nullable"] is False
    assert columns["id"]["primary_key"] is True
    assert list(resource) == [{"id": 1, "workspace_id": 3}]
    assert w.sync.finished == {"workspace_tags"}
    assert w.sync.state is w.source_state
    kept = core._declare(BY_TABLE["organizations_groups"], w.sync, read, False)
    assert "hard_delete" not in kept.compute_table_schema()["columns"]["server_deleted_at"]
    assert kept.compute_table_schema()["columns"]["group_id"]["primary_key"] is True


@pytest.mark.parametrize(
    ("reader", "phase"),
    [("organizations", "discovery"), ("me", "your own entries"), ("report", "report history")],
)
def test_a_resource_shows_its_phase(
    monkeypatch: pytest.MonkeyPatch, reader: str, phase: str
) -> None:
    w = World(monkeypatch)
    table = {"organizations": "organizations", "me": "time_entries"}.get(
        reader, "report_time_entries"
    )
    seen: list[str] = []

    def read(endpoint: Any) -> Iterator[list[dict[str, Any]]]:
        seen.append(w.client.stats.phase)
        yield []

    list(core._declare(BY_TABLE[table], w.sync, read, True))
    assert seen == [f"{phase}: {table}"]


def test_a_resource_whose_quota_is_spent_is_deferred(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)

    def read(endpoint: Any) -> Iterator[list[dict[str, Any]]]:
        yield [{"id": 1, "workspace_id": 3}]
        raise QuotaExhaustedError("spent", 60)

    resource = core._declare(BY_TABLE["workspace_tags"], w.sync, read, True)
    assert list(resource) == [{"id": 1, "workspace_id": 3}]
    assert w.client.stats.deferred == ["workspace_tags"]
    assert w.sync.finished == {"workspace_tags"}


def test_a_stopped_resource_ends_quietly_and_an_error_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch)

    def stopped(endpoint: Any) -> Iterator[list[dict[str, Any]]]:
        yield [{"id": 1, "workspace_id": 3}]
        raise RunStopped("Ctrl-C")

    assert list(core._declare(BY_TABLE["workspace_tags"], w.sync, stopped, True)) == [
        {"id": 1, "workspace_id": 3}
    ]
    assert w.client.stats.deferred == []

    def broken(endpoint: Any) -> Iterator[list[dict[str, Any]]]:
        raise ValueError("a bug")
        yield []

    with pytest.raises(Exception, match="a bug"):
        list(core._declare(BY_TABLE["workspace_clients"], w.sync, broken, True))
    assert w.sync.finished == {"workspace_tags", "workspace_clients"}
