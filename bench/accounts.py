"""Many accounts at once: does `--parallel 8` sync eight accounts in about the time of one?

Every account is paced at the service's rate, 1 request per second, on its own token and its
own emulator (as eight customers would be), so an account's sync takes about as many seconds
as it makes requests. The benchmark syncs one account alone, then eight with `--parallel 8`,
in the same process tree, and prints the ratio of the two wall times and each account's peak
memory (its process's maximum resident set).

    bench/run --accounts [--entries 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale
from timetrack.run.accounts import Account, run_accounts
from timetrack.run.pipeline import RunOptions

ACCOUNTS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300, help="time entries per account")
    args = parser.parse_args()
    scale = Scale(organizations=1, workspaces=2, users=20, time_entries=args.entries)
    servers = [
        EmulatorServer(EmulatorConfig(seed=seed, scale=scale)).start()
        for seed in range(1, ACCOUNTS + 1)
    ]
    try:
        accounts = []
        for n, server in enumerate(servers):
            os.environ[f"BENCH_TOKEN_{n}"] = "demo-token"
            accounts.append(Account(f"acct{n}", f"BENCH_TOKEN_{n}", base_url=server.base_url))
        with tempfile.TemporaryDirectory() as root:
            os.chdir(root)
            base = RunOptions(
                dataset="bench",
                pipelines_dir=str(Path(root) / "state"),
                progress_every=0,
                source_args={"requests_per_second": 1.0},
            )
            one = run_accounts(accounts[:1], base, parallel=1)
            base = RunOptions(
                dataset="bench2",
                pipelines_dir=str(Path(root) / "state2"),
                progress_every=0,
                source_args={"requests_per_second": 1.0},
            )
            eight = run_accounts(accounts, base, parallel=ACCOUNTS)
    finally:
        for server in servers:
            server.stop()
    for summary in (one, eight):
        if summary.exit_code:
            sys.exit("\n".join(summary.lines()))
    requests = [r.requests for r in eight.results]
    peak = max(r.peak_rss_mb for r in eight.results)
    print(f"each account paced at 1 request/s; {min(requests)}-{max(requests)} requests each")
    print(
        f"1 account alone:          {one.elapsed:6.1f} s, peak {one.results[0].peak_rss_mb:.0f} MB"
    )
    print(
        f"{ACCOUNTS} accounts, --parallel {ACCOUNTS}: {eight.elapsed:6.1f} s, "
        f"peak {peak:.0f} MB per account"
    )
    print(
        f"ratio, {ACCOUNTS} in parallel / 1 alone: {eight.elapsed / one.elapsed:.2f}x "
        f"({ACCOUNTS * one.elapsed / eight.elapsed:.1f}x the throughput of one at a time)"
    )


if __name__ == "__main__":
    main()
