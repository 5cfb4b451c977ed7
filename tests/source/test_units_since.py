"""Tables read for their changes (`Sync.since`) and whole readings of a list's keys
(`Sync._keys_listed`), on the World of test_units_sync: the overlap's changes that landed as
they are are not written again, a changed project naming a client the clients table lacks
makes that table due, and a reading of keys asks with the list's own filters and shape.
Expectations are literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.source.test_units_sync import Service, World
from timetrack.errors import ApiError
from timetrack.source import core
from timetrack.source.cadence import Cadence
from timetrack.source.endpoints import BY_TABLE

ELEVEN = datetime(2026, 11, 27, 11, tzinfo=UTC)
HALF_PAST = datetime(2026, 11, 27, 11, 30, tzinfo=UTC)


def _landed_at(monkeypatch: pytest.MonkeyPatch, by_key: dict[Any, datetime]) -> list[Any]:
    calls: list[Any] = []

    def landed_values(table: str, key: str, keys: Any, columns: Any) -> dict[Any, Any]:
        calls.append((table, key, list(keys), tuple(columns)))
        return {k: (by_key[k],) for k in keys if k in by_key}

    monkeypatch.setattr(core, "landed_values", landed_values)
    return calls


def test_changes_that_landed_as_they_are_are_not_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route(
        "/workspaces/10/projects",
        [
            {"id": 1, "at": "2026-11-27T11:00:00Z", "client_id": 5},  # landed as it is
            {"id": 2, "at": "2026-11-27T11:30:00Z", "client_id": 6},  # changed since
            {"id": 3},  # no time to compare
            {"id": 4, "at": "2026-11-27T11:00:00Z", "server_deleted_at": "2026-11-27T11:00:00Z"},
        ],
    )
    w = World(monkeypatch, service, workspace_ids=[10])
    w.sync.cadence = Cadence(lambda: w.source_state, lambda: 0.0, {"lists": 86400.0})
    calls = _landed_at(monkeypatch, {1: ELEVEN, 2: ELEVEN, 4: ELEVEN})
    w.landed[("workspace_clients", 10)] = {5: ()}
    w.resource_state.update({"since": {"10": 1000}, "listing": {}})
    batches = w.read("workspace_projects")
    assert [[row["id"] for row in batch] for batch in batches] == [[2, 3, 4]]
    assert batches[0][0]["at"] == HALF_PAST
    assert calls == [("workspace_projects", "id", [1, 2, 3, 4], ("at",))]
    # Client 6 is named by a changed project and not landed: the clients are read next run.
    assert w.source_state["cadence"]["due"] == {"workspace_clients": ["10"]}
    assert ("workspace_clients", "id", "workspace_id", 10, (), None) in w.landed_calls


def test_changed_tasks_name_no_client_to_look_for(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/tasks", [{"id": 1, "at": "2026-11-27T11:00:00Z", "client_id": 6}])
    w = World(monkeypatch, service, workspace_ids=[10])
    w.sync.cadence = Cadence(lambda: w.source_state, lambda: 0.0, {"lists": 86400.0})
    _landed_at(monkeypatch, {})
    w.resource_state.update({"since": {"10": 1000}, "listing": {}})
    assert [[row["id"] for row in batch] for batch in w.read("workspace_tasks")] == [[1]]
    assert w.source_state.get("cadence", {}).get("due", {}) == {}


def test_the_keys_of_a_paged_list_every_page_nothing_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/workspaces/10/tags", [{"id": 1}, {"id": "x"}, {"id": 2}])
    w = World(monkeypatch, service)
    tags = BY_TABLE["workspace_tags"]
    keys = w.sync._keys_listed(tags, "/workspaces/10/tags", w.sync._convert(tags, 10))
    assert keys == {1, 2}
    assert w.sync.rejects == []
    assert [params for _, params in service.asked] == [
        {"page": 1, "per_page": 200},
        {"page": 2, "per_page": 200},
    ]


def test_the_keys_of_a_list_asked_with_its_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/clients", [{"id": 7}, {"name": "no id"}])
    w = World(monkeypatch, service)
    clients = BY_TABLE["workspace_clients"]
    convert = w.sync._convert(clients, 10)
    assert w.sync._keys_listed(clients, "/workspaces/10/clients", convert) == {7}
    assert service.asked == [("/workspaces/10/clients", {"status": "both"})]
    service.route("/workspaces/10/clients", None)
    assert w.sync._keys_listed(clients, "/workspaces/10/clients", convert) == set()
    users = BY_TABLE["workspace_users"]
    service.route("/workspaces/10/workspace_users", [{"id": 8}])
    path = "/workspaces/10/workspace_users"
    assert w.sync._keys_listed(users, path, w.sync._convert(users, 10)) == {8}
    assert service.asked[-1] == (path, {})


def test_a_list_of_keys_of_the_wrong_shape_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/workspaces/10/clients", {"id": 7})
    w = World(monkeypatch, service)
    clients = BY_TABLE["workspace_clients"]
    with pytest.raises(ApiError):
        w.sync._keys_listed(clients, "/workspaces/10/clients", w.sync._convert(clients, 10))
