"""How fast the emulator answers at scale, so it is never a benchmark's bottleneck.

Starts an emulator with a million time entries (by default), then times the start, report
pages of 1,000 rows at the start, middle and end of a workspace's history, and task pages.
Prints one JSON line at the end.

    python bench/emulator_speed.py [--time-entries N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

import requests

from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale

AUTH = ("demo-token", "api_token")


def _day(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-entries", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=30, help="report pages timed per position")
    args = parser.parse_args()
    scale = Scale(
        workspaces=3,
        users=1000,
        projects_per_workspace=1667,
        tasks_per_workspace=6667,
        time_entries=args.time_entries,
        days=365,
    )
    started = time.perf_counter()
    with EmulatorServer(EmulatorConfig(scale=scale)) as server:
        start_seconds = time.perf_counter() - started
        session = requests.Session()
        base = server.base_url
        now = session.get(base + "/_emulator/clock", timeout=30).json()["unix"]
        url = base + "/v1/reports/workspace/4000001/search/time_entries"
        body = {"start_date": _day(now - 365 * 86400), "end_date": _day(now), "page_size": 1000}
        first = session.post(url, json=body, auth=AUTH, timeout=60)  # builds the index once
        timings: dict[str, list[float]] = {}
        for label, days_ago in (("first", 365), ("middle", 180), ("last", 5)):
            body = {
                "start_date": _day(now - days_ago * 86400),
                "end_date": _day(now),
                "page_size": 1000,
            }
            samples = []
            for _ in range(args.pages):
                t0 = time.perf_counter()
                response = session.post(url, json=body, auth=AUTH, timeout=60)
                samples.append(time.perf_counter() - t0)
                assert response.status_code == 200
                if "X-Next-ID" not in response.headers:
                    break
                body.update(
                    first_id=int(response.headers["X-Next-ID"]),
                    first_row_number=int(response.headers["X-Next-Row-Number"]),
                    first_timestamp=int(response.headers["X-Next-Timestamp"]),
                )
            timings[f"report_{label}"] = samples
        samples = []
        for page in range(1, 31):
            t0 = time.perf_counter()
            response = session.get(
                base + "/v1/workspaces/4000001/tasks",
                params={"page": page, "per_page": 200, "active": "both"},
                auth=AUTH,
                timeout=60,
            )
            samples.append(time.perf_counter() - t0)
        timings["tasks_page_200"] = samples
    result = {
        "time_entries": args.time_entries,
        "start_s": round(start_seconds, 2),
        "first_report_page_ms": round(first.elapsed.total_seconds() * 1000, 1),
    }
    print(f"emulator with {args.time_entries:,} time entries started in {start_seconds:.2f} s")
    for label, samples in timings.items():
        median = statistics.median(samples) * 1000
        worst = max(samples) * 1000
        print(f"  {label:<16} median {median:6.1f} ms  max {worst:6.1f} ms  ({len(samples)} pages)")
        result[f"{label}_median_ms"] = round(median, 1)
        result[f"{label}_max_ms"] = round(worst, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
