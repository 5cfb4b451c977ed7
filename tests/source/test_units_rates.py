"""The rate histories (`Sync.rates`, `Sync._rate_marks`) on a scripted service, with what landed
held in memory: which histories are asked for (those whose record's `*_last_updated` moved),
what lands of them, and what leaves. tests/source/test_rates.py runs them end to end.

The World of test_units_sync stands for dlt's state and the landed tables; expectations are
literals."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.source.test_units_sync import NOW, Service, World
from timetrack.errors import ApiError, NotFoundError
from timetrack.source import core
from timetrack.source.endpoints import BY_TABLE

RATES = BY_TABLE["rates"]
History = tuple[str, int, str]


class Landed:
    """`landed_where` over the rates that landed: (level, level id, type) -> ids; every call
    recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **by_workspace: dict[History, list[int]]):
        self.histories = {int(k.removeprefix("ws")): v for k, v in by_workspace.items()}
        self.calls: list[tuple[Any, ...]] = []
        monkeypatch.setattr(core, "landed_where", self)

    def __call__(
        self, table: str, key: str, where: list[tuple[str, str, Any]], columns: Any = ()
    ) -> dict[Any, tuple[Any, ...]]:
        self.calls.append((table, key, where, tuple(columns)))
        assert (table, key) == ("rates", "id")
        test = dict((column, value) for column, _, value in where)
        histories = self.histories.get(test["workspace_id"], {})
        if "level" in test:
            history = (test["level"], test["level_id"], test["type"])
            return {i: () for i in histories.get(history, [])}
        assert tuple(columns) == ("level", "level_id", "type")
        return {i: history for history, ids in histories.items() for i in ids}


def _service(answers: dict[str, Any], ws10_rate: Any = "2026-01-02T03:04:05+02:00") -> Service:
    service = Service()
    service.route(
        "/me/workspaces",
        [
            {"id": 10, "organization_id": 1, "rate_last_updated": ws10_rate},
            {"id": 11, "organization_id": 2, "rate_last_updated": None},
        ],
    )
    for path, answer in answers.items():
        service.route(path, answer)
    return service


def _by_type(**answers: Any) -> Any:
    def route(params: dict[str, Any]) -> Any:
        return answers[params["type"]]

    return route


def _marked(w: World) -> None:
    """What landed of the records that say when their rates changed, in workspace 10."""
    w.landed[("workspace_users", 10)] = {
        5: ("2026-02-01T00:00:00Z", None),
        6: (None, None),  # never had a rate set: no history to read
    }
    w.landed[("project_users", 10)] = {7: (None, "2026-03-01T00:00:00+01:00")}
    w.landed[("workspace_projects", 10)] = {8: ("2026-04-01T00:00:00Z",)}


def test_the_marks_are_every_records_last_change_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch, _service({}))
    _marked(w)
    # This run's rows win over what landed; a deleted record, or one of no usable id, has none.
    w.sync.rate_marks_now[("workspace_projects", 10)] = {
        8: {"id": 8, "rate_last_updated": "2026-04-02T00:00:00Z"},
        9: {"id": 9, "rate_last_updated": "2026-05-01T12:00:00Z", "server_deleted_at": NOW},
        "x": {"id": "x", "rate_last_updated": "2026-05-01T12:00:00Z"},
        10: {"id": 10, "rate_last_updated": "2026-05-02T00:00:00Z"},
    }
    w.sync.rate_marks_now[("workspace_projects", 11)] = {
        20: {"id": 20, "rate_last_updated": "2026-06-01T00:00:00Z"}
    }
    assert w.sync._rate_marks(10) == {
        ("workspace_user", 5, "billable_rates"): "2026-02-01T00:00:00+00:00",
        ("project_user", 7, "labor_costs"): "2026-02-28T23:00:00+00:00",
        ("project", 8, "billable_rates"): "2026-04-02T00:00:00+00:00",
        ("project", 10, "billable_rates"): "2026-05-02T00:00:00+00:00",
        ("workspace", 10, "billable_rates"): "2026-01-02T01:04:05+00:00",
    }
    assert w.sync._rate_marks(11) == {
        ("project", 20, "billable_rates"): "2026-06-01T00:00:00+00:00"
    }
    asked = [call[:5] for call in w.landed_calls if call[3] == 10]
    assert asked == [
        (
            "workspace_users",
            "id",
            "workspace_id",
            10,
            ["rate_last_updated", "labor_cost_last_updated"],
        ),
        (
            "project_users",
            "id",
            "workspace_id",
            10,
            ["rate_last_updated", "labor_cost_last_updated"],
        ),
        ("workspace_projects", "id", "workspace_id", 10, ["rate_last_updated"]),
    ]


