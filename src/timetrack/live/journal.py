"""The listener's durable journal: a SQLite file (WAL, synchronous=FULL) beside the pipeline's
state. Every verified event is committed here before the listener answers 2xx, so that an event
the service thinks delivered survives kill -9; the lander then takes events from it in order and
marks them landed. It also keeps, per table and key, the newest version landed (so an older
event never overwrites a newer row, a deleted one included), the subscriptions `setup` made for
this destination, and the listener's heartbeat."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timetrack.destination.target import Target
from timetrack.errors import ConfigurationError

SCHEMA = """
create table if not exists events (
    seq integer primary key autoincrement,
    subscription_id integer not null,
    event_id text not null,
    received_at real not null,
    body blob not null,
    landed integer not null default 0,
    landed_at real,
    set_aside text,
    unique (subscription_id, event_id)
);
create index if not exists events_unlanded on events (landed, seq);
create table if not exists versions (
    table_name text not null,
    key integer not null,
    at text not null,
    primary key (table_name, key)
);
create table if not exists subscriptions (
    subscription_id integer primary key,
    workspace_id integer not null,
    user_id integer,
    admin integer not null default 0,
    entities text not null,
    url_callback text,
    validated_at text,
    enabled integer not null default 1
);
create table if not exists meta (name text primary key, value text);
"""

# The journal's statements beside its schema. (Being module constants, they are also out of
# mutmut's reach: SQLite reads keywords and names in any case, so the upper-cased copies it
# made of statements written inline were the same statements.)
_WAL = "pragma journal_mode=wal"
_FULL_SYNC = "pragma synchronous=full"
_APPEND = (
    "insert or ignore into events (subscription_id, event_id, received_at, body) "
    "values (?, ?, ?, ?)"
)
_UNLANDED = "select seq, subscription_id, body from events where landed = 0 order by seq limit ?"
_BACKLOG = "select count(*) from events where landed = 0"
_MARK_LANDED = "update events set landed = 1, landed_at = ? where seq = ?"
_NOTE_VERSION = (
    "insert into versions (table_name, key, at) values (?, ?, ?) "
    "on conflict (table_name, key) do update set at = excluded.at "
    "where excluded.at > versions.at"
)
_FORGET_LANDED = "delete from events where landed = 1 and received_at < ?"
_SET_ASIDE = "update events set landed = 2, landed_at = ?, set_aside = ? where seq = ?"
_SET_ASIDE_COUNT = "select count(*) from events where landed = 2"
_RECORD_SUBSCRIPTION = "insert or replace into subscriptions values (?, ?, ?, ?, ?, ?, ?, ?)"
_VALIDATED = (
    "update subscriptions set validated_at = coalesce(validated_at, ?) where subscription_id = ?"
)
_FORGET_SUBSCRIPTION = "delete from subscriptions where subscription_id = ?"
_SUBSCRIPTIONS = (
    "select subscription_id, workspace_id, user_id, admin, entities, url_callback, "
    "validated_at, enabled from subscriptions order by workspace_id"
)
_META = "select value from meta where name = ?"

KEEP_LANDED_SECONDS = 86_400.0
"""Landed events are kept a day, so that a late duplicate delivery is still known."""


def journal_path(target: Target) -> Path:
    """The journal of a target's pipeline, in its pipelines folder."""
    return target.pipelines_folder / f"{target.pipeline_name}.live-journal.sqlite"


@dataclass(frozen=True)
class Event:
    """One journalled event."""

    seq: int
    subscription_id: int
    body: bytes


@dataclass(frozen=True)
class SubscriptionRecord:
    """What `setup` recorded of one subscription (no secret: that is in dlt's secrets)."""

    subscription_id: int
    workspace_id: int
    user_id: int | None
    admin: bool
    entities: list[str]
    url_callback: str
    validated_at: str | None
    enabled: bool


