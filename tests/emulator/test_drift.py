"""Drift: a share of records on every endpoint departs from the contract, reproducibly, and
/_emulator/drift tells exactly how. Checked against an undrifted twin (same seed, same time):
applying the listed departures to the twin's answer must give the drifted answer, exactly."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import Api
from timetrack.emulator import Drift, EmulatorConfig, EmulatorServer
from timetrack.errors import EmulatorError

NOW = 1_790_000_000.0
Json = dict[str, Any]


def _pair(
    make_emulator: Callable[..., EmulatorServer], layout: str, drift: Drift
) -> tuple[Api, Api]:
    drifting = make_emulator(EmulatorConfig(seed=5, now=NOW, drift=drift))
    twin = make_emulator(EmulatorConfig(seed=5, now=NOW))
    return Api(drifting.base_url, layout), Api(twin.base_url, layout)


def _apply(record: Json, departure: Json) -> None:
    kind = departure["kind"]
    if kind in ("dropped", "key_missing"):
        del record[departure["fields"][0]]
    elif kind == "null":
        record[departure["fields"][0]] = None
    elif kind in ("retyped", "extra"):
        record[departure["fields"][0]] = departure["value"]
    elif kind == "alias_disagrees":
        record[departure["alias"]] = departure["value"]
    elif kind == "alias_alone":
        del record[departure["field"]]
        assert record[departure["alias"]] == departure["value"]
    else:
        raise AssertionError(kind)


def _expect(
    records: list[Json] | None, listing: Json, entity: str, key: str, **match: Any
) -> list[Json] | None:
    """The twin's records with the listed departures applied."""
    if records is None:
        return None
    found: dict[int, list[Json]] = {}
    for section in ("aliases", "entities"):  # aliases first, as the emulator applies them
        for departure in listing[section].get(entity, []):
            if all(departure.get(k) == v for k, v in match.items()):
                found.setdefault(departure["key"], []).append(departure)
    out = copy.deepcopy(records)
    for record in out:
        for departure in found.get(record[key], []):
            _apply(record, departure)
    return out


