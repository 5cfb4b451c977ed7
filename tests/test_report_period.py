"""The report's period: which weeks, the previous period, the week in progress, bad options."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from timetrack.answers.report import choose_period
from timetrack.errors import ConfigurationError

WEDNESDAY = date(2026, 12, 2)  # its week's Monday is 2026-11-30


def test_by_default_the_last_full_weeks_and_as_many_before() -> None:
    period = choose_period(WEDNESDAY, weeks=12)
    assert period.first == date(2026, 9, 7) and period.last == date(2026, 11, 23)
    assert len(period.weeks) == 12 and period.partial is None
    assert period.previous[0] == date(2026, 6, 15) and period.previous[-1] == date(2026, 8, 31)
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(period.weeks))
    assert period.describe() == "2026-09-07 to 2026-11-29, 12 weeks"


def test_reaching_today_marks_its_week_partial() -> None:
    period = choose_period(WEDNESDAY, weeks=2, end=WEDNESDAY)
    assert period.weeks == (date(2026, 11, 23), date(2026, 11, 30))
    assert period.partial == date(2026, 11, 30)
    assert period.label(date(2026, 11, 30)) == "2026-11-30 (partial)"
    assert period.label(date(2026, 11, 23)) == "2026-11-23"
    assert "(week in progress)" in period.describe()
    # --to in the future stops at today's week; --from alone runs to it.
    assert choose_period(WEDNESDAY, end=date(2027, 3, 1)).last == date(2026, 11, 30)
    since = choose_period(WEDNESDAY, start=date(2026, 11, 11))
    assert since.weeks == (
        date(2026, 11, 9),
        date(2026, 11, 16),
        date(2026, 11, 23),
        date(2026, 11, 30),
    )
    assert since.previous == (
        date(2026, 10, 12),
        date(2026, 10, 19),
        date(2026, 10, 26),
        date(2026, 11, 2),
    )


def test_from_and_to_take_whole_weeks() -> None:
    period = choose_period(WEDNESDAY, start=date(2026, 7, 1), end=date(2026, 9, 30))
    assert period.first == date(2026, 6, 29) and period.last == date(2026, 9, 28)
    assert len(period.weeks) == 14 and period.partial is None


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2026, 10, 1), date(2026, 9, 1), "--from 2026-10-01 is after --to 2026-09-01"),
        (date(2027, 1, 1), None, "--from 2027-01-01 is after today (2026-12-02)"),
    ],
)
def test_a_period_that_ends_before_it_starts_is_an_error(
    start: date, end: date | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose_period(WEDNESDAY, start=start, end=end)


def test_a_monday_is_its_own_weeks_and_a_sunday_ends_it() -> None:
    monday, sunday = date(2026, 11, 30), date(2026, 12, 6)
    assert choose_period(monday, weeks=1, end=monday).weeks == (monday,)
    assert choose_period(sunday, weeks=1, end=sunday).weeks == (monday,)
    assert choose_period(sunday, weeks=1).weeks == (date(2026, 11, 23),)


def test_to_in_the_past_ends_the_weeks_asked_for_there() -> None:
    period = choose_period(WEDNESDAY, weeks=3, end=date(2026, 10, 14))
    assert period.weeks == (date(2026, 9, 28), date(2026, 10, 5), date(2026, 10, 12))
    assert period.previous == (date(2026, 9, 7), date(2026, 9, 14), date(2026, 9, 21))
    assert period.describe() == "2026-09-28 to 2026-10-18, 3 weeks"
    assert period.label(date(2026, 10, 12)) == "2026-10-12"


def test_from_today_or_from_and_to_one_day_is_one_week() -> None:
    today = choose_period(WEDNESDAY, start=WEDNESDAY)
    assert today.weeks == (date(2026, 11, 30),) and today.partial == date(2026, 11, 30)
    assert today.describe() == "2026-11-30 to 2026-12-02 (week in progress), 1 weeks"
    one = choose_period(WEDNESDAY, start=date(2026, 11, 4), end=date(2026, 11, 4))
    assert one.weeks == (date(2026, 11, 2),) and one.previous == (date(2026, 10, 26),)
    assert one.partial is None