def test_a_landed_timestamp_read_as_a_datetime_is_the_same_mark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch, _service({}, ws10_rate=None))
    w.landed[("workspace_projects", 10)] = {8: (NOW,)}
    assert w.sync._rate_marks(10) == {("project", 8, "billable_rates"): "2026-11-27T12:00:00+00:00"}


def test_the_first_run_reads_each_history_once_and_deletes_the_periods_it_no_longer_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {
        "/workspaces/10/rates/workspace_user/5": _by_type(
            billable_rates=[{"id": 51, "amount": 20.0}, {"id": 52, "type": "billable_rates"}]
        ),
        "/workspaces/10/rates/project_user/7": _by_type(
            labor_costs=[{"id": 71, "amount": 9.5}, {"id": "x"}, {"id": 72, "type": "other"}]
        ),
        "/workspaces/10/rates/project/8": NotFoundError("no such project", 404),
        "/workspaces/10/rates/workspace/10": _by_type(billable_rates=None),
    }
    w = World(monkeypatch, _service(answers))
    _marked(w)
    landed = Landed(
        monkeypatch,
        ws10={
            ("workspace_user", 5, "billable_rates"): [50, 51],
            ("project_user", 7, "labor_costs"): [71],
            ("workspace", 10, "billable_rates"): [100],
        },
    )
    batches = list(w.sync.rates(RATES))
    user = {"workspace_id": 10, "level": "workspace_user", "level_id": 5, "type": "billable_rates"}
    assert batches == [
        [{"id": 71, "amount": 9.5, "workspace_id": 10, "level": "project_user", "level_id": 7,
          "type": "labor_costs"},
         {"id": 72, "workspace_id": 10, "level": "project_user", "level_id": 7, "type": "other"}],
        [{"id": 51, "amount": 20.0, **user}, {"id": 52, **user}],
        [{"id": 50, "server_deleted_at": NOW}],
    ]  # fmt: skip
    rate_paths = [(p, q) for p, q in w.service.asked if "/rates/" in p]
    assert rate_paths == [
        ("/workspaces/10/rates/project/8", {"type": "billable_rates"}),
        ("/workspaces/10/rates/project_user/7", {"type": "labor_costs"}),
        ("/workspaces/10/rates/workspace/10", {"type": "billable_rates"}),
        ("/workspaces/10/rates/workspace_user/5", {"type": "billable_rates"}),
    ]
    assert landed.calls[:2] == [
        (
            "rates",
            "id",
            [
                ("workspace_id", "=", 10),
                ("level", "=", "project_user"),
                ("level_id", "=", 7),
                ("type", "=", "labor_costs"),
            ],
            (),
        ),
        (
            "rates",
            "id",
            [
                ("workspace_id", "=", 10),
                ("level", "=", "workspace_user"),
                ("level_id", "=", 5),
                ("type", "=", "billable_rates"),
            ],
            (),
        ),
    ]
    assert [(r["table_name"], r["record_key"], r["scope"]) for r in w.sync.rejects] == [
        ("rates", "x", "workspace 10")
    ]
    assert w.gone_calls[:2] == [
        ("rates", "id", {71: ()}, {71, 72}, NOW),
        ("rates", "id", {50: (), 51: ()}, {51, 52}, NOW),
    ]
    # A 404 leaves the history to its record's deletion; a null answer is asked again.
    assert w.resource_state == {
        "read": {
            "10": {
                "project:8:billable_rates": "2026-04-01T00:00:00+00:00",
                "project_user:7:labor_costs": "2026-02-28T23:00:00+00:00",
                "workspace_user:5:billable_rates": "2026-02-01T00:00:00+00:00",
            },
            "11": {},
        }
    }
    assert w.client.stats.rows == {"rates": 5}


