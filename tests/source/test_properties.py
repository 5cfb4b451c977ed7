"""Properties of timestamp parsing and of the record-to-row conversion, over generated values.

Each property is checked against a computation of its own (offset arithmetic by hand, the
contract's literal column lists), never against the code under test. Examples are few and
derandomized, so a CI run always checks the same ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from timetrack.source.schema import as_key, converter, parse_timestamp

FEW = settings(max_examples=60, derandomize=True, deadline=None, database=None)

# Offsets the service uses and odd ones: whole hours, half and quarter hours, both signs.
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31))
fractions = st.sampled_from(["", ".5", ".25", ".123", ".123456"])


def _spell(local: datetime, fraction: str, offset: timedelta, zulu: bool) -> str:
    """RFC3339 text by hand: local wall time, a fraction, then Z or +HH:MM / -HH:MM."""
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction
    if zulu and offset == timedelta(0):
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@FEW
@given(moments, fractions, offsets, st.booleans())
def test_any_offset_and_fraction_gives_the_same_utc_instant(
    moment: datetime, fraction: str, offset: timedelta, zulu: bool
) -> None:
    wall = moment.replace(microsecond=0)
    text = _spell(wall, fraction, offset, zulu)
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    # Wall time minus its offset is UTC: the definition, computed without any tz machinery.
    expected = (wall + timedelta(microseconds=micros) - offset).replace(tzinfo=UTC)
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@FEW
@given(moments, fractions)
def test_a_time_without_offset_is_taken_as_utc(moment: datetime, fraction: str) -> None:
    wall = moment.replace(microsecond=0)
    text = wall.strftime("%Y-%m-%dT%H:%M:%S") + fraction
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    assert parse_timestamp(text) == (wall + timedelta(microseconds=micros)).replace(tzinfo=UTC)


@FEW
@given(st.integers(min_value=0, max_value=4_102_444_800))
def test_unix_seconds_count_from_the_epoch(seconds: int) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp(seconds) == epoch + timedelta(seconds=seconds)
    assert parse_timestamp(seconds + 0.25) == epoch + timedelta(seconds=seconds, milliseconds=250)


@FEW
@given(st.text(max_size=30))
def test_any_text_parses_or_is_none_never_raises(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed is None or parsed.tzinfo is UTC


@FEW
@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_a_key_spelled_as_text_reads_back(key: int) -> None:
    assert as_key(key) == key
    assert as_key(str(key)) == key
    assert as_key(f"  {key} ") == key


@FEW
@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_a_float_is_a_key_only_when_whole(key: int) -> None:
    assert as_key(float(key)) == key
    assert as_key(key + 0.5) is None


@FEW
@given(st.text(max_size=12))
def test_any_text_is_a_key_or_none_never_raises(text: str) -> None:
    found = as_key(text)
    assert found is None or found == int(text)


TEXT_OR_NULL = st.one_of(st.none(), st.text(max_size=8))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))

# Fields of time_entries from the contract, written out here: legacy alias -> neutral name.
ALIASES = {"wid": "workspace_id", "uid": "user_id", "pid": "project_id", "tid": "task_id"}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"id": draw(st.integers(min_value=1, max_value=10**12))}
    for alias, neutral in ALIASES.items():
        if draw(st.booleans()):
            record[alias] = draw(st.integers(min_value=1, max_value=999))
        if draw(st.booleans()):
            record[neutral] = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=999)))
    record["description"] = draw(TEXT_OR_NULL)
    extra = draw(st.dictionaries(st.sampled_from(["x_a", "x_b", "x_token", "x_c"]), SCALARS))
    record.update(extra)
    return record


@FEW
@given(records())
def test_a_time_entry_row_keeps_what_the_record_says(record: dict[str, Any]) -> None:
    row = converter("time_entries", "id")(dict(record))
    expected: dict[str, Any] = {"id": record["id"]}
    for alias, neutral in ALIASES.items():
        if record.get(neutral) is not None:
            expected[neutral] = record[neutral]
        elif alias in record:
            expected[neutral] = record[alias]
        elif neutral in record:
            expected[neutral] = None
    description = record["description"]
    expected["description"] = None if description is None else description.replace("\x00", "")
    for name in ("x_a", "x_b", "x_c"):
        if record.get(name) is not None:
            value = record[name]
            expected[name] = value.replace("\x00", "") if isinstance(value, str) else value
    assert row == expected
    assert not set(row) & {"wid", "uid", "pid", "tid", "x_token"}


@FEW
@given(records(), st.integers(min_value=1, max_value=99))
def test_the_scope_column_always_wins(record: dict[str, Any], workspace: int) -> None:
    row = converter("time_entries", "id", workspace_id=workspace)(record)
    assert row["workspace_id"] == workspace
    assert "wid" not in row


@FEW
@given(
    st.dictionaries(
        st.sampled_from(["start", "stop", "at", "server_deleted_at"]),
        st.one_of(
            st.integers(min_value=0, max_value=4_102_444_800),
            st.sampled_from(["2026-11-27T10:00:00+02:00", "2026-11-27T08:00:00Z", "garbage"]),
        ),
    )
)
def test_every_declared_time_is_utc_or_stays_as_it_came(stamps: dict[str, Any]) -> None:
    row = converter("time_entries", "id")({"id": 1, **stamps})
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for name, value in stamps.items():
        if isinstance(value, int):
            assert row[name] == epoch + timedelta(seconds=value)
        elif value == "garbage":
            assert row[name] == "garbage"
        else:
            assert row[name] == datetime(2026, 11, 27, 8, tzinfo=UTC)
            assert row[name].tzinfo is UTC
