"""Reading a pipeline's views and writing the page: the database's errors as one line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from timetrack.answers.analytics import DIALECTS
from timetrack.answers.report.data import ReportData, read_report_data
from timetrack.answers.report.page import render_html
from timetrack.answers.report.period import choose_period
from timetrack.destination.target import Target
from timetrack.errors import ConfigurationError, TimetrackError
from timetrack.run.pipeline import missing_settings, one_line


def write_report(
    pipeline: Any,
    out: Path,
    weeks: int = 12,
    today: date | None = None,
    start: date | None = None,
    end: date | None = None,
) -> ReportData:
    """Read a pipeline's views and write the page to `out`; the numbers it shows. The period
    is `choose_period`'s."""
    period = choose_period(today or datetime.now(UTC).date(), weeks, start, end)
    try:
        with pipeline.sql_client() as client:

            def query(sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
                return list(client.execute_sql(sql, *args) or [])

            data = read_report_data(query, str(client.dataset_name), period)
    except TimetrackError:
        raise
    except ConfigFieldMissingException as error:
        raise ConfigurationError(f"cannot read the views: {missing_settings(error)}") from None
    except Exception as error:  # the database's own errors: one line, not a traceback
        raise TimetrackError(f"cannot read the views: {one_line(error)}") from None
    try:
        out.write_text(render_html(data), encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot write {out}: {error.strerror}") from None
    return data


def open_pipeline(target: Target, state_dir: str) -> Any:
    """A dlt pipeline that reads the dataset `timetrack run` wrote to `target` (its state in
    `state_dir`: reading changes nothing); a DuckDB file that is not there is an error, not a
    new empty file."""
    if target.kind not in DIALECTS:
        raise ConfigurationError(
            f"the report reads the analytics views, which are built in DuckDB and PostgreSQL "
            f"only, not in {target.kind!r}"
        )
    local = target.kind == "duckdb" and target.location != "duckdb"
    if local and not Path(target.location).exists():
        raise ConfigurationError(
            f"no DuckDB file {target.location}: run `timetrack run` first, or pass the "
            "--duckdb-file (or --destination) it used"
        )
    return dlt.pipeline(
        pipeline_name=target.pipeline_name,
        destination=target.destination,
        dataset_name=target.dataset,
        pipelines_dir=state_dir,
    )
