"""The benchmark: the guide's plain configuration, timetrack, and the machine's floor, side by
side on the same emulated data, each in a process of its own; prints ratios and one JSON line.

    bench/run [--scale N]            full syncs: baseline, timetrack, floor
    bench/run --incremental          memory at 100,000 and 1,000,000 entries, and an unchanged
                                     incremental run at 1,000,000 (seconds, requests), then
                                     five more with DuckDB held open through the load and five
                                     without, in turns (CPU and wall seconds, ratios)

`bench/run --hourly` (bench/hourly.py) uses its emulator process and variants at other scales.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb
import requests

from timetrack.emulator import Scale
from timetrack.emulator.expected import expected_rows

HERE = Path(__file__).resolve().parent


def _scale(entries: int) -> Scale:
    return Scale(
        organizations=2,
        workspaces=3,
        users=1000,
        projects_per_workspace=5000 // 3,
        tasks_per_workspace=20000 // 3,
        time_entries=entries,
        days=365,
    )


class EmulatorProcess:
    """The emulator in a process of its own: the benchmark's parent stays small, so a child it
    forks starts small too (a fork is charged the parent's resident pages until it execs)."""

    def __init__(self, scale: int | Scale) -> None:
        """`scale`: a Scale, or a number of report time entries at the benchmark's scale."""
        if isinstance(scale, int):
            scale = _scale(scale)
        options = [
            argument
            for item in fields(Scale)
            for argument in ("--" + item.name.replace("_", "-"), str(getattr(scale, item.name)))
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "timetrack", "emulator", "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not found:
            self.process.kill()
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.base_url = found.group(1)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def _variant(
    name: str, base_url: str, workdir: Path, db: Path, source_args: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run one variant in a child process; its own peak RSS comes from wait4. `source_args`
    adds arguments to timetrack's source."""
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    # Files, not pipes: a child that logs a lot must never block on a full pipe.
    with open(workdir / "stdout", "w+") as out_file, open(workdir / "stderr", "w+") as err_file:
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "variants.py"),
                name,
                base_url,
                str(db),
                str(workdir),
                *([json.dumps(source_args)] if source_args else []),
            ],
            stdout=out_file,
            stderr=err_file,
            env={**os.environ, "RUNTIME__LOG_LEVEL": "ERROR"},
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if status != 0:
        raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    # wait4: the child's peak with any descendants; the child's own high-water mark beside it.
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["own_peak_rss_mb"] = result["own_peak_rss_mb"]
    result["rows_per_s"] = result["rows"] / result["seconds"]
    return result


def _matches_truth(base_url: str, db: Path) -> bool:
    expected = expected_rows(base_url)
    with duckdb.connect(str(db), read_only=True) as connection:
        for table, count in expected.items():
            (found,) = connection.execute(f'select count(*) from timetrack."{table}"').fetchone()  # type: ignore[misc]
            if found != count:
                print(f"  MISMATCH {table}: {found} rows, truth {count}")
                return False
    return True


def _line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<10} {r['rows']:>10,} rows  {r['seconds']:>7.2f} s  "
        f"{r['rows_per_s']:>10,.0f} rows/s  peak {r['peak_rss_mb']:>4.0f} MB"
    )