class Journal:
    """One connection to the journal; use one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            self.db.execute(_WAL)
            self.db.execute(_FULL_SYNC)
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ConfigurationError(f"cannot open the webhook journal {path}: {error}") from None

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("begin immediate")
        try:
            yield self.db
        except BaseException:
            self.db.execute("rollback")
            raise
        self.db.execute("commit")

    # --- events ---------------------------------------------------------------------------

    def append(self, subscription_id: int, event_id: str, body: bytes) -> bool:
        """Commit one event durably; False when it was journalled before (a redelivery)."""
        cursor = self.db.execute(
            _APPEND,
            (subscription_id, event_id, time.time(), body),
        )
        return cursor.rowcount == 1

    def unlanded(self, limit: int) -> list[Event]:
        """The oldest events not landed yet."""
        rows = self.db.execute(
            _UNLANDED,
            (limit,),
        ).fetchall()
        return [Event(int(s), int(sub), bytes(b)) for s, sub, b in rows]

    def backlog(self) -> int:
        """Events journalled and not landed yet."""
        return int(self.db.execute(_BACKLOG).fetchone()[0])

    def landed(self, seqs: Iterable[int], versions: dict[tuple[str, int], str]) -> None:
        """Mark events landed and note the versions they landed, in one transaction."""
        with self._transaction() as db:
            now = time.time()
            db.executemany(
                _MARK_LANDED,
                [(now, s) for s in seqs],
            )
            db.executemany(
                _NOTE_VERSION,
                [(table, key, at) for (table, key), at in versions.items()],
            )
            db.execute(
                _FORGET_LANDED,
                (time.time() - KEEP_LANDED_SECONDS,),
            )

    def set_aside(self, seq: int, reason: str) -> None:
        """Keep an event that can never land out of the batches (landed = 2), with why."""
        self.db.execute(
            _SET_ASIDE,
            (time.time(), reason, seq),
        )

    def set_aside_count(self) -> int:
        """Events set aside because the destination refused them."""
        return int(self.db.execute(_SET_ASIDE_COUNT).fetchone()[0])

    def versions(self, table: str, keys: list[int]) -> dict[int, str]:
        """The newest version landed of some keys of a table."""
        out: dict[int, str] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ", ".join("?" * len(part))
            for key, at in self.db.execute(
                f"select key, at from versions where table_name = ? and key in ({marks})",
                (table, *part),
            ):
                out[int(key)] = str(at)
        return out

    # --- subscriptions and heartbeat ----------------------------------------------------------

    def record_subscription(self, record: SubscriptionRecord) -> None:
        """Note (or update) a subscription setup made for this destination."""
        self.db.execute(
            _RECORD_SUBSCRIPTION,
            (
                record.subscription_id,
                record.workspace_id,
                record.user_id,
                int(record.admin),
                json.dumps(record.entities),
                record.url_callback,
                record.validated_at,
                int(record.enabled),
            ),
        )

    def validated(self, subscription_id: int, when: str) -> None:
        """Note that the listener answered a subscription's ping."""
        self.db.execute(
            _VALIDATED,
            (when, subscription_id),
        )

    def forget_subscriptions(self, subscription_ids: list[int]) -> None:
        """Forget removed subscriptions."""
        self.db.executemany(
            _FORGET_SUBSCRIPTION,
            [(s,) for s in subscription_ids],
        )

    def subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription setup recorded for this destination."""
        rows = self.db.execute(_SUBSCRIPTIONS).fetchall()
        return [
            SubscriptionRecord(
                int(r[0]),
                int(r[1]),
                None if r[2] is None else int(r[2]),
                bool(r[3]),
                list(json.loads(r[4])),
                str(r[5] or ""),
                r[6],
                bool(r[7]),
            )
            for r in rows
        ]

    def beat(self) -> None:
        """Note that the listener is alive now."""
        self.db.execute(
            "insert or replace into meta (name, value) values ('heartbeat', ?)", (str(time.time()),)
        )

    def heartbeat(self) -> float | None:
        """When the listener last said it was alive (unix seconds)."""
        row = self.db.execute("select value from meta where name = 'heartbeat'").fetchone()
        return None if row is None else float(row[0])

    def meta(self, name: str) -> Any:
        """A stored value, if any."""
        row = self.db.execute(_META, (name,)).fetchone()
        return None if row is None else row[0]
