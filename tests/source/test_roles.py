"""Roles: a member's token lands what a member may read, warns once per table and scope it may
not read, exits 0, and leaves the rows an admin's run landed as they were.

The truth is the emulator's own (tests/truth.py, which reads the emulator's `access`), and the
warning lines are written out here: nothing comes from the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
from click.testing import Result

from tests.helpers import MEMBER_TOKEN, TOKEN, Sync, duckdb_rows
from tests.source.proxies import Forward, HttpProxy, Reply, Seen, json_reply
from tests.test_units_cli_inprocess import invoke
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.errors import ConfigurationError

MEMBER_WARNINGS = [
    "workspace of workspace 4000001: needs workspace admin",
    "workspace of workspace 4000003: needs workspace admin",
    "workspace_users of workspace 4000001: needs workspace admin",
    "workspace_users of workspace 4000003: needs workspace admin",
    "project_users of workspace 4000001: needs workspace admin",
    "project_users of workspace 4000003: needs workspace admin",
    "organizations_users of organization 9000001: needs organization admin",
]
"""What a run with the member's token warns on the default emulator (seed 7): the member is in
workspaces 4000001 and 4000003 of organization 9000001, admin of none."""

ADMIN_ONLY = {
    "organizations_users": "id",
    "workspace": "workspace_id",
    "workspace_users": "id",
    "project_users": "id",
}
SMALL = Scale(users=12, projects_per_workspace=20, tasks_per_workspace=20, time_entries=600)


def _cli(tmp_path: Path, token: str, *args: str) -> Result:
    """`timetrack ARGS` in this process (tests/test_units_cli_inprocess.py), from tmp_path."""
    if args[0] == "run":
        args = (*args, "--pipelines-dir", str(tmp_path / "state"), "--progress-every", "0")
    return invoke(
        tmp_path,
        *args,
        SOURCES__TIMETRACK__API_TOKEN=token,
        SOURCES__TIMETRACK__REQUESTS_PER_SECOND="0",
    )


def _access(base_url: str, token: str) -> dict[str, Any]:
    truth = requests.get(f"{base_url}/_emulator/truth", params={"token": token}, timeout=60)
    access: dict[str, Any] = truth.json()["access"]
    return access


def _warnings_of(access: dict[str, Any]) -> list[str]:
    """The warnings the emulator's truth calls for, in the order a run reads the tables."""
    workspaces, organizations = access["workspaces"], access["organizations"]
    return [
        *(f"workspace of workspace {w}: needs workspace admin" for w in workspaces
          if "statistics" in workspaces[w]["refused"]),
        *(f"workspace_users of workspace {w}: needs workspace admin" for w in workspaces
          if "workspace_users" in workspaces[w]["refused"]),
        *(f"project_users of workspace {w}: needs workspace admin" for w in workspaces
          if "project_users" in workspaces[w]["refused"]),
        *(f"organizations_users of organization {o}: needs organization admin"
          for o in organizations if "organization_users" in organizations[o]["refused"]),
    ]  # fmt: skip


def _table_rows(path: Path, table: str, key: str) -> list[tuple[Any, ...]]:
    """Every row of a table, dlt's own columns included: a row merged again has a new load id."""
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(f'select * from timetrack."{table}" order by "{key}"').fetchall()


