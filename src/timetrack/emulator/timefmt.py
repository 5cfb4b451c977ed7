"""Timestamps as the service spells them: many RFC3339 spellings of the same instant.

A spelling is picked deterministically per record and field (an integer, usually the record id
plus a salt per field), so a page mixes spellings while staying reproducible. A spelling has a
zone (`+00:00`, `Z`, or with `offsets` on, one of the non-UTC offsets below) and a fraction
(none, milliseconds, microseconds). Every spelling is lossless: a fraction too short for the
value's sub-second part is widened, and an offset moves the wall time, never the instant. Years
are always four digits; instants in the first or last year of 1-9999 are spelled plainly in
`Z`, so that no offset or padding pushes them out of range for any parser.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

ZONES = ("+00:00", "Z", "+02:00", "-05:30", "+05:45", "-08:00")
"""The zone suffixes; the first two are UTC, the others move the wall time by their offset."""
_ZONE_MINUTES = (0, 0, 120, -330, 345, -480)
_ZONE_US = np.array([m * 60_000_000 for m in _ZONE_MINUTES], dtype=np.int64)
FRACTIONS = 3
"""Fraction styles: 0 none, 1 milliseconds, 2 microseconds."""
_CUT = np.array([19, 23, 26], dtype=np.int64)
SPELLINGS = len(ZONES) * FRACTIONS
"""Distinct spellings with offsets on."""

MIN_US = -62_135_596_800_000_000
"""0001-01-01T00:00:00Z in unix microseconds."""
MAX_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z in unix microseconds."""
MIN_UNIX = MIN_US // 1_000_000
MAX_UNIX = MAX_US // 1_000_000
_PLAIN_BELOW = MIN_US + 366 * 86_400_000_000
_PLAIN_ABOVE = MAX_US - 366 * 86_400_000_000
_EPOCH = datetime(1970, 1, 1)


def _style(spelling: int, offsets: bool) -> tuple[int, int]:
    zones = len(ZONES) if offsets else 2
    return spelling % zones, (spelling // zones) % FRACTIONS


def to_us(unix: float) -> int:
    """Unix seconds (float) as whole microseconds, the precision every spelling keeps."""
    return round(unix * 1_000_000)


def format_ts_us(unix_us: int, spelling: int, offsets: bool = True) -> str:
    """Render unix microseconds in the given spelling (see the module docstring)."""
    if not MIN_US <= unix_us <= MAX_US:
        raise ValueError("timestamp outside years 1-9999")
    zone, fraction = _style(spelling, offsets)
    if not _PLAIN_BELOW <= unix_us <= _PLAIN_ABOVE:
        zone, fraction = 1, 0
    local = unix_us + _ZONE_MINUTES[zone] * 60_000_000
    micro = unix_us % 1_000_000
    fraction = max(fraction, 0 if micro == 0 else 1 if micro % 1000 == 0 else 2)
    m = _EPOCH + timedelta(microseconds=local)
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    if fraction == 1:
        text += f".{micro // 1000:03d}"
    elif fraction == 2:
        text += f".{micro:06d}"
    return text + ZONES[zone]


def format_ts(unix: float, spelling: int, offsets: bool = True) -> str:
    """Render unix seconds in the given spelling (see the module docstring)."""
    return format_ts_us(to_us(unix), spelling, offsets)


def format_ts_many(
    unix_us: npt.NDArray[np.int64], spellings: npt.NDArray[np.int64], offsets: bool = True
) -> list[str]:
    """format_ts_us for many instants at once, for pages of a thousand rows: numpy renders the
    digits, each spelling only picks where to cut and which zone to append."""
    unix_us = np.asarray(unix_us, dtype=np.int64)
    spellings = np.asarray(spellings, dtype=np.int64)
    zones = len(ZONES) if offsets else 2
    zone = spellings % zones
    fraction = (spellings // zones) % FRACTIONS
    plain = (unix_us < _PLAIN_BELOW) | (unix_us > _PLAIN_ABOVE)
    zone = np.where(plain, 1, zone)
    fraction = np.where(plain, 0, fraction)
    local = unix_us + _ZONE_US[zone]
    micro = unix_us % 1_000_000
    need = np.where(micro == 0, 0, np.where(micro % 1000 == 0, 1, 2))
    cut = _CUT[np.maximum(fraction, need)].tolist()
    full = np.datetime_as_string(local.astype("datetime64[us]"), unit="us").tolist()
    return [text[:end] + ZONES[z] for text, end, z in zip(full, cut, zone.tolist(), strict=True)]


def format_date(unix: float) -> str:
    """The UTC date of unix time as YYYY-MM-DD (four-digit years, also for year 1)."""
    day = (_EPOCH + timedelta(microseconds=to_us(unix))).date()
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date_or_ts(text: str) -> float:
    """Parse YYYY-MM-DD (midnight UTC) or an RFC3339 timestamp into unix seconds.

    Raises ValueError on anything else, and on instants outside years 1-9999 UTC.
    """
    if _DATE.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).timestamp()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text}")
    unix = moment.timestamp()
    if not MIN_UNIX <= unix <= MAX_UNIX:
        raise ValueError(f"timestamp outside years 1-9999: {text}")
    return unix


def parse_date(text: str) -> float:
    """Parse a plain YYYY-MM-DD date into the unix time of its midnight UTC."""
    if not _DATE.match(text):
        raise ValueError(f"not a YYYY-MM-DD date: {text}")
    return parse_date_or_ts(text)


_PLAIN = 1 << 40
"""Stands for `Z` among offsets in minutes (no offset is that large)."""


def format_local_many(
    unix_us: npt.NDArray[np.int64], offset_minutes: npt.NDArray[np.int64]
) -> list[str]:
    """Instants as local wall times at the given UTC offsets (`2026-03-01T10:00:00+01:00`,
    `-05:00`, `+00:00`), with a fraction only as long as the value needs: the spelling of a time
    in someone's timezone (the report's `at_tz`). At the calendar's first and last year the
    instant is spelled plainly in `Z`, as everywhere (see the module docstring)."""
    unix_us = np.asarray(unix_us, dtype=np.int64)
    minutes = np.asarray(offset_minutes, dtype=np.int64)
    plain = (unix_us < _PLAIN_BELOW) | (unix_us > _PLAIN_ABOVE)
    minutes = np.where(plain, 0, minutes)
    local = unix_us + minutes * 60_000_000
    micro = unix_us % 1_000_000
    cut = _CUT[np.where(micro == 0, 0, np.where(micro % 1000 == 0, 1, 2))].tolist()
    full = np.datetime_as_string(local.astype("datetime64[us]"), unit="us").tolist()
    found, inverse = np.unique(np.where(plain, _PLAIN, minutes), return_inverse=True)
    labels = np.array(
        [
            "Z" if m == _PLAIN else f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
            for m in found.tolist()
        ],
        dtype=object,
    )
    zones = labels[inverse].tolist()
    return [text[:end] + zone for text, end, zone in zip(full, cut, zones, strict=True)]
