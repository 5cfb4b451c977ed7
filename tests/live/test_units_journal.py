"""journal.py and live_workspaces on their own: the SQLite journal as the listener, the lander and
`webhooks setup` use it, read back through its own methods and with plain SQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from timetrack.destination.target import Target, resolve_target
from timetrack.errors import ConfigurationError
from timetrack.live import LIVE_SECONDS, live_workspaces
from timetrack.live.journal import (
    KEEP_LANDED_SECONDS,
    Event,
    Journal,
    SubscriptionRecord,
    journal_path,
)

WS, ME = 4_000_001, 6_000_001


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "st")
    )


@pytest.fixture
def journal(target: Target) -> Iterator[Journal]:
    found = Journal(journal_path(target))
    yield found
    found.close()


def test_the_journal_is_beside_the_pipelines_state(target: Target, tmp_path: Path) -> None:
    assert journal_path(target) == tmp_path / "st" / f"{target.pipeline_name}.live-journal.sqlite"


def test_a_journal_makes_the_pipelines_folder_it_lives_in(tmp_path: Path) -> None:
    target = resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "a/b")
    )
    Journal(journal_path(target)).close()
    assert journal_path(target).exists() and journal_path(target).parent == tmp_path / "a/b"


def test_a_new_journal_is_durable_wal(journal: Journal) -> None:
    assert journal.path.exists()
    assert journal.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert journal.db.execute("pragma synchronous").fetchone()[0] == 2  # FULL
    assert journal.db.isolation_level is None  # autocommit: each append is committed at once
    other = sqlite3.connect(journal.path)
    journal.append(7, "e1", b"{}")
    assert other.execute("select count(*) from events").fetchone()[0] == 1
    other.close()


def test_a_journal_that_cannot_be_opened_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError) as caught:
        Journal(tmp_path / "file" / "j.sqlite")
    assert str(caught.value).startswith(
        f"cannot open the webhook journal {tmp_path}/file/j.sqlite:"
    )
    assert caught.value.__suppress_context__
    (tmp_path / "not-sqlite").write_text("x" * 4096)
    with pytest.raises(ConfigurationError, match="not a database"):
        Journal(tmp_path / "not-sqlite")


def test_a_journal_is_usable_from_another_thread(journal: Journal) -> None:
    import threading

    found: list[int] = []
    thread = threading.Thread(target=lambda: found.append(journal.backlog()))
    thread.start()
    thread.join()
    assert found == [0]


def test_events_append_once_and_come_back_in_order(journal: Journal) -> None:
    before = time.time()
    assert journal.append(7, "a", b"A") is True
    assert journal.append(8, "a", b"A8") is True  # another subscription's event "a"
    assert journal.append(7, "a", b"again") is False  # a redelivery
    assert journal.append(7, "b", b"B") is True
    received = [r[0] for r in journal.db.execute("select received_at from events order by seq")]
    assert all(before <= r <= time.time() for r in received)
    assert journal.unlanded(10) == [
        Event(1, 7, b"A"),
        Event(2, 8, b"A8"),
        Event(4, 7, b"B"),
    ]  # autoincrement
    assert journal.unlanded(2) == [Event(1, 7, b"A"), Event(2, 8, b"A8")]
    assert journal.backlog() == 3


def test_landed_events_leave_the_backlog_and_versions_keep_the_newest(journal: Journal) -> None:
    for n in range(3):
        journal.append(7, f"e{n}", b"x")
    before = time.time()
    journal.landed([1, 3], {("t", 1): "2026-02", ("t", 2): "2026-01", ("u", 1): "2026-03"})
    assert journal.unlanded(10) == [Event(2, 7, b"x")] and journal.backlog() == 1
    rows = journal.db.execute("select seq, landed, landed_at from events order by seq").fetchall()
    assert [(s, landed) for s, landed, _ in rows] == [(1, 1), (2, 0), (3, 1)]
    assert rows[1][2] is None and all(before <= r[2] <= time.time() for r in (rows[0], rows[2]))
    journal.landed([2], {("t", 1): "2026-01", ("t", 2): "2026-04"})  # an older version of 1
    assert journal.versions("t", [1, 2, 3]) == {1: "2026-02", 2: "2026-04"}
    assert journal.versions("u", [1]) == {1: "2026-03"}
    assert journal.versions("t", []) == {}
    assert journal.backlog() == 0


def test_versions_of_many_keys(journal: Journal) -> None:
    keys = list(range(1, 1202))
    journal.landed([], {("t", k): f"v{k}" for k in keys})
    assert journal.versions("t", keys) == {k: f"v{k}" for k in keys}
    assert journal.versions("t", [5, 1201, 2000]) == {5: "v5", 1201: "v1201"}


def test_a_failing_transaction_changes_nothing(journal: Journal) -> None:
    journal.append(7, "a", b"x")
    with pytest.raises(sqlite3.IntegrityError):
        journal.landed([1], {("t", None): "v"})  # type: ignore[dict-item]
    assert journal.backlog() == 1 and not journal.db.in_transaction
    journal.landed([1], {})
    assert journal.backlog() == 0


def test_landed_events_are_kept_a_day(journal: Journal) -> None:
    assert KEEP_LANDED_SECONDS == 86_400.0
    for name in ("old", "recent", "unlanded"):
        journal.append(7, name, b"x")
    now = time.time()
    journal.db.execute(
        "update events set received_at = ? where event_id in ('old', 'unlanded')",
        (now - KEEP_LANDED_SECONDS - 10,),
    )
    journal.db.execute(
        "update events set received_at = ? where event_id = 'recent'",
        (now - KEEP_LANDED_SECONDS + 30,),
    )
    journal.landed([1, 2], {})
    ids = [r[0] for r in journal.db.execute("select event_id from events order by seq")]
    assert ids == ["recent", "unlanded"]
    assert journal.append(7, "recent", b"x") is False  # still known as delivered


def test_events_set_aside_say_why_and_leave_the_backlog(journal: Journal) -> None:
    journal.append(7, "a", b"x")
    journal.append(7, "b", b"y")
    before = time.time()
    journal.set_aside(1, "refused")
    assert journal.set_aside_count() == 1 and journal.backlog() == 1
    assert journal.unlanded(10) == [Event(2, 7, b"y")]
    landed, at, why = journal.db.execute(
        "select landed, landed_at, set_aside from events where seq = 1"
    ).fetchone()
    assert (landed, why) == (2, "refused") and before <= at <= time.time()


RECORD = SubscriptionRecord(11, WS + 1, ME, True, ["project", "time_entry"], "http://cb", "v", True)


def test_subscriptions_are_recorded_updated_validated_and_forgotten(journal: Journal) -> None:
    member = SubscriptionRecord(12, WS, None, False, ["tag"], "", None, False)
    journal.record_subscription(RECORD)
    journal.record_subscription(member)
    assert journal.subscriptions() == [member, RECORD]  # by workspace
    journal.validated(12, "2026-02-01")
    journal.validated(12, "2026-03-01")  # the first validation stays
    journal.validated(11, "2026-03-01")
    validated = SubscriptionRecord(12, WS, None, False, ["tag"], "", "2026-02-01", False)
    assert journal.subscriptions() == [validated, RECORD]
    changed = SubscriptionRecord(12, WS, ME, True, ["client"], "http://x", None, True)
    journal.record_subscription(changed)
    assert journal.subscriptions() == [changed, RECORD]
    journal.forget_subscriptions([12, 99])
    assert journal.subscriptions() == [RECORD]
    journal.forget_subscriptions([])
    assert journal.subscriptions() == [RECORD]


def test_a_subscription_without_callback_reads_as_empty(journal: Journal) -> None:
    journal.db.execute(
        "insert into subscriptions (subscription_id, workspace_id, entities) values (1, 2, '[]')"
    )
    assert journal.subscriptions() == [SubscriptionRecord(1, 2, None, False, [], "", None, True)]


def test_the_heartbeat_and_meta(journal: Journal) -> None:
    assert journal.heartbeat() is None and journal.meta("heartbeat") is None
    before = time.time()
    journal.beat()
    beat = journal.heartbeat()
    assert beat is not None and before <= beat <= time.time()
    assert journal.meta("heartbeat") == str(beat)
    journal.db.execute("insert into meta values ('other', 'x')")
    assert journal.meta("other") == "x" and journal.meta("none") is None


def test_live_workspaces(target: Target, journal: Journal) -> None:
    assert LIVE_SECONDS == 120.0
    assert live_workspaces(target) == {}  # no listener ever beat
    journal.record_subscription(RECORD)
    journal.record_subscription(SubscriptionRecord(12, WS, ME, False, ["tag"], "", "v", True))
    journal.record_subscription(SubscriptionRecord(13, WS, ME, False, ["project"], "", "v", True))
    journal.record_subscription(SubscriptionRecord(14, WS, ME, True, ["client"], "", None, True))
    journal.record_subscription(SubscriptionRecord(15, WS, ME, True, ["task"], "", "v", False))
    assert live_workspaces(target) == {}
    journal.beat()
    beat = journal.heartbeat()
    assert beat is not None
    covered = {
        WS: frozenset({"workspace_tags", "workspace_projects"}),
        WS + 1: frozenset({"workspace_projects", "report_time_entries", "time_entries"}),
    }
    assert live_workspaces(target) == covered
    assert live_workspaces(target, now=beat + LIVE_SECONDS) == covered
    assert live_workspaces(target, now=beat + LIVE_SECONDS + 0.01) == {}
    assert live_workspaces(target, now=beat + 10, max_silence=5) == {}
    assert live_workspaces(target, now=beat + 10, max_silence=10) == covered
    journal.append(7, "a", b"{}")
    journal.db.execute("update events set received_at = ?", (beat - 5,))
    assert live_workspaces(target, now=beat + LIVE_SECONDS - 5) == covered
    assert live_workspaces(target, now=beat + LIVE_SECONDS - 4) == {}  # a backlog not landing
    journal.landed([1], {})
    assert live_workspaces(target, now=beat + LIVE_SECONDS - 4) == covered


def test_live_workspaces_of_a_target_without_journal(target: Target) -> None:
    assert live_workspaces(target) == {}
    assert not journal_path(target).exists()  # asking creates nothing
