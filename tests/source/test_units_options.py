"""The source's options on their own: what is refused before any request (`_check_options`), the
pacing a run takes (`_pacing`), how each kind of endpoint is read (`_readers`) and the resources
declared (`_resources`). No server, no pipeline; expectations are literals."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.source.test_units_sync import World
from timetrack.errors import ConfigurationError
from timetrack.source import core, settings
from timetrack.source.endpoints import BY_TABLE, ENDPOINTS

VALID: dict[str, Any] = {
    "reconcile_hours": 0.0,
    "report_full_days": 0.0,
    "quota_share": 1.0,
    "time_entries_start": None,
    "report_start_date": None,
}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("reconcile_hours", -0.5, "reconcile_hours must be 0 (every run) or more, not -0.5"),
        ("reconcile_hours", math.nan, "reconcile_hours must be 0 (every run) or more, not nan"),
        ("report_full_days", -1.0, "report_full_days must be 0 (every run) or more, not -1.0"),
        (
            "quota_share",
            0.0,
            "quota_share must be above 0 and at most 1 (a share of the quota), not 0.0",
        ),
        (
            "quota_share",
            1.01,
            "quota_share must be above 0 and at most 1 (a share of the quota), not 1.01",
        ),
        (
            "time_entries_start",
            "2026-13-01",
            "time_entries_start must be YYYY-MM-DD, not '2026-13-01'",
        ),
        ("report_start_date", "1/2/2026", "report_start_date must be YYYY-MM-DD, not '1/2/2026'"),
    ],
)
def test_a_wrong_option_is_refused_in_one_line(option: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        core._check_options(**{**VALID, option: value})
    assert str(refused.value) == message


@pytest.mark.parametrize("option", ["time_entries_start", "report_start_date"])
def test_a_start_after_tomorrow_is_refused_and_tomorrow_is_not(option: str) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    core._check_options(**{**VALID, option: tomorrow.isoformat()})
    later = (tomorrow + timedelta(days=1)).isoformat()
    with pytest.raises(ConfigurationError) as refused:
        core._check_options(**{**VALID, option: later})
    assert str(refused.value) == (
        f"{option} {later} is in the future: nothing would load; give a past day"
    )


def test_the_bounds_themselves_are_accepted() -> None:
    core._check_options(
        reconcile_hours=0.0,
        report_full_days=0.0,
        quota_share=1.0,
        time_entries_start="2006-01-01",
        report_start_date="2026-01-31",
    )
    core._check_options(**{**VALID, "quota_share": 0.01, "reconcile_hours": 24.0})


def test_pacing_given_is_kept_and_a_server_on_this_machine_is_not_paced() -> None:
    assert core._pacing(2.5, "http://127.0.0.1:8000") == (2.5, [])
    assert core._pacing(0.0, "https://api.example.com") == (0.0, [])
    assert core._pacing(None, "http://127.0.0.1:8000") == (
        0.0,
        [
            "pacing is off for http://127.0.0.1:8000, a server on this machine "
            "(set requests_per_second to pace it)"
        ],
    )
    assert core._pacing(None, "http://localhost") == (
        0.0,
        ["pacing is off for http://localhost, a server on this machine "
         "(set requests_per_second to pace it)"],
    )  # fmt: skip
    assert core._pacing(None, "https://api.example.com") == (settings.REQUESTS_PER_SECOND, [])
    assert core._pacing(None, "not a url") == (settings.REQUESTS_PER_SECOND, [])


def test_each_kind_of_endpoint_has_its_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    sync = w.sync
    readers = core._readers(
        sync, report_start_date="2025-01-01", report_trailing_days=7, arrow=True
    )
    assert sorted(readers) == sorted({e.reader for e in ENDPOINTS})
    assert readers["organizations"] == sync.organizations
    assert readers["workspaces"] == sync.workspaces
    assert readers["single"] == sync.single
    assert readers["list"] == sync.whole_list
    assert readers["paged"] == sync.whole_list
    assert readers["since"] == sync.since
    assert readers["rates"] == sync.rates


def test_the_owners_entries_start_where_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        w.sync, "my_entries", lambda endpoint, start: calls.append((endpoint, start)) or iter(())
    )
    w.sync.time_entries_start = "2026-10-01"
    readers = core._readers(w.sync, report_start_date=None, report_trailing_days=7, arrow=False)
    readers["me"](BY_TABLE["time_entries"])
    assert calls == [(BY_TABLE["time_entries"], "2026-10-01")]


def test_the_report_reader_hands_on_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(monkeypatch)
    sync = w.sync
    got: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def report_rows(*args: Any, **kwargs: Any) -> Any:
        got.append((args, kwargs))
        return iter(())

    monkeypatch.setattr(core, "report_rows", report_rows)
    flagged: list[tuple[Any, ...]] = []
    monkeypatch.setattr(sync, "_flag_unknown", lambda *args: flagged.append(args))
    sync.live = {10: frozenset({"report_time_entries"}), 11: frozenset({"workspace_projects"})}
    for arrow in (True, False):
        readers = core._readers(
            sync, report_start_date="2025-01-01", report_trailing_days=9, arrow=arrow
        )
        readers["report"](BY_TABLE["report_time_entries"])
    (args, kwargs), (_, rows_kwargs) = got
    assert args == (sync.client, sync.discovery, sync.reject, sync.known_complete, sync.completed)
    on_tags, covered = kwargs.pop("on_tags"), kwargs.pop("covered")
    assert kwargs == {
        "start_date": "2025-01-01",
        "trailing_days": 9,
        "arrow": True,
        "cadence": sync.cadence,
    }
    assert rows_kwargs["arrow"] is False
    on_tags(10, {3, 4})
    assert flagged == [("workspace_tags", 10, {3, 4})]
    assert [covered(10), covered(11), covered(12)] == [True, False, False]


@pytest.mark.parametrize("rates", [False, True])
def test_a_resource_per_endpoint_rates_only_when_asked_and_the_rejected_last(
    monkeypatch: pytest.MonkeyPatch, rates: bool
) -> None:
    w = World(monkeypatch)
    w.sync.rates_enabled = rates
    readers = core._readers(w.sync, report_start_date=None, report_trailing_days=7, arrow=False)
    resources = core._resources(w.sync, readers)
    names = [r.name for r in resources]
    assert names == [*(e.table for e in ENDPOINTS), "rejected_records"]
    selected = {r.name for r in resources if r.selected}
    assert selected == set(names) - ({"rates"} if not rates else set())
    rejected = resources[-1]
    assert rejected.write_disposition == "append"
    assert set(rejected.columns) >= {"table_name", "record_key", "reason", "record", "scope"}  # type: ignore[arg-type]
    w.sync.rejects.append({"table_name": "t", "reason": "r"})
    w.source_state.clear()
    assert list(rejected) == [{"table_name": "t", "reason": "r"}]
    by_name = {r.name: r for r in resources}
    assert by_name["workspace_clients"].write_disposition == "merge"


def test_a_declared_resource_reads_through_its_reader_with_its_hints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = World(monkeypatch, workspace_ids=[10])
    w.service.route("/workspaces/10/clients", [{"id": 1, "name": "a"}])
    readers = core._readers(w.sync, report_start_date=None, report_trailing_days=7, arrow=False)
    clients = {r.name: r for r in core._resources(w.sync, readers)}["workspace_clients"]
    assert clients.columns["server_deleted_at"]["hard_delete"] is True  # type: ignore[index]
    assert list(clients) == [{"id": 1, "name": "a", "workspace_id": 10}]
    assert w.sync.finished == {"workspace_clients"}
