"""No duplicates across runs, the same tables from both layouts, narrowed runs.

That every table equals the emulator's records, row by row and value by value, for both tokens,
is test_values.py's job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tests.helpers import PARTIAL_TOKEN, Sync, db_counts, expected_counts
from timetrack.emulator import EmulatorServer


def _content(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as db:
        out = {}
        for table in db_counts(path):
            columns = [
                c
                for (c,) in db.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'timetrack' and table_name = ? order by column_name",
                    [table],
                ).fetchall()
                if not c.startswith("_dlt")
            ]
            cols = ", ".join(f'"{c}"' for c in columns)
            out[table] = db.execute(
                f'select {cols} from timetrack."{table}" order by all'
            ).fetchall()
        return out


def test_both_layouts_give_the_same_tables_and_a_second_run_adds_no_duplicates(
    emulator: EmulatorServer, sync: Sync, tmp_path: Path
) -> None:
    """The two layouts' syncs, then the first again into its own file (one set-up for what
    were two tests). The service unchanged, the second run writes only the rows another writer
    changed in the table since: a list read again whole writes what differs from what landed,
    nothing else."""
    sync(emulator.base_url, name="envelope", layout="envelope")
    sync(emulator.base_url, name="bare", layout="bare")
    envelope = _content(tmp_path / "envelope.duckdb")
    bare = _content(tmp_path / "bare.duckdb")
    assert envelope.keys() == bare.keys()
    for table in envelope:
        assert envelope[table] == bare[table], f"the layouts differ in {table}"

    first = db_counts(tmp_path / "envelope.duckdb")
    with duckdb.connect(str(tmp_path / "envelope.duckdb")) as db:
        # another writer's doing, each a value the service does not have: text, a JSON list
        # emptied, a live record marked deleted
        db.execute(
            "update timetrack.workspace_clients set name = name || ' (old)' where id = ("
            "select min(id) from timetrack.workspace_clients)"
        )
        db.execute(
            "update timetrack.organizations_groups set users = '[]' where group_id = ("
            "select min(group_id) from timetrack.organizations_groups where "
            "json_array_length(users) > 1)"
        )
        db.execute(
            "update timetrack.workspace_tags set server_deleted_at = now() where id = ("
            "select min(id) from timetrack.workspace_tags)"
        )
    second = sync(emulator.base_url, name="envelope", layout="envelope")
    assert second.rows == {"workspace_clients": 1, "organizations_groups": 1, "workspace_tags": 1}
    assert _content(tmp_path / "envelope.duckdb") == envelope, "what another writer changed"
    assert db_counts(tmp_path / "envelope.duckdb") == first, "a second run added rows"
    with duckdb.connect(str(tmp_path / "envelope.duckdb"), read_only=True) as db:
        for table, key in (
            ("time_entries", "id"),
            ("organizations_groups", "group_id"),
            ("workspace", "workspace_id"),
            ("workspace_tasks", "id"),
        ):
            dupes = db.execute(
                f"select count(*) - count(distinct {key}) from timetrack.{table}"
            ).fetchone()
            assert dupes == (0,), f"a second run duplicated rows of {table}"


def test_named_workspace_and_resource_selection(
    emulator: EmulatorServer, sync: Sync, tmp_path: Path
) -> None:
    expected = expected_counts(emulator.base_url, PARTIAL_TOKEN)
    summary = sync(
        emulator.base_url,
        workspace_ids=[4000001],
        resources=["workspace_clients", "workspace_tasks", "organizations"],
    )
    assert set(summary.rows) == {"workspace_clients", "workspace_tasks", "organizations"}
    # the partial token sees exactly workspace 4000001 and its organization
    assert summary.rows["workspace_clients"] == expected["workspace_clients"]
    assert summary.rows["workspace_tasks"] == expected["workspace_tasks"]
    assert summary.rows["organizations"] == 1
