"""`timetrack check`'s arithmetic: how a first sync sits in an organization's hourly quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def _check(base_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`timetrack check` against `base_url` as a user runs it, with the demo token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env["SOURCES__TIMETRACK__API_TOKEN"] = "demo-token"
    return subprocess.run(
        [sys.executable, "-m", "timetrack", "check", "--base-url", base_url],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("quota", "hourly", "daily", "said"),
    [
        # a small team on a Free plan: 4 runs an hour spend 12 + 15/24, under half of 30
        (30, 3, 15, "every 15 minutes"),
        # three workspaces: 9 an hour; 2 runs an hour are 18 + 32/24, over 15
        (30, 9, 32, "hourly"),
        # 9 + 32/24 is over 10 (half of 20): every 2 hours is 4.5 + 32/24
        (20, 9, 32, "every 2 hours"),
        (600, 9, 32, "every 15 minutes"),
        (30, 400, 100, "less often than daily (or raise the plan)"),  # 500/24 > 15
        (None, 3, 15, None),
    ],
)
def test_the_schedule_leaves_half_the_quota(
    quota: int | None, hourly: int, daily: int, said: str | None
) -> None:
    from timetrack.source.costs import schedule

    assert schedule(quota, hourly, daily) == said


def test_check_says_each_quota_and_what_an_unchanged_run_costs_as_measured(
    tmp_path: Path,
) -> None:
    """One `timetrack check` (two before, against two emulators): each organization's quota as
    /me/quota says it, and what an unchanged run costs as two runs then measure."""
    import re

    import requests

    from tests.helpers import clock, fast_options
    from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits
    from timetrack.run.pipeline import run

    with EmulatorServer(EmulatorConfig(seed=7, limits=Limits(quota=True))) as server:
        # Spend some of one organization's window first, so "left" is not the plan's total.
        for _ in range(3):
            requests.get(
                f"{server.base_url}/v1/organizations/9000001",
                auth=("demo-token", "api_token"),
                timeout=10,
            )
        said = requests.get(
            f"{server.base_url}/v1/me/quota", auth=("demo-token", "api_token"), timeout=10
        ).json()["data"]
        result = _check(server.base_url, tmp_path)
        assert result.returncode == 0, result.stderr
        for quota in said:
            line = (
                f"      quota: {quota['total']:,} requests an hour on its plan; "
                f"{quota['remaining']:,} left now (resets in "
            )
            assert line in result.stdout, ("the quota as /me/quota says", line, result.stdout)
        assert any(q["remaining"] < q["total"] for q in said), "one window was partly spent"

        printed = {
            int(org): int(cost)
            for org, cost in re.findall(
                r"  (\d+)  .*?\n(?:      .*\n)*?      an unchanged run then costs (\d+) requests",
                result.stdout,
            )
        }
        assert len(printed) == 2, result.stdout
        assert "other tools: every 15 minutes" in result.stdout  # 600 an hour, 3 or 6 a run
        # what an unchanged run an hour after a first sync costs, per organization
        assert run(fast_options(server.base_url, tmp_path, reconcile_hours=24)).exit_code == 0
        requests.delete(f"{server.base_url}/_emulator/requests", timeout=10)
        clock(server.base_url, advance=3600)
        assert run(fast_options(server.base_url, tmp_path, reconcile_hours=24)).exit_code == 0
        log = requests.get(f"{server.base_url}/_emulator/requests", timeout=10).json()
        workspaces = requests.get(
            f"{server.base_url}/_emulator/records/workspaces",
            params={"token": "demo-token"},
            timeout=10,
        ).json()
    organization_of = {w["id"]: w["organization_id"] for w in workspaces}
    measured: dict[int, int] = {}
    for key, count in log["by_path_status"].items():
        found = re.search(r"/workspaces?/(\d+)/", key)
        if found:
            org = organization_of[int(found.group(1))]
            measured[org] = measured.get(org, 0) + count
    assert measured == printed, "an unchanged run costs what check said"
