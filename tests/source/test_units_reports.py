"""The report's pure parts: a page to an Arrow table (fast and careful paths), coercion, windows,
which `null` windows to ask again, what a re-read keeps, the cursor walk of one window.

No server: pages and headers are written here; expectations are literals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from timetrack.errors import ServiceError
from timetrack.source import reports
from timetrack.source.reports import (
    _amount,
    _changed,
    _coerce,
    _normalized,
    _Page,
    _to_confirm,
    _walk,
    page_table,
    tombstones,
    windows,
)
from timetrack.source.schema import converter, raw_text

UTC_US = pa.timestamp("us", tz="UTC")

EMPTY_ROW: dict[str, Any] = {
    "id": None,
    "workspace_id": 3,
    "user_id": None,
    "username": None,
    "project_id": None,
    "task_id": None,
    "description": None,
    "billable": None,
    "tag_ids": [],
    "hourly_rate_in_cents": None,
    "billable_amount_in_cents": None,
    "currency": None,
    "start": None,
    "stop": None,
    "seconds": None,
    "at": None,
    "server_deleted_at": None,
}


def _row(**values: Any) -> dict[str, Any]:
    return {**EMPTY_ROW, **values}


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("row", "seconds", "expected"),
    [
        ({"billable": True, "hourly_rate_in_cents": 3600}, 1800, 1800),
        ({"billable": True, "hourly_rate_in_cents": 1000}, 5400, 1500),
        ({"billable": True, "hourly_rate_in_cents": "1000"}, "5400", 1500),
        ({"billable": True, "hourly_rate_in_cents": 1}, 3599, 0),
        ({"billable": True, "hourly_rate_in_cents": 7}, 3600 * 3 + 1, 21),
        # integer arithmetic: exact where a float division would round
        ({"billable": True, "hourly_rate_in_cents": 3601}, 10**16, 10002777777777777),
        ({"billable": False, "hourly_rate_in_cents": 1000}, 3600, None),
        ({"hourly_rate_in_cents": 1000}, 3600, None),
        ({"billable": True}, 3600, None),
        ({"billable": True, "hourly_rate_in_cents": 1000}, None, None),
        ({"billable": True, "hourly_rate_in_cents": 1000}, "x", None),
    ],
)
def test_the_billable_amount_is_rate_times_hours_rounded_down(
    row: dict[str, Any], seconds: Any, expected: int | None
) -> None:
    assert _amount(row, seconds) == expected


def test_a_contract_page_becomes_one_row_per_entry() -> None:
    rows = [
        {
            "user_id": 1,
            "username": "Ann\x00",
            "project_id": 2,
            "task_id": 4,
            "description": "work",
            "billable": True,
            "tag_ids": [7, 8],
            "hourly_rate_in_cents": 3600,
            "currency": "EUR",
            "row_number": 1,
            "time_entries": [
                {
                    "id": 5,
                    "seconds": 60,
                    "start": "2026-01-01T10:00:00+02:00",
                    "stop": "2026-01-01T08:01:00Z",
                    "at": "2026-01-02T00:00:00.5Z",
                },
                {"id": 6, "seconds": 120, "start": "2026-01-03T00:00:00Z"},
            ],
        },
        {"user_id": 9, "time_entries": None},
        {"user_id": 9},
    ]
    table = page_table(rows, 3)
    assert table.schema.field("tag_ids").type == pa.list_(pa.int64())
    assert table.schema.field("start").type == UTC_US
    assert table.column_names == list(EMPTY_ROW)
    common = {
        "user_id": 1,
        "username": "Ann",
        "project_id": 2,
        "task_id": 4,
        "description": "work",
        "billable": True,
        "tag_ids": [7, 8],
        "hourly_rate_in_cents": 3600,
        "currency": "EUR",
    }
    assert _rows(table) == [
        _row(
            id=5,
            **common,
            billable_amount_in_cents=60,
            start=datetime(2026, 1, 1, 8, tzinfo=UTC),
            stop=datetime(2026, 1, 1, 8, 1, tzinfo=UTC),
            seconds=60,
            at=datetime(2026, 1, 2, 0, 0, 0, 500000, tzinfo=UTC),
        ),
        _row(
            id=6,
            **common,
            billable_amount_in_cents=120,
            start=datetime(2026, 1, 3, tzinfo=UTC),
            seconds=120,
        ),
    ]


def test_a_contract_page_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path builds columns straight from the page; the careful one coerces value by
    # value: a page as the contract says must never cost the careful path.
    def careful(*args: Any) -> Any:
        raise AssertionError("a contract page took the careful path")

    monkeypatch.setattr(reports, "_careful_table", careful)
    asked: list[tuple[Any, Any, Any]] = []

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        asked.append((entry["id"], row["user_id"], amount))
        return entry["id"] != 2

    rows = [
        {
            "user_id": 1,
            "billable": True,
            "hourly_rate_in_cents": 7200,
            "tag_ids": [3],
            "time_entries": [
                {"id": 1, "seconds": 90, "start": "2026-01-01T00:00:00Z"},
                {"id": 2, "seconds": 30},
            ],
        },
        {"user_id": 2, "time_entries": []},
    ]
    table = page_table(rows, 3, keep)
    assert _rows(table) == [
        _row(
            id=1,
            user_id=1,
            billable=True,
            tag_ids=[3],
            hourly_rate_in_cents=7200,
            billable_amount_in_cents=180,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            seconds=90,
        )
    ]
    assert asked == [(1, 1, 180), (2, 1, 60)]
    assert page_table([], 3).num_rows == 0


@pytest.mark.parametrize(
    "rows",
    [
        ["not a row"],
        [{"time_entries": [], "new": 1}],
        [{"time_entries": ["not an entry"]}],
        [{"time_entries": [{"id": 1, "seconds": 5, "new": 2}]}],
        [{"tag_ids": [], "time_entries": [{"id": 1, "seconds": 5}]}, {"new": 1}],
    ],
)
def test_a_page_off_the_contract_takes_the_careful_path(
    monkeypatch: pytest.MonkeyPatch, rows: list[Any]
) -> None:
    taken: list[Any] = []
    monkeypatch.setattr(reports, "_careful_table", lambda *args: taken.append(args) or "careful")
    assert page_table(rows, 3) == "careful"
    assert taken == [(rows, 3, None, None)]


def test_an_empty_page_is_an_empty_table() -> None:
    assert page_table([], 3).num_rows == 0
    assert page_table([], 3).column_names == list(EMPTY_ROW)


def test_keep_decides_per_entry_with_its_amount() -> None:
    asked: list[tuple[Any, Any, Any]] = []

    def keep(entry: dict[str, Any], row: dict[str, Any], amount: int | None) -> bool:
        asked.append((entry["id"], row["user_id"], amount))
        return bool(entry["id"] % 2)

    rows = [
        {
            "user_id": 1,
            "billable": True,
            "hourly_rate_in_cents": 3600,
            "time_entries": [{"id": 1, "seconds": 10}, {"id": 2, "seconds": 20}],
        }
    ]
    assert [r["id"] for r in _rows(page_table(rows, 3, keep))] == [1]
    assert asked == [(1, 1, 10), (2, 1, 20)]
    odd = [{**rows[0], "surprise": 1}]
    asked.clear()
    careful = _rows(page_table(odd, 3, keep))
    assert [r["id"] for r in careful] == [1]
    assert asked == [(1, 1, 10), (2, 1, 20)], "the careful path asks the same"


def test_the_careful_path_computes_the_amount_and_asks_keep_of_every_entry() -> None:
    rows = [
        {
            "billable": True,
            "hourly_rate_in_cents": 3600,
            "tag_ids": [],
            "odd": None,
            "time_entries": [{"id": 2, "seconds": 30}, {"id": 1, "seconds": 60}],
        }
    ]
    table = page_table(rows, 3, keep=lambda entry, row, amount: entry["id"] == 1)
    assert _rows(table) == [
        _row(
            id=1,
            billable=True,
            hourly_rate_in_cents=3600,
            billable_amount_in_cents=60,
            seconds=60,
        )
    ]


def test_a_new_field_takes_the_careful_path_and_lands_as_text() -> None:
    rows = [
        {
            "user_id": 1,
            "row_number": 4,
            "tag_ids": [],
            "surprise": {"a": 1},
            "time_entries": [{"id": 5, "seconds": 60}, {"id": 6, "seconds": 1, "mood": "ok"}],
        },
        {"user_id": 2, "tag_ids": [], "time_entries": [{"id": 7, "seconds": 2}]},
    ]
    table = page_table(rows, 3)
    assert table.column_names == [*EMPTY_ROW, "mood", "surprise"], "new columns sorted, last"
    assert table.schema.field("mood").type == pa.string()
    assert _rows(table) == [
        {**_row(id=5, user_id=1, seconds=60), "mood": None, "surprise": '{"a":1}'},
        {**_row(id=6, user_id=1, seconds=1), "mood": "ok", "surprise": '{"a":1}'},
        {**_row(id=7, user_id=2, seconds=2), "mood": None, "surprise": None},
    ]


def test_documented_extras_keep_the_fast_path_and_land_as_the_careful_path_lands_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reference lists these on every row and entry: were they unknown, every page of the
    # service would cost the careful path.
    named = {
        "client_name": "Acme",
        "email": "ann@example.com",
        "project_color": "#06aaf5",
        "project_hex": "#06aaf5",
        "project_name": "Site",
        "tag_names": ["a", "b"],
        "task_name": None,
        "toggl_accounts_id": "x1",
    }
    rows = [
        {
            "user_id": 1,
            "tag_ids": [],
            **named,
            "time_entries": [
                {
                    "id": 5,
                    "seconds": 60,
                    "at": "2026-01-02T00:00:00Z",
                    "at_tz": "2026-01-02T01:00:00+01:00",
                },
                {"id": 6, "seconds": 1, "at_tz": "nul\x00l"},
                {"id": 7, "seconds": 2},
            ],
        },
        {"user_id": 2, "tag_ids": [], "time_entries": [{"id": 8, "seconds": 3, "at_tz": 9}]},
    ]
    careful = reports._careful_table(rows, 3, None, None)
    monkeypatch.setattr(reports, "_careful_table", lambda *args: pytest.fail("careful path"))
    fast = page_table(rows, 3)
    assert fast.equals(careful)
    assert fast.column("at_tz").to_pylist() == ["2026-01-02T01:00:00+01:00", "null", None, "9"]
    assert fast.column("tag_names").to_pylist() == ['["a","b"]'] * 3 + [None]
    assert "task_name" not in fast.column_names, "a field that never came with a value"
    without = [{**rows[0], "time_entries": [{"id": 8, "seconds": 1, "at_tz": None}]}]
    assert "at_tz" not in page_table(without, 3).column_names


def test_no_tags_land_as_an_empty_list_on_either_path() -> None:
    fast = page_table([{"user_id": 1, "tag_ids": None, "time_entries": [{"id": 5}]}], 3)
    careful = page_table(
        [{"user_id": 1, "time_entries": [{"id": 5, "mood": "ok"}, {"id": 6, "tag_ids": None}]}], 3
    )
    assert fast.column("tag_ids").to_pylist() == [[]]
    assert careful.column("tag_ids").to_pylist() == [[], []]


def test_a_value_of_another_type_lands_as_null_beside_its_raw_text() -> None:
    rows = [
        {
            "user_id": "12",
            "billable": "yes",
            "description": 5,
            "tag_ids": ["1", 2],
            "time_entries": [
                {"id": "5", "seconds": "60", "start": "soon", "at": 0},
                {"id": 6, "seconds": 1.5},
            ],
        }
    ]
    assert _rows(page_table(rows, 3)) == [
        {
            **_row(
                id=5,
                user_id=12,
                tag_ids=[1, 2],
                seconds=60,
                at=datetime(1970, 1, 1, tzinfo=UTC),
            ),
            "billable__raw": "yes",
            "description__raw": "5",
            "start__raw": "soon",
            "seconds__raw": None,
        },
        {
            **_row(id=6, user_id=12, tag_ids=[1, 2]),
            "billable__raw": "yes",
            "description__raw": "5",
            "start__raw": None,
            "seconds__raw": "1.5",
        },
    ]


def test_a_contract_shaped_page_with_a_wrong_value_still_lands() -> None:
    rows = [{"user_id": 1, "tag_ids": [], "time_entries": [{"id": 5, "seconds": "60"}, {"id": 6}]}]
    assert _rows(page_table(rows, 3)) == [_row(id=5, user_id=1, seconds=60), _row(id=6, user_id=1)]
    wrong_tags = [{"tag_ids": "7", "time_entries": [{"id": 5, "seconds": 1}]}]
    assert _rows(page_table(wrong_tags, 3)) == [
        {**_row(id=5, seconds=1, tag_ids=None), "tag_ids__raw": "7"}
    ]
    rejected: list[Any] = []
    not_a_list = [
        {"user_id": 1, "time_entries": {"id": 5}},
        {"user_id": 2, "time_entries": None, "odd": 1},
        {"user_id": 3, "time_entries": [{"id": 8}]},
    ]
    after = page_table(not_a_list, 3, reject=lambda *a: rejected.append(a))
    assert after.column("id").to_pylist() == [8], "the rows after a rejected one still land"
    assert rejected == [
        (
            "report_time_entries",
            {"user_id": 1, "time_entries": {"id": 5}},
            "time_entries is not a list: dict",
            None,
            "workspace 3",
        )
    ], "entries that are no list are rejected whole; null is the service's empty list"


def test_what_cannot_land_is_handed_to_reject() -> None:
    rejected: list[tuple[Any, ...]] = []

    def reject(*args: Any) -> None:
        rejected.append(args)

    rows: list[Any] = [
        "not a row",
        {"user_id": 1, "time_entries": [{"seconds": 1}, {"id": "x"}, "odd", {"id": 5}]},
    ]
    table = page_table(rows, 3, reject=reject)
    assert [r["id"] for r in _rows(table)] == [5]
    table_name = "report_time_entries"
    assert rejected == [
        (table_name, "not a row", "a report row that is not an object", None, "workspace 3"),
        (
            table_name,
            {"user_id": 1, "time_entries": [{"seconds": 1}]},
            "no id",
            None,
            "workspace 3",
        ),
        (
            table_name,
            {"user_id": 1, "time_entries": [{"id": "x"}]},
            "id is not an integer: 'x'",
            "x",
            "workspace 3",
        ),
        (table_name, {"user_id": 1, "time_entries": ["odd"]}, "no id", None, "workspace 3"),
    ]
    assert page_table(rows, 3).num_rows == 1, "without reject they are only left out"


@pytest.mark.parametrize(
    ("value", "field_type", "expected"),
    [
        (None, pa.int64(), (None, True)),
        (None, pa.string(), (None, True)),
        ("12", pa.int64(), (12, True)),
        ("x", pa.int64(), (None, False)),
        (True, pa.bool_(), (True, True)),
        (False, pa.bool_(), (False, True)),
        (1, pa.bool_(), (True, True)),
        (0, pa.bool_(), (False, True)),
        ("true", pa.bool_(), (True, True)),
        ("false", pa.bool_(), (False, True)),
        ("yes", pa.bool_(), (None, False)),
        (2, pa.bool_(), (None, False)),
        ("a", pa.string(), ("a", True)),
        (5, pa.string(), (None, False)),
        ("2026-01-01T02:00:00+02:00", UTC_US, ("2026-01-01T00:00:00+00:00", True)),
        ("later", UTC_US, (None, False)),
        (["1", 2], pa.list_(pa.int64()), ([1, 2], True)),
        ([], pa.list_(pa.int64()), ([], True)),
        (["a"], pa.list_(pa.int64()), (None, False)),
        ("1", pa.list_(pa.int64()), (None, False)),
        (1.5, pa.float64(), (None, False)),
    ],
)
def test_coercion_to_a_column_type(value: Any, field_type: pa.DataType, expected: Any) -> None:
    assert _coerce(value, field_type) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\x00b", "ab"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
        (5, "5"),
        (True, "true"),
        (date(2026, 1, 2), '"2026-01-02"'),
        (Decimal("1.5"), '"1.5"'),
        (["\x00", {"k\x00": 2**64}], '["",{"k":"18446744073709551616"}]'),
    ],
)
def test_raw_values_are_kept_as_text(value: Any, expected: str) -> None:
    assert raw_text(value) == expected


def test_tombstones_keep_the_table_columns_and_decode_tags() -> None:
    deleted = datetime(2026, 2, 1, tzinfo=UTC)
    gone = [
        {"id": 1, "workspace_id": 3, "tag_ids": "[1, 2]", "server_deleted_at": deleted, "_x": 1},
        {"id": 2, "workspace_id": 3, "tag_ids": [4], "server_deleted_at": deleted},
        {"id": 3, "workspace_id": 3, "server_deleted_at": deleted},
    ]
    table = tombstones(gone)
    assert table.column_names == list(EMPTY_ROW)
    assert _rows(table) == [
        _row(id=1, tag_ids=[1, 2], server_deleted_at=deleted),
        _row(id=2, tag_ids=[4], server_deleted_at=deleted),
        _row(id=3, tag_ids=None, server_deleted_at=deleted),
    ]


def test_windows_span_366_days_and_cover_every_day() -> None:
    assert list(windows(date(2024, 1, 1), date(2025, 1, 1))) == [
        (date(2024, 1, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 1)),
    ]
    assert list(windows(date(2023, 1, 1), date(2024, 12, 31))) == [
        (date(2023, 1, 1), date(2024, 1, 1)),
        (date(2024, 1, 2), date(2024, 12, 31)),
    ]
    assert list(windows(date(2026, 5, 1), date(2026, 5, 1))) == [
        (date(2026, 5, 1), date(2026, 5, 1))
    ]
    assert list(windows(date(2026, 5, 2), date(2026, 5, 1))) == []


@pytest.mark.parametrize(
    ("null_windows", "oldest", "expected"),
    [
        ([], None, []),
        ([], "2022-01-01", []),
        (["2020-01-01", "2021-01-01"], None, ["2021-01-01"]),
        (
            ["2020-01-01", "2021-01-01", "2023-01-01", "2024-01-01"],
            "2022-01-01",
            ["2024-01-01", "2023-01-01", "2021-01-01"],
        ),
        (["2023-01-01", "2023-01-01"], "2022-01-01", ["2023-01-01"]),
        (["2022-01-01"], "2022-01-01", []),
        (["2019-01-01", "2021-01-01", "2020-01-01"], "2022-01-01", ["2021-01-01"]),
    ],
)
def test_which_null_windows_are_asked_again(
    null_windows: list[str], oldest: str | None, expected: list[str]
) -> None:
    assert _to_confirm(null_windows, oldest) == expected


def test_landed_tags_as_json_text_are_decoded() -> None:
    before = ("at", "u", 1, 2, "EUR", "[1, 2]", 3, 4, "d", True)
    listed = ("at", "u", 1, 2, "EUR", [5], 3, 4, "d", True)
    assert _normalized({1: before, 2: listed}) == {
        1: ("at", "u", 1, 2, "EUR", [1, 2], 3, 4, "d", True),
        2: listed,
    }
    assert _normalized({}) == {}


def test_a_reread_keeps_only_what_changed_and_notes_every_id() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    landed = {5: (at, "Ann", 3600, 60, "EUR", [1], 2, 4, "work", True)}
    seen: set[int] = set()
    keep = _changed(landed, seen)
    row = {
        "username": "Ann",
        "hourly_rate_in_cents": "3600",
        "currency": "EUR",
        "tag_ids": [1],
        "project_id": 2,
        "task_id": 4,
        "description": "work",
        "billable": True,
    }
    entry = {"id": "5", "at": "2026-01-01T01:00:00+01:00"}
    assert keep(entry, row, 60) is False, "the same values, spelled otherwise"
    assert keep({"id": 5, "at": "2026-01-01T00:00:01Z"}, row, 60) is True
    assert keep(entry, row, 61) is True
    for name, value in [
        ("username", "Bob"),
        ("hourly_rate_in_cents", 1),
        ("currency", "USD"),
        ("tag_ids", [2]),
        ("project_id", 3),
        ("task_id", 5),
        ("description", "play"),
        ("billable", False),
    ]:
        assert keep(entry, {**row, name: value}, 60) is True, name
    assert keep({"id": 6, "at": "2026-01-01T00:00:00Z"}, row, 60) is True, "new"
    assert keep({"id": "x"}, row, 60) is True
    assert seen == {5, 6, 0}


def test_no_tags_compare_as_an_empty_list() -> None:
    landed = {5: (None, None, None, None, None, [], None, None, None, None)}
    keep = _changed(landed, set())
    assert keep({"id": 5}, {"tag_ids": None}, None) is False
    assert keep({"id": 5}, {}, None) is False


class Reports:
    """Answers report pages in order: (rows, headers); records each body as it was sent."""

    def __init__(self, answers: list[tuple[Any, dict[str, str]]]) -> None:
        self.answers = list(answers)
        self.bodies: list[dict[str, Any]] = []

    def report(self, workspace_id: int, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        assert workspace_id == 3
        self.bodies.append(dict(body))
        return self.answers.pop(0)


FIRST, LAST = date(2025, 1, 1), date(2025, 12, 31)
BODY = {"start_date": "2025-01-01", "end_date": "2025-12-31", "page_size": 1000}


def _walked(answers: list[tuple[Any, dict[str, str]]], **kwargs: Any) -> tuple[list[_Page], Any]:
    client = Reports(answers)
    return list(_walk(client, 3, FIRST, LAST, **kwargs)), client  # type: ignore[arg-type]


def test_a_window_of_one_page() -> None:
    pages, client = _walked([([{"user_id": 1}], {})])
    assert pages == [_Page([{"user_id": 1}], FIRST, LAST, None, False)]
    assert client.bodies == [BODY]


def test_a_window_follows_its_cursor_headers() -> None:
    pages, client = _walked(
        [
            ([1], {"X-Next-ID": "50", "X-Next-Row-Number": "2", "X-Next-Timestamp": "1000"}),
            ([2], {"x-next-id": "60"}),
            ([3], {}),
        ]
    )
    first = {"first_id": 50, "first_row_number": 2, "first_timestamp": 1000}
    # Only what came back is sent back: no made-up row number or timestamp, and nothing left
    # over from the page before.
    second = {"first_id": 60}
    assert pages == [
        _Page([1], FIRST, LAST, first),
        _Page([2], FIRST, LAST, second),
        _Page([3], FIRST, LAST, None, False),
    ]
    assert client.bodies == [BODY, {**BODY, **first}, {**BODY, **second}]


def test_a_window_pages_by_the_documented_headers_alone() -> None:
    # The reference documents X-Next-ID and X-Next-Row-Number; X-Next-Timestamp may not come.
    pages, client = _walked(
        [
            ([1], {"X-Next-ID": "50", "X-Next-Row-Number": "2"}),
            ([2], {"X-Next-ID": "60", "X-Next-Row-Number": "3", "X-Next-Timestamp": "9"}),
            ([3], {"X-Next-ID": "70", "X-Next-Row-Number": "4"}),
            ([4], {}),
        ]
    )
    cursors = [
        {"first_id": 50, "first_row_number": 2},
        {"first_id": 60, "first_row_number": 3, "first_timestamp": 9},
        {"first_id": 70, "first_row_number": 4},
    ]
    assert [p.next_cursor for p in pages] == [*cursors, None]
    assert client.bodies == [BODY, *({**BODY, **c} for c in cursors)]
    assert all("first_timestamp" not in b for b in (client.bodies[1], client.bodies[3]))


def test_a_resumed_cursor_drops_the_zero_an_older_version_made_up() -> None:
    cursor = {"first_id": 9, "first_row_number": 3, "first_timestamp": 0}
    _, client = _walked([([4], {})], cursor=cursor)
    assert client.bodies == [{**BODY, "first_id": 9, "first_row_number": 3}]


def test_a_walk_resumes_from_its_cursor() -> None:
    cursor = {"first_id": 9, "first_row_number": 3, "first_timestamp": 7}
    pages, client = _walked([([4], {})], cursor=cursor)
    assert pages == [_Page([4], FIRST, LAST, None, False)]
    assert client.bodies == [{**BODY, **cursor}]


def test_a_window_answered_null_is_left_unconfirmed() -> None:
    pages, client = _walked([(None, {})])
    assert pages == [_Page([], FIRST, LAST, None, True)]
    assert len(client.bodies) == 1
    confirmed, _ = _walked([(None, {})], confirm=True)
    assert confirmed == [_Page([], FIRST, LAST, None, False)]


def test_null_after_more_was_promised_is_asked_again() -> None:
    pages, client = _walked([([1], {"X-Next-ID": "50"}), (None, {}), ([2], {})])
    assert [p.rows for p in pages] == [[1], [2]]
    assert pages[-1].unconfirmed is False
    assert len(client.bodies) == 3
    resumed, again = _walked([(None, {}), (None, {})], cursor={"first_id": 1})
    assert resumed == [_Page([], FIRST, LAST, None, False)]
    assert len(again.bodies) == 2


def test_a_cursor_answered_twice_stops_the_walk() -> None:
    loop = {"X-Next-ID": "50", "X-Next-Row-Number": "2", "X-Next-Timestamp": "1"}
    client = Reports([([1], loop), ([2], {"X-Next-ID": "60"}), ([3], loop)])
    handed: list[_Page] = []
    with pytest.raises(ServiceError) as caught:
        for page in _walk(client, 3, FIRST, LAST):  # type: ignore[arg-type]
            handed.append(page)
    assert str(caught.value) == (
        "the report search of workspace 3 (2025-01-01..2025-12-31) answered a cursor it had "
        "answered before; stopped instead of looping"
    )
    assert [p.rows for p in handed] == [[1], [2]]


def test_a_cursor_equal_to_the_one_asked_stops_the_walk() -> None:
    cursor = {"first_id": 50, "first_row_number": 2, "first_timestamp": 1}
    stuck = {"X-Next-ID": "50", "X-Next-Row-Number": "2", "X-Next-Timestamp": "1"}
    with pytest.raises(ServiceError, match="answered a cursor it had answered before"):
        _walked([([1], stuck)], cursor=cursor)
    moved = {"X-Next-ID": "50", "X-Next-Row-Number": "3", "X-Next-Timestamp": "1"}
    pages, _ = _walked([([1], moved), ([2], {})], cursor=cursor)
    assert [p.rows for p in pages] == [[1], [2]]


@pytest.mark.parametrize("cursor", ["n/a", "12.5", "0e1f6a8c-uuid", "-"])
def test_an_unreadable_cursor_stops_the_walk_instead_of_ending_the_window(cursor: str) -> None:
    client = Reports([([1], {"X-Next-ID": cursor})])
    handed: list[_Page] = []
    with pytest.raises(ServiceError) as caught:
        for page in _walk(client, 3, FIRST, LAST):  # type: ignore[arg-type]
            handed.append(page)
    assert handed == [], "a page whose cursor cannot be followed is not handed on as the last"
    assert str(caught.value) == (
        "the report search of workspace 3 (2025-01-01..2025-12-31) answered an unreadable "
        f"cursor {cursor!r}"
    )


def test_an_empty_cursor_header_is_an_absent_one() -> None:
    pages, _ = _walked([([1], {"X-Next-ID": " "})])
    assert pages == [_Page([1], FIRST, LAST, None, False)]


def test_a_drifting_cursor_over_the_same_rows_stops_the_walk() -> None:
    row = {"user_id": 1, "time_entries": [{"id": 7}, {"id": 8}]}
    drift = [
        ([row, {"user_id": 2}], {"X-Next-ID": "9", "X-Next-Timestamp": str(t)}) for t in (1, 2)
    ]
    client = Reports(drift)
    handed: list[_Page] = []
    with pytest.raises(ServiceError) as caught:
        for page in _walk(client, 3, FIRST, LAST):  # type: ignore[arg-type]
            handed.append(page)
    assert str(caught.value) == (
        "the report search of workspace 3 (2025-01-01..2025-12-31) began two pages with the "
        "same row; stopped instead of looping"
    )
    assert len(handed) == 1
    # rows that share a user but not their entries are different rows
    other = {"user_id": 1, "time_entries": [{"id": 9}]}
    pages, _ = _walked([([row], {"X-Next-ID": "9"}), ([other], {})])
    assert [p.rows for p in pages] == [[row], [other]]


def test_a_walk_longer_than_any_list_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports.settings, "MAX_PAGES", 2)
    client = Reports([([n], {"X-Next-ID": str(n + 100)}) for n in range(5)])
    handed: list[_Page] = []
    with pytest.raises(ServiceError, match="more than 2 pages; stopped"):
        for page in _walk(client, 3, FIRST, LAST):  # type: ignore[arg-type]
            handed.append(page)
    assert [p.rows for p in handed] == [[0], [1]]


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_time_past_the_calendar_lands_as_null_beside_its_raw_text(edge: str) -> None:
    rows = [{"user_id": 1, "tag_ids": [], "time_entries": [{"id": 5, "seconds": 1, "at": edge}]}]
    expected = [{**_row(id=5, user_id=1, seconds=1), "at__raw": edge}]
    assert _rows(page_table(rows, 3)) == expected
    reread = _changed({5: (None,) * 10}, set())
    assert _rows(page_table(rows, 3, reread)) == expected, "a re-read compares it too"


# --- values that would fail the load or land wrong; fields that would take another's column ----

FLOATS = {
    "user_id": 1,
    "billable": True,
    "tag_ids": [],
    "hourly_rate_in_cents": 150.5,
    "time_entries": [{"id": 12.7, "seconds": 1}, {"id": 13, "seconds": 3600.9}],
}


def test_a_float_in_an_integer_column_is_never_cut_on_either_path() -> None:
    rejected: list[Any] = []
    table = page_table([FLOATS], 3, reject=lambda *a: rejected.append(a[2]))
    assert _rows(table) == [
        {
            **_row(id=13, user_id=1, billable=True),
            "hourly_rate_in_cents__raw": "150.5",
            "seconds__raw": "3600.9",
        }
    ]
    assert rejected == ["id is not an integer: 12.7"]
    fast = page_table([{**FLOATS, "time_entries": [{"id": 13, "seconds": 3600}]}], 3)
    assert fast.column("hourly_rate_in_cents").to_pylist() == [None]


def test_an_integral_float_is_an_integer_on_either_path() -> None:
    whole = [{"user_id": 1.0, "tag_ids": [2.0], "time_entries": [{"id": 12.0, "seconds": 5.0}]}]
    expected = [_row(id=12, user_id=1, tag_ids=[2], seconds=5)]
    assert _rows(page_table(whole, 3)) == expected
    assert converter("time_entries", "id")({"id": 12.0})["id"] == 12


def test_an_integer_beyond_64_bits_is_rejected_as_id_and_kept_raw_elsewhere() -> None:
    rejected: list[Any] = []
    rows = [
        {
            "user_id": 2**64,
            "billable": True,
            "hourly_rate_in_cents": 2**62,  # the amount it makes is beyond 64 bits too
            "tag_ids": [2**64],
            "time_entries": [{"id": 2**64, "seconds": 1}, {"id": 5, "seconds": 2**64}],
        },
        {
            "user_id": 1,
            "billable": True,
            "hourly_rate_in_cents": 2**62,
            "time_entries": [{"id": 6, "seconds": 3600 * 4}],
        },
    ]
    table = page_table(rows, 3, reject=lambda *a: rejected.append(a[2]))
    raw = "18446744073709551616"
    assert _rows(table) == [
        {
            **_row(id=5, billable=True, hourly_rate_in_cents=2**62, tag_ids=None),
            "user_id__raw": raw,
            "tag_ids__raw": f'["{raw}"]',
            "seconds__raw": raw,
        },
        {
            **_row(id=6, user_id=1, billable=True, hourly_rate_in_cents=2**62, seconds=14400),
            "user_id__raw": None,
            "tag_ids__raw": None,
            "seconds__raw": None,
        },
    ]
    assert rejected == ["id is not an integer: 18446744073709551616"]


@pytest.mark.parametrize(
    ("field", "column"),
    [
        ("workspace_id", "workspace_id"),
        ("server_deleted_at", "server_deleted_at"),
        ("userId", "user_id"),
        ("Description", "description"),
        ("_dlt_id", "_dlt_id"),
    ],
)
def test_a_field_named_as_a_column_of_the_table_never_replaces_it(field: str, column: str) -> None:
    rows = [
        {
            "user_id": 1,
            "description": "d",
            "tag_ids": [],
            field: "2026-01-01T00:00:00Z",
            "time_entries": [{"id": 5, "seconds": 1, field: 7}],
        }
    ]
    table = page_table(rows, 3)
    assert table.column_names == [*EMPTY_ROW, f"{column}__raw"], "one column of each name"
    assert _rows(table) == [
        {
            **_row(id=5, user_id=1, description="d", seconds=1),
            f"{column}__raw": '["2026-01-01T00:00:00Z","7"]',
        }
    ]


def test_a_row_is_told_apart_by_its_entries_ids() -> None:
    assert reports._row_mark({"user_id": 1, "time_entries": [{"id": 7}, {"id": 8}]}) == (7, 8)
    assert reports._row_mark({"time_entries": [{"id": 7}, 5, "x"]}) == (7, "5", "'x'")
    assert reports._row_mark({"time_entries": [{"ID": 7}]}) == (None,)
    empty = {"user_id": 1, "time_entries": []}
    assert reports._row_mark(empty) == repr(empty)
    assert reports._row_mark({"user_id": 1, "time_entries": None}) == repr(
        {"user_id": 1, "time_entries": None}
    )
    assert reports._row_mark("odd") == "'odd'"


def test_an_empty_page_with_a_cursor_goes_on() -> None:
    pages, _ = _walked([([], {"X-Next-ID": "9"}), ([1], {})])
    assert [p.rows for p in pages] == [[], [1]]


def test_an_unreadable_cursor_is_shown_cut_to_40_characters() -> None:
    with pytest.raises(ServiceError) as caught:
        _walked([([1], {"X-Next-ID": "y" * 60})])
    assert str(caught.value).endswith(f"answered an unreadable cursor {'y' * 40!r}")
