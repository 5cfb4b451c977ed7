"""/me/time_entries: defaults, filters, the 90-day history limit."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.helpers import Api


def _now(api: Api) -> float:
    return float(api.admin("GET", "/clock")["unix"])


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _day(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d")


def test_default_is_the_last_nine_days_newest_first(api: Api) -> None:
    now = _now(api)
    entries = api.ok("/me/time_entries")
    assert entries
    starts = [_ts(e["start"]) for e in entries]
    assert starts == sorted(starts, reverse=True)
    assert min(starts) >= now - 9 * 86400
    assert all(e["server_deleted_at"] is None for e in entries)
    me = api.ok("/me")["id"]
    assert {e["user_id"] for e in entries} == {me}


def test_start_and_end_date_bound_the_start(api: Api) -> None:
    now = _now(api)
    begin, end = _day(now - 60 * 86400), _day(now - 30 * 86400)
    entries = api.ok("/me/time_entries", start_date=begin, end_date=end)
    assert entries
    low = datetime.fromisoformat(begin + "T00:00:00+00:00").timestamp()
    high = datetime.fromisoformat(end + "T00:00:00+00:00").timestamp()
    assert all(low <= _ts(e["start"]) < high for e in entries)
    rfc = api.ok(
        "/me/time_entries",
        start_date=begin + "T00:00:00Z",
        end_date=end + "T00:00:00+00:00",
    )
    assert [e["id"] for e in rfc] == [e["id"] for e in entries]


def test_history_limit_of_ninety_days(api: Api) -> None:
    now = _now(api)
    too_old = _day(now - 100 * 86400)
    response = api.get("/me/time_entries", start_date=too_old, end_date=_day(now))
    assert response.status_code == 400
    oldest = _day(now - 90 * 86400)
    assert response.json() == f"start_date must not be earlier than {oldest}"
    assert api.get("/me/time_entries", start_date=oldest, end_date=_day(now)).status_code == 200
    response = api.get("/me/time_entries", since=int(now - 91 * 86400))
    assert response.status_code == 400
    assert response.json() == "since cannot be older than 3 months"
    # entries older than 90 days exist but are never served here
    everything = api.admin("GET", "/records/time_entries")
    me = api.ok("/me")["id"]
    assert any(e["user_id"] == me and _ts(e["start"]) < now - 95 * 86400 for e in everything)


def test_since_returns_modified_and_deleted(api: Api) -> None:
    now = _now(api)
    since = int(now - 89 * 86400)
    entries = api.ok("/me/time_entries", since=since)
    assert all(_ts(e["at"]) >= since for e in entries)
    assert any(e["server_deleted_at"] is not None for e in entries)
    live = api.ok("/me/time_entries", start_date=_day(now - 89 * 86400), end_date=_day(now + 86400))
    assert all(e["server_deleted_at"] is None for e in live)


def test_before_filters_on_start_and_since_with_before_is_400(api: Api) -> None:
    now = _now(api)
    cut = datetime.fromtimestamp(now - 20 * 86400, UTC).isoformat()
    entries = api.ok("/me/time_entries", before=cut)
    assert entries
    assert all(now - 91 * 86400 < _ts(e["start"]) < now - 20 * 86400 for e in entries)
    response = api.get("/me/time_entries", since=int(now - 86400), before=cut)
    assert response.status_code == 400


def test_bad_filters_are_400(api: Api) -> None:
    now = _now(api)
    assert api.get("/me/time_entries", start_date=_day(now)).status_code == 400
    assert api.get("/me/time_entries", since="yesterday").status_code == 400
    assert api.get("/me/time_entries", start_date="soon", end_date="later").status_code == 400
    day = _day(now - 10 * 86400)
    previous = _day(now - 11 * 86400)
    assert api.get("/me/time_entries", start_date=day, end_date=previous).status_code == 400
