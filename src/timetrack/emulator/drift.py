"""Drift: records rendered off-contract, reproducibly, so clients can be tested against a
service that changes under them. Also the alias quirks (stale or lone legacy aliases).

Whether a record drifts, how, and which field, depend only on the seed, the entity, the record's
key and the record's rendered field names: the same record drifts the same way on every request
and every run while it is unchanged. Kinds of drift (one per drifted record):

- `dropped`: a declared non-key field is left out;
- `null`: a non-null declared field is null;
- `retyped`: a scalar comes as another type: an int as a numeric string or `{"value": n}`, a
  bool as `"true"`/`"false"`, `0`/`1` or `{"value": b}`, a timestamp in another valid spelling
  (a space for the `T`, or an offset without its colon), another string as `{"value": s}`;
- `extra`: a new field, a scalar (`drift_note`), an object with a nested object and list
  (`drift_meta`) or a list of objects (`drift_items`);
- `key_missing` (a tenth of drifted records, where the record has a key): the key field
  (`id`, `group_id` for groups) is left out; such a record cannot land anywhere.

Never drifted: the canonical data, and the fields the emulator's own paging needs (a report
row's `row_number` and `time_entries` list, and its page-dependent `billable_amount_in_cents`).

Each departure is described as `{"key": K, "kind": KIND, "fields": [FIELD], "value": V}`, where
`value` (retyped and extra only) is exactly what is served in place of the field; alias quirks
as `{"key": K, "kind": "alias_disagrees"|"alias_alone", "alias": "pid", "field": "project_id",
"value": V}` (`value`: the alias as served; with `alias_alone` the neutral field is absent).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from timetrack.emulator.config import Drift
from timetrack.emulator.seeded import mix, mix_many

Json = dict[str, Any]

KINDS = ("dropped", "null", "retyped", "extra")
"""The common kinds; `key_missing` is drawn apart, one time in ten."""

KEY_FIELDS: dict[str, str | None] = {
    "me": "id",
    "organizations": "id",
    "workspaces": "id",
    "organization_users": "id",
    "groups": "group_id",
    "statistics": None,
    "workspace_members": "id",
    "workspace_users": "id",
    "clients": "id",
    "projects": "id",
    "tasks": "id",
    "tags": "id",
    "time_entries": "id",
    "report_rows": None,
    "report_time_entries": "id",
}
"""Every drifting entity and its key field (None: the record has no key of its own).

`statistics` drift by workspace id, `workspace_members` (GET /workspaces/{id}/users) by user id
within their workspace, `report_rows` by the id of the row's first entry."""

PROTECTED: dict[str, frozenset[str]] = {
    "report_rows": frozenset({"row_number", "time_entries", "billable_amount_in_cents"}),
}

ALIASES: dict[str, tuple[tuple[str, str], ...]] = {
    "time_entries": (
        ("wid", "workspace_id"),
        ("uid", "user_id"),
        ("pid", "project_id"),
        ("tid", "task_id"),
    ),
    "projects": (("wid", "workspace_id"), ("cid", "client_id")),
    "workspace_users": (("uid", "user_id"), ("wid", "workspace_id")),
}
"""Legacy alias and neutral field pairs the alias quirks play with."""

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_EXTRAS = ("drift_note", "drift_meta", "drift_items")
_UNIT = float(2**53)


