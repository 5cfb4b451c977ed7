"""lander.py's passes on their own: which event of a failing batch is set aside, and when, with
the landing itself scripted (tests/live/test_lander.py lands a real refusal into DuckDB)."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import orjson
import pyarrow as pa
import pytest

from tests.helpers import rows_by_id
from timetrack.destination.target import Target, resolve_target
from timetrack.live.events import Change
from timetrack.live.journal import Event, Journal, SubscriptionRecord, journal_path
from timetrack.live.lander import (
    REPORT_SCHEMA,
    SUSPECT_PASSES,
    Lander,
    _report_table,
    batch_lock,
    live_pipeline_name,
)
from timetrack.run.pipeline import batch_marker_path, run_lock_path


class ScriptedLander(Lander):
    """A lander whose landing fails for the events `refused` names (or for every event while
    `down`) and otherwise marks them landed in the journal, as a load that went through does."""

    def __init__(self, target: Target, journal: Journal, refused: set[bytes]) -> None:
        super().__init__(target, journal)
        self.refused = refused
        self.down = False
        self.tried: list[list[bytes]] = []

    def _land(self, events: list[Event]) -> None:
        self.tried.append([e.body for e in events])
        if self.down or any(e.body in self.refused for e in events):
            raise RuntimeError("the destination refused a value")
        self.journal.landed([e.seq for e in events], {})


@pytest.fixture
def journal(tmp_path: Path) -> tuple[Target, Journal]:
    target = resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "st")
    )
    return target, Journal(journal_path(target))


def test_an_event_failing_alone_is_set_aside_after_three_passes_where_others_land(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    lander = ScriptedLander(target, events, refused={b"bad"})
    events.append(7, "bad", b"bad")
    with pytest.raises(RuntimeError, match="refused"):
        lander.land_once()  # alone, a refusal cannot be told from a destination down
    assert events.backlog() == 1 and events.set_aside_count() == 0
    assert SUSPECT_PASSES == 3
    for n in range(SUSPECT_PASSES):
        assert events.set_aside_count() == 0, f"set aside after {n} passes only"
        events.append(7, f"good {n}", f"good {n}".encode())
        assert lander.land_once() == 2
        # the batch, then each event alone: the good one lands, the bad one fails again
        assert lander.tried[-3:] == [
            [b"bad", f"good {n}".encode()],
            [b"bad"],
            [f"good {n}".encode()],
        ]
    assert events.set_aside_count() == 1 and lander.set_aside == 1
    assert events.backlog() == 0, "the refused event no longer holds up the journal"
    events.append(7, "later", b"later")
    assert lander.land_once() == 1
    assert lander.tried[-1] == [b"later"], "a set-aside event is never tried again"
    events.close()


def test_when_no_event_of_a_batch_lands_the_error_is_raised_and_nothing_set_aside(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    lander = ScriptedLander(target, events, refused=set())
    for n in range(2):
        events.append(7, f"e{n}", f"e{n}".encode())
    lander.down = True
    for _ in range(SUSPECT_PASSES + 1):  # a destination down for long sets nothing aside
        with pytest.raises(RuntimeError):
            lander.land_once()
    assert events.backlog() == 2 and events.set_aside_count() == 0 and lander.suspects == {}
    lander.down = False
    assert lander.land_once() == 2 and events.backlog() == 0
    events.close()


# --- the pieces of a batch, and batches landed into DuckDB ------------------------------------

WS, ME, OTHER, SUB = 4_000_001, 6_000_001, 6_000_009, 7


def event(
    model: str, payload: Any, action: str = "updated", stamp: str = "2026-03-01T00:00:00Z"
) -> bytes:
    return orjson.dumps(
        {
            "metadata": {"model": model, "action": action, "workspace_id": WS},
            "payload": payload,
            "subscription_id": SUB,
            "timestamp": stamp,
        }
    )


def project(key: int, name: str, at: str) -> dict[str, Any]:
    return {"id": key, "wid": WS, "name": name, "at": at}


def entry(key: int, user: int, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": key,
        "workspace_id": WS,
        "user_id": user,
        "start": "2026-01-01T10:00:00Z",
        "stop": "2026-01-01T11:00:00Z",
        "duration": 3600,
        "tag_ids": [3, 4],
        "description": "d",
        "at": at,
        **extra,
    }


def table(target: Target, name: str) -> dict[int, dict[str, Any]]:
    with duckdb.connect(target.location, read_only=True) as db:
        return rows_by_id(db, f"tt.{name}")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_live_pipeline_is_the_targets_own_beside_it(journal: tuple[Target, Journal]) -> None:
    target, events = journal
    assert live_pipeline_name(target) == "timetrack_live"
    lander = Lander(target, events)
    assert lander.pipeline.pipeline_name == "timetrack_live"
    assert lander.pipeline.pipelines_dir == target.pipelines_dir
    assert lander.pipeline.dataset_name == "tt"
    assert lander.pipeline.destination.destination_type.endswith("duckdb")
    assert (lander.landed_events, lander.landed_rows, lander.set_aside) == (0, 0, 0)
    assert lander.suspects == {} and lander.keep_deleted is False
    events.close()


def test_a_batch_cut_off_mid_load_is_dropped_when_the_lander_starts(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    cut = Lander(target, events).pipeline
    cut.extract(dlt.resource([{"id": 1}], name="workspace_tags"))
    assert cut.has_pending_data
    assert not Lander(target, events).pipeline.has_pending_data
    events.close()


def test_the_batch_lock_is_runs_lock_with_a_marker_while_held(tmp_path: Path) -> None:
    target = resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "a/b")
    )
    marker = batch_marker_path(target)
    with batch_lock(target) as ours:
        assert ours and marker.exists() and run_lock_path(target).exists()
        # a run cannot take it meanwhile
        with open(run_lock_path(target)) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with batch_lock(target) as again:
            assert again is False and marker.exists()
    assert not marker.exists()
    with open(run_lock_path(target)) as other:  # released
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with batch_lock(target) as ours:
            assert ours is False and not marker.exists()


def test_an_event_set_aside_says_why_in_one_line_of_at_most_500_characters(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal

    class Long(ScriptedLander):
        def _land(self, events: list[Event]) -> None:
            if any(e.body == b"bad" for e in events):
                raise RuntimeError("refused:\n  " + "x " * 400)
            super()._land(events)

    lander = Long(target, events, refused=set())
    events.append(7, "bad", b"bad")
    for n in range(SUSPECT_PASSES):
        events.append(7, f"good {n}", b"good")
        lander.land_once()
    why = events.db.execute("select set_aside from events where landed = 2").fetchone()[0]
    assert why == ("refused: " + "x " * 400)[:500]
    events.close()


def test_land_once_takes_at_most_its_limit_oldest_first(journal: tuple[Target, Journal]) -> None:
    target, events = journal
    lander = ScriptedLander(target, events, refused=set())
    assert lander.land_once() == 0 and lander.tried == []
    for n in range(5):
        events.append(7, f"e{n}", f"e{n}".encode())
    assert lander.land_once(limit=2) == 2
    assert lander.land_once() == 3
    assert lander.tried == [[b"e0", b"e1"], [b"e2", b"e3", b"e4"]]
    events.close()


def test_the_newest_change_per_key_and_whose_entries_are_whose(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    events.record_subscription(
        SubscriptionRecord(SUB, WS, ME, False, ["time_entry"], "", "v", True)
    )
    lander = Lander(target, events)
    bodies = [
        event("project", project(10, "b", "2026-02-01T00:00:00Z")),
        event("project", project(10, "a", "2026-01-01T00:00:00Z")),
        event("project", project(10, "c", "2026-02-01T00:00:00Z")),  # a tie: the later wins
        b"not json",
        event("time_entry", entry(30, ME, "2026-02-01T00:00:00Z")),
        event("time_entry", entry(31, OTHER, "2026-02-01T00:00:00Z")),  # a member sees none
    ]
    found = lander._newest([Event(n, SUB, b) for n, b in enumerate(bodies)])
    assert sorted(found) == [
        ("report_time_entries", 30),
        ("time_entries", 30),
        ("workspace_projects", 10),
    ]
    assert found[("workspace_projects", 10)].row["name"] == "c"
    # An event of a subscription not recorded: no owner known, seen as an admin's
    other = lander._newest([Event(1, 99, bodies[5])])
    assert sorted(other) == [("report_time_entries", 31)]
    events.close()


def test_a_deletion_lands_as_its_key_or_keeps_the_row_marked(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    row = {"id": 5, "workspace_id": WS, "name": "n", "server_deleted_at": "t"}
    deleted = Change("workspace_tags", 5, row, "v", True)
    before = {"id": 5, "workspace_id": WS, "name": "old", "color": "red"}
    assert Lander(target, events)._row(deleted, before) == {
        "id": 5,
        "server_deleted_at": "t",
        "workspace_id": WS,
    }
    assert Lander(target, events, keep_deleted=True)._row(deleted, before) == {
        **row,
        "color": "red",
    }
    workspace = Change("workspaces", 8, {"id": 8, "server_deleted_at": "t"}, "v", True)
    assert Lander(target, events)._row(workspace, None) == {"id": 8, "server_deleted_at": "t"}
    kept = Change("workspace_tags", 5, {"id": 5, "name": "new"}, "v", False)
    assert Lander(target, events)._row(kept, before) == {**before, "name": "new"}
    assert Lander(target, events)._row(kept, None) == {"id": 5, "name": "new"}
    events.close()


def test_the_report_table_keeps_landed_columns_typed_as_they_come() -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "workspace_id": WS, "tag_ids": [1, 2], "project_name": "p", "none": None},
        {"id": 2, "workspace_id": WS, "mixed": 1, "project_name": None},
        {"id": 3, "workspace_id": WS, "mixed": "a", "none": None},
    ]
    found = _report_table(rows)
    assert found.schema.names == [*REPORT_SCHEMA.names, "mixed", "project_name"]
    assert found.schema.field("tag_ids").type == pa.list_(pa.int64())
    assert found.schema.field("project_name").type == pa.string()
    assert found.schema.field("mixed").type == pa.string()
    assert found.column("mixed").to_pylist() == [None, "1", "a"]
    assert found.column("tag_ids").to_pylist() == [[1, 2], None, None]
    assert found.column("project_name").to_pylist() == ["p", None, None]
    numbers = _report_table([{"id": 1, "workspace_id": WS, "amount": 5}])
    assert numbers.schema.field("amount").type == pa.int64()
    assert _report_table([{"id": 1, "workspace_id": WS}]).schema == REPORT_SCHEMA


def test_batches_land_the_newest_rows_over_what_landed(journal: tuple[Target, Journal]) -> None:
    target, events = journal
    events.record_subscription(SubscriptionRecord(SUB, WS, ME, True, ["time_entry"], "", "v", True))
    lander = Lander(target, events)
    first = [
        event("project", project(10, "p10", "2026-02-01T00:00:00Z")),
        event("project", project(11, "p11", "2026-02-01T00:00:00Z")),
        event("time_entry", entry(30, ME, "2026-02-01T00:00:00Z", user_name="me")),
        event("time_entry", entry(31, OTHER, "2026-02-01T00:00:00Z")),
        b"not json",
    ]
    for n, body in enumerate(first):
        events.append(SUB, f"a{n}", body)
    assert lander.land_once() == 5
    assert (lander.landed_events, lander.landed_rows) == (5, 5)
    assert events.backlog() == 0
    assert events.versions("workspace_projects", [10, 11]) == {
        10: "2026-02-01T00:00:00.000000+00:00",
        11: "2026-02-01T00:00:00.000000+00:00",
    }
    report = table(target, "report_time_entries")
    assert sorted(report) == [30, 31] and orjson.loads(report[30]["tag_ids"]) == [3, 4]
    assert report[30]["username"] == "me" and report[30]["seconds"] == 3600
    assert sorted(table(target, "time_entries")) == [30]
    with duckdb.connect(target.location, read_only=True) as db:
        columns = {
            t: {r[0] for r in db.execute(f"describe tt.{t}").fetchall()}
            for t in ("report_time_entries", "workspace_projects")
        }
    assert "_dlt_id" not in columns["report_time_entries"]  # Arrow, as `run` lands it
    assert "_dlt_id" in columns["workspace_projects"]
    # `run` landed a newer 11 (and the listener's version of it is forgotten)
    with duckdb.connect(target.location) as db:
        db.execute(
            "update tt.workspace_projects set \"at\" = '2026-04-01T00:00:00Z', name = 'run' "
            "where id = 11"
        )
        db.execute("update tt.report_time_entries set billable_amount_in_cents = 500")
    events.db.execute("delete from versions where key = 11")
    second = [
        event("project", project(10, "older", "2026-01-01T00:00:00Z")),  # versions: old news
        event("project", project(11, "older than run", "2026-03-01T00:00:00Z")),
        event("project", project(12, "new", "2026-03-01T00:00:00Z")),
        event("time_entry", entry(30, ME, "2026-03-01T00:00:00Z", description="changed")),
        event("time_entry", 31, action="deleted"),
    ]
    for n, body in enumerate(second):
        events.append(SUB, f"b{n}", body)
    assert lander.land_once() == 5
    # 12, 30 in both tables, 31's deletion in both (its owner unknown): not 10 nor 11
    assert (lander.landed_events, lander.landed_rows) == (10, 10)
    projects = table(target, "workspace_projects")
    assert {k: r["name"] for k, r in projects.items()} == {10: "p10", 11: "run", 12: "new"}
    assert projects[10]["workspace_id"] == WS
    report = table(target, "report_time_entries")
    assert sorted(report) == [30]  # 31 deleted
    assert report[30]["description"] == "changed"
    assert report[30]["billable_amount_in_cents"] == 500  # kept: the event does not carry it
    assert report[30]["username"] == "me"
    assert table(target, "time_entries")[30]["description"] == "changed"
    assert events.versions("workspace_projects", [10, 11, 12]) == {
        10: "2026-02-01T00:00:00.000000+00:00",
        12: "2026-03-01T00:00:00.000000+00:00",
    }
    assert events.versions("report_time_entries", [31]) == {31: "2026-03-01T00:00:00.000000+00:00"}
    # the same version again (a redelivery after a crash) lands again, the same row
    events.append(SUB, "c", second[2])
    assert lander.land_once() == 1 and lander.landed_rows == 11
    assert table(target, "workspace_projects")[12]["name"] == "new"
    # an update of 31 older than its deletion, late: the deletion holds (the journal's versions)
    late = entry(31, OTHER, "2026-02-15T00:00:00Z")
    events.append(SUB, "d", event("time_entry", late, stamp="2026-02-15T00:00:00Z"))
    assert lander.land_once() == 1 and lander.landed_rows == 11
    assert sorted(table(target, "report_time_entries")) == [30]
    events.close()


def test_a_batch_the_destination_refuses_is_dropped_and_lands_with_the_next(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    with duckdb.connect(target.location) as db:
        db.execute(
            "create schema tt; create table tt.workspace_projects (id bigint not null, "
            "workspace_id bigint not null, name text check (name <> 'refused'), "
            "_dlt_load_id text not null, _dlt_id text not null)"
        )
    lander = Lander(target, events)
    events.append(SUB, "a", event("project", project(16, "refused", "2026-02-01T00:00:00Z")))
    with pytest.raises(Exception, match="refused"):
        lander.land_once()
    assert not lander.pipeline.has_pending_data
    assert events.backlog() == 1 and lander.landed_events == 0
    events.db.execute("update events set body = ?", (event("project", project(16, "ok", "x")),))
    assert lander.land_once() == 1
    assert {k: r["name"] for k, r in table(target, "workspace_projects").items()} == {16: "ok"}
    events.close()


def test_rows_landed_are_read_back_with_json_decoded_in_chunks(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    lander = Lander(target, events)
    assert lander._landed("report_time_entries", [1]) == {}  # no table yet
    assert lander._landed("report_time_entries", []) == {}
    with duckdb.connect(target.location) as db:
        db.execute(
            "create schema tt; create table tt.report_time_entries (id bigint, tag_ids text, "
            "description text, _dlt_load_id text); insert into tt.report_time_entries "
            "select i, '[1, 2]', 'd' || i, 'x' from range(1, 1202) t(i)"
        )
        db.execute("update tt.report_time_entries set tag_ids = null where id = 2")
    found = lander._landed("report_time_entries", list(range(1, 1300)))
    assert sorted(found) == list(range(1, 1202))
    assert found[1] == {"id": 1, "tag_ids": [1, 2], "description": "d1"}
    assert found[2] == {"id": 2, "tag_ids": None, "description": "d2"}
    assert found[1201]["description"] == "d1201"
    events.close()


def test_when_every_event_fails_alone_the_last_ones_error_is_raised(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal

    class Naming(ScriptedLander):
        def _land(self, events: list[Event]) -> None:
            raise RuntimeError(b" ".join(e.body for e in events).decode())

    lander = Naming(target, events, refused=set())
    for name in ("first", "second", "third"):
        events.append(7, name, name.encode())
    with pytest.raises(RuntimeError) as caught:
        lander.land_once()
    assert str(caught.value) == "third"
    events.close()


def test_every_event_that_keeps_failing_is_counted_as_set_aside(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    lander = ScriptedLander(target, events, refused={b"bad 1", b"bad 2"})
    events.append(7, "bad 1", b"bad 1")
    events.append(7, "bad 2", b"bad 2")
    for n in range(SUSPECT_PASSES):
        events.append(7, f"good {n}", b"good")
        assert lander.land_once() == 3
    assert lander.set_aside == 2 and events.set_aside_count() == 2 and lander.suspects == {}
    events.close()


def test_an_older_change_later_in_the_batch_does_not_replace_the_newer(
    journal: tuple[Target, Journal],
) -> None:
    target, events = journal
    lander = Lander(target, events)
    bodies = [
        event("project", project(10, "new", "2026-02-01T00:00:00Z")),
        event("project", project(10, "old", "2026-01-01T00:00:00Z")),  # delivered late
    ]
    found = lander._newest([Event(n, SUB, b) for n, b in enumerate(bodies)])
    assert [(key, c.row["name"]) for key, c in found.items()] == [
        (("workspace_projects", 10), "new")
    ]
    events.close()