def test_a_later_run_asks_only_for_the_histories_whose_mark_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"/workspaces/10/rates/project_user/7": _by_type(labor_costs=[{"id": 71}])}
    w = World(monkeypatch, _service(answers, ws10_rate=None), workspace_ids=[10])
    _marked(w)
    Landed(monkeypatch, ws10={("project_user", 7, "labor_costs"): [71]})
    w.resource_state["read"] = {
        "10": {
            "project:8:billable_rates": "2026-04-01T00:00:00+00:00",
            "project_user:7:labor_costs": "2026-02-01T00:00:00+00:00",
            "workspace_user:5:billable_rates": "2026-02-01T00:00:00+00:00",
        }
    }
    batches = list(w.sync.rates(RATES))
    assert batches == [
        [{"id": 71, "workspace_id": 10, "level": "project_user", "level_id": 7,
          "type": "labor_costs"}]
    ]  # fmt: skip
    assert [p for p in w.service.paths() if "/rates/" in p] == [
        "/workspaces/10/rates/project_user/7"
    ]
    assert w.resource_state["read"]["10"]["project_user:7:labor_costs"] == (
        "2026-02-28T23:00:00+00:00"
    )


def test_the_histories_of_records_gone_or_without_a_rate_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch, _service({}, ws10_rate=None), workspace_ids=[10])
    w.landed[("workspace_projects", 10)] = {8: ("2026-04-01T00:00:00Z",)}
    landed = Landed(
        monkeypatch,
        ws10={
            ("project", 8, "billable_rates"): [80],
            ("project", 9, "billable_rates"): [90, 91],  # a project gone
            ("workspace_user", 5, "labor_costs"): [55],  # a member whose cost was unset
            ("project_user", 3, "labor_costs"): [33],  # never noted as read
        },
    )
    w.resource_state["read"] = {
        "10": {
            "project:8:billable_rates": "2026-04-01T00:00:00+00:00",
            "project:9:billable_rates": "2026-04-01T00:00:00+00:00",
            "workspace_user:5:labor_costs": "2026-01-01T00:00:00+00:00",
            "workspace_user:5:billable_rates": "2026-01-01T00:00:00+00:00",
        }
    }
    batches = list(w.sync.rates(RATES))
    assert [sorted(row["id"] for row in batch) for batch in batches] == [[33, 55, 90, 91]]
    assert [call[0] for call in w.gone_calls] == ["rates"]
    assert all(row["server_deleted_at"] == NOW for row in batches[0])
    assert not [p for p in w.service.paths() if "/rates/" in p]
    assert landed.calls == [
        ("rates", "id", [("workspace_id", "=", 10)], ("level", "level_id", "type"))
    ]
    # The marks of the histories that left are forgotten: a record back later is read again.
    assert w.resource_state["read"]["10"] == {
        "project:8:billable_rates": "2026-04-01T00:00:00+00:00",
        "workspace_user:5:billable_rates": "2026-01-01T00:00:00+00:00",
    }


def test_a_history_that_fails_otherwise_fails_its_workspace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"/workspaces/10/rates/workspace/10": ApiError("boom", 400)}
    w = World(monkeypatch, _service(answers), workspace_ids=[10])
    Landed(monkeypatch)
    assert list(w.sync.rates(RATES)) == []
    assert len(w.client.stats.errors) == 1
    assert w.client.stats.errors[0].startswith("rates of workspace 10: ")
    assert w.resource_state["read"]["10"] == {}


def test_a_history_of_the_wrong_shape_fails_its_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"/workspaces/10/rates/workspace/10": _by_type(billable_rates={"id": 1})}
    w = World(monkeypatch, _service(answers), workspace_ids=[10])
    Landed(monkeypatch)
    assert list(w.sync.rates(RATES)) == []
    assert [e.split(":")[0] for e in w.client.stats.errors] == ["rates of workspace 10"]


def test_the_marks_are_in_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        w = World(monkeypatch, _service({}, ws10_rate=None))
        w.landed[("workspace_projects", 10)] = {8: (NOW,)}
        assert w.sync._rate_marks(10) == {
            ("project", 8, "billable_rates"): "2026-11-27T12:00:00+00:00"
        }
    finally:
        monkeypatch.undo()
        time.tzset()
