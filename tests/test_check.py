"""`timetrack check`'s arithmetic: how a first sync sits in an organization's hourly quota."""

from __future__ import annotations

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


def test_check_reports_each_organizations_quota_as_me_quota_says(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import requests

    from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits

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
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
        env["SOURCES__TIMETRACK__API_TOKEN"] = "demo-token"
        result = subprocess.run(
            [sys.executable, "-m", "timetrack", "check", "--base-url", server.base_url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    for quota in said:
        line = (
            f"      quota: {quota['total']:,} requests an hour on its plan; "
            f"{quota['remaining']:,} left now (resets in "
        )
        assert line in result.stdout, (line, result.stdout)
    assert any(q["remaining"] < q["total"] for q in said), "one window was partly spent"
