"""`timetrack check`'s arithmetic: how a first sync sits in an organization's hourly quota."""

from __future__ import annotations

import pytest

from timetrack.check import quota_hours


@pytest.mark.parametrize(
    ("needed", "plan", "said"),
    [
        (58, 600, "; fits in one hour's quota (58 of 600)"),
        (600, 600, "; fits in one hour's quota (600 of 600)"),
        (601, 600, "; about 2 hours at 600 an hour"),
        (1200, 600, "; about 2 hours at 600 an hour"),
        (1201, 600, "; about 3 hours at 600 an hour"),
        (95, 30, "; about 4 hours at 30 an hour"),
        (58, None, ""),
        (58, 0, ""),
    ],
)
def test_a_first_sync_in_the_hourly_quota(needed: int, plan: int | None, said: str) -> None:
    assert quota_hours(needed, plan) == said
