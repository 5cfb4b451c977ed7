"""The page prefetcher: order, errors and early stops."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from timetrack.source import prefetch as prefetch_module
from timetrack.source.prefetch import prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))


def test_an_error_in_the_producer_reaches_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 failed")

    consumed = []
    with pytest.raises(ValueError, match="page 2 failed"):
        for item in prefetch(broken()):
            consumed.append(item)
    assert consumed == [1]


def test_closing_early_stops_the_producer() -> None:
    produced = []
    blocked = threading.Event()

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            if n == 3:  # 0 consumed, 1 and 2 buffered: 3 waits for room that never comes
                blocked.set()
            yield n
            n += 1

    iterator = prefetch(endless(), depth=2)
    assert next(iterator) == 0
    assert blocked.wait(timeout=30), "the producer fills the buffer"
    iterator.close()  # type: ignore[attr-defined]
    # close() returns only after the producer thread has ended (or gave up waiting for it)
    assert not any(t.name == "timetrack-prefetch" for t in threading.enumerate()), (
        "closing stops a producer blocked on a full buffer"
    )
    assert produced == [0, 1, 2, 3], "the producer stays depth + 1 ahead and stops with close"


def test_the_producer_is_a_named_daemon_thread() -> None:
    seen: list[tuple[str, bool]] = []

    def items() -> Iterator[int]:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon))
        yield 1

    assert list(prefetch(items())) == [1]
    assert seen == [("timetrack-prefetch", True)], "a daemon never holds the process open"


def test_a_full_buffer_is_waited_for_and_two_items_are_the_default_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []

    class Full(queue.Queue[object]):
        """A buffer that is full at the first put, as it is while a consumer is busy."""

        def __init__(self, maxsize: int) -> None:
            super().__init__(maxsize)
            made.append(maxsize)
            self.refusals = 1

        def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
            if self.refusals:
                self.refusals -= 1
                raise queue.Full
            super().put(item, block, timeout)

    monkeypatch.setattr(prefetch_module, "queue", SimpleNamespace(Queue=Full, Full=queue.Full))
    assert list(prefetch(iter(range(5)))) == [0, 1, 2, 3, 4]
    assert made == [2]
