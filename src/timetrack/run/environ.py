"""dlt's settings for the length of one command or run, through the environment (where dlt
reads them first): set where the user has not set them, put back afterwards, so that nothing
leaks into what the process does next (another run, a test, a scheduler's next job)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def unless_set(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the environment where it has none of its own, only inside."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
