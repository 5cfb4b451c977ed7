"""The source's declared columns against the service's published reference: a column the source
types (schema.TABLES) and the reference documents for the endpoint that fills it has a type that
holds the documented JSON type. The reference is parsed at test time, as tests/emulator does."""

from __future__ import annotations

from tests.emulator.test_reference import reference
from timetrack.source.endpoints import BY_TABLE
from timetrack.source.schema import LEGACY_ALIASES, TABLES

HOLDS = {
    "integer": {"bigint"},
    "number": {"double"},
    "boolean": {"bool"},
    "string": {"text", "timestamp", "date"},  # times and days come as RFC3339 strings
    "object": {"json"},
}
"""A documented JSON type -> the declared data types that hold it."""

REPORT = "POST /reports/api/v3/workspace/{workspace_id}/search/time_entries"


def _documented(table: str) -> dict[str, str]:
    """Field -> documented type for the table's endpoint (the report: rows and entries)."""
    parsed = reference()
    if table == "report_time_entries":
        documented = parsed[REPORT]
        return {**documented.answer, **documented.inner.get("time_entries", {})}
    if table not in BY_TABLE:  # the source's own table (rejected records)
        return {}
    documented = parsed.get(f"GET /api/v9{BY_TABLE[table].path}")
    if documented is None:
        return {}
    return {**documented.answer, **documented.inner.get("data", {})}


def _holds(kind: str, declared: str) -> bool:
    if kind == "?":
        return True
    if kind.startswith("array"):
        return declared == "json"
    return declared in HOLDS[kind]


def test_every_declared_column_holds_its_documented_type() -> None:
    checked = 0
    wrong = []
    for table, columns in TABLES.items():
        documented = _documented(table)
        for name, column in columns.items():
            kinds = [documented[name]] if name in documented else []
            kinds += [k for alias, n in LEGACY_ALIASES.items() if n == name for k in
                      ([documented[alias]] if alias in documented else [])]  # fmt: skip
            for kind in kinds:
                checked += 1
                if not _holds(kind, str(column.data_type)):
                    wrong.append(f"{table}.{name}: documented {kind}, declared {column.data_type}")
    assert not wrong, "\n".join(wrong)
    assert checked > 100, f"only {checked} columns matched the reference: is it still parsed?"
