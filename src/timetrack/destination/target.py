"""Where a run's data goes, and what it remembers: the one place every command asks.

dlt keys a pipeline's state (the incremental cursors, the walks' positions, the schema) by the
pipeline's name, not by where the data goes, and recommends one pipeline per destination and
dataset. timetrack follows that: each place data goes (destination kind, its location: the DuckDB
file, PostgreSQL's host and database, the bucket; and the dataset) has a pipeline of its own, so a
run into a place that has none is a complete first sync of it, whatever ran elsewhere before.

The pipeline keeps the name asked for (`timetrack` by default) for the first place it fills;
another place gets the name with a digest of that place (`timetrack_3f9c0a61d2`). Pipelines made
before this rule keep their name, and so their state, for the place their state says they fill.
When a pipeline's local folder is new, its state is restored from the destination (dlt keeps a
copy with the data), so a lost or new pipelines folder does not start the sync over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import UnknownDestinationModule

from timetrack.destination import lake
from timetrack.errors import ConfigurationError, unreadable_settings

DEFAULT_NAME = "timetrack"
DEFAULT_DATASET = "time_tracking"
RECORD = "timetrack_target.json"
"""The place a pipeline fills, written in its working folder beside dlt's state."""


@dataclass(frozen=True)
class Target:
    """Where data goes (destination, location, dataset) and the pipeline whose state belongs to
    that place."""

    kind: str
    """The destination's kind: duckdb, postgres, filesystem, bigquery, ..."""
    destination: Any
    """What dlt is given: a destination name, or a factory bound to the DuckDB file."""
    location: str
    """The DuckDB file's absolute path, host:port/database, the bucket URL, or the kind."""
    dataset: str
    pipeline_name: str
    pipelines_dir: str | None = None
    table_format: str | None = None

    @property
    def key(self) -> dict[str, str]:
        """What makes two targets the same place."""
        return _place(self.kind, self.location, self.dataset, self.table_format)

    @property
    def pipelines_folder(self) -> Path:
        """Where dlt keeps this target's pipeline (and every other of the folder)."""
        return _pipelines_folder(self.pipelines_dir)

    def describe(self) -> str:
        """Where the data went, for the summary's first line."""
        if self.kind == "duckdb":
            where = f"DuckDB file {self.location}"
        elif self.kind == "filesystem":
            fmt = "Delta tables" if self.table_format == "delta" else "Parquet files"
            where = f"{fmt} at {self.location}"
        else:
            where = f"{self.kind} {self.location}" if self.location != self.kind else self.kind
        return f"{where}, dataset {self.dataset!r}"

    def pipeline(self) -> Any:
        """The dlt pipeline of this place (created, or attached if it exists)."""
        settings: dict[str, Any] = {
            "pipeline_name": self.pipeline_name,
            "destination": self.destination,
            "dataset_name": self.dataset,
        }
        if self.pipelines_dir:
            settings["pipelines_dir"] = self.pipelines_dir
        return dlt.pipeline(**settings)

    def remember(self, pipeline: Any) -> None:
        """Write down, in the pipeline's folder, the place this pipeline fills."""
        folder = Path(pipeline.working_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RECORD).write_text(json.dumps(self.key, sort_keys=True))


def destination_kind(destination: Any) -> str:
    """The destination's kind (duckdb, postgres, filesystem, ...); ConfigurationError for one
    dlt does not know."""
    try:
        resolved = Destination.from_reference(destination)
    except UnknownDestinationModule:
        raise ConfigurationError(
            f"unknown destination {destination!r}: use duckdb, postgres, filesystem or another "
            "of dlt's destinations (bigquery, snowflake, motherduck, ...)"
        ) from None
    except Exception as error:  # dlt raises many kinds for a destination it cannot use
        text = " ".join(str(error).split())[:300]
        raise unreadable_settings(error) or ConfigurationError(
            f"cannot use destination {destination!r}: {text}"
        ) from None
    return "" if resolved is None else str(resolved.destination_type.split(".")[-1])


def resolve_target(
    destination: Any = "duckdb",
    dataset: str = DEFAULT_DATASET,
    *,
    name: str = DEFAULT_NAME,
    duckdb_file: str | None = None,
    pipelines_dir: str | None = None,
    table_format: str | None = None,
    cwd: Path | None = None,
) -> Target:
    """The place these options send data to, and its pipeline.

    A DuckDB file is where the user stands unless told otherwise: `duckdb_file`, else dlt's
    configured `destination.duckdb.credentials`, else `<name>.duckdb` in `cwd`."""
    here = (cwd or Path.cwd()).resolve()
    kind = destination_kind(destination)
    if duckdb_file is not None and kind != "duckdb":
        raise ConfigurationError(f"--duckdb-file needs --destination duckdb, not {kind}")
    fmt = lake.table_format(table_format, kind)
    if kind == "duckdb":
        path = _duckdb_path(destination, duckdb_file, name, here)
        if path is not None:
            _refuse_dataset_named_as_file(dataset, path)
            if not path.parent.is_dir():
                raise ConfigurationError(
                    f"the DuckDB file's folder {path.parent} does not exist: create it, or "
                    "choose another file (--duckdb-file, DESTINATION__DUCKDB__CREDENTIALS)"
                )
            destination = dlt.destinations.duckdb(str(path))
            location = str(path)
        else:  # an external connection or an in-memory database: nothing to name
            location = "duckdb"
    else:
        location = _location(destination, kind)
    key = _place(kind, location, dataset, fmt)
    return Target(
        kind=kind,
        destination=destination,
        location=location,
        dataset=dataset,
        pipeline_name=_pipeline_name(name, key, pipelines_dir),
        pipelines_dir=pipelines_dir,
        table_format=fmt,
    )


