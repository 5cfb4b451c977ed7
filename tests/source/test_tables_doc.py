"""docs/tables.md lists every declared column with its type, as the schema declares it."""

from __future__ import annotations

from pathlib import Path

from timetrack.source.schema import TABLES, tables_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "tables.md"


def test_the_tables_page_is_the_schema() -> None:
    assert DOC.read_text() == tables_markdown(), (
        "docs/tables.md is stale: python -m timetrack.source.schema > docs/tables.md"
    )


def test_the_page_names_every_column_with_its_type() -> None:
    page = DOC.read_text()
    for table, columns in TABLES.items():
        assert f"## `{table}`" in page
        for name, column in columns.items():
            assert f"| `{name}` | {column.data_type} |" in page, (table, name)
