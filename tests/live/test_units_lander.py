"""lander.py's passes on their own: which event of a failing batch is set aside, and when, with
the landing itself scripted (tests/live/test_lander.py lands a real refusal into DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from timetrack.destination.target import Target, resolve_target
from timetrack.live.journal import Event, Journal, journal_path
from timetrack.live.lander import SUSPECT_PASSES, Lander


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
