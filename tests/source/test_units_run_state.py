"""What a run decides from its state before and beside the readers: whose dataset it is
(`Sync.same_owner`), whether discovery asks or remembers (`plan_discovery`), lists made due by
ids another table names (`_flag_unknown`), the service's clock for the cadence
(`service_time`), and the report's workspaces handed to `_incremental` (`report_rows`). On the
World of test_units_sync; expectations are literals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from tests.source.test_units_sync import NOW, STAMP, Service, World
from timetrack.errors import ApiError, ConfigurationError
from timetrack.source import reports
from timetrack.source.cadence import Cadence
from timetrack.source.endpoints import BY_TABLE


def _cadenced(w: World, now: float = STAMP) -> Cadence:
    w.sync.cadence = Cadence(lambda: w.source_state, lambda: now, {"lists": 86400.0})
    return w.sync.cadence


# --- same_owner ----------------------------------------------------------------------------------


def test_the_first_run_notes_the_tokens_user_and_asks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.sync.same_owner()
    w.sync.same_owner()
    assert w.service.paths() == ["/me"]
    assert w.source_state["token_owner"] == {
        "fingerprint": w.client.token_fingerprint,
        "user_id": 1,
    }


def test_another_users_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.source_state["token_owner"] = {"fingerprint": "0123456789abcdef", "user_id": 2}
    with pytest.raises(ConfigurationError) as refused:
        w.sync.same_owner()
    assert str(refused.value) == (
        "this dataset holds what the token of user 2 may see; this token is user 1's: sync it "
        "into another --dataset (each user's view is a dataset of its own)"
    )
    assert w.source_state["token_owner"]["user_id"] == 2


def test_a_rotated_token_of_the_same_user_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.source_state["token_owner"] = {"fingerprint": "0123456789abcdef", "user_id": 1}
    w.sync.same_owner()
    assert w.service.paths() == ["/me"]
    assert w.source_state["token_owner"] == {
        "fingerprint": w.client.token_fingerprint,
        "user_id": 1,
    }


def test_a_me_that_is_no_object_is_an_error_of_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service()
    service.route("/me", [1])
    w = World(monkeypatch, service)
    with pytest.raises(ApiError):
        w.sync.same_owner()
    assert "token_owner" not in w.source_state


# --- plan_discovery ------------------------------------------------------------------------------

REMEMBERED = {
    "organizations": [{"id": 7}],
    "workspaces": [{"id": 70, "organization_id": 7}],
}


def test_a_first_run_discovers(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    _cadenced(w)
    w.sync.plan_discovery()
    assert w.sync.discovery_due is True
    assert w.sync.discovery.workspace_ids() == [10, 11]


def test_between_its_reads_discovery_remembers(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    cadence = _cadenced(w)
    w.source_state["discovery"] = REMEMBERED
    cadence.done("discovery", "token", STAMP - 3600)
    w.sync.plan_discovery()
    assert w.sync.discovery_due is False
    assert w.sync.discovery.organization_ids() == [7]
    assert w.sync.discovery.workspace_ids() == [70]
    assert not [p for p in w.service.paths() if p.startswith("/me/")]
    # Decided once a run: a later resource does not ask again.
    del w.source_state["discovery"]
    w.sync.plan_discovery()
    assert w.sync.discovery_due is False


@pytest.mark.parametrize("flagged", [False, True])
def test_discovery_due_again_reads_the_service(
    monkeypatch: pytest.MonkeyPatch, flagged: bool
) -> None:
    w = World(monkeypatch)
    cadence = _cadenced(w)
    w.source_state["discovery"] = REMEMBERED
    cadence.done("discovery", "token", STAMP - (3600 if flagged else 2 * 86400))
    if flagged:
        cadence.flag("discovery", "token")
    w.sync.plan_discovery()
    assert w.sync.discovery_due is True
    assert w.sync.discovery.workspace_ids() == [10, 11]


# --- _flag_unknown -------------------------------------------------------------------------------


def test_a_list_lacking_an_id_another_table_names_is_due_next_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch)
    cadence = _cadenced(w)
    w.landed[("workspace_tags", 10)] = {1: (), 2: ()}
    w.sync._flag_unknown("workspace_tags", 10, {1, 2, None})
    assert w.landed_calls == [("workspace_tags", "id", "workspace_id", 10, (), None)]
    assert w.source_state.get("cadence", {}).get("due", {}) == {}
    w.sync._flag_unknown("workspace_tags", 10, {2, 3})
    assert w.source_state["cadence"]["due"] == {"workspace_tags": ["10"]}
    assert cadence.due("workspace_tags", "10")
    w.landed_calls.clear()
    w.sync._flag_unknown("organizations_groups", 1, {None})
    w.sync._flag_unknown("organizations_groups", 1, set())
    assert w.landed_calls == []
    w.sync._flag_unknown("organizations_groups", 1, {5})
    assert w.landed_calls == [("organizations_groups", "group_id", "organization_id", 1, (), None)]
    assert w.source_state["cadence"]["due"]["organizations_groups"] == ["1"]


# --- service_time --------------------------------------------------------------------------------


def test_the_services_time_asks_for_the_owners_changes_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch)
    assert w.sync.service_time() == STAMP
    assert [p for p in w.service.paths() if p != "/me"] == ["/me/time_entries"]
    assert w.sync.service_time() == STAMP
    assert [p for p in w.service.paths() if p != "/me"] == ["/me/time_entries"]


def test_the_services_time_survives_a_failing_read_kept_for_the_owners_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/me/time_entries", ApiError("refused", 403))
    w = World(monkeypatch, service)
    assert w.sync.service_time() == w.client.now().timestamp()
    assert isinstance(w.sync._own, ApiError)
    assert w.sync.service_time() == w.client.now().timestamp()
    assert w.service.paths().count("/me/time_entries") == 1


def test_a_known_clock_asks_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    w.client.get("/me")
    assert w.sync.service_time() == STAMP
    assert w.service.paths() == ["/me"]


# --- report_rows with a cadence ----------------------------------------------------------------


def test_each_workspace_of_the_report_goes_to_its_incremental_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch)
    cadence = _cadenced(w)
    calls: list[tuple[Any, ...]] = []

    def incremental(*args: Any) -> Iterator[pa.Table]:
        calls.append(args)
        yield pa.table({"id": [args[1]]})

    monkeypatch.setattr(reports, "_incremental", incremental)
    on_tags = lambda ws, named: None  # noqa: E731
    completed: list[tuple[str, str]] = []
    rows = reports.report_rows(
        w.client,
        w.sync.discovery,
        w.sync.reject,
        lambda table, scope: False,
        lambda table, scope: completed.append((table, scope)),
        start_date="2024-01-01",
        trailing_days=9,
        arrow=False,
        cadence=cadence,
        on_tags=on_tags,
        covered=lambda ws: ws == 11,
    )
    assert list(rows) == [[{"id": 10}], [{"id": 11}]]
    state = w.resource_state
    assert state == {"complete_through": {}, "walk": {}}
    assert calls == [
        (w.client, 10, state, cadence, w.sync.reject, "2024-01-01", 9, NOW, on_tags, False),
        (w.client, 11, state, cadence, w.sync.reject, "2024-01-01", 9, NOW, on_tags, True),
    ]
    assert completed == [("report_time_entries", "10"), ("report_time_entries", "11")]
    calls.clear()
    rows = reports.report_rows(
        w.client,
        w.sync.discovery,
        w.sync.reject,
        lambda table, scope: scope == "10",
        lambda table, scope: None,
        start_date=None,
        trailing_days=9,
        arrow=True,
        cadence=cadence,
    )
    assert [t.to_pylist() for t in rows] == [[{"id": 11}]]
    assert [call[1] for call in calls] == [11]
    assert calls[0][-2:] == (None, False)
    assert BY_TABLE["report_time_entries"].reader == "report"


def test_the_owners_read_for_the_clock_is_the_owners_tables_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/me/time_entries", [{"id": 5, "at": "2026-11-27T11:00:00Z"}])
    w = World(monkeypatch, service)
    since = STAMP - 3600
    w.source_state["resources"] = {"time_entries": {"since": since}}
    w.sync.service_time()
    assert [q for p, q in service.asked if p == "/me/time_entries"] == [{"since": since}]
    assert set(w.source_state) == {"resources"}
    assert set(w.source_state["resources"]) == {"time_entries"}
    batches = w.read("time_entries")
    assert [row["id"] for batch in batches for row in batch] == [5]
    assert service.paths().count("/me/time_entries") == 1


def test_a_failed_read_of_the_owners_entries_is_not_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.route("/me/time_entries", ApiError("refused", 403))
    w = World(monkeypatch, service)
    w.sync.service_time()
    assert w.read("time_entries") == []
    assert service.paths().count("/me/time_entries") == 1
    assert w.client.stats.errors == [f"time_entries: {w.sync._own}"]


def test_discovery_read_is_kept_and_noted_on_its_cadence(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    _cadenced(w, now=STAMP + 60)
    w.read("workspaces")
    assert w.source_state["cadence"]["read"] == {"discovery": {"token": STAMP + 60}}
    assert [r["id"] for r in w.source_state["discovery"]["workspaces"]] == [10, 11]
    assert [r["id"] for r in w.source_state["discovery"]["organizations"]] == [1, 2]
