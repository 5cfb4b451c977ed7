"""The page prefetcher: order, errors and early stops."""

from __future__ import annotations

import threading
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
    iterator.close()  # type: ignore[attr-defined]
    settled = len(produced)
    threading.Event().wait(0.3)
    assert settled <= 5, "the producer stays at most a few items ahead"
    assert len(produced) == settled, "and stops once the consumer is gone"
