"""`rates`: the rate and labor cost histories, opt-in, equal to the emulator's by value, read
again only when a record says its rate changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.helpers import MEMBER_TOKEN, Api, Sync, clock
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

SMALL_TEAM = Scale(
    organizations=1, workspaces=1, users=6, projects_per_workspace=30, time_entries=500, days=120
)
RATES = "GET /v1/workspaces/{workspace_id}/rates/{level}/{level_id}"
LEVELS = ("workspace", "workspace_user", "project", "project_user")
"""The levels whose records say when their rate changed (tasks do not: not read)."""


@pytest.fixture(scope="module")
def team() -> Iterator[tuple[EmulatorServer, Api]]:
    """One team for the module: the member's run reads nothing the admin's test changes (it
    lands no history whatever the projects), and the admin's test counts only its own
    requests."""
    with EmulatorServer(EmulatorConfig(scale=SMALL_TEAM)) as server:
        yield server, Api(server.base_url, "envelope")


def _landed(db: Path) -> dict[int, tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute(
            'select id, workspace_id, level, level_id, type, amount, start, "end" '
            "from timetrack.rates"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_rates_are_opt_in_land_as_the_histories_and_leave_with_their_project(
    team: tuple[EmulatorServer, Api], sync: Sync, tmp_path: Path
) -> None:
    """One team through the life of its rates (four tests of one set-up each before): a run
    without `rates` reads none; a run with it lands the histories equal to the emulator's; an
    unchanged run an hour later asks for none again (its lists not due, the marks that landed
    say no rate changed); a deleted project's history, and its members', leave with it while
    the others stay."""
    server, api = team
    api.admin("DELETE", "/requests")  # the member's run may have come first
    plain = sync(server.base_url, name="plain")
    assert plain.exit_code == 0, plain.closing_lines()
    asked = api.admin("GET", "/requests")["by_route"].get(RATES, 0)
    assert asked == 0, "opt-in: a run without rates asks for no history"
    with duckdb.connect(str(tmp_path / "plain.duckdb"), read_only=True) as connection:
        found = connection.execute("select table_name from information_schema.tables")
        tables = {t for (t,) in found.fetchall()}
    assert "rates" not in tables and "project_users" in tables, "opt-in: no rates table"

    db = tmp_path / "db.duckdb"
    summary = sync(server.base_url, rates=True)
    assert summary.exit_code == 0, summary.closing_lines()
    rates = api.admin("GET", "/records/rates")
    truth = {
        r["id"]: (
            r["workspace_id"],
            r["level"],
            r["level_id"],
            r["type"],
            r["amount"],
            _instant(r["start"]),
            _instant(r["end"]),
        )
        for r in rates
        if r["level"] in LEVELS and r["deleted_at"] is None
    }
    assert len(truth) > 100
    assert _landed(db) == truth, "the histories land equal to the emulator's"

    api.admin("DELETE", "/requests")
    clock(server.base_url, advance=3600)
    again = sync(server.base_url, rates=True, reconcile_hours=24)
    assert again.exit_code == 0
    asked = api.admin("GET", "/requests")["by_route"].get(RATES, 0)
    assert asked == 0, "an unchanged run an hour later asks for no history again"
    assert _landed(db) == truth, "an unchanged run leaves the histories as they were"

    project = next(r["level_id"] for r in rates if r["level"] == "project")
    # the project's own history, and its members' (project users leave with their project)
    ours = {
        r["id"]
        for r in rates
        if (r["level"] == "project" and r["level_id"] == project)
        or (r["level"] == "project_user" and r["project_id"] == project)
    }
    assert ours and ours <= set(truth)
    api.admin("DELETE", f"/projects/{project}")
    assert sync(server.base_url, rates=True).exit_code == 0
    landed = _landed(db)
    assert not ours & set(landed), "a deleted project's histories leave with it"
    assert landed == {k: v for k, v in truth.items() if k not in ours}, (
        "the other histories stay as they were, value by value"
    )


def test_a_members_token_skips_rates_with_a_warning(
    team: tuple[EmulatorServer, Api], sync: Sync
) -> None:
    server, _ = team
    summary = sync(server.base_url, token=MEMBER_TOKEN, rates=True)
    assert summary.exit_code == 0, summary.closing_lines()
    assert not summary.stats.errors
    assert summary.rows.get("rates", 0) == 0
    assert any("rates" in warning for warning in summary.stats.warnings), summary.stats.warnings
