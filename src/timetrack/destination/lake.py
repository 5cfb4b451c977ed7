"""Lake tables on dlt's filesystem destination: Delta tables that merge on keys and delete what
the service deleted, as a database does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from timetrack.errors import ConfigurationError

TABLE_FORMATS = ("delta",)
TABLE_FORMAT_SETTING = "destination.filesystem.table_format"
"""Where dlt's configuration holds the table format (DESTINATION__FILESYSTEM__TABLE_FORMAT)."""


def table_format(asked: str | None, kind: str) -> str | None:
    """The table format of a run: the one asked for, else, on the filesystem destination, dlt's
    configuration; None for plain files. Refused with a one-line reason where it cannot apply."""
    if asked is not None and kind != "filesystem":
        raise ConfigurationError(
            f"--table-format {asked} needs --destination filesystem, not "
            f"{kind or 'this destination'}"
        )
    if kind != "filesystem":
        return None  # the setting belongs to the filesystem destination: others ignore it
    setting: Any = asked if asked is not None else dlt.config.get(TABLE_FORMAT_SETTING)
    if not setting:
        return None
    value = str(setting).strip().lower()
    if value not in TABLE_FORMATS:
        raise ConfigurationError(
            f"table format {setting!r} is not supported: use delta, or none for plain Parquet "
            "files (DESTINATION__FILESYSTEM__TABLE_FORMAT)"
        )
    try:
        import deltalake  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "Delta tables need the deltalake package: pip install 'timetrack[delta]'"
        ) from None
    return value


def as_lake_tables(source: Any, fmt: str) -> None:
    """Every table of `source` as a lake table. Delta merges by upsert, its only strategy that
    updates rows; a row with `server_deleted_at` set deletes its key (the hard-delete hint)."""
    for resource in source.resources.values():
        if resource.write_disposition == "merge":
            resource.apply_hints(
                write_disposition={"disposition": "merge", "strategy": "upsert"},
                table_format=fmt,
            )
        else:
            resource.apply_hints(table_format=fmt)


def one_row_per_key(pipeline: Any) -> None:
    """Make the normalized, not yet loaded packages fit a Delta upsert: one row per key, the
    last one read (a run may read a record twice, as when pages shift), and no deleted rows
    for a table that does not exist yet. A database merge deduplicates by itself; Delta's fails
    on a key that comes twice, and a table's first load is a plain write."""
    schema = pipeline.default_schema
    for load_id in pipeline.list_normalized_load_packages():
        files: dict[str, list[Path]] = {}
        for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
            files.setdefault(job.job_file_info.table_name, []).append(Path(job.file_path))
        for table, paths in files.items():
            hints = schema.tables.get(table, {})
            if hints.get("table_format") != "delta" or hints.get("write_disposition") != "merge":
                continue
            columns = hints.get("columns", {})
            keys = [name for name, c in columns.items() if c.get("primary_key")]
            deleted = next((name for name, c in columns.items() if c.get("hard_delete")), None)
            if not keys or any(path.suffix != ".parquet" for path in paths):
                continue
            if deleted is not None and _exists(pipeline, table):
                deleted = None  # the merge deletes those keys: the rows must reach it
            _keep_last(sorted(paths, key=lambda p: p.stat().st_mtime_ns), keys, deleted)


def _exists(pipeline: Any, table: str) -> bool:
    with pipeline.destination_client() as client:
        try:
            client.load_open_table("delta", table)
        except DestinationUndefinedEntity:
            return False
    return True


def _keep_last(paths: list[Path], keys: list[str], deleted: str | None) -> None:
    """Rewrite the files (read in the order given) so that each key keeps its last row only,
    and that last row only if `deleted` (a column) is null in it."""
    columns = list(keys)
    flagged = deleted is not None and deleted in pq.read_schema(paths[0]).names
    if flagged:
        columns.append(str(deleted))
    parts = [pq.read_table(path, columns=columns) for path in paths]
    combined = pa.concat_tables(parts, promote_options="default")
    total = combined.num_rows
    order = combined.append_column("_row", pa.array(np.arange(total)))
    last = order.group_by(keys, use_threads=False).aggregate([("_row", "max")])["_row_max"]
    keep = np.zeros(total, dtype=bool)
    keep[last.to_numpy()] = True
    if flagged:
        keep &= combined[str(deleted)].is_null().to_numpy(zero_copy_only=False)
    start = 0
    for path, part in zip(paths, parts, strict=True):
        mask = keep[start : start + part.num_rows]
        start += part.num_rows
        if not mask.all():
            pq.write_table(pq.read_table(path).filter(pa.array(mask)), path)