def _day(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize("layout", ["envelope", "bare"])
def test_listing_says_exactly_what_drifted_on_every_endpoint(
    make_emulator: Callable[..., EmulatorServer], layout: str
) -> None:
    api, twin = _pair(make_emulator, layout, Drift(rate=0.3, alias_rate=0.2))
    listing = api.admin("GET", "/drift")
    assert listing["rate"] == 0.3 and listing["alias_rate"] == 0.2
    ws = twin.ok("/me/workspaces")[0]["id"]
    org = twin.ok("/me/organizations")[0]["id"]
    since = int(NOW) - 80 * 86400

    def both(path: str, **params: Any) -> tuple[Any, Any]:
        return api.ok(path, **params), twin.ok(path, **params)

    changed = 0
    served, plain = both("/me")
    assert [served] == _expect([plain], listing, "me", "id")
    for path, entity, key, params, match in (
        ("/me/organizations", "organizations", "id", {}, {}),
        ("/me/workspaces", "workspaces", "id", {}, {}),
        (f"/organizations/{org}/users", "organization_users", "id", {"per_page": 200}, {}),
        (f"/organizations/{org}/groups", "groups", "group_id", {}, {}),
        (f"/workspaces/{ws}/users", "workspace_members", "id", {}, {"workspace_id": ws}),
        (f"/workspaces/{ws}/workspace_users", "workspace_users", "id", {}, {}),
        (f"/workspaces/{ws}/clients", "clients", "id", {"status": "both"}, {}),
        (f"/workspaces/{ws}/projects", "projects", "id", {"since": 0, "per_page": 200}, {}),
        (f"/workspaces/{ws}/tags", "tags", "id", {}, {}),
        ("/me/time_entries", "time_entries", "id", {"since": since}, {}),
    ):
        served, plain = both(path, **params)
        assert isinstance(served, list) and served, path
        assert served == _expect(plain, listing, entity, key, **match), path
        changed += served != plain
    served, plain = both(f"/organizations/{org}")
    assert [served] == _expect([plain], listing, "organizations", "id")
    served, plain = both(f"/workspaces/{ws}/tasks", since=0, per_page=200)
    assert served["total_count"] == plain["total_count"]
    assert served["data"] == _expect(plain["data"], listing, "tasks", "id")
    for w in (w["id"] for w in twin.ok("/me/workspaces")):
        served, plain = both(f"/workspaces/{w}/statistics")
        plain["workspace_id"] = w
        [expected] = _expect([plain], listing, "statistics", "workspace_id", workspace_id=w) or []
        del expected["workspace_id"]
        assert served == expected

    body = {"start_date": _day(NOW - 300 * 86400), "page_size": 1000}
    served_rows = api.data(api.report(ws, body))
    plain_rows = twin.data(twin.report(ws, body))
    assert len(served_rows) == len(plain_rows)
    firsts = [row["time_entries"][0]["id"] for row in plain_rows]
    for row, first in zip(plain_rows, firsts, strict=True):
        row["time_entries"] = _expect(row["time_entries"], listing, "report_time_entries", "id")
        row["_first"] = first
    expected_rows = _expect(plain_rows, listing, "report_rows", "_first")
    assert expected_rows is not None
    for row in expected_rows:
        del row["_first"]
    assert served_rows == expected_rows
    assert served_rows != plain_rows
    assert changed >= 8, "most lists hold drifted records"


def test_every_kind_happens_and_the_listing_is_precise(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    api, _ = _pair(make_emulator, "bare", Drift(rate=0.3, alias_rate=0.3))
    listing = api.admin("GET", "/drift")
    kinds: dict[str, int] = {}
    for entity, departures in listing["entities"].items():
        for departure in departures:
            kinds[departure["kind"]] = kinds.get(departure["kind"], 0) + 1
            assert set(departure) - {"workspace_id"} <= {"key", "kind", "fields", "value"}
            assert ("value" in departure) == (departure["kind"] in ("retyped", "extra"))
            if departure["kind"] == "key_missing":
                assert departure["fields"] == ["group_id" if entity == "groups" else "id"]
            if entity == "report_rows":
                assert departure["fields"][0] not in {"row_number", "time_entries"}
    assert set(kinds) == {"dropped", "null", "retyped", "extra", "key_missing"}
    assert kinds["key_missing"] < sum(kinds.values()) / 5, "missing keys are the rare kind"
    values = [d["value"] for ds in listing["entities"].values() for d in ds if "value" in d]
    assert any(isinstance(v, dict) and isinstance(v.get("nested"), dict) for v in values)
    assert any(isinstance(v, list) for v in values)
    assert any(isinstance(v, str) and v[:4].isdigit() and v[10:11] == " " for v in values)
    assert any(v in ("true", "false") for v in values)
    assert any(isinstance(v, str) and v.lstrip("-").isdigit() for v in values)
    quirks = {d["kind"] for ds in listing["aliases"].values() for d in ds}
    assert quirks == {"alias_disagrees", "alias_alone"}
    for entity in ("time_entries", "projects", "workspace_users", "report_time_entries"):
        assert listing["entities"][entity], entity
    one = api.admin("GET", "/drift", params={"entity": "projects"})
    assert one["entities"] == {"projects": listing["entities"]["projects"]}
    assert one["aliases"] == {"projects": listing["aliases"]["projects"]}


def test_alias_quirks_disagree_or_stand_alone(make_emulator: Callable[..., EmulatorServer]) -> None:
    api, twin = _pair(make_emulator, "envelope", Drift(alias_rate=0.5))
    listing = api.admin("GET", "/drift")
    assert not any(listing["entities"].values()), "alias quirks alone drift nothing else"
    since = int(NOW) - 80 * 86400
    served = {e["id"]: e for e in api.ok("/me/time_entries", since=since)}
    truth = {e["id"]: e for e in twin.ok("/me/time_entries", since=since)}
    seen = set()
    for quirk in listing["aliases"]["time_entries"]:
        if quirk["key"] not in served:
            continue
        entry, right = served[quirk["key"]], truth[quirk["key"]]
        seen.add(quirk["kind"])
        if quirk["kind"] == "alias_disagrees":
            assert entry[quirk["field"]] == right[quirk["field"]]
            assert entry[quirk["alias"]] != right[quirk["field"]] == right[quirk["alias"]]
        else:
            assert quirk["field"] not in entry
            assert entry[quirk["alias"]] == right[quirk["field"]]
    assert seen == {"alias_disagrees", "alias_alone"}


def test_drift_is_stable_across_requests_and_runs(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    drift = Drift(rate=0.2, alias_rate=0.1)
    first, _ = _pair(make_emulator, "bare", drift)
    second = Api(make_emulator(EmulatorConfig(seed=5, now=NOW, drift=drift)).base_url, "bare")
    ws = first.ok("/me/workspaces")[0]["id"]
    for path, params in (
        (f"/workspaces/{ws}/projects", {"since": 0}),
        (f"/workspaces/{ws}/workspace_users", {}),
        ("/me/time_entries", {"since": int(NOW) - 80 * 86400}),
    ):
        a = first.ok(path, **params)
        assert a == first.ok(path, **params) == second.ok(path, **params)
    assert first.admin("GET", "/drift") == second.admin("GET", "/drift")
    other = Api(make_emulator(EmulatorConfig(seed=6, now=NOW, drift=drift)).base_url, "bare")
    assert other.admin("GET", "/drift") != first.admin("GET", "/drift")


def test_drift_never_changes_the_data(make_emulator: Callable[..., EmulatorServer]) -> None:
    api, twin = _pair(make_emulator, "bare", Drift(rate=0.5, alias_rate=0.5))
    for entity in ("projects", "time_entries", "workspace_users", "workspaces", "groups"):
        assert api.admin("GET", f"/records/{entity}") == twin.admin("GET", f"/records/{entity}")
    assert api.admin("GET", "/truth")["projects"] == twin.admin("GET", "/truth")["projects"]


def test_drift_keeps_lists_lists_and_empty_lists_null(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    api, _ = _pair(make_emulator, "envelope", Drift(rate=1.0, alias_rate=1.0))
    ws = api.ok("/me/workspaces")[0]["id"]
    assert isinstance(api.ok(f"/workspaces/{ws}/clients"), list)
    assert api.ok("/me/workspaces", since=int(NOW) + 10) is None
    body = api.ok(f"/workspaces/{ws}/tasks", since=int(NOW) + 10)
    assert body["data"] is None and body["total_count"] == 0
    rows = api.data(api.report(ws, {"start_date": _day(NOW - 30 * 86400), "page_size": 50}))
    assert all(
        isinstance(r["row_number"], int) and isinstance(r["time_entries"], list) for r in rows
    )
    assert sum(len(r["time_entries"]) for r in rows) == 50


def test_drift_is_off_by_default(api: Api) -> None:
    listing = api.admin("GET", "/drift")
    assert listing["rate"] == 0 and listing["alias_rate"] == 0
    assert not any(listing["entities"].values()) and not any(listing["aliases"].values())


@pytest.mark.parametrize("drift", [Drift(rate=-0.1), Drift(rate=1.5), Drift(alias_rate=2)])
def test_drift_rates_are_probabilities(drift: Drift) -> None:
    with pytest.raises(EmulatorError):
        EmulatorConfig(drift=drift).validate()
