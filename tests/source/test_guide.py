"""The guide's configuration, corrected only where dlt rejects it, loads from the emulator
through dlt's own rest_api_source: the emulator and the guide agree."""

from __future__ import annotations

from pathlib import Path

import dlt
import requests
from dlt.sources.rest_api import rest_api_source

from tests.helpers import db_counts
from timetrack.emulator import EmulatorServer
from timetrack.source.guide import guide_config


def test_the_guide_loads_through_rest_api_source(emulator: EmulatorServer, tmp_path: Path) -> None:
    org, ws = 9000001, 4000001
    config = guide_config(emulator.base_url, "demo-token", org, ws)
    pipeline = dlt.pipeline(
        "guide",
        destination=dlt.destinations.duckdb(str(tmp_path / "guide_db.duckdb")),
        dataset_name="guide",
        pipelines_dir=str(tmp_path / "state"),
    )
    pipeline.run(rest_api_source(config))
    counts = db_counts(tmp_path / "guide_db.duckdb", "guide")
    truth = requests.get(emulator.base_url + "/_emulator/truth", timeout=30).json()
    # What the guide's literal configuration gets: every table, but only defaults and first pages.
    assert counts["organizations"] == 1
    assert counts["workspace"] == 1
    assert counts["organizations_groups"] == truth["groups"]["by_organization"][str(org)]["live"]
    assert counts["workspace_clients"] == truth["clients"]["by_workspace"][str(ws)]["active"]
    assert counts["workspace_tasks"] == truth["tasks"]["by_workspace"][str(ws)]["active"]
    assert counts["organizations_users"] == 50
    assert counts["workspace_projects"] == min(
        151, truth["projects"]["by_workspace"][str(ws)]["active"]
    )
    assert 0 < counts["time_entries"] < truth["my_time_entries"]["live"]
