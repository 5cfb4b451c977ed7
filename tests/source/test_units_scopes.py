"""Which scopes a run reads (`Sync.each_scope`, `Sync.covered`): lists on the reconciliation's
cadence, tables that webhooks keep live, the marks of the records whose rates changed, and a
member's refusal told apart from a failure. On the World of test_units_sync, with a real
`Cadence` over its state and a clock set here; expectations are literals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.source.test_units_sync import STAMP, Service, World
from timetrack.errors import AccessDeniedError, ApiError
from timetrack.source.cadence import Cadence
from timetrack.source.endpoints import BY_TABLE

DAY = 86400.0
Rows = list[dict[str, Any]]


class Clock:
    """The cadence's clock, a minute past the service's time when a scope's read began (the
    time its read is noted at)."""

    def __init__(self) -> None:
        self.now = float(STAMP) + 60

    def __call__(self) -> float:
        return self.now


def _world(monkeypatch: pytest.MonkeyPatch, admin: Any = None) -> tuple[World, Clock]:
    service = Service()
    service.route(
        "/me/workspaces",
        [
            {"id": 10, "organization_id": 1, "admin": admin},
            {"id": 11, "organization_id": 2, "admin": True},
        ],
    )
    w = World(monkeypatch, service)
    clock = Clock()
    w.sync.cadence = Cadence(lambda: w.source_state, clock, {"lists": DAY})
    return w, clock


def _read(asked: list[int], failing: dict[int, Exception] | None = None) -> Any:
    def read(scope_id: int) -> Iterator[Rows]:
        asked.append(scope_id)
        if failing and scope_id in failing:
            raise failing[scope_id]
        yield [{"id": scope_id * 100 + 1, "rate_last_updated": None}]
        yield []

    return read


def _read_times(w: World, part: str) -> dict[str, float]:
    return dict(w.source_state.get("cadence", {}).get("read", {}).get(part, {}))


def test_a_list_is_read_once_per_cadence_and_again_when_flagged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, clock = _world(monkeypatch)
    clients = BY_TABLE["workspace_clients"]
    asked: list[int] = []
    assert list(w.sync.each_scope(clients, _read(asked))) == [
        [{"id": 1001, "rate_last_updated": None}],
        [{"id": 1101, "rate_last_updated": None}],
    ]
    assert asked == [10, 11]
    # Each read is noted at the service's time it began.
    assert _read_times(w, "workspace_clients") == {"10": STAMP, "11": STAMP}
    clock.now += 3600
    asked.clear()
    assert list(w.sync.each_scope(clients, _read(asked))) == []
    assert asked == []
    w.sync.cadence.flag("workspace_clients", "11")
    assert list(w.sync.each_scope(clients, _read(asked))) == [
        [{"id": 1101, "rate_last_updated": None}]
    ]
    assert asked == [11]
    # A table with `since` is read every run, whatever the lists' cadence.
    asked.clear()
    w.sync.cadence.done("workspace_projects", "10")
    list(w.sync.each_scope(BY_TABLE["workspace_projects"], _read(asked)))
    assert asked == [10, 11]
    assert _read_times(w, "workspace_projects") == {"10": clock.now}


@pytest.mark.parametrize("table", ["workspace", "workspace_tags", "project_groups"])
def test_the_single_and_paged_tables_follow_the_cadence_too(
    monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    w, _ = _world(monkeypatch)
    w.sync.cadence.done(table, "10")
    asked: list[int] = []
    list(w.sync.each_scope(BY_TABLE[table], _read(asked)))
    assert asked == [11]


def test_a_table_kept_live_is_skipped_until_its_reconciliation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, clock = _world(monkeypatch)
    w.sync.live = {10: frozenset({"workspace_projects", "workspace_clients"})}
    projects = BY_TABLE["workspace_projects"]
    assert w.sync.covered("workspace_projects", 10) is False  # never read: due
    asked: list[int] = []
    list(w.sync.each_scope(projects, _read(asked)))
    assert asked == [10, 11]
    assert _read_times(w, "live:workspace_projects") == {"10": STAMP}
    assert w.sync.covered("workspace_projects", 10) is True
    assert w.sync.covered("workspace_projects", 11) is False
    assert w.sync.covered("workspace_tasks", 10) is False
    clock.now += 3600
    asked.clear()
    list(w.sync.each_scope(projects, _read(asked)))
    assert asked == [11]
    # A list kept live is read on its own cadence: `covered` is for tables read `since`.
    asked.clear()
    list(w.sync.each_scope(BY_TABLE["workspace_clients"], _read(asked)))
    assert asked == [10, 11]
    assert "live:workspace_clients" not in w.source_state["cadence"]["read"]
    # A day after the last read, the reconciliation reads it again, noted at the service's time.
    w.source_state["cadence"]["read"]["live:workspace_projects"]["10"] = clock.now - DAY
    asked.clear()
    list(w.sync.each_scope(projects, _read(asked)))
    assert asked == [10, 11]
    assert _read_times(w, "live:workspace_projects") == {"10": STAMP}


def test_the_rows_of_tables_that_mark_rate_changes_are_kept_by_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, _ = _world(monkeypatch)
    list(w.sync.each_scope(BY_TABLE["workspace_projects"], _read([])))
    list(w.sync.each_scope(BY_TABLE["workspace_tags"], _read([])))
    assert w.sync.rate_marks_now == {
        ("workspace_projects", 10): {1001: {"id": 1001, "rate_last_updated": None}},
        ("workspace_projects", 11): {1101: {"id": 1101, "rate_last_updated": None}},
    }


def test_a_members_refusal_is_a_warning_asked_again_at_the_next_reconciliation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, _ = _world(monkeypatch, admin=False)
    users = BY_TABLE["workspace_users"]
    refusal = AccessDeniedError("forbidden", 403)
    asked: list[int] = []
    batches = list(w.sync.each_scope(users, _read(asked, {10: refusal})))
    assert batches == [[{"id": 1101, "rate_last_updated": None}]]
    assert w.client.stats.warnings == ["workspace_users of workspace 10: needs workspace admin"]
    assert w.client.stats.errors == []
    assert _read_times(w, "workspace_users") == {"10": STAMP, "11": STAMP}
    assert "discovery" not in w.source_state["cadence"]["due"]


@pytest.mark.parametrize(
    ("admin", "error"),
    [(True, AccessDeniedError("forbidden", 403)), (False, ApiError("failing", 500))],
)
def test_an_admins_refusal_or_a_failure_is_an_error_and_discovery_looks_again(
    monkeypatch: pytest.MonkeyPatch, admin: bool, error: ApiError
) -> None:
    w, _ = _world(monkeypatch, admin=admin)
    users = BY_TABLE["workspace_users"]
    list(w.sync.each_scope(users, _read([], {10: error})))
    assert w.client.stats.errors == [f"workspace_users of workspace 10: {error}"]
    assert w.client.stats.warnings == []
    assert _read_times(w, "workspace_users") == {"11": STAMP}
    assert w.source_state["cadence"]["due"] == {"discovery": ["token"]}


def test_an_organization_admins_refusal_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me/organizations", [{"id": 1, "admin": True}, {"id": 2, "admin": False}])
    w = World(monkeypatch, service)
    refusal = AccessDeniedError("forbidden", 403)
    list(w.sync.each_scope(BY_TABLE["organizations_groups"], _read([], {1: refusal, 2: refusal})))
    assert w.client.stats.errors == ["organizations_groups of organization 1: forbidden"]
    assert w.client.stats.warnings == [
        "organizations_groups of organization 2: needs organization admin"
    ]