def compare(entries: int) -> dict[str, Any]:
    print(
        f"emulator: 3 workspaces, {entries:,} report time entries, 20,000 tasks, "
        "5,000 projects, 1,000 users; rate limit off"
    )
    with EmulatorProcess(entries) as server, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {}
        for name in ("baseline", "timetrack", "floor"):
            results[name] = _variant(
                name, server.base_url, root / name, root / f"bench_{name}.duckdb"
            )
            print(_line(name, results[name]), flush=True)
        matches = _matches_truth(server.base_url, root / "bench_timetrack.duckdb")
        unchanged = _variant(
            "incremental", server.base_url, root / "timetrack", root / "bench_timetrack.duckdb"
        )
    tt, base, fl = results["timetrack"], results["baseline"], results["floor"]
    figures = {
        "scale": entries,
        "timetrack_rows": tt["rows"],
        "timetrack_seconds": round(tt["seconds"], 2),
        "timetrack_rows_per_s": round(tt["rows_per_s"]),
        "baseline_rows": base["rows"],
        "baseline_seconds": round(base["seconds"], 2),
        "baseline_rows_per_s": round(base["rows_per_s"]),
        "floor_rows": fl["rows"],
        "floor_seconds": round(fl["seconds"], 2),
        "floor_rows_per_s": round(fl["rows_per_s"]),
        "ratio_vs_baseline": round(tt["rows_per_s"] / base["rows_per_s"], 2),
        "ratio_vs_floor": round(tt["rows_per_s"] / fl["rows_per_s"], 2),
        "timetrack_peak_rss_mb": round(tt["peak_rss_mb"]),
        "timetrack_own_peak_rss_mb": round(tt["own_peak_rss_mb"]),
        "baseline_peak_rss_mb": round(base["peak_rss_mb"]),
        "floor_peak_rss_mb": round(fl["peak_rss_mb"]),
        "timetrack_requests": tt["requests"],
        "first_sync_requests_per_100k": round(tt["requests"] * 100_000 / entries),
        "unchanged_sync_requests": unchanged["requests"],
        "unchanged_sync_requests_per_100k": round(unchanged["requests"] * 100_000 / entries),
        "tables_match_truth": matches,
    }
    print(
        f"timetrack/baseline: {figures['ratio_vs_baseline']}x rows/s   "
        f"timetrack/floor: {figures['ratio_vs_floor']}x rows/s   tables match truth: {matches}"
    )
    print(
        f"requests per 100,000 entries: first sync {figures['first_sync_requests_per_100k']}, "
        f"unchanged sync {figures['unchanged_sync_requests_per_100k']} "
        f"({unchanged['requests']} requests in all)"
    )
    return figures


def incremental() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for entries in (100_000, 1_000_000):
            with EmulatorProcess(entries) as server:
                work, db = root / f"tt{entries}", root / f"bench_{entries}.duckdb"
                full = _variant("timetrack", server.base_url, work, db)
                print(_line(f"full {entries // 1000}k", full), flush=True)
                figures[f"full_{entries}_peak_rss_mb"] = round(full["peak_rss_mb"])
                figures[f"full_{entries}_own_peak_rss_mb"] = round(full["own_peak_rss_mb"])
                figures[f"full_{entries}_rows_per_s"] = round(full["rows_per_s"])
                figures[f"full_{entries}_match_truth"] = _matches_truth(server.base_url, db)
                if entries == 1_000_000:
                    requests.delete(server.base_url + "/_emulator/requests", timeout=10)
                    again = _variant("incremental", server.base_url, work, db)
                    served = requests.get(
                        server.base_url + "/_emulator/requests", timeout=10
                    ).json()
                    figures["incremental_seconds"] = round(again["seconds"], 2)
                    figures["incremental_requests"] = served["total"]
                    figures["incremental_match_truth"] = _matches_truth(server.base_url, db)
                    print(
                        f"incremental, nothing changed: {again['seconds']:.2f} s, "
                        f"{served['total']} requests, peak {again['peak_rss_mb']:.0f} MB"
                    )
                    figures.update(_held_against_unheld(server.base_url, work, db))
    growth = figures["full_1000000_peak_rss_mb"] / figures["full_100000_peak_rss_mb"] - 1
    figures["rss_growth_100k_to_1m"] = round(growth, 3)
    print(
        f"peak memory 100k -> 1M: {figures['full_100000_peak_rss_mb']} MB -> "
        f"{figures['full_1000000_peak_rss_mb']} MB ({growth:+.0%})"
    )
    return figures


def _held_against_unheld(base_url: str, work: Path, db: Path, rounds: int = 5) -> dict[str, Any]:
    """Unchanged runs with DuckDB held open through the load (the default) and closed between
    its steps (as dlt does), taken in turns so that the machine's other work touches both: the
    medians of their CPU and wall seconds, and the ratios."""
    taken: dict[str, list[dict[str, Any]]] = {"incremental": [], "unheld": []}
    for _ in range(rounds):
        for name, runs in taken.items():
            runs.append(_variant(name, base_url, work, db))
    figures: dict[str, Any] = {}
    for key in ("cpu_seconds", "seconds"):
        held = statistics.median(r[key] for r in taken["incremental"])
        unheld = statistics.median(r[key] for r in taken["unheld"])
        figures[f"unchanged_held_{key}"] = round(held, 2)
        figures[f"unchanged_unheld_{key}"] = round(unheld, 2)
        print(
            f"unchanged run, median of {rounds}, {key.replace('_', ' ')}: DuckDB held open "
            f"{held:.2f}, closed between steps {unheld:.2f} ({held / unheld:.2f}x)"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=300_000, help="report time entries")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="memory at 100k and 1M entries and an unchanged incremental run",
    )
    args = parser.parse_args()
    figures = incremental() if args.incremental else compare(args.scale)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
