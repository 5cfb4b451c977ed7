"""Many accounts in one command: `timetrack run --accounts FILE --parallel N`.

Each account is its own dlt pipeline (`timetrack_<name>`) with its own state, landing in its own
dataset (`<dataset>_<name>`; in DuckDB its own file `timetrack_<name>.duckdb`), paced and
quota-handled on its own token. Accounts run in separate processes, N at a time, so that one
failing, hanging on its quota or being killed never touches another: dlt's configuration, the
environment a run sets and DuckDB's settings are per process. A fresh process per account keeps
each one's memory its own (the summary reports each peak). Processes are started and watched
here rather than through a pool, so that Ctrl-C can be passed to each running account once.

The accounts file is TOML, one `[[account]]` table per account; tokens never sit in it, only
the name of the environment variable that holds each:

    [[account]]
    name = "acme"                      # letters, digits, _
    api_token_env = "ACME_TOKEN"
    base_url = "https://api.example.com"   # optional, like the options of `timetrack run`
    layout = "envelope"
    organization_ids = [123]
    workspace_ids = [456, 789]
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
import resource
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any, TextIO, cast

from timetrack.errors import ConfigurationError, TimetrackError

if TYPE_CHECKING:
    from timetrack.source.core import SourceArgs

NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
KNOWN_KEYS = {"name", "api_token_env", "base_url", "layout", "organization_ids", "workspace_ids"}
LAYOUTS = ("envelope", "bare")


@dataclass(frozen=True)
class Account:
    """One account of the file: a name, where its token is, and what to read."""

    name: str
    api_token_env: str
    base_url: str | None = None
    layout: str | None = None
    organization_ids: tuple[int, ...] = ()
    workspace_ids: tuple[int, ...] = ()

    @property
    def pipeline_name(self) -> str:
        return f"timetrack_{self.name}"

    def dataset(self, base: str) -> str:
        return f"{base}_{self.name}"


def load_accounts(path: str | Path) -> list[Account]:
    """The accounts of a file, checked: every fault is named with its account and key."""
    source = Path(path)
    try:
        parsed = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no accounts file {source}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read the accounts file {source}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{source} is not valid TOML: {error}") from None
    unknown_top = sorted(set(parsed) - {"account"})
    if unknown_top:
        raise ConfigurationError(
            f"{source}: unknown key {', '.join(unknown_top)}; accounts are [[account]] tables"
        )
    tables = parsed.get("account")
    if not isinstance(tables, list) or not tables:
        raise ConfigurationError(f"{source} has no [[account]] table")
    accounts = [_account(source, n, table) for n, table in enumerate(tables, 1)]
    seen: dict[str, str] = {}
    for account in accounts:
        # dlt normalises dataset names (case, runs of `_`): two names it makes one would share
        # a dataset, and each account's listings would delete the other's rows.
        landed_as = _naming().normalize_identifier(account.dataset("dataset"))
        if landed_as in seen:
            other = seen[landed_as]
            raise ConfigurationError(
                f"{source}: account name {account.name!r} "
                + (
                    "appears twice"
                    if other.lower() == account.name.lower()
                    else f"lands in the same dataset as {other!r} (dlt normalises both to "
                    f"{landed_as.removeprefix('dataset_')!r}): rename one"
                )
            )
        seen[landed_as] = account.name
    return accounts


def _naming() -> Any:
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention()


def _account(source: Path, index: int, table: Any) -> Account:
    where = f"{source}, account {index}"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: expected a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))}; "
            "a token never goes in the file, only the name of its variable, api_token_env)"
        )
    name = table.get("name")
    if isinstance(name, str) and len(name) > 64:
        raise ConfigurationError(f"{where}: name is {len(name)} characters long; 64 at most")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigurationError(f"{where}: name must be letters, digits or _, got {name!r}")
    where = f"{source}, account {name!r}"
    token_env = table.get("api_token_env")
    if not isinstance(token_env, str) or not token_env:
        raise ConfigurationError(
            f"{where}: api_token_env must name the environment variable that holds its token"
        )
    base_url = table.get("base_url")
    if base_url is not None and not (isinstance(base_url, str) and base_url.startswith("http")):
        raise ConfigurationError(f"{where}: base_url must be an http(s) URL, got {base_url!r}")
    layout = table.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise ConfigurationError(f"{where}: layout must be one of {', '.join(LAYOUTS)}")
    ids = {}
    for key in ("organization_ids", "workspace_ids"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigurationError(f"{where}: {key} must be a list of integers")
        ids[key] = tuple(value)
    return Account(name, token_env, base_url, layout, ids["organization_ids"], ids["workspace_ids"])


@dataclass
class AccountResult:
    """What one account's run came to, in values a process can send back."""

    name: str
    exit_code: int
    rows: int = 0
    requests: int = 0
    elapsed: float = 0.0
    peak_rss_mb: float = 0.0
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return {0: "ok", 75: "quota", 130: "interrupted"}.get(self.exit_code, "failed")


