"""Fetching the next page while the current one is processed.

Waiting for the service releases the GIL, so one background thread hides most of the network
wait behind building Arrow tables and handing them to dlt. Pacing still applies: the thread
sends through the same client.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()

POLL_SECONDS = 0.1
"""How often a producer waiting for room looks whether the consumer has gone."""
STOP_WAIT_SECONDS = 5.0
"""How long closing waits for the producer to stop: a page being fetched ends first."""


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate `items` in a background thread, at most `depth` items ahead of the consumer.

    Errors raised by `items` surface in the consumer; closing the consumer stops the thread.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        """Put unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            hand_over(error)

    thread = threading.Thread(target=produce, name="timetrack-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=STOP_WAIT_SECONDS)
