"""The source's small pure helpers: the newest change of a batch, `since` cursors, the 90-day
window of /me/time_entries and its retry from the day the service names, and which refusals
are a member's (a warning) rather than errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from timetrack.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    FeatureNotOnPlanError,
    NotFoundError,
    ServiceError,
)
from timetrack.source.client import is_list_or_null
from timetrack.source.core import _advance, _latest, _window, admin_refusal, source_tables
from timetrack.source.endpoints import BY_TABLE, ENDPOINTS

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_the_newest_change_of_a_batch() -> None:
    batch = [{"at": T0}, {"at": T0 + timedelta(hours=2)}, {"at": "text"}, {}, {"at": T0}]
    assert _latest(batch, None) == T0 + timedelta(hours=2)
    assert _latest(batch, T0 + timedelta(days=1)) == T0 + timedelta(days=1)
    assert _latest([], T0) == T0
    assert _latest([], None) is None
    assert _latest([{"at": "2026-11-01T00:00:00Z"}], None) is None, "only parsed times count"


def test_a_cursor_moves_to_the_newest_change_less_the_overlap() -> None:
    cursors: dict[str, int] = {}
    now = int((T0 + timedelta(days=1)).timestamp())
    _advance(cursors, "ws1", T0, now)
    assert cursors == {"ws1": int(T0.timestamp()) - 300}
    _advance(cursors, "ws1", None, now)
    assert cursors == {"ws1": int(T0.timestamp()) - 300}, "nothing seen: unchanged"


def test_a_cursor_never_goes_back_nor_past_the_services_clock() -> None:
    stamp = int(T0.timestamp())
    cursors = {"ws1": stamp}
    _advance(cursors, "ws1", T0 - timedelta(days=1), stamp + 10_000)
    assert cursors == {"ws1": stamp}
    _advance(cursors, "ws2", T0 + timedelta(days=365), stamp + 1000)
    assert cursors == {"ws1": stamp, "ws2": stamp + 1000 - 300}


class Entries:
    """/me/time_entries: the scripted answers (an exception is raised), with the params asked."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.params: list[dict[str, Any]] = []

    def get(self, path: str, params: dict[str, Any], shape: Any = None) -> Any:
        assert path == "/me/time_entries" and shape is is_list_or_null
        self.params.append(dict(params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


TODAY = date(2026, 11, 27)


def test_the_window_is_ninety_days_back_to_the_day_after_tomorrow() -> None:
    client = Entries([{"id": 1}])
    assert _window(client, "/me/time_entries", TODAY, None) == ([{"id": 1}], date(2026, 8, 29))  # type: ignore[arg-type]
    assert client.params == [{"start_date": "2026-08-29", "end_date": "2026-11-29"}]


def test_a_later_start_narrows_the_window_an_earlier_one_does_not() -> None:
    later = Entries([])
    assert _window(later, "/me/time_entries", TODAY, "2026-10-01")[1] == date(2026, 10, 1)  # type: ignore[arg-type]
    assert later.params[0]["start_date"] == "2026-10-01"
    earlier = Entries([])
    assert _window(earlier, "/me/time_entries", TODAY, "2026-01-01")[1] == date(2026, 8, 29)  # type: ignore[arg-type]


def test_the_window_starts_again_from_the_earliest_day_the_service_names() -> None:
    refusal = ApiError("start_date must not be earlier than 2026-08-30", 400)
    client = Entries(refusal, [{"id": 2}])
    assert _window(client, "/me/time_entries", TODAY, None) == ([{"id": 2}], date(2026, 8, 30))  # type: ignore[arg-type]
    assert client.params == [
        {"start_date": "2026-08-29", "end_date": "2026-11-29"},
        {"start_date": "2026-08-30", "end_date": "2026-11-29"},
    ]


@pytest.mark.parametrize(
    "error",
    [
        ApiError("bad request", 400),
        NotFoundError("must not be earlier than 2026-08-30", 404),
        ApiError("must not be earlier than 2026-8-30", 400),
    ],
)
def test_other_refusals_are_raised(error: ApiError) -> None:
    client = Entries(error)
    with pytest.raises(ApiError) as caught:
        _window(client, "/me/time_entries", TODAY, None)  # type: ignore[arg-type]
    assert caught.value is error
    assert len(client.params) == 1


def test_the_source_tables_in_extraction_order() -> None:
    assert source_tables() == [
        "organizations",
        "workspaces",
        "workspace",
        "workspace_clients",
        "workspace_tags",
        "organizations_groups",
        "workspace_users",
        "project_users",
        "project_groups",
        "organizations_users",
        "workspace_projects",
        "workspace_tasks",
        "rates",
        "time_entries",
        "report_time_entries",
    ]


# --- a member's refusals ------------------------------------------------------------------------

NEEDS = {
    "organizations_users": ("organization", "organization admin"),
    "organizations_groups": ("organization", "organization admin"),
    "workspace": ("workspace", "workspace admin"),
    "workspace_users": ("workspace", "workspace admin"),
    "project_users": ("workspace", "workspace admin"),
    "rates": ("workspace", "workspace admin"),
}
"""The tables that need a right, and which: written out here, not read from the source."""


def test_the_tables_that_need_a_right() -> None:
    assert {e.table: (e.scope, e.needs) for e in ENDPOINTS if e.needs} == NEEDS


@pytest.mark.parametrize("table", sorted(NEEDS))
@pytest.mark.parametrize("admin", [False, None])
def test_a_403_to_a_member_on_a_table_that_needs_a_right_is_a_warning(
    table: str, admin: bool | None
) -> None:
    scope, needs = NEEDS[table]
    refusal = AccessDeniedError("GET /x: no access (not authorized)", 403)
    assert admin_refusal(BY_TABLE[table], 123, refusal, admin) == (
        f"{table} of {scope} 123: needs {needs}"
    )


@pytest.mark.parametrize(
    ("table", "error", "admin"),
    [
        # an admin refused: something else is wrong
        ("workspace_users", AccessDeniedError("no access", 403), True),
        # a table every member reads
        ("workspace_clients", AccessDeniedError("no access", 403), False),
        ("workspace_projects", AccessDeniedError("no access", 403), None),
        ("report_time_entries", AccessDeniedError("no access", 403), False),
        ("time_entries", AccessDeniedError("no access", 403), False),
        # not a refusal of rights
        ("workspace_users", AuthenticationError("the API token was rejected", 403), False),
        ("workspace_users", AuthenticationError("the API token was rejected", 401), None),
        ("workspace_users", NotFoundError("gone", 404), False),
        ("organizations_users", FeatureNotOnPlanError("not on the plan", 402), False),
        ("organizations_users", ServiceError("failed 5 times", 503), False),
        ("organizations_users", ApiError("bad request", 400), False),
    ],
)
def test_other_failures_stay_errors(table: str, error: ApiError, admin: bool | None) -> None:
    assert admin_refusal(BY_TABLE[table], 5, error, admin) is None