def _salt(seed: int, name: str) -> int:
    digest = hashlib.blake2b(f"{seed}|drift|{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _extra_value(name: str) -> Any:
    if name == "drift_note":
        return "a field the contract does not name"
    if name == "drift_meta":
        return {"source": "drift", "nested": {"level": 2, "labels": ["a", "b"]}}
    return [{"n": 1, "label": "first"}, {"n": 2, "label": None}]


def _respell(text: str, variant: int) -> str:
    """Another valid spelling of an RFC3339 timestamp: a space for the `T`, or the offset
    without its colon (`Z` as `+0000`)."""
    if variant % 2 == 0:
        return text[:10] + " " + text[11:]
    if text.endswith("Z"):
        return text[:-1] + "+0000"
    return text[:-3] + text[-2:]


def _retype(value: Any, variant: int) -> Any:
    if isinstance(value, bool):
        return (("true" if value else "false"), int(value), {"value": value})[variant % 3]
    if isinstance(value, int | float):
        return str(value) if variant % 2 == 0 else {"value": value}
    if isinstance(value, str) and _TS.match(value):
        return _respell(value, variant)
    return {"value": value}


class DriftPlan:
    """Decides and applies drift and alias quirks for one emulator (see the module docstring)."""

    def __init__(self, drift: Drift, seed: int) -> None:
        self.rate = drift.rate
        self.alias_rate = drift.alias_rate
        self.active = drift.rate > 0 or drift.alias_rate > 0
        self._salts = {name: _salt(seed, name) for name in KEY_FIELDS}
        self._alias_salts = {name: _salt(seed, "alias:" + name) for name in ALIASES}

    # --- which records ---------------------------------------------------------------------

    def _hash(self, entity: str, key: int, context: int) -> int:
        salt = self._salts[entity]
        return mix(mix(salt, context) if context else salt, key)

    def drifts(self, entity: str, keys: npt.NDArray[np.int64], context: int = 0) -> Any:
        """A boolean mask: which of these keys drift (vectorized, for pages of entries)."""
        if self.rate <= 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=np.bool_)
        salt = self._salts[entity]
        salt = mix(salt, context) if context else salt
        hashes = mix_many(salt, keys)
        return (hashes >> np.uint64(11)).astype(np.float64) / _UNIT < self.rate

    def alias_quirks(self, entity: str, keys: npt.NDArray[np.int64]) -> Any:
        """A boolean mask: which of these keys carry an alias quirk."""
        if self.alias_rate <= 0 or entity not in ALIASES or len(keys) == 0:
            return np.zeros(len(keys), dtype=np.bool_)
        hashes = mix_many(self._alias_salts[entity], keys)
        return (hashes >> np.uint64(11)).astype(np.float64) / _UNIT < self.alias_rate

    # --- applying ---------------------------------------------------------------------------

    def apply(self, entity: str, key: int, record: Json, context: int = 0) -> list[Json]:
        """Render `record` (mutated in place) as the drifting service does; returns the
        descriptions of what departed (empty for a record served as the contract says)."""
        if not self.active:
            return []
        found: list[Json] = []
        protect: set[str] = set(PROTECTED.get(entity, ()))
        if self.alias_rate > 0 and entity in ALIASES:
            quirk = self._alias(entity, key, record)
            if quirk is not None:
                found.append(quirk)
                protect.update((quirk["alias"], quirk["field"]))
        if self.rate > 0:
            h = self._hash(entity, key, context)
            if (h >> 11) / _UNIT < self.rate:
                found.append(self._drift(entity, key, record, mix(h, 0x51), protect))
        return found

    def _alias(self, entity: str, key: int, record: Json) -> Json | None:
        h = mix(self._alias_salts[entity], key)
        if (h >> 11) / _UNIT >= self.alias_rate:
            return None
        pairs = [
            (alias, field)
            for alias, field in ALIASES[entity]
            if record.get(alias) is not None and record.get(field) is not None
        ]
        if not pairs:
            return None
        g = mix(h, 0xA1)
        alias, field = pairs[(g >> 8) % len(pairs)]
        if g % 2 == 0:
            record[alias] = record[field] + 1 + (g >> 20) % 9
            kind = "alias_disagrees"
        else:
            del record[field]
            kind = "alias_alone"
        return {"key": key, "kind": kind, "alias": alias, "field": field, "value": record[alias]}

    def _drift(self, entity: str, key: int, record: Json, g: int, protect: set[str]) -> Json:
        key_field = KEY_FIELDS[entity]
        if key_field is not None and key_field in record and g % 10 == 0:
            del record[key_field]
            return {"key": key, "kind": "key_missing", "fields": [key_field]}
        kind = KINDS[(g >> 8) % len(KINDS)]
        names = [k for k in sorted(record) if k != key_field and k not in protect]
        if kind == "null":
            names = [k for k in names if record[k] is not None]
        elif kind == "retyped":
            names = [k for k in names if isinstance(record[k], bool | int | float | str)]
        if kind == "extra" or not names:
            name = _EXTRAS[(g >> 16) % len(_EXTRAS)]
            record[name] = _extra_value(name)
            return {"key": key, "kind": "extra", "fields": [name], "value": _extra_value(name)}
        name = names[(g >> 16) % len(names)]
        description: Json = {"key": key, "kind": kind, "fields": [name]}
        if kind == "dropped":
            del record[name]
        elif kind == "null":
            record[name] = None
        else:
            record[name] = _retype(record[name], g >> 40)
            description["value"] = record[name]
        return description
