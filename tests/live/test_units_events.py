"""events.py on its own: the rows one event makes, each compared with the row worked out by hand
from the event (keys, the table, the version, deletions, the entry's two tables)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from timetrack.live.events import (
    ENTITY_TABLES,
    KEYS,
    WORKSPACE_SCOPED,
    Change,
    changes,
    version_text,
)

WS, ME, OTHER = 4_000_001, 6_000_001, 6_000_009
AT = "2026-02-01T10:00:00+02:00"
AT_UTC = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
STAMP = "2026-02-03T00:00:00Z"
STAMP_UTC = datetime(2026, 2, 3, tzinfo=UTC)


def event(model: str, payload: Any, action: str = "updated", **top: Any) -> dict[str, Any]:
    return {
        "metadata": {"model": model, "action": action, "workspace_id": str(WS)},
        "payload": payload,
        "timestamp": STAMP,
        **top,
    }


def entry(**extra: Any) -> dict[str, Any]:
    return {
        "id": 30,
        "workspace_id": WS,
        "user_id": ME,
        "pid": 77,
        "tid": 78,
        "description": "with\x00nul",
        "billable": True,
        "tag_ids": [3],
        "start": "2026-01-01T10:00:00+02:00",
        "stop": "2026-01-01T11:00:00+02:00",
        "duration": 3600,
        "at": AT,
        **extra,
    }


START = datetime(2026, 1, 1, 8, tzinfo=UTC)
STOP = datetime(2026, 1, 1, 9, tzinfo=UTC)


def own_row(**extra: Any) -> dict[str, Any]:
    return {
        "id": 30,
        "workspace_id": WS,
        "user_id": ME,
        "project_id": 77,
        "task_id": 78,
        "description": "withnul",
        "billable": True,
        "tag_ids": [3],
        "start": START,
        "stop": STOP,
        "duration": 3600,
        "at": AT_UTC,
        **extra,
    }


def report_row(**extra: Any) -> dict[str, Any]:
    return {
        "id": 30,
        "workspace_id": WS,
        "user_id": ME,
        "project_id": 77,
        "task_id": 78,
        "description": "withnul",
        "billable": True,
        "tag_ids": [3],
        "start": START,
        "stop": STOP,
        "seconds": 3600,
        "at": AT_UTC,
        **extra,
    }


def test_version_text_is_utc_with_microseconds_so_that_it_sorts_as_time() -> None:
    moment = datetime(2026, 2, 1, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert version_text(moment) == "2026-02-01T08:00:00.000005+00:00"
    assert version_text(datetime(2026, 2, 1, tzinfo=UTC)) == "2026-02-01T00:00:00.000000+00:00"


def test_version_text_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        moment = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
        assert version_text(moment) == "2026-02-01T10:00:00.000000+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_deletion_of_no_known_moment_is_deleted_now_in_utc() -> None:
    before = datetime.now(UTC)
    [found] = changes(
        {"metadata": {"model": "tag", "workspace_id": WS}, "action": "deleted", "payload": 5}, ME
    )
    assert found.deleted and found.key == 5
    deleted_at = found.row["server_deleted_at"]
    assert deleted_at.tzinfo is UTC and before <= deleted_at <= datetime.now(UTC)
    assert found.version == version_text(deleted_at)


def test_tables_and_keys() -> None:
    assert {t: "id" for t in [*ENTITY_TABLES.values(), "time_entries"]} == KEYS
    assert "workspaces" not in WORKSPACE_SCOPED and "workspace_tags" in WORKSPACE_SCOPED
    assert len(WORKSPACE_SCOPED) == len(ENTITY_TABLES) - 1


def test_a_project_update_is_its_cleaned_row_versioned_by_its_at() -> None:
    payload = {"id": 10, "wid": WS, "name": "p", "at": AT, "api_token": "leak"}
    assert changes(event("project", payload), ME) == [
        Change(
            "workspace_projects",
            10,
            {"id": 10, "name": "p", "at": AT_UTC, "workspace_id": WS},
            "2026-02-01T08:00:00.000000+00:00",
            False,
        )
    ]


@pytest.mark.parametrize(
    "body",
    [
        None,
        "text",
        [1],
        {**event("project", {"id": 10, "wid": WS}), "payload": "ping"},
        event("organization", {"id": 10, "wid": WS}),
        {"payload": {"id": 10, "wid": WS}},  # no entity at all
        event("project", {"id": 10}, metadata=None) | {"metadata": {"model": "project"}},
        event("tag", {"name": "no id", "workspace_id": WS}),
        event("tag", {"id": "x", "workspace_id": WS}),
    ],
)
def test_events_that_change_nothing(body: Any) -> None:
    assert changes(body, ME) == []


def test_the_entity_is_read_from_metadata_entity_or_the_event() -> None:
    tag = {"id": 20, "workspace_id": WS, "name": "t", "at": AT}
    want = [
        Change(
            "workspace_tags",
            20,
            {"id": 20, "workspace_id": WS, "name": "t", "at": AT_UTC},
            version_text(AT_UTC),
            False,
        )
    ]
    by_entity = {"metadata": {"entity": "tag"}, "payload": tag}
    on_top = {"metadata": "not a dict", "entity": "tag", "payload": tag}
    assert changes(by_entity, ME) == want
    assert changes(on_top, ME) == want
    # model first, then the metadata's entity, then the event's
    both = {"metadata": {"model": "tag", "entity": "project"}, "entity": "client", "payload": tag}
    assert changes(both, ME) == want
    meta_first = {"metadata": {"entity": "tag"}, "entity": "client", "payload": tag}
    assert changes(meta_first, ME) == want


def test_the_workspace_comes_from_the_metadata_then_the_payload() -> None:
    tag = {"id": 20, "workspace_id": 5, "wid": 6, "at": AT}
    assert changes(event("tag", tag), ME)[0].row["workspace_id"] == WS
    body = {"metadata": {"model": "tag"}, "payload": tag}
    assert changes(body, ME)[0].row["workspace_id"] == 5
    body = {"metadata": {"model": "tag"}, "payload": {"id": 20, "wid": "6", "at": AT}}
    assert changes(body, ME)[0].row["workspace_id"] == 6
    workspace = {"id": 8, "name": "w", "at": AT}
    # A workspace's row is its own: no workspace column beside its id
    assert changes(event("workspace", workspace), ME) == [
        Change("workspaces", 8, {"id": 8, "name": "w", "at": AT_UTC}, version_text(AT_UTC), False)
    ]
    no_ws = {"metadata": {"model": "workspace"}, "payload": workspace}
    assert [c.row for c in changes(no_ws, ME)] == [{"id": 8, "name": "w", "at": AT_UTC}]


def test_an_entity_without_at_takes_the_event_timestamp_then_created_at_then_now() -> None:
    tag = {"id": 20, "workspace_id": WS}
    assert changes(event("tag", tag), ME)[0].version == version_text(STAMP_UTC)
    created = {"metadata": {"model": "tag"}, "created_at": "2026-02-04T00:00:00Z", "payload": tag}
    assert changes(created, ME)[0].version == "2026-02-04T00:00:00.000000+00:00"
    before = datetime.now(UTC)
    found = changes({"metadata": {"model": "tag"}, "payload": tag}, ME)[0].version
    assert version_text(before) <= found <= version_text(datetime.now(UTC))
    both = {**created, "timestamp": STAMP}
    assert changes(both, ME)[0].version == version_text(STAMP_UTC)


def test_deletions_by_action_or_by_a_deletion_stamp() -> None:
    tag = {"id": 20, "workspace_id": WS, "name": "t", "at": AT}
    deleted = changes(event("tag", tag, action="deleted"), ME)
    # deleted at the event's timestamp, versioned by the entity's at
    assert deleted == [
        Change(
            "workspace_tags",
            20,
            {
                "id": 20,
                "workspace_id": WS,
                "name": "t",
                "at": AT_UTC,
                "server_deleted_at": STAMP_UTC,
            },
            version_text(AT_UTC),
            True,
        )
    ]
    on_top = {"metadata": {"model": "tag"}, "action": "deleted", "payload": tag}
    found = changes(on_top, ME)[0]
    assert found.deleted and found.row["server_deleted_at"] == AT_UTC  # no stamp: its at
    marked = {**tag, "server_deleted_at": "2026-02-05T00:00:00Z"}
    found = changes(event("tag", marked), ME)[0]
    assert found.deleted and found.row["server_deleted_at"] == datetime(2026, 2, 5, tzinfo=UTC)
    found = changes(event("tag", {**tag, "deleted_at": "2026-02-05T00:00:00Z"}), ME)[0]
    assert found.deleted and found.row["server_deleted_at"] == STAMP_UTC
    assert not changes(event("tag", tag, action="created"), ME)[0].deleted
    assert "server_deleted_at" not in changes(event("tag", tag), ME)[0].row


def test_a_deletion_sent_as_a_bare_id() -> None:
    assert changes(event("client", 21, action="deleted"), ME) == [
        Change(
            "workspace_clients",
            21,
            {"id": 21, "workspace_id": WS, "server_deleted_at": STAMP_UTC},
            version_text(STAMP_UTC),
            True,
        )
    ]


def test_my_stopped_entry_lands_in_both_tables() -> None:
    body = event("time_entry", entry(user_name="me"), action="created")
    version = version_text(AT_UTC)
    assert changes(body, ME) == [
        Change("time_entries", 30, own_row(user_name="me"), version, False),
        Change("report_time_entries", 30, report_row(username="me"), version, False),
    ]
    assert changes(body, ME, admin=False) == changes(body, ME)


def test_another_users_entry_is_in_the_report_only_and_a_member_sees_none() -> None:
    body = event("time_entry", entry(user_id=OTHER))
    assert changes(body, ME) == [
        Change("report_time_entries", 30, report_row(user_id=OTHER), version_text(AT_UTC), False)
    ]
    assert changes(body, ME, admin=False) == []
    # with no owner known (me None), nothing is the owner's own
    mine = event("time_entry", entry())
    assert [c.table for c in changes(mine, None)] == ["report_time_entries"]


def test_a_running_entry_is_out_of_the_report_until_it_stops() -> None:
    body = event("time_entry", entry(stop=None, duration=-1_700_000_000))
    own, report = changes(body, ME)
    assert own == Change(
        "time_entries",
        30,
        own_row(stop=None, duration=-1_700_000_000),
        version_text(AT_UTC),
        False,
    )
    assert report == Change(
        "report_time_entries",
        30,
        report_row(stop=None, seconds=None, server_deleted_at=STAMP_UTC),
        version_text(AT_UTC),
        True,
    )


def test_seconds_only_from_a_whole_non_negative_duration() -> None:
    def seconds(duration: Any) -> Any:
        return changes(event("time_entry", entry(duration=duration)), ME)[1].row["seconds"]

    assert seconds(0) == 0
    assert seconds(5) == 5
    assert seconds(-1) is None
    assert seconds(1.5) is None


def test_a_deleted_entry_sent_as_its_id_is_deleted_from_both_tables() -> None:
    body = event("time_entry", 30, action="deleted")
    version = version_text(STAMP_UTC)
    deleted_at = {"server_deleted_at": STAMP_UTC}
    assert changes(body, ME, admin=False) == [
        Change("time_entries", 30, {"id": 30, **deleted_at}, version, True),
        Change(
            "report_time_entries",
            30,
            {
                "id": 30,
                "workspace_id": WS,
                "user_id": None,
                "project_id": None,
                "task_id": None,
                "description": None,
                "billable": None,
                "tag_ids": None,
                "start": None,
                "stop": None,
                "seconds": None,
                "at": None,
                **deleted_at,
            },
            version,
            True,
        ),
    ]


def test_another_users_deleted_entry_leaves_mine_alone() -> None:
    body = event("time_entry", entry(user_id=OTHER), action="deleted")
    found = changes(body, ME)
    assert [(c.table, c.deleted) for c in found] == [("report_time_entries", True)]
    assert found[0].row["server_deleted_at"] == STAMP_UTC
    mine = changes(event("time_entry", entry(), action="deleted"), ME)
    assert [(c.table, c.deleted, c.row["server_deleted_at"]) for c in mine] == [
        ("time_entries", True, STAMP_UTC),
        ("report_time_entries", True, STAMP_UTC),
    ]


def test_an_entry_without_a_usable_id_or_workspace_changes_nothing() -> None:
    assert changes(event("time_entry", entry(id="x")), ME) == []
    body = {"metadata": {"model": "time_entry"}, "payload": {**entry(), "workspace_id": None}}
    assert changes(body, ME) == []
