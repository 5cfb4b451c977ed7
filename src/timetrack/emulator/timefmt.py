"""Timestamps as the service spells them: several RFC3339 spellings of the same UTC instant.

Clients must parse all of them; the spelling is picked deterministically per record and field so
that a response is reproducible and a page mixes spellings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

SPELLINGS = 4


def format_ts(unix: float, spelling: int) -> str:
    """Render unix time in spelling 0-3: `+00:00` or `Z`, without or with microseconds."""
    moment = datetime.fromtimestamp(unix, UTC)
    kind = spelling % SPELLINGS
    if kind == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if kind == 1:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == 2:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def format_ts_many(unix_us: npt.NDArray[np.int64], spellings: Sequence[int]) -> list[str]:
    """format_ts for many instants at once (unix microseconds), for pages of a thousand rows:
    numpy renders the digits, each spelling only picks its ending."""
    full = np.datetime_as_string(unix_us.astype("datetime64[us]"), unit="us").tolist()
    out = []
    for text, spelling in zip(full, spellings, strict=True):
        kind = spelling % SPELLINGS
        if kind == 0:
            out.append(text[:19] + "+00:00")
        elif kind == 1:
            out.append(text[:19] + "Z")
        elif kind == 2:
            out.append(text + "Z")
        else:
            out.append(text + "+00:00")
    return out


def format_date(unix: float) -> str:
    """The UTC date of unix time as YYYY-MM-DD."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date_or_ts(text: str) -> float:
    """Parse YYYY-MM-DD (midnight UTC) or an RFC3339 timestamp into unix seconds.

    Raises ValueError on anything else.
    """
    if _DATE.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text}")
    return moment.timestamp()


def parse_date(text: str) -> float:
    """Parse a plain YYYY-MM-DD date into the unix time of its midnight UTC."""
    if not _DATE.match(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text}")
    return parse_date_or_ts(text)
