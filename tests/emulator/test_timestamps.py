"""Timestamps: many spellings (offsets, fractions) of exactly the same instants, four-digit
years, and every spelling parsed by the Arrow cast the source relies on for report pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.helpers import Api
from timetrack.emulator import EmulatorConfig, EmulatorServer

NOW = 1_790_000_000.0
TS_FIELDS = {
    "at",
    "created_at",
    "updated_at",
    "start",
    "stop",
    "server_deleted_at",
    "rate_last_updated",
    "labor_cost_last_updated",
    "last_modified",
    "first_time_entry",
}


def _timestamps(value: Any, found: list[str], key: str = "") -> list[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            _timestamps(v, found, k)
    elif isinstance(value, list):
        for v in value:
            _timestamps(v, found, key)
    elif isinstance(value, str) and key in TS_FIELDS:
        found.append(value)
    return found


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _everything(api: Api) -> dict[str, Any]:
    ws = api.ok("/me/workspaces")[0]["id"]
    org = api.ok("/me/organizations")[0]["id"]
    now = int(api.admin("GET", "/clock")["unix"])
    day = datetime.fromtimestamp(now - 200 * 86400, UTC).strftime("%Y-%m-%d")
    return {
        "me": api.ok("/me"),
        "organizations": api.ok("/me/organizations"),
        "workspaces": api.ok("/me/workspaces"),
        "organization_users": api.ok(f"/organizations/{org}/users", per_page=200),
        "groups": api.ok(f"/organizations/{org}/groups"),
        "clients": api.ok(f"/workspaces/{ws}/clients", status="both"),
        "projects": api.ok(f"/workspaces/{ws}/projects", active="both", since=0, per_page=200),
        "tasks": api.ok(f"/workspaces/{ws}/tasks", active="both", since=0, per_page=200),
        "tags": api.ok(f"/workspaces/{ws}/tags"),
        "workspace_users": api.ok(f"/workspaces/{ws}/workspace_users"),
        "time_entries": api.ok("/me/time_entries", since=now - 80 * 86400),
        "report": api.data(api.report(ws, {"start_date": day, "page_size": 1000})),
    }


def test_offsets_and_fractions_keep_every_instant(
    make_emulator: Callable[..., EmulatorServer],
) -> None:
    """The same data with and without offsets: spellings differ, instants never do."""
    offsets = Api(make_emulator(EmulatorConfig(now=NOW)).base_url, "bare")
    plain = Api(make_emulator(EmulatorConfig(now=NOW, offsets=False)).base_url, "bare")
    kind = _everything(offsets)
    utc = _everything(plain)
    differing = 0
    for entity, served in kind.items():
        spelled = _timestamps(served, [])
        reference = _timestamps(utc[entity], [])
        assert len(spelled) == len(reference), entity
        assert spelled or entity == "organization_users", entity
        for a, b in zip(spelled, reference, strict=True):
            assert _instant(a) == _instant(b), (entity, a, b)
            assert b.endswith(("Z", "+00:00")), b
            differing += a != b
        zones = {value[-6:] for value in spelled if not value.endswith("Z")}
        if len(spelled) > 40:
            assert zones - {"+00:00"}, f"{entity}: no offset other than UTC"
    assert differing > 100


def test_every_spelling_parses_with_the_arrow_cast(api: Api) -> None:
    served = _everything(api)
    values = sorted(set(_timestamps(served, [])))
    assert len(values) > 1000
    cast = pc.cast(pa.array(values, pa.string()), pa.timestamp("us", tz="UTC"))
    expected = [_instant(v) for v in values]
    assert cast.to_pylist() == expected
    suffixes = {v[-6:] if not v.endswith("Z") else "Z" for v in values}
    assert {"Z", "+00:00", "+02:00", "-05:30", "+05:45", "-08:00"} <= suffixes
    fractions = {len(v[19:].split("+")[0].split("-")[0].rstrip("Z")) for v in values}
    assert fractions == {0, 4, 7}


@pytest.mark.parametrize("layout", ["envelope", "bare"])
def test_years_are_four_digits(make_emulator: Callable[..., EmulatorServer], layout: str) -> None:
    api = Api(make_emulator(EmulatorConfig()).base_url, layout)
    ws = api.ok("/me/workspaces")[0]["id"]
    created = api.data(
        api.call(
            "POST",
            f"/workspaces/{ws}/time_entries",
            json={"start": "0001-01-01T00:00:00Z", "duration": 3600},
        )
    )
    assert created["start"] == "0001-01-01T00:00:00Z"
    assert created["stop"] == "0001-01-01T01:00:00Z"
    rows = api.data(api.report(ws, {"start_date": "0001-01-01", "end_date": "0001-01-02"}))
    entries = [e for r in rows for e in r["time_entries"]]
    assert [(e["id"], e["start"]) for e in entries] == [(created["id"], "0001-01-01T00:00:00Z")]
    records = api.admin("GET", "/records/time_entries", params={"user": "me"})
    assert next(r for r in records if r["id"] == created["id"])["start"] == created["start"]
    late = api.call(
        "POST",
        f"/workspaces/{ws}/time_entries",
        json={"start": "9999-12-31T23:00:00Z", "duration": 7200},
    )
    assert late.status_code == 400, "a stop after 9999 cannot be spelled"
    early = api.call(
        "POST",
        f"/workspaces/{ws}/time_entries",
        json={"start": "0001-01-01T00:00:00+05:45", "duration": 60},
    )
    assert early.status_code == 400
