"""One benchmark variant, run in a process of its own so its peak memory is its own.

    python bench/variants.py {baseline|timetrack|incremental|unheld|floor} BASE_URL DB WORKDIR \
        [ARGS]

ARGS, a JSON object, adds source arguments to timetrack's run (bench/hourly.py: the cadence).
Prints one JSON line: rows loaded and seconds of work (from the first request to the last
row committed); timetrack's also its requests, rows by table and exit code.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

TOKEN = "demo-token"


def baseline(base_url: str, db: str, workdir: str) -> dict[str, Any]:
    """The guide's configuration through dlt's rest_api_source, dlt's defaults, into DuckDB."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    from timetrack.source.guide import guide_config

    started = time.perf_counter()
    config = guide_config(base_url, TOKEN, 9000001, 4000001)
    pipeline = dlt.pipeline(
        "bench_baseline",
        destination=dlt.destinations.duckdb(db),
        dataset_name="guide",
        pipelines_dir=workdir,
    )
    pipeline.run(rest_api_source(config))
    counts = pipeline.last_trace.last_normalize_info.row_counts  # type: ignore[union-attr]
    rows = sum(n for table, n in counts.items() if not table.startswith("_dlt"))
    return {"rows": rows, "seconds": time.perf_counter() - started}


def timetrack(
    base_url: str, db: str, workdir: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`timetrack run`: the product's own path, pacing off as the emulator's limit is; `extra`
    adds source arguments. The process collects garbage as the command's does."""
    import dlt

    from timetrack.cli import collect_garbage_less_often
    from timetrack.run.pipeline import RunOptions, run

    collect_garbage_less_often()

    started = time.perf_counter()
    cpu = time.process_time()
    summary = run(
        RunOptions(
            destination=dlt.destinations.duckdb(db),
            dataset="timetrack",
            pipeline_name="bench_timetrack",
            pipelines_dir=workdir,
            progress_every=0,
            source_args={
                "api_token": TOKEN,
                "base_url": base_url,
                "requests_per_second": 0,
                **(extra or {}),
            },
        )
    )
    return {
        "rows": sum(summary.rows.values()),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "requests": summary.stats.requests,
        "rows_by_table": {table: n for table, n in sorted(summary.rows.items()) if n},
        "exit_code": summary.exit_code,
    }


def unheld(base_url: str, db: str, workdir: str) -> dict[str, Any]:
    """timetrack with DuckDB closed and opened again by each step of a load, as dlt does: the
    comparison for run/loading.py's held_open."""
    from timetrack.run import loading

    loading.HELD_OPEN_ROWS = -1
    return timetrack(base_url, db, workdir)


def floor(base_url: str, db: str, workdir: str) -> dict[str, Any]:
    """The same pages with no framework: requests, orjson, Arrow, one DuckDB insert per page."""
    import duckdb
    import orjson
    import pyarrow as pa
    import requests

    started = time.perf_counter()
    session = requests.Session()
    session.auth = (TOKEN, "api_token")
    connection = duckdb.connect(db)
    created: dict[str, set[str]] = {}
    total = 0

    def get(path: str, **params: Any) -> Any:
        body = orjson.loads(session.get(base_url + "/v1" + path, params=params).content)
        return body["data"] if isinstance(body, dict) and "total_count" not in body else body

    def insert(table: str, rows: list[dict[str, Any]]) -> None:
        nonlocal total
        if not rows:
            return
        for row in rows:
            for key, value in row.items():
                if isinstance(value, list | dict):
                    row[key] = orjson.dumps(value).decode()
        arrow = pa.Table.from_pylist(rows)
        for i, field in enumerate(arrow.schema):
            if pa.types.is_null(field.type):  # all null on this page: text takes anything later
                arrow = arrow.set_column(i, field.name, arrow.column(i).cast(pa.string()))
        if table not in created:
            connection.execute(f'create table "{table}" as select * from arrow')
            created[table] = set(arrow.column_names)
        else:
            new = [c for c in arrow.column_names if c not in created[table]]
            if new:  # keys absent from earlier pages: add the columns, as any loader must
                described = connection.execute("describe select * from arrow").fetchall()
                types = {row[0]: row[1] for row in described}
                for column in new:
                    connection.execute(
                        f'alter table "{table}" add column "{column}" {types[column]}'
                    )
                created[table].update(new)
            connection.execute(f'insert into "{table}" by name select * from arrow')
        total += len(rows)

    def pages(path: str, **params: Any) -> None:
        table = path.split("/")[-1]
        page = 1
        while True:
            body = get(path, page=page, per_page=200, **params)
            items = (body["data"] if isinstance(body, dict) else body) or []  # null: empty
            insert(
                f"workspace_{table}" if "workspaces" in path else f"organizations_{table}", items
            )
            if len(items) < 200:
                return
            page += 1

    organizations = get("/me/organizations") or []
    workspaces = get("/me/workspaces") or []
    insert("organizations", organizations)
    insert("workspaces", workspaces)
    for org in organizations:
        pages(f"/organizations/{org['id']}/users")
        insert("organizations_groups", get(f"/organizations/{org['id']}/groups") or [])
    today = datetime.now(UTC).date()
    window = {
        "start_date": (today - timedelta(days=90)).isoformat(),
        "end_date": (today + timedelta(days=2)).isoformat(),
    }
    insert("time_entries", get("/me/time_entries", **window) or [])
    for ws in workspaces:
        ws_id = ws["id"]
        insert("workspace", [{"workspace_id": ws_id, **get(f"/workspaces/{ws_id}/statistics")}])
        insert("workspace_clients", get(f"/workspaces/{ws_id}/clients", status="both") or [])
        pages(f"/workspaces/{ws_id}/projects", active="both")
        pages(f"/workspaces/{ws_id}/tasks", active="both")
        insert("workspace_tags", get(f"/workspaces/{ws_id}/tags") or [])
        insert("workspace_users", get(f"/workspaces/{ws_id}/workspace_users") or [])
        start = date(2006, 1, 1)
        while start <= today + timedelta(days=1):
            end = min(start + timedelta(days=365), today + timedelta(days=1))
            body: dict[str, Any] = {
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "page_size": 1000,
            }
            while True:
                response = session.post(
                    f"{base_url}/v1/reports/workspace/{ws_id}/search/time_entries", json=body
                )
                rows = orjson.loads(response.content)["data"] or []  # null: empty
                insert(
                    "report_time_entries",
                    [
                        {
                            **{k: v for k, v in row.items() if k != "time_entries"},
                            **entry,
                            "workspace_id": ws_id,
                        }
                        for row in rows
                        for entry in row["time_entries"]
                    ],
                )
                if "X-Next-ID" not in response.headers:
                    break
                body.update(
                    first_id=int(response.headers["X-Next-ID"]),
                    first_row_number=int(response.headers["X-Next-Row-Number"]),
                    first_timestamp=int(response.headers["X-Next-Timestamp"]),
                )
            start = end + timedelta(days=1)
    connection.close()
    return {"rows": total, "seconds": time.perf_counter() - started}


def main() -> None:
    name, base_url, db, workdir = sys.argv[1:5]
    Path(workdir).mkdir(parents=True, exist_ok=True)
    runner = {
        "baseline": baseline,
        "timetrack": timetrack,
        "incremental": timetrack,
        "unheld": unheld,
        "floor": floor,
    }[name]
    if len(sys.argv) > 5:
        if runner is not timetrack:
            raise SystemExit(f"source arguments are timetrack's, not {name}'s")
        result = timetrack(base_url, db, workdir, json.loads(sys.argv[5]))
    else:
        result = runner(base_url, db, workdir)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    result["own_peak_rss_mb"] = int(status["VmHWM"].split()[0]) / 1024  # this process alone
    print(json.dumps(result))


if __name__ == "__main__":
    main()
