"""What a run costs in requests and the schedule a quota allows (`costs`), worked by hand from
the constants they document: 3 requests an unchanged hourly run sends per workspace, about 10
per workspace and 2 per organization for the reconciliation, plus a request per 200 users."""

from __future__ import annotations

import pytest

from timetrack.source import costs


def test_an_unchanged_run_costs_three_requests_a_workspace() -> None:
    assert [costs.hourly_cost(n) for n in (0, 1, 4)] == [0, 3, 12]
    assert costs.HOURLY_ME == 1


@pytest.mark.parametrize(
    ("workspaces", "users", "expected"),
    [
        (1, 0, 10 + 2 + 1),  # no users counted: still a page of them
        (1, 1, 13),
        (2, 200, 20 + 2 + 1),
        (2, 201, 20 + 2 + 2),
        (3, 1000, 30 + 2 + 5),
    ],
)
def test_the_reconciliation_adds_requests_per_workspace_organization_and_page_of_users(
    workspaces: int, users: int, expected: int
) -> None:
    assert costs.reconciliation_cost(workspaces, users) == expected


def test_the_hourly_average_spreads_the_reconciliation_over_its_cadence() -> None:
    # 6 requests every 2 hours, and 24 once a day: 3 + 1 an hour.
    assert costs.per_hour(2.0, 6, 24, 24.0) == 4.0
    # A cadence shorter than the schedule reconciles at every run.
    assert costs.per_hour(2.0, 6, 24, 1.0) == 3.0 + 12.0
    assert costs.per_hour(2.0, 6, 24, 2.0) == 3.0 + 12.0
    # A cadence of 0 reconciles at every run as well.
    assert costs.per_hour(1.0, 3, 24, 0.0) == 27.0
    assert costs.per_hour(0.5, 3, 24, -1.0) == 6.0 + 48.0
    # A cadence of an hour, with a run every half hour: one reconciliation an hour.
    assert costs.per_hour(0.5, 3, 24, 1.0) == 6.0 + 24.0


@pytest.mark.parametrize(
    ("quota", "hourly", "reconciliation", "kwargs", "expected"),
    [
        (None, 3, 13, {}, None),
        (0, 3, 13, {}, None),
        # half of 5,000 an hour: any schedule; the most frequent is proposed
        (5000, 3, 13, {}, "every 15 minutes"),
        # half of 24 is 12: four runs of 3 an hour spend exactly that
        (24, 3, 0, {}, "every 15 minutes"),
        (23, 3, 0, {}, "every 30 minutes"),
        # half of 30 is 15: 24 + 23/24 an hour is too much; 12 + 23/24 is not
        (30, 6, 23, {}, "every 30 minutes"),
        (30, 6, 23, {"share": 1.0}, "every 15 minutes"),
        # reconciled at every run: 6 + 23 an hour, then 3 + 11.5 every two hours
        (30, 6, 23, {"reconcile_hours": 0.0}, "every 2 hours"),
        (12, 6, 0, {}, "hourly"),
        (6, 6, 0, {}, "every 2 hours"),
        (4, 6, 0, {}, "every 3 hours"),
        (2, 6, 0, {}, "every 6 hours"),
        (1, 6, 0, {}, "every 12 hours"),
        (1, 12, 0, {}, "daily"),
        (1, 6, 23, {}, "less often than daily (or raise the plan)"),
    ],
)
def test_the_most_frequent_schedule_within_the_share_of_the_quota(
    quota: int | None, hourly: int, reconciliation: int, kwargs: dict[str, float], expected: str
) -> None:
    assert costs.schedule(quota, hourly, reconciliation, **kwargs) == expected