def test_a_members_run_lands_what_a_member_may_read_and_exits_0(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assert _warnings_of(_access(emulator.base_url, MEMBER_TOKEN)) == MEMBER_WARNINGS
    result = _cli(tmp_path, MEMBER_TOKEN, "run", "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    assert "Error" not in result.stderr and "Traceback" not in result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {w}" for w in MEMBER_WARNINGS]
    landed = duckdb_rows(tmp_path / "timetrack.duckdb", "time_tracking")
    assert not set(ADMIN_ONLY) & set(landed), "nothing lands in a table the member may not read"
    expected = expected_tables(emulator.base_url, MEMBER_TOKEN)
    assert all(expected[table] == {} for table in ADMIN_ONLY)
    assert expected["report_time_entries"] and expected["time_entries"]
    problems = differences(expected, landed)
    assert not problems, "\n".join(problems[:40])
    member = requests.get(
        f"{emulator.base_url}/_emulator/truth", params={"token": MEMBER_TOKEN}, timeout=60
    ).json()["user_id"]
    users = {row["user_id"] for row in landed["report_time_entries"]}
    assert users == {member}, "a member's report holds its own entries only"
    assert MEMBER_TOKEN not in result.stdout + result.stderr


def test_an_admins_refusal_is_an_error_and_another_users_token_is_refused_the_dataset(
    emulator: EmulatorServer, tmp_path: Path, sync: Sync
) -> None:
    """The admin's first run is refused one workspace's statistics: no question of rights for
    an admin, so an error (and the rest lands). The member's token into that dataset is then
    refused and changes nothing; the owner's next run goes on. Three tables are enough: whose
    dataset it is does not depend on what it holds."""
    tables = ["workspace_clients", "workspace_users", "workspace"]
    with HttpProxy(emulator.base_url, _refuse("/workspaces/4000001/statistics")) as proxy:
        admin = sync(proxy.base_url, token=TOKEN, resources=tables)
    assert admin.exit_code == 1
    assert admin.stats.errors, "the refusal is an error"
    assert all(e.startswith("workspace of workspace 4000001") for e in admin.stats.errors), (
        admin.stats.errors
    )
    assert admin.stats.warnings == []
    db = tmp_path / "db.duckdb"
    before = duckdb_rows(db)
    truth = expected_tables(emulator.base_url, TOKEN)
    landed_truth = {t: truth[t] for t in tables}
    landed_truth["workspace"] = {
        k: row for k, row in truth["workspace"].items() if row["workspace_id"] != 4000001
    }
    assert len(landed_truth["workspace"]) == len(truth["workspace"]) - 1
    problems = differences(landed_truth, before)
    assert not problems, "\n".join(problems[:40])
    member_id = _access(emulator.base_url, MEMBER_TOKEN)["user_id"]
    admin_id = _access(emulator.base_url, TOKEN)["user_id"]
    with pytest.raises(ConfigurationError) as refused:
        sync(emulator.base_url, token=MEMBER_TOKEN, resources=tables)
    assert str(refused.value) == (
        f"this dataset holds what the token of user {admin_id} may see; this token is user "
        f"{member_id}'s: sync it into another --dataset (each user's view is a dataset of its "
        "own)"
    )
    assert duckdb_rows(db) == before, "the refused run changed what landed"
    again = sync(emulator.base_url, token=TOKEN, resources=tables)  # the owner's goes on
    assert again.exit_code == 0, again.stats.errors
    assert again.stats.warnings == []
    problems = differences({t: truth[t] for t in tables}, duckdb_rows(db))
    assert not problems, "\n".join(problems[:40])


def test_a_member_who_administers_one_workspace_reads_its_tables_there_until_demoted(
    make_emulator: Callable[..., EmulatorServer], tmp_path: Path, sync: Sync
) -> None:
    """Promoted to admin of one workspace: its admin tables land, and `check` says so. Demoted
    again: the next run warns, and leaves those tables as they were."""
    server = make_emulator(EmulatorConfig(scale=SMALL))
    access = _access(server.base_url, MEMBER_TOKEN)
    workspaces = sorted(access["workspaces"])
    assert len(workspaces) >= 2, "the member needs two workspaces for this test"
    promoted, refused = workspaces[0], workspaces[1:]
    role = f"{server.base_url}/_emulator/workspaces/{promoted}/members/{access['user_id']}"
    answer = requests.put(role, json={"role": "admin"}, timeout=30)
    assert answer.status_code == 200, answer.text
    access = _access(server.base_url, MEMBER_TOKEN)
    assert access["workspaces"][promoted]["refused"] == []
    summary = sync(server.base_url, token=MEMBER_TOKEN)
    assert summary.exit_code == 0, summary.stats.errors
    assert summary.stats.warnings == _warnings_of(access), "warned for the other workspaces"
    assert not any(promoted in warning for warning in summary.stats.warnings)
    db = tmp_path / "db.duckdb"
    landed = duckdb_rows(db)
    expected = expected_tables(server.base_url, MEMBER_TOKEN)
    assert {r["workspace_id"] for r in expected["workspace_users"].values()} == {int(promoted)}
    problems = differences(expected, landed)
    assert not problems, "\n".join(problems[:40])

    check = _cli(tmp_path, MEMBER_TOKEN, "check", "--base-url", server.base_url)
    assert check.exit_code == 0, check.stderr
    part = f"in 1 of {len(workspaces)} workspaces; not in {', '.join(refused)}"
    for table in ("workspace", "workspace_users"):
        assert f"  {table:<20}  {part} (needs workspace admin)\n" in check.stdout, table
    assert f"  {'organizations_users':<20}  no (needs organization admin)\n" in check.stdout

    # Rights lost since the last run: those tables stay as they were.
    workspace_tables = {t: k for t, k in ADMIN_ONLY.items() if t.startswith("workspace")}
    before = {table: _table_rows(db, table, key) for table, key in workspace_tables.items()}
    assert before["workspace_users"], "as an admin of one workspace, its members landed"
    assert requests.put(role, json={"role": "user"}, timeout=30).status_code == 200
    second = sync(server.base_url, token=MEMBER_TOKEN)
    assert second.exit_code == 0, second.stats.errors
    assert f"workspace_users of workspace {promoted}: needs workspace admin" in (
        second.stats.warnings
    ), "the lost right is a warning"
    after = {table: _table_rows(db, table, key) for table, key in workspace_tables.items()}
    assert after == before, "a refusal deleted, marked or merged again rows that had landed"


def _refuse(path_end: str) -> Callable[[Seen, Forward], Reply | None]:
    def mutate(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path.endswith(path_end):
            return json_reply("not authorized", status=403)
        return None

    return mutate


def test_a_member_refused_a_table_every_member_reads_or_its_own_entries_gets_errors(
    emulator: EmulatorServer, sync: Sync
) -> None:
    """A 403 on a table every member reads, and on /me/time_entries: errors, not warnings (only
    those two tables are synced: the refusal's kind is the point, not the rest). An admin
    refused is the test above's."""

    def mutate(seen: Seen, forward: Forward) -> Reply | None:
        if seen.path.endswith(("/workspaces/4000001/clients", "/me/time_entries")):
            return json_reply("not authorized", status=403)
        return None

    with HttpProxy(emulator.base_url, mutate) as proxy:
        summary = sync(
            proxy.base_url, token=MEMBER_TOKEN, resources=["workspace_clients", "time_entries"]
        )
    assert summary.exit_code == 1
    for error in ("workspace_clients of workspace 4000001", "time_entries: "):
        assert [e for e in summary.stats.errors if e.startswith(error)], summary.stats.errors
        assert not [w for w in summary.stats.warnings if w.startswith(error)]


def test_check_lists_what_a_member_cannot_read(emulator: EmulatorServer, tmp_path: Path) -> None:
    result = _cli(tmp_path, MEMBER_TOKEN, "check", "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    section = lines[lines.index("tables this token can read:") + 1 :]
    assert section == [
        "  organizations         yes",
        "  workspaces            yes",
        "  workspace             no (needs workspace admin)",
        "  workspace_clients     yes",
        "  workspace_tags        yes",
        "  organizations_groups  yes",
        "  workspace_users       no (needs workspace admin)",
        "  project_users         no (needs workspace admin)",
        "  project_groups        yes",
        "  organizations_users   no (needs organization admin)",
        "  workspace_projects    yes",
        "  workspace_tasks       yes",
        "  rates                 no (needs workspace admin)",
        "  time_entries          yes",
        "  report_time_entries   yes",
    ]
    assert re.search(r"fits in one hour's quota \(\d+ of [\d,]+\)", result.stdout), result.stdout
    admin = _cli(tmp_path, TOKEN, "check", "--base-url", emulator.base_url)
    assert admin.exit_code == 0, admin.stderr
    assert "needs" not in admin.stdout.split("tables this token can read:")[1]
