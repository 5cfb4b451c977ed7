"""Many accounts at once (`timetrack run --accounts FILE --parallel N`): each lands in its own
dataset and file equal to its own emulator's records, and one failing never stops another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import TOKEN, db_counts, duckdb_rows
from tests.truth import differences, expected_tables
from timetrack.emulator import EmulatorConfig, EmulatorServer, Limits, Scale
from timetrack.run.accounts import load_accounts, run_accounts
from timetrack.run.pipeline import RunOptions

SCALE = Scale(time_entries=400)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    configs = {
        "a": EmulatorConfig(seed=3, scale=SCALE),
        "b": EmulatorConfig(seed=5, scale=SCALE),
        "quota": EmulatorConfig(seed=9, scale=SCALE, limits=Limits(quota=True, quota_per_hour=8)),
    }
    started = {name: EmulatorServer(config).start() for name, config in configs.items()}
    yield started
    for server in started.values():
        server.stop()


def _file(path: Path, servers: dict[str, EmulatorServer]) -> Path:
    path.write_text(
        f"""
[[account]]
name = "acme"
api_token_env = "ACME_TOKEN"
base_url = "{servers["a"].base_url}"

[[account]]
name = "globex"
api_token_env = "GLOBEX_TOKEN"
base_url = "{servers["b"].base_url}"
layout = "bare"

[[account]]
name = "initech"
api_token_env = "INITECH_TOKEN"
base_url = "{servers["a"].base_url}"

[[account]]
name = "umbrella"
api_token_env = "UMBRELLA_TOKEN"
base_url = "{servers["a"].base_url}"

[[account]]
name = "hooli"
api_token_env = "HOOLI_TOKEN"
base_url = "{servers["quota"].base_url}"
"""
    )
    return path


WRONG = "wrong-token-5e3b"


def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ACME_TOKEN", "GLOBEX_TOKEN", "HOOLI_TOKEN"):
        monkeypatch.setenv(name, TOKEN)
    monkeypatch.setenv("INITECH_TOKEN", WRONG)
    monkeypatch.delenv("UMBRELLA_TOKEN", raising=False)


def test_each_account_lands_on_its_own_and_failures_stay_their_own(
    servers: dict[str, EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    accounts = load_accounts(_file(tmp_path / "accounts.toml", servers))
    base = RunOptions(
        dataset="tt",
        pipelines_dir=str(tmp_path / "state"),
        progress_every=0,
        source_args={"requests_per_second": 0, "max_quota_wait": 0},
    )
    summary = run_accounts(accounts, base, parallel=3)
    status = {r.name: r.status for r in summary.results}
    assert status == {
        "acme": "ok",
        "globex": "ok",
        "initech": "failed",
        "umbrella": "failed",
        "hooli": "quota",
    }, [r.message for r in summary.results]
    assert summary.exit_code == 1  # 0 only when every account landed
    messages = {r.name: r.message for r in summary.results}
    assert "UMBRELLA_TOKEN is not set" in messages["umbrella"]
    assert "token" in messages["initech"] and WRONG not in "\n".join(summary.lines())
    assert "quota" in messages["hooli"]

    for name, server in (("acme", servers["a"]), ("globex", servers["b"])):
        landed = duckdb_rows(tmp_path / f"timetrack_{name}.duckdb", f"tt_{name}")
        problems = differences(expected_tables(server.base_url, TOKEN), landed)
        assert not problems, (name, problems[:10])
    assert (tmp_path / "state" / "timetrack_acme").is_dir()  # a pipeline, and state, each
    assert (tmp_path / "state" / "timetrack_globex").is_dir()

    lines = summary.lines()
    assert lines[0].startswith("5 accounts in ") and "2 landed, 3 did not" in lines[0], lines
    landed = [r for r in summary.results if r.status == "ok"]
    assert all(r.peak_rss_mb > 50 for r in landed), "each ran in a process of its own"


def test_ctrl_c_reaches_every_running_account_which_lands_what_it_fetched(
    servers: dict[str, EmulatorServer], tmp_path: Path
) -> None:
    (tmp_path / "accounts.toml").write_text(
        "".join(
            f'[[account]]\nname = "{name}"\napi_token_env = "T"\nbase_url = "{url}"\n'
            for name, url in (("first", servers["a"].base_url), ("second", servers["b"].base_url))
        )
        + '[[account]]\nname = "third"\napi_token_env = "T"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    before = [_requests(servers["a"]), _requests(servers["b"])]
    command = ["run", "--accounts", "accounts.toml", "--parallel", "2", "--pipelines-dir", "state"]
    process = subprocess.Popen(
        [sys.executable, "-m", "timetrack", *command, "--requests-per-second", "2"],
        cwd=tmp_path,
        env={**env, "T": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waited = time.monotonic()
    while _requests(servers["a"]) < before[0] + 6 or _requests(servers["b"]) < before[1] + 6:
        assert time.monotonic() - waited < 90 and process.poll() is None, "no account started"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)  # to the command only, as a scheduler's stop would
    out, err = process.communicate(timeout=90)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = out.splitlines()
    assert "0 landed, 3 did not" in lines[0]
    status = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert status == {"first": "interrupted", "second": "interrupted", "third": "interrupted"}
    assert "third: not started: interrupted" in err
    for name in ("first", "second"):
        landed = db_counts(tmp_path / f"timetrack_{name}.duckdb", f"time_tracking_{name}")
        assert landed.get("workspaces", 0) > 0, "what was fetched before Ctrl-C landed"


def _requests(server: EmulatorServer) -> int:
    log = requests.get(f"{server.base_url}/_emulator/requests", timeout=10).json()
    return int(sum(log["by_route"].values()))