@dataclass
class AccountsSummary:
    """Every account's result; the exit code is 0 only when every account landed."""

    results: list[AccountResult]
    elapsed: float

    @property
    def exit_code(self) -> int:
        codes = {r.exit_code for r in self.results}
        for code in (130, 1, 75):  # interrupted, then any failure, then a quota stop
            if code in codes:
                return code
        return max(codes, default=0)

    def lines(self) -> list[str]:
        width = max([len(r.name) for r in self.results] + [7])
        landed = sum(1 for r in self.results if r.exit_code == 0)
        out = [
            f"{len(self.results)} accounts in {self.elapsed:.1f} s: {landed} landed, "
            f"{len(self.results) - landed} did not"
        ]
        for r in sorted(self.results, key=lambda r: r.name):
            line = (
                f"  {r.name:<{width}}  {r.status:<11} {r.rows:>9,} rows  {r.requests:>6,} "
                f"requests  {r.elapsed:6.1f} s  peak {r.peak_rss_mb:,.0f} MB"
            )
            out.append(line + (f"  {r.message}" if r.message else ""))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "elapsed_seconds": round(self.elapsed, 3),
            "accounts": {
                r.name: {
                    "status": r.status,
                    "exit_code": r.exit_code,
                    "message": r.message,
                    "peak_rss_mb": round(r.peak_rss_mb, 1),
                    **r.summary,
                }
                for r in self.results
            },
        }


def account_options(account: Account, base: Any) -> Any:
    """The run options of one account: its pipeline, dataset, token, scope; the rest as given
    for all (destination, pacing, history, ...). Raises ConfigurationError when its token's
    variable is not set."""
    from timetrack.run.pipeline import RunOptions

    options: RunOptions = base
    token = os.environ.get(account.api_token_env)
    if not token:
        raise ConfigurationError(f"environment variable {account.api_token_env} is not set")
    args: dict[str, Any] = dict(options.source_args)
    args["api_token"] = token
    for key, value in (
        ("base_url", account.base_url),
        ("layout", account.layout),
        ("organization_ids", list(account.organization_ids) or None),
        ("workspace_ids", list(account.workspace_ids) or None),
    ):
        if value is not None:
            args[key] = value
    duckdb_file = options.duckdb_file
    if options.destination == "duckdb":  # a file per account, even when one file is configured
        duckdb_file = str(Path.cwd() / f"{account.pipeline_name}.duckdb")
    return dataclasses.replace(
        options,
        duckdb_file=duckdb_file,
        dataset=account.dataset(options.dataset),
        pipeline_name=account.pipeline_name,
        source_args=cast("SourceArgs", args),
    )


