"""Record to row, piece by piece: timestamps, days, keys, secrets, aliases, hints. No server.

Every expectation is a literal worked out by hand from the contract, never read from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from timetrack.source import schema
from timetrack.source.schema import (
    Column,
    Rejected,
    _c,
    arrow_schema,
    as_key,
    clean,
    column_hints,
    converter,
    is_secret,
    parse_day,
    parse_timestamp,
)

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00+02:00", datetime(2026, 11, 27, 8, tzinfo=UTC)),
        ("2026-11-27T01:30:00-05:30", datetime(2026, 11, 27, 7, tzinfo=UTC)),
        ("2026-11-27T10:00:00.250+00:00", datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-27T10:00:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (86400, datetime(1970, 1, 2, tzinfo=UTC)),
        (1.5, datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
        (datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_a_timestamp_in_any_spelling_is_utc(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC, "UTC itself, not an equal offset"


def test_an_aware_datetime_passes_as_it_is() -> None:
    moment = datetime(2026, 1, 2, 3, tzinfo=PLUS_TWO)
    assert parse_timestamp(moment) is moment


@pytest.mark.parametrize(
    "value",
    [
        *(None, True, False, "", "yesterday", "2026-13-01T00:00:00Z", [], {}, 1e300, float("nan")),
        # the calendar's edges, moved past them by their offset: no UTC datetime exists
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
    ],
)
def test_no_timestamp_is_none(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27", date(2026, 11, 27)),
        ("2026-11-27T23:59:59+05:00", date(2026, 11, 27)),
        (date(2020, 2, 29), date(2020, 2, 29)),
        (None, None),
        ("27/11/2026", None),
        ("", None),
        ("2026-02-30", None),
    ],
)
def test_a_day_is_read_from_its_first_ten_characters(value: object, expected: object) -> None:
    assert parse_day(value) == expected


def test_a_date_passes_as_it_is() -> None:
    day = date(2026, 5, 1)
    assert parse_day(day) is day


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (-3, -3),
        (0, 0),
        (7.0, 7),
        ("42", 42),
        (" 42\n", 42),
        ("-7", -7),
        ("٣", 3),  # a decimal digit of another script: int() reads it
    ],
)
def test_a_key_is_an_integer(value: object, expected: int) -> None:
    found = as_key(value)
    assert found == expected
    assert type(found) is int


@pytest.mark.parametrize(
    "value",
    [None, True, False, 7.5, float("inf"), "", "-", "4a", "1 2", "+5", "0x10", [1], {"id": 1}],
)
def test_no_key_is_none(value: object) -> None:
    assert as_key(value) is None


@pytest.mark.parametrize("value", ["--1", "-", "²", "1²", " -- 3 "])
def test_a_key_int_cannot_read_is_none_not_an_error(value: str) -> None:
    # str.isdigit takes "²" for a digit and lstrip("-") took "--1" for "1": int() then raised,
    # and the record crashed the load instead of going to rejected_records.
    assert as_key(value) is None
    with pytest.raises(Rejected) as caught:
        converter("workspace_tags", "id")({"id": value})
    assert caught.value.key == value


@pytest.mark.parametrize(
    "name",
    ["api_token", "ical_url", "invite_url", "token", "refresh_token", "API_TOKEN", "MySecret"],
)
def test_credentials_are_secret(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize(
    "name", ["password", "user_password", "PASSWORD", "client_secret", "sessionToken"]
)
def test_any_token_secret_or_password_suffix_is_secret(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize(
    "name", ["id", "tokens", "token_count", "secretary", "ical_enabled", "invite", "url"]
)
def test_other_fields_are_not_secret(name: str) -> None:
    assert not is_secret(name)


def test_clean_keeps_the_rest_in_order() -> None:
    record = {"id": 1, "api_token": "t", "name": "n", "ical_url": "u", "at": None}
    assert list(clean(record).items()) == [("id", 1), ("name", "n"), ("at", None)]


def test_clean_reaches_every_depth() -> None:
    record = {
        "id": 1,
        "subscription": {"api_token": "T2", "plan": {"ical_url": "https://x/SECRET", "n": 1}},
        "links": [{"invite_url": "https://x/i/SECRET", "label": "a\x00b"}],
        "note\x00": {"k\x00": ["\x00"]},
        "big": [2**64, -(2**63) - 1, 2**63 - 1, -(2**63)],
        "flag": True,
    }
    assert clean(record) == {
        "id": 1,
        "subscription": {"plan": {"n": 1}},
        "links": [{"label": "ab"}],
        "note": {"k": [""]},
        "big": ["18446744073709551616", "-9223372036854775809", 2**63 - 1, -(2**63)],
        "flag": True,
    }
    assert clean([{"my_token": "t"}, "a\x00"]) == [{}, "a"]


def test_a_column_helper_defaults_to_nullable() -> None:
    assert _c("bigint") == Column("bigint", True)
    assert _c("text", False) == Column("text", False)
    assert Column("bool").nullable is True


def test_column_hints_follow_the_contract() -> None:
    hints = column_hints("workspace_tags")
    assert list(hints) == ["id", "workspace_id", "name", "at", "creator_id", "server_deleted_at"]
    assert hints["id"] == {"name": "id", "data_type": "bigint", "nullable": False}
    assert hints["at"] == {"name": "at", "data_type": "timestamp", "nullable": True}
    assert "hard_delete" not in hints["server_deleted_at"]


def test_hard_delete_marks_only_server_deleted_at() -> None:
    hints = column_hints("workspace_tags", hard_delete=True)
    assert hints["server_deleted_at"] == {
        "name": "server_deleted_at",
        "data_type": "timestamp",
        "nullable": True,
        "hard_delete": True,
    }
    assert [n for n, h in hints.items() if "hard_delete" in h] == ["server_deleted_at"]
    statistics = column_hints("workspace", hard_delete=True)
    assert [n for n, h in statistics.items() if "hard_delete" in h] == []


def test_arrow_schema_types_every_column() -> None:
    schema = arrow_schema("workspace_projects")
    assert schema.field("id").type == pa.int64() and not schema.field("id").nullable
    assert schema.field("name").type == pa.string() and schema.field("name").nullable
    assert schema.field("active").type == pa.bool_()
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("start_date").type == pa.date32()
    assert schema.field("rate").type == pa.float64()
    assert schema.field("recurring_parameters").type == pa.string()
    assert schema.names[:3] == ["id", "workspace_id", "client_id"]


def test_rejected_keeps_its_reason_and_key() -> None:
    error = Rejected("no id", "x")
    assert (str(error), error.reason, error.key) == ("no id", "no id", "x")
    assert Rejected("no id").key is None


# --- converter ------------------------------------------------------------------------------


def test_a_record_becomes_a_row() -> None:
    convert = converter("time_entries", "id")
    row = convert(
        {
            "id": "12",
            "wid": 3,
            "pid": None,
            "start": "2026-11-27T10:00:00+01:00",
            "stop": "never",
            "description": "a\x00b",
            "tags": ["x\x00"],
            "extra": None,
            "new_field": "kept",
            "api_token": "secret",
            "my_password": "p",
        }
    )
    assert row == {
        "id": 12,
        "workspace_id": 3,
        "start": datetime(2026, 11, 27, 9, tzinfo=UTC),
        "stop": "never",  # unreadable: stays as it came, for a variant column
        "description": "ab",
        "tags": ["x"],  # nested text too: PostgreSQL's jsonb refuses NUL as well
        "new_field": "kept",
    }


def test_a_declared_null_is_kept_and_an_unknown_null_dropped() -> None:
    row = converter("workspace_tags", "id")({"id": 1, "name": None, "colour": None})
    assert row == {"id": 1, "name": None}


def test_the_neutral_field_wins_over_its_alias() -> None:
    convert = converter("time_entries", "id")
    assert convert({"id": 1, "wid": 3, "workspace_id": 4}) == {"id": 1, "workspace_id": 4}
    assert convert({"id": 1, "uid": 5, "user_id": None}) == {"id": 1, "user_id": 5}
    assert convert({"id": 1, "pid": 6, "tid": 7, "cid": 8}) == {
        "id": 1,
        "project_id": 6,
        "task_id": 7,
        "client_id": 8,
    }


def test_every_declared_time_and_day_is_parsed() -> None:
    convert = converter("workspace_projects", "id")
    row = convert(
        {
            "id": 1,
            "at": "2026-01-01T00:00:00-01:00",
            "created_at": 0,
            "rate_last_updated": "2026-01-01T00:00:00Z",
            "start_date": "2026-03-04",
            "end_date": "2026-03-05T00:00:00Z",
            "server_deleted_at": None,
        }
    )
    assert row == {
        "id": 1,
        "at": datetime(2026, 1, 1, 1, tzinfo=UTC),
        "created_at": datetime(1970, 1, 1, tzinfo=UTC),
        "rate_last_updated": datetime(2026, 1, 1, tzinfo=UTC),
        "start_date": date(2026, 3, 4),
        "end_date": date(2026, 3, 5),
        "server_deleted_at": None,
    }
    assert convert({"id": 2, "start_date": "soon", "end_date": 5}) == {
        "id": 2,
        "start_date": "soon",
        "end_date": 5,
    }


def test_a_text_column_is_not_read_as_a_time() -> None:
    row = converter("workspace_tags", "id")({"id": 1, "name": "2026-01-01T00:00:00Z"})
    assert row["name"] == "2026-01-01T00:00:00Z"


def test_the_scope_wins_over_the_record() -> None:
    convert = converter("workspace_clients", "id", workspace_id=9)
    assert convert({"id": 1, "workspace_id": 2, "wid": 3}) == {"id": 1, "workspace_id": 9}


def test_a_key_from_the_scope_needs_none_in_the_record() -> None:
    convert = converter("workspace", "workspace_id", workspace_id=9)
    assert convert({"members_count": 3}) == {"members_count": 3, "workspace_id": 9}


@pytest.mark.parametrize(
    ("record", "reason", "key"),
    [
        ({"name": "x"}, "no id", None),
        ({"id": None}, "no id", None),
        ({"id": "abc"}, "id is not an integer: 'abc'", "abc"),
        ({"id": 1.5}, "id is not an integer: 1.5", 1.5),
        ({"id": True}, "id is not an integer: True", True),
    ],
)
def test_a_record_without_a_usable_key_is_rejected(
    record: dict[str, object], reason: str, key: object
) -> None:
    with pytest.raises(Rejected) as caught:
        converter("workspace_tags", "id")(record)
    assert (caught.value.reason, caught.value.key) == (reason, key)


def test_a_rejection_reason_is_cut_at_200_characters() -> None:
    raw = "x" * 300
    with pytest.raises(Rejected) as caught:
        converter("workspace_tags", "id")({"id": raw})
    assert caught.value.reason == ("id is not an integer: '" + raw)[:200]
    assert caught.value.key == raw


@pytest.mark.parametrize(("record", "kind"), [([1], "list"), ("x", "str"), (None, "NoneType")])
def test_a_record_that_is_no_object_is_rejected(record: object, kind: str) -> None:
    with pytest.raises(Rejected) as caught:
        converter("workspace_tags", "id")(record)
    assert caught.value.reason == f"not an object: {kind}"
    assert caught.value.key is None


def test_the_key_is_checked_by_its_own_name() -> None:
    convert = converter("organizations_groups", "group_id", organization_id=4)
    assert convert({"group_id": "8", "id": "no"}) == {
        "group_id": 8,
        "id": "no",
        "organization_id": 4,
    }
    with pytest.raises(Rejected) as caught:
        convert({"id": 8})
    assert caught.value.reason == "no group_id"


def test_a_key_from_the_scope_is_taken_as_given() -> None:
    # The scope's ids come from the source itself; only a key read from the record is checked.
    row = converter("workspace", "workspace_id", workspace_id="9")({})
    assert row == {"workspace_id": "9"}


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_time_past_the_calendar_lands_as_null_beside_its_raw_text(edge: str) -> None:
    # dlt would read it itself and fail the load for good: it must not reach a variant column.
    row = converter("workspace_clients", "id")({"id": 1, "at": edge, "server_deleted_at": "x"})
    assert row == {"id": 1, "at": None, "at__raw": edge, "server_deleted_at": "x"}


# --- values that would fail the load, fields that would take another's column ------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, float(2**64), str(2**64)])
def test_a_key_beyond_64_bits_is_rejected(value: object) -> None:
    assert as_key(value) is None
    with pytest.raises(Rejected) as caught:
        converter("workspace_clients", "id", workspace_id=1)({"id": value})
    assert caught.value.reason.startswith("id is beyond the 64-bit range")


def test_the_64_bit_edges_are_keys() -> None:
    assert (as_key(2**63 - 1), as_key(-(2**63)), as_key("9223372036854775807")) == (
        2**63 - 1,
        -(2**63),
        2**63 - 1,
    )


@pytest.mark.parametrize(
    "value", [2**64, -(2**63) - 1, 1e19, "18446744073709551616", "0x1" + "0" * 16]
)
def test_an_integer_beyond_64_bits_lands_as_null_beside_its_raw_text(value: object) -> None:
    convert = converter("workspace_clients", "id", workspace_id=1)
    row = convert({"id": 1, "creator_id": value, "extra": {"n": 2**64}, "count": 2**64})
    assert row == {
        "id": 1,
        "creator_id": None,
        "creator_id__raw": value if isinstance(value, str) else str(value),
        "extra": {"n": "18446744073709551616"},  # nested and new: as text, never a failure
        # new: beside its column, which an earlier record may have made an integer
        "count__raw": "18446744073709551616",
        "workspace_id": 1,
    }


@pytest.mark.parametrize("value", ['"x"', "5", "true", "abc", str(2**70), "[1]"])
def test_a_string_for_a_json_column_lands_as_null_beside_its_raw_text(value: str) -> None:
    convert = converter("organizations_groups", "group_id", organization_id=1)
    row = convert({"group_id": 1, "users": value, "workspaces": [value]})
    assert row == {
        "group_id": 1,
        "users": None,
        "users__raw": value,
        "workspaces": [value],  # inside a list, a string is a JSON string
        "organization_id": 1,
    }
    assert convert({"group_id": 1, "users": 2**70})["users__raw"] == str(2**70)
    assert convert({"group_id": 1, "users": 5})["users"] == 5, "a number has a column of dlt's"
    # a second field of the column a value beyond 64 bits went beside: kept with it
    row = convert({"group_id": 1, "Count": 2**70, "count": 5})
    assert (row.get("count"), row["count__raw"]) == (None, f'["{2**70}","5"]')


@pytest.mark.parametrize(
    ("field", "value", "column"),
    [("creatorId", 999, "creator_id"), ("Name", "X", "name"), ("Id", 1, "id"), ("ID", "abc", "id")],
)
def test_a_new_field_named_as_a_known_column_never_replaces_it(
    field: str, value: object, column: str
) -> None:
    convert = converter("workspace_clients", "id", workspace_id=1)
    record = {field: value, "id": 5, "name": "n", "creator_id": 7}  # the new one first
    row = convert(record)
    assert {k: row[k] for k in ("id", "name", "creator_id")} == {
        "id": 5,
        "name": "n",
        "creator_id": 7,
    }
    assert row[f"{column}__raw"] == (value if isinstance(value, str) else str(value))
    assert field not in row


def test_a_new_field_never_takes_the_scope_nor_dlt_columns() -> None:
    convert = converter("workspace_clients", "id", workspace_id=1)
    row = convert({"id": 5, "workspaceId": 9, "_dlt_id": "x", "Notes": "y"})
    assert row == {
        "id": 5,
        "workspace_id": 1,
        "workspace_id__raw": "9",
        "_dlt_id__raw": "x",
        "notes__raw": "y",  # a known column the record left out: still the contract's
    }


def test_two_values_for_one_raw_column_are_both_kept() -> None:
    row = converter("workspace_clients", "id", workspace_id=1)({"id": 5, "Name": "a", "NAME": "b"})
    assert row["name__raw"] == '["a","b"]'


def test_credentials_and_nul_are_dropped_at_any_depth() -> None:
    row = converter("workspaces", "id")(
        {"id": 1, "api_token": "T1", "subscription": {"api_token": "T2", "note": "a\x00b"}}
    )
    assert row == {"id": 1, "subscription": {"note": "ab"}}


@pytest.mark.parametrize(
    ("text", "too_big"),
    [
        ("10000000000000000000", True),  # 10**19: decimal, past int64
        ("0x7fffffffffffffff", False),  # the largest int64, in hexadecimal
        ("0x8000000000000000", True),
        (" 12 ", False),
        ("1" * 99, True),
        ("1" * 100, False),  # too long to be read as a number at all: text
        ("twelve", False),
    ],
)
def test_which_texts_dlt_would_read_as_integers_too_big(text: str, too_big: bool) -> None:
    assert schema._too_big(text) is too_big


@pytest.mark.parametrize(
    ("value", "too_big"),
    [
        (12.0, False),
        (12.5, False),
        (2.0**70, True),
        (2**63, True),
        (2**63 - 1, False),
        (True, False),
    ],
)
def test_which_numbers_are_too_big(value: object, too_big: bool) -> None:
    assert schema._too_big(value) is too_big


def test_two_new_fields_of_one_column_name_keep_the_first_and_the_second_raw() -> None:
    row = converter("workspace_tags", "id")({"id": 1, "newField": 1, "new_field": 2})
    assert row["newField"] == 1
    assert "new_field" not in row
    assert row["new_field__raw"] == "2"


def test_a_time_column_holding_no_text_is_left_to_dlt() -> None:
    row = converter("workspace_tags", "id")({"id": 1, "at": [1]})
    assert row["at"] == [1] and "at__raw" not in row


@pytest.mark.parametrize(
    "destination", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_values_that_failed_a_load_land_as_raw_text_in_duckdb_and_postgres(
    destination: str, tmp_path: Path
) -> None:
    """Loaded by dlt for real, one record after another into the same table: a new field an
    earlier record made an integer, then beyond 64 bits; strings for a JSON column that dlt
    reads as JSON text (a string, a number, a bool: each failed a PostgreSQL load, the first a
    DuckDB one too)."""
    import dlt

    from tests.helpers import units_pipeline

    convert = converter("organizations_groups", "group_id", organization_id=1)
    with units_pipeline(destination, tmp_path, f"schema_units_{destination}") as pipeline:
        records = [
            {"group_id": 1, "users": [1], "count": 5},
            {"group_id": 2, "users": '"x"', "count": 2**70},
            {"group_id": 3, "users": "5", "count": "99999999999999999999999"},
            {"group_id": 4, "users": "true"},
        ]
        for record in records:  # a run each: the column's type is the first record's
            pipeline.run(
                dlt.resource(
                    [convert(record)],
                    name="organizations_groups",
                    columns=column_hints("organizations_groups"),
                    primary_key="group_id",
                    write_disposition="merge",
                )
            )
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("organizations_groups")
            rows = client.execute_sql(
                f"select group_id, users, users__raw, count, count__raw from {table} "
                "order by group_id"
            )
        pipeline.deactivate()
    landed = [
        (g, json.loads(u) if isinstance(u, str) else u, ur, c, cr) for g, u, ur, c, cr in rows
    ]
    assert landed == [
        (1, [1], None, 5, None),
        (2, None, '"x"', None, str(2**70)),
        (3, None, "5", None, "99999999999999999999999"),
        (4, None, "true", None, None),
    ]