def _duckdb_path(destination: Any, asked: str | None, name: str, here: Path) -> Path | None:
    if asked is not None:
        given: Any = asked
    elif isinstance(destination, str):
        given = dlt.secrets.get("destination.duckdb.credentials")
        if isinstance(given, dict):  # a credentials section: its database, if it names one
            given = given.get("database")
    else:  # a factory: the path or connection it was made with
        given = getattr(destination, "config_params", {}).get("credentials")
    if given is None or given == "":
        return here / f"{name}.duckdb"
    if not isinstance(given, str | Path) or str(given) in (":memory:", ":external:"):
        return None
    text = str(given)
    if text.startswith("duckdb:///"):
        text = text[len("duckdb:///") :]
    path = Path(text).expanduser()
    if path.suffix == "" and not path.exists():
        path = path.with_suffix(".duckdb")
    return path if path.is_absolute() else (here / path)


def _refuse_dataset_named_as_file(dataset: str, path: Path) -> None:
    # DuckDB names a file's catalog after the file's stem, and looks names up regardless of case:
    # a schema of that name cannot be told apart from the catalog.
    if dataset.lower() == path.stem.lower():
        raise ConfigurationError(
            f"dataset {dataset!r} has the name of its DuckDB file {path.name}, which DuckDB "
            "cannot tell apart: choose another --dataset or --duckdb-file"
        )


def _location(destination: Any, kind: str) -> str:
    """Where a destination other than DuckDB puts data, from dlt's configuration; the kind when
    the configuration does not say (credentials may be missing: the run says which)."""
    try:
        resolved = Destination.from_reference(destination)
        assert resolved is not None
        config = resolved.configuration(resolved.spec(), accept_partial=True)
    except Exception:
        return kind
    bucket = getattr(config, "bucket_url", None)
    if bucket:
        return str(bucket)
    credentials = getattr(config, "credentials", None)
    parts = [
        str(value)
        for attribute in ("host", "port", "database", "project_id", "account", "warehouse")
        if (value := getattr(credentials, attribute, None)) not in (None, "")
    ]
    if not parts:
        return kind
    host = getattr(credentials, "host", None)
    port = getattr(credentials, "port", None)
    database = getattr(credentials, "database", None)
    if host and database:
        return f"{host}{':' + str(port) if port else ''}/{database}"
    return "/".join(parts)


def _place(kind: str, location: str, dataset: str, table_format: str | None) -> dict[str, str]:
    return {
        "kind": kind,
        "location": location,
        "dataset": dataset,
        "table_format": table_format or "",
    }


def _pipelines_folder(pipelines_dir: str | None) -> Path:
    return Path(pipelines_dir) if pipelines_dir else Path(default_pipelines_dir())


def _pipeline_name(name: str, key: dict[str, str], pipelines_dir: str | None) -> str:
    """`name` when its pipeline fills this place or does not exist yet; else the name with a
    digest of the place."""
    if _fills(_pipelines_folder(pipelines_dir) / name, name, key):
        return name
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}_{digest}"


def default_pipelines_dir() -> str:
    """dlt's own pipelines folder (~/.dlt/pipelines, or /var/dlt/pipelines for root)."""
    from dlt.common.pipeline import get_dlt_pipelines_dir

    return str(get_dlt_pipelines_dir())


def _fills(folder: Path, name: str, key: dict[str, str]) -> bool:
    """Whether the pipeline in `folder` is new, or fills the place `key` names."""
    record = folder / RECORD
    if record.exists():
        try:
            return bool(json.loads(record.read_text()) == key)
        except (OSError, ValueError):
            return False
    state_file = folder / "state.json"
    if not state_file.exists():
        return True  # no pipeline yet: this place is its first
    # A pipeline of an earlier version, which recorded no place: what its state says.
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    kind = str(state.get("destination_type") or "").split(".")[-1]
    if kind != key["kind"] or state.get("dataset_name") != key["dataset"]:
        return False
    if kind != "duckdb":
        return True  # its location is not recorded: the same kind and dataset is taken as it
    local = state.get("_local", {})
    stored = local.get("duckdb_database")
    if not stored and local.get("initial_cwd"):
        stored = str(Path(local["initial_cwd"]) / f"{name}.duckdb")
    return bool(stored) and Path(str(stored)).resolve() == Path(key["location"]).resolve()
