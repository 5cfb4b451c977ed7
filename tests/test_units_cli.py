"""The command line's option helpers on their own (cli.py): what a bad value says, and what
reaches a run; the commands themselves run in tests/test_units_cli_inprocess.py's helper."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click
import pytest

from tests.test_units_cli_inprocess import invoke
from timetrack import cli
from timetrack.emulator.config import FAULT_KINDS


def test_faults_are_kind_equals_rate() -> None:
    assert cli._parse_fault(None, None, ()) == {}  # type: ignore[arg-type]
    assert cli._parse_fault(None, None, ("slow=0.5", "drop=1")) == {"slow": 0.5, "drop": 1.0}  # type: ignore[arg-type]
    for bad in ("slow", "nonsense=0.1"):
        with pytest.raises(click.BadParameter) as caught:
            cli._parse_fault(None, None, (bad,))  # type: ignore[arg-type]
        assert (
            caught.value.message == f"expected KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
        )
    with pytest.raises(click.BadParameter) as caught:
        cli._parse_fault(None, None, ("slow=lots",))  # type: ignore[arg-type]
    assert caught.value.message == "rate of slow is not a number: lots"


def test_the_emulators_now_is_a_day_or_a_time() -> None:
    assert cli._parse_now(None, None, None) is None  # type: ignore[arg-type]
    assert cli._parse_now(None, None, "2026-01-02") == 1767312000.0  # type: ignore[arg-type]
    assert cli._parse_now(None, None, "2026-01-02T01:00:00+01:00") == 1767312000.0  # type: ignore[arg-type]
    with pytest.raises(click.BadParameter) as caught:
        cli._parse_now(None, None, "soon")  # type: ignore[arg-type]
    assert caught.value.message == "expected YYYY-MM-DD or an RFC3339 time"


def test_a_day_option_is_an_iso_day_named_in_its_error() -> None:
    assert cli._date_option(None, "--since") is None
    assert cli._date_option("2026-02-28", "--since") == "2026-02-28"
    assert cli._day_option("2026-02-28", "--from") == date(2026, 2, 28)
    assert cli._day_option(None, "--from") is None
    with pytest.raises(click.BadParameter) as caught:
        cli._day_option("2026-02-30", "--from")
    assert caught.value.message == "expected YYYY-MM-DD, got '2026-02-30'"
    assert caught.value.param_hint == "--from"


def test_only_the_options_given_reach_the_source() -> None:
    given: dict[str, Any] = {
        "base_url": "http://x",
        "layout": None,
        "workspace_ids": (1, 2),
        "organization_ids": (),
        "requests_per_second": 0,
        "keep_deleted": False,
    }
    assert cli._source_args(**given) == {
        "base_url": "http://x",
        "workspace_ids": [1, 2],
        "requests_per_second": 0,
        "keep_deleted": False,
    }


def test_quiet_shows_no_progress() -> None:
    loud = cli._run_options(resources=("clients",), quiet=False, progress_every=5.0, dataset="d")
    assert (loud.resources, loud.progress_every, loud.quiet, loud.dataset) == (
        ["clients"],
        5.0,
        False,
        "d",
    )
    quiet = cli._run_options(resources=(), quiet=True, progress_every=5.0)
    assert (quiet.resources, quiet.progress_every, quiet.quiet) == ([], 0, True)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"pipeline_name": "other"}, "--pipeline-name"),
        ({"duckdb_file": "x.duckdb"}, "--duckdb-file"),
        ({"organization_ids": (1,)}, "--organization-id"),
        ({"workspace_ids": (2,)}, "--workspace-id"),
        (
            {"pipeline_name": "other", "workspace_ids": (2,)},
            "--pipeline-name, --workspace-id",
        ),
    ],
)
def test_options_an_accounts_file_sets_per_account_are_refused_beside_it(
    given: dict[str, Any], named: str
) -> None:
    options: dict[str, Any] = {
        "pipeline_name": "timetrack",
        "duckdb_file": None,
        "organization_ids": (),
        "workspace_ids": (),
        **given,
    }
    with pytest.raises(click.UsageError) as caught:
        cli._refuse_with_accounts(**options)
    assert caught.value.message == (
        f"{named} cannot go with --accounts: each account has its own pipeline, and its "
        "organization_ids and workspace_ids in the file"
    )


def test_no_option_of_an_account_is_no_clash() -> None:
    cli._refuse_with_accounts(
        pipeline_name="timetrack", duckdb_file=None, organization_ids=(), workspace_ids=()
    )


def test_a_bad_fault_or_day_is_one_line_from_the_command(tmp_path: Path) -> None:
    result = invoke(tmp_path, "emulator", "--fault", "slow=lots")
    assert result.exit_code == 2
    assert "Invalid value for '--fault': rate of slow is not a number: lots" in result.stderr
    failed = invoke(tmp_path, "run", "--report-start-date", "2026-13-01")
    assert failed.exit_code == 2
    assert (
        "Invalid value for --report-start-date: expected YYYY-MM-DD, got '2026-13-01'"
        in failed.stderr
    ), failed.stderr


def test_the_entry_point_names_itself_timetrack_however_it_was_started(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from timetrack import __version__

    monkeypatch.setattr("sys.argv", ["/somewhere/__main__.py", "--help"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("Usage: timetrack [OPTIONS] COMMAND [ARGS]...")
    monkeypatch.setattr("sys.argv", ["x", "--version"])
    with pytest.raises(SystemExit):
        cli.main()
    assert capsys.readouterr().out == f"timetrack, version {__version__}\n"


def test_a_rate_holding_an_equals_sign_is_no_number_of_its_kind() -> None:
    with pytest.raises(click.BadParameter) as caught:
        cli._parse_fault(None, None, ("slow=0.5=1",))  # type: ignore[arg-type]
    assert caught.value.message == "rate of slow is not a number: 0.5=1", "KIND is before the 1st ="


def test_verbose_prints_the_log_the_error_names_last_whatever_its_path_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from timetrack.errors import TimetrackError
    from timetrack.run import pipeline

    folder = tmp_path / "My Documents (work)"
    folder.mkdir()
    log = folder / "last_error.log"
    log.write_text("Traceback (most recent call last):\n  the whole story\n")
    # the cause quotes a server's text that itself holds the marker: the log is the last one
    said = f"the run failed: 500 says 'see (full detail: elsewhere)' (full detail: {log})"

    def fails(options: object) -> None:
        raise TimetrackError(said)

    monkeypatch.setattr(pipeline, "run", fails)
    with pytest.raises(TimetrackError) as caught:
        cli._run_one(pipeline.RunOptions(), verbose=True, quiet=False, as_json=False)
    assert str(caught.value) == said, "the error itself goes on, for the one line"
    assert capsys.readouterr().err == log.read_text() + "\n"
    with pytest.raises(TimetrackError):
        cli._run_one(pipeline.RunOptions(), verbose=False, quiet=False, as_json=False)
    assert capsys.readouterr().err == "", "no log without --verbose"


def test_the_command_collects_garbage_less_often_before_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`timetrack`'s entry point raises the cycle collector's threshold before any command
    runs (5 to 7% of a run's CPU, cli.collect_garbage_less_often)."""
    import gc

    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cli, "cli", lambda **kwargs: seen.append(gc.get_threshold()))
    kept = gc.get_threshold()
    gc.set_threshold(700, 11, 12)  # not Python's defaults: each of the three is set
    try:
        cli.main()
    finally:
        gc.set_threshold(*kept)
    assert seen == [(10_000, 10, 10)]
