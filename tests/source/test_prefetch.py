"""The page prefetcher: order, errors and early stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

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

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    iterator = prefetch(endless(), depth=2)
    assert next(iterator) == 0
    threading.Event().wait(0.2)  # let the producer fill the buffer and block on it
    started = time.monotonic()
    iterator.close()  # type: ignore[attr-defined]
    assert time.monotonic() - started < 1.0, "closing does not wait for a blocked producer"
    assert not any(t.name == "timetrack-prefetch" for t in threading.enumerate())
    settled = len(produced)
    threading.Event().wait(0.3)
    assert settled <= 5, "the producer stays at most a few items ahead"
    assert len(produced) == settled, "and stops once the consumer is gone"