class _Prefixed:
    """A text stream that prefixes every line with the account's name."""

    def __init__(self, name: str, stream: TextIO) -> None:
        self.prefix = f"[{name}] "
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.stream.write(self.prefix + line + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False  # no live status line: many accounts would overwrite each other's


def run_account(account: Account, base: Any) -> AccountResult:
    """Run one account (in its own process); never raises: every outcome is a result."""
    from timetrack.run.pipeline import run

    started = time.monotonic()

    def result(exit_code: int, message: str, **counts: Any) -> AccountResult:
        elapsed, peak = time.monotonic() - started, _peak_rss_mb()
        return AccountResult(
            account.name, exit_code, **counts, elapsed=elapsed, peak_rss_mb=peak, message=message
        )

    try:
        options = account_options(account, base)
        summary = run(options, out=_Prefixed(account.name, sys.stderr))  # type: ignore[arg-type]
    except TimetrackError as error:
        return result(1, str(error))
    except Exception as error:  # a bug of ours must not stop the other accounts either
        return result(1, f"unexpected error: {type(error).__name__}: {error}")
    return result(
        summary.exit_code,
        "; ".join(line.removeprefix("Error: ") for line in summary.closing_lines()),
        rows=sum(summary.rows.values()),
        requests=summary.stats.requests,
        summary=summary.as_dict(),
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(account: Account, base: Any, results: Any, environ: dict[str, str]) -> None:
    """A child process's whole life: one account, its result sent back whatever happens."""
    os.setpgid(0, 0)  # Ctrl-C at a terminal reaches the parent only; it passes it on, once
    # A fork server's children inherit its environment, taken when it started: the parent's,
    # as it is now, is the one dlt's settings and the accounts' tokens are read from.
    os.environ.clear()
    os.environ.update(environ)
    results.put(run_account(account, base))


PRELOADED = ["timetrack.run.pipeline"]
"""What the fork server imports once for every account it starts (dlt, DuckDB's client, the
source): a spawned child imported them itself, 1.2 s of CPU each."""


def _context(start_method: str) -> Any:
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(PRELOADED)
    return context


def run_accounts(
    accounts: Iterable[Account],
    base: Any,
    parallel: int = 4,
    *,
    start_method: str = "forkserver",
) -> AccountsSummary:
    """Run every account, `parallel` at a time, each in a fresh process.

    Ctrl-C (SIGINT to this process) is passed to every running account, which lands what it
    fetched and saves where it stood, as a single run does; accounts not started yet are not
    started. A process that dies (killed, out of memory) is that account's failure only.
    `start_method` "forkserver" forks each from a server process that imported the run's
    modules and nothing else (no threads, locks or dlt state of this process), with this
    process's environment and folder; the unit tests fork, so that a child runs what the
    test set up."""
    pending = list(accounts)
    started = time.monotonic()
    results: list[AccountResult] = []
    context = _context(start_method)
    queue = context.Queue()
    running: dict[str, Any] = {}
    interrupted = False

    def finish(result: AccountResult) -> None:
        process = running.pop(result.name, None)
        if process is not None:
            process.join()
        results.append(result)

    def forward(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        for process in running.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, forward) if in_main else None
    try:
        while running or (pending and not interrupted):
            while pending and len(running) < max(1, parallel) and not interrupted:
                account = pending.pop(0)
                process = context.Process(
                    target=_child,
                    args=(account, base, queue, dict(os.environ)),
                    name=f"timetrack-{account.name}",
                )
                process.start()
                running[account.name] = process
            try:
                finish(queue.get(timeout=0.5))
                continue
            except Empty:
                pass
            for name, process in list(running.items()):
                if process.exitcode is not None and name in running:
                    _drain(queue, finish)  # its result may have come in meanwhile
                    if name in running:
                        finish(AccountResult(name, 1, message=_died(process.exitcode)))
        for account in pending:  # interrupted before they started
            finish(AccountResult(account.name, 130, message="not started: interrupted"))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return AccountsSummary(results, time.monotonic() - started)


def _drain(queue: Any, finish: Callable[[AccountResult], None]) -> None:
    while True:
        try:
            finish(queue.get(timeout=0.2))
        except Empty:
            return


def _died(exitcode: int) -> str:
    if exitcode < 0:
        return f"its process died: {signal.Signals(-exitcode).name}"
    return f"its process exited with status {exitcode} before it said how the run went"
