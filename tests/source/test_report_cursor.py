"""The report walk pages by the cursor headers the reference documents (`X-Next-ID`,
`X-Next-Row-Number`): a service that sends no `X-Next-Timestamp` loses and repeats nothing.

A proxy strips that header from every report answer; the truth is read from the emulator
directly (tests/truth.py)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.helpers import TOKEN, Sync, duckdb_rows
from tests.source.proxies import Forward, HttpProxy, Reply, Seen
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.emulator.config import Scale
from timetrack.source import reports

SCALE = Scale(
    organizations=1,
    workspaces=2,
    users=6,
    projects_per_workspace=10,
    tasks_per_workspace=10,
    time_entries=800,
    days=200,
)
PAGE_SIZE = 100
"""Pages of 100 (the source asks for 1,000): each workspace's report takes several pages of
800 entries as it took of 5,000, in a sixth of the time."""
REPORT = re.compile(r"^(/v1/reports|/reports/api/v3)/workspace/\d+/search/time_entries$")


@pytest.mark.parametrize("layout", ["envelope", "bare"])
def test_a_report_without_x_next_timestamp_lands_every_entry_once(
    sync: Sync, tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "PAGE_SIZE", PAGE_SIZE)
    bodies: list[dict[str, object]] = []

    def strip(seen: Seen, forward: Forward) -> Reply | None:
        if not REPORT.match(seen.path):
            return None
        bodies.append(seen.json())
        reply = forward(seen)
        headers = {k: v for k, v in reply.headers.items() if k.lower() != "x-next-timestamp"}
        return Reply(reply.status, reply.body, headers)

    with (
        EmulatorServer(EmulatorConfig(seed=26, scale=SCALE)) as server,
        HttpProxy(server.base_url, strip) as proxy,
    ):
        summary = sync(proxy.base_url, layout=layout)
        assert summary.exit_code == 0, summary.lines()
        following = [b for b in bodies if "first_id" in b]
        assert len(following) >= 4, "each workspace's report took several pages"
        assert all("first_row_number" in b for b in following)
        assert {b["page_size"] for b in bodies} == {PAGE_SIZE}, "the pages were small"
        assert not any("first_timestamp" in b for b in bodies), "a made-up first_timestamp"
        landed = duckdb_rows(tmp_path / "db.duckdb")
        assert differences(expected_tables(server.base_url, TOKEN), landed) == []
        # `at_tz` (the reference lists it on every entry; the truth's contract does not name
        # it) lands as text: the same instant as `at`, at its user's offset.
        zones = {
            (m["workspace_id"], m["id"]): ZoneInfo(m["timezone"])
            for m in requests.get(f"{server.base_url}/_emulator/records/workspace_members").json()
        }
        for row in landed["report_time_entries"]:
            local = datetime.fromisoformat(row["at_tz"])
            assert local == row["at"], row
            zone = zones[(row["workspace_id"], row["user_id"])]
            assert local.utcoffset() == row["at"].astimezone(zone).utcoffset(), row
