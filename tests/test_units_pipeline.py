"""run/pipeline.py's words on their own: a run's exit code, its summary as lines and as JSON,
the closing lines on stderr, and how an error becomes one line (the end-to-end tests read the
same lines from real runs)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigFieldMissingException, LookupTrace
from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration

from timetrack.errors import ConfigurationError, QuotaExhaustedError, TimetrackError
from timetrack.run import pipeline as pipeline_module
from timetrack.run.pipeline import INTERRUPTED, RunOptions, RunSummary, missing_settings, one_line
from timetrack.source.client import RequestStats


def _summary(strict: bool = False, **stats: object) -> RunSummary:
    return RunSummary(
        rows={"workspace_projects": 1200, "clients": 3},
        stats=RequestStats(**stats),  # type: ignore[arg-type]
        elapsed=12.34567,
        destination="duckdb",
        dataset="tt",
        strict=strict,
        views=["tt_analytics.entries", "tt_analytics.hours_by_week"],
        where="/data/t.duckdb (dataset tt)",
        pipeline_name="timetrack",
    )


def _quota(seconds: int) -> QuotaExhaustedError:
    return QuotaExhaustedError(f"quota spent; it resets in {seconds} s", seconds)


@pytest.mark.parametrize(
    ("stats", "strict", "code"),
    [
        ({}, False, 0),
        ({"rejected": {"clients": 1}}, False, 0),
        ({"rejected": {"clients": 1}}, True, 1),
        ({"errors": ["x"]}, False, 1),
        ({"deferred": ["org 1"]}, False, 75),
        ({"quota_stops": {"org:1": _quota(5)}}, False, 75),
        ({"errors": ["x"], "quota_stops": {"org:1": _quota(5)}}, False, 1),  # errors outrank
        ({"errors": ["x"], "stop_reason": INTERRUPTED}, False, 130),
        ({"stop_reason": "the service failed"}, False, 0),
    ],
)
def test_the_exit_code_says_the_worst_of_the_run(stats: dict, strict: bool, code: int) -> None:
    assert _summary(strict, **stats).exit_code == code


def test_the_json_summary_holds_every_field_a_scheduler_reads() -> None:
    summary = _summary(
        requests=40,
        retries=2,
        waits=[1.2504, 2.0],
        rejected={"clients": 2},
        deferred=["organization 9000002"],
        warnings=["w"],
        errors=[],
        notes=["n"],
    )
    assert json.loads(json.dumps(summary.as_dict())) == {
        "exit_code": 75,
        "destination": "duckdb",
        "dataset": "tt",
        "where": "/data/t.duckdb (dataset tt)",
        "pipeline": "timetrack",
        "elapsed_seconds": 12.346,
        "rows": {"clients": 3, "workspace_projects": 1200},
        "requests": 40,
        "retries": 2,
        "waits": 2,
        "wait_seconds": 3.25,
        "rejected": {"clients": 2},
        "deferred": ["organization 9000002"],
        "warnings": ["w"],
        "errors": [],
        "notes": ["n"],
        "views": ["tt_analytics.entries", "tt_analytics.hours_by_week"],
    }
    assert list(summary.as_dict()["rows"]) == ["clients", "workspace_projects"], "sorted"


def test_the_summary_lines_say_rows_costs_rejections_views_warnings_and_notes() -> None:
    summary = _summary(
        requests=1234,
        retries=3,
        waits=[2.0, 4.25],
        pacing_seconds=7.06,
        rejected={"workspace_tasks": 1, "clients": 2},
        warnings=["a warning"],
        notes=["a note"],
    )
    assert summary.lines() == [
        "loaded 1,203 rows into /data/t.duckdb (dataset tt) in 12.3 s",
        "  clients                     3",
        "  workspace_projects      1,200",
        "requests 1,234, retries 3, waits 2 (6.2 s), pacing 7.1 s",
        "warning: 3 records could not land (no usable key): clients 2, workspace_tasks 1; "
        "kept with their reasons in rejected_records",
        "analytics views in tt_analytics: entries, hours_by_week",
        "warning: a warning",
        "note: a note",
    ]
    bare = RunSummary(
        rows={"a": 1}, stats=RequestStats(), elapsed=0.04, destination="postgres", dataset="d"
    )
    assert bare.lines() == [
        "loaded 1 rows into postgres in 0.0 s",
        "  a              1",
        "requests 0, retries 0, waits 0 (0.0 s), pacing 0.0 s",
    ]
    bare.views = ["d_analytics.entries"]
    assert bare.lines()[-1] == "analytics views in d_analytics: entries"


def test_the_closing_lines_say_why_the_run_did_not_end_cleanly() -> None:
    assert _summary().closing_lines() == []
    strict = _summary(True, errors=["e1", "e2"], rejected={"clients": 2, "tags": 1})
    assert strict.closing_lines() == [
        "Error: e1",
        "Error: e2",
        "Error: 3 records could not land (--strict); see rejected_records",
    ]
    assert _summary(rejected={"clients": 2}).closing_lines() == [], "not strict: a warning only"
    interrupted = _summary(stop_reason=INTERRUPTED, quota_stops={"org:1": _quota(9)})
    assert interrupted.closing_lines() == [
        "interrupted: what was fetched before Ctrl-C has landed; the next run resumes from there"
    ]
    quota = _summary(
        quota_stops={"org:1": _quota(900), "org:2": _quota(60), "me": _quota(300)},
        deferred=["a", "b"],
    )
    assert quota.closing_lines() == [
        "stopped for the hourly API quota with progress saved: 1,203 rows landed, 2 parts left "
        "for the next run; quota spent; it resets in 60 s"
    ]
    deferred = _summary(deferred=["a"])
    assert deferred.closing_lines() == [
        "stopped for the hourly API quota with progress saved: 1,203 rows landed, 1 parts left "
        "for the next run"
    ]


def test_an_error_is_one_line_cut_at_a_word() -> None:
    assert one_line(ValueError("a\n  b\tc")) == "a b c"
    assert one_line(ValueError("word " * 3), limit=15) == "word word word"
    assert one_line(ValueError("alpha beta gamma"), limit=12) == "alpha beta ..."
    assert one_line(ValueError("x" * 400)) == "x" * 400, "400 characters fit"
    assert one_line(ValueError("x" * 401)) == "x" * 400 + " ...", "no word to cut at"


class _Wrapped(Exception):
    def __init__(self, text: str, inner: BaseException) -> None:
        super().__init__(text)
        self.exception = inner


@pytest.mark.parametrize(
    ("inner", "said"),
    [
        (
            OSError("IO Error: Could not set lock on file x.duckdb"),
            "another run holds this DuckDB file: wait for it to end, or use another file",
        ),
        (
            OSError("Conflicting lock is held"),
            "another run holds this DuckDB file: wait for it to end, or use another file",
        ),
        (
            OSError(28, "No space left on device"),
            "the disk is full: free space where dlt keeps pipelines and where the data goes, "
            "then run again (nothing landed is lost)",
        ),
        (
            OSError("Disk is full"),
            "the disk is full: free space where dlt keeps pipelines and where the data goes, "
            "then run again (nothing landed is lost)",
        ),
        (
            OSError("IO Error: Cannot open file /nope/x.duckdb"),
            "at load in table clients: IO Error: Cannot open file /nope/x.duckdb (the DuckDB "
            "file's folder must exist and be writable: check DESTINATION__DUCKDB__CREDENTIALS)",
        ),
        (
            ValueError("Job failed with message: relation does not exist"),
            "at load in table clients: relation does not exist",
        ),
        (
            ValueError("The actual reason given is: permission denied"),
            "at load in table clients: permission denied",
        ),
    ],
)
def test_the_cause_of_a_failed_load_is_the_innermost_error_named_by_step_and_table(
    inner: BaseException, said: str
) -> None:
    error = _Wrapped("Pipeline execution failed at `step=load` job_id=clients.abc.0.parquet", inner)
    assert pipeline_module._cause(error) == said


def test_a_cause_that_loops_or_is_unwrapped_is_read_as_it_is() -> None:
    plain = ValueError("plain   words")
    assert pipeline_module._cause(plain) == "plain words"
    looped = _Wrapped("outer", ValueError("ignored"))
    looped.exception = looped
    assert pipeline_module._cause(looped) == "outer"
    back = _Wrapped("outer", ValueError("ignored"))
    back.exception = _Wrapped("inner", back)
    assert pipeline_module._cause(back) == "inner", "a chain back to the outer error ends there"
    deeper = _Wrapped("b", ValueError("ignored"))
    deeper.exception = _Wrapped("c", deeper)
    assert pipeline_module._cause(_Wrapped("a", deeper)) == "c", "a loop further in ends too"
    chained = RuntimeError("outer")
    chained.__cause__ = KeyError("inner")
    assert pipeline_module._cause(chained) == "'inner'"
    long = ValueError("word " * 100)
    assert pipeline_module._cause(long) == " ".join(["word"] * 60) + " ...", "300 at most"


def test_a_pipelines_dir_that_cannot_be_one_is_the_users_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline_module._check_pipelines_dir(None)
    pipeline_module._check_pipelines_dir(str(tmp_path / "new" / "deeper"))  # made when needed
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigurationError) as caught:
        pipeline_module._check_pipelines_dir(str(file / "state"))
    assert str(caught.value) == f"--pipelines-dir {file / 'state'}: {file} is a file, not a folder"
    # Root writes anywhere, and CI runs as root: the permission is asked of os.access.
    monkeypatch.setattr(pipeline_module.os, "access", lambda path, mode: path != tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        pipeline_module._check_pipelines_dir(str(tmp_path / "state"))
    assert str(caught.value) == f"--pipelines-dir {tmp_path / 'state'}: {tmp_path} is not writable"


def _missing(**env: str) -> ConfigFieldMissingException:
    """What dlt raises for a PostgreSQL destination whose credentials are missing, from
    dlt itself, with only `env` set."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("DESTINATION__", "CREDENTIALS__"))]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            resolve_configuration(
                PostgresClientConfiguration()._bind_dataset_name(dataset_name="d"),
                sections=("destination", "postgres"),
            )
        except ConfigFieldMissingException as error:
            return error
    raise AssertionError("dlt found every setting")


POSTGRES_WHOLE = (
    " (or the whole DESTINATION__POSTGRES__CREDENTIALS="
    "postgresql://USER:PASSWORD@HOST:5432/DATABASE)"
)


def test_missing_credentials_are_named_by_the_variables_that_set_them() -> None:
    assert missing_settings(_missing()) == (
        "missing settings: set DESTINATION__POSTGRES__CREDENTIALS__DATABASE, "
        "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD, "
        "DESTINATION__POSTGRES__CREDENTIALS__USERNAME, DESTINATION__POSTGRES__CREDENTIALS__HOST"
        + POSTGRES_WHOLE
    )
    three = _missing(
        DESTINATION__POSTGRES__CREDENTIALS__HOST="h",
        DESTINATION__POSTGRES__CREDENTIALS__USERNAME="u",
        DESTINATION__POSTGRES__CREDENTIALS__DATABASE="d",
    )
    assert missing_settings(three) == (
        "missing setting: set DESTINATION__POSTGRES__CREDENTIALS__PASSWORD" + POSTGRES_WHOLE
    )
    two = _missing(
        DESTINATION__POSTGRES__CREDENTIALS__HOST="h",
        DESTINATION__POSTGRES__CREDENTIALS__USERNAME="u",
    )
    assert missing_settings(two) == (
        "missing settings: set DESTINATION__POSTGRES__CREDENTIALS__DATABASE, "
        "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD" + POSTGRES_WHOLE
    )
    both = ConfigFieldMissingException(
        SimpleNamespace(__resolved_fields_set__=[]),
        {
            "bucket_url": [
                LookupTrace("Environment Variables", [], "DESTINATION__BUCKET_URL", None)
            ],
            "credentials": two.traces["credentials"],
        },
    )
    assert missing_settings(both) == (
        "missing settings: set DESTINATION__BUCKET_URL, "
        "DESTINATION__POSTGRES__CREDENTIALS__DATABASE, "
        "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD" + POSTGRES_WHOLE
    ), "a plain field before the credentials' parts: both named"


def test_a_missing_setting_without_a_variable_is_named_by_its_field() -> None:
    def Trace(provider: str, key: str) -> LookupTrace:
        return LookupTrace(provider, [], key, None)

    error = ConfigFieldMissingException(
        SimpleNamespace(__resolved_fields_set__=[]),
        {
            "bucket_url": [
                Trace("config.toml", "destination.filesystem.bucket_url"),
                Trace("Environment Variables", "DESTINATION__BUCKET_URL"),
                Trace("Environment Variables", "DESTINATION__FILESYSTEM__BUCKET_URL"),
                Trace("Environment Variables", "PIPELINE__DESTINATION__FILESYSTEM__X__Y"),
            ],
            "layout": [Trace("config.toml", "layout")],
            "api_token": [
                Trace("Environment Variables", "SOURCES__TIMETRACK__API_TOKEN"),
                Trace("Environment Variables", "SOURCES__API_TOKEN"),  # later in the alphabet
            ],
            "secret": [Trace("Environment Variables", "CREDENTIALS__SECRET")],
            "project_id": [
                Trace("Environment Variables", "DESTINATION__CREDENTIALS__PROJECT_ID"),
                Trace("Environment Variables", "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID"),
            ],  # the alphabet would pick the first
            "nothing": [],
        },
    )
    assert missing_settings(error) == (
        "missing settings: set DESTINATION__FILESYSTEM__BUCKET_URL, layout, "
        "SOURCES__TIMETRACK__API_TOKEN, CREDENTIALS__SECRET, "
        "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID, nothing"
    )


@pytest.fixture
def pipeline_dir(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(working_dir=str(tmp_path / "pipeline"))


TOKEN = "tok-4f9e-secret"


def _failed(message: str) -> Exception:
    try:
        raise ValueError(message)
    except ValueError as error:
        return error


def test_the_whole_error_goes_to_a_log_without_the_token(pipeline_dir: SimpleNamespace) -> None:
    options = RunOptions(source_args={"api_token": TOKEN})  # type: ignore[typeddict-item]
    path = Path(pipeline_module._write_log(pipeline_dir, _failed(f"sent {TOKEN}"), options))
    assert path == Path(pipeline_dir.working_dir) / "last_error.log"
    text = path.read_text()
    assert text.startswith("Traceback (most recent call last):\n  File ")
    assert text.endswith("\nValueError: sent t*****t\n")
    assert TOKEN not in text


def test_the_log_goes_beside_a_state_whose_folders_are_not_made_yet(tmp_path: Path) -> None:
    new = SimpleNamespace(working_dir=str(tmp_path / "pipelines" / "timetrack"))
    path = pipeline_module._write_log(new, _failed("x"), RunOptions())
    assert path == str(tmp_path / "pipelines" / "timetrack" / "last_error.log")
    assert Path(path).read_text().endswith("ValueError: x\n")


def test_the_token_of_the_environment_is_masked_too(
    pipeline_dir: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__TIMETRACK__API_TOKEN", TOKEN)
    path = pipeline_module._write_log(pipeline_dir, _failed(TOKEN), RunOptions())
    assert TOKEN not in Path(path).read_text() and "t*****t" in Path(path).read_text()


def test_a_log_that_cannot_be_written_beside_the_state_goes_elsewhere_or_says_why(
    tmp_path: Path,
) -> None:
    file = tmp_path / "file"
    file.write_text("")
    elsewhere = pipeline_module._write_log(
        SimpleNamespace(working_dir=str(file / "pipeline")), _failed("x"), RunOptions()
    )
    assert elsewhere == str(Path(tempfile.gettempdir()) / "last_error.log")
    (tmp_path / "taken" / "last_error.log").mkdir(parents=True)
    said = pipeline_module._write_log(
        SimpleNamespace(working_dir=str(tmp_path / "taken")), _failed("x"), RunOptions()
    )
    assert said == f"not written to {tmp_path / 'taken' / 'last_error.log'}: Is a directory"


def test_a_failed_run_is_one_line_with_where_its_whole_error_went(
    pipeline_dir: SimpleNamespace,
) -> None:
    options = RunOptions()
    log = str(Path(pipeline_dir.working_dir) / "last_error.log")
    ours = ConfigurationError("bad option")
    wrapped = RuntimeError("dlt wrapped it")
    wrapped.__cause__ = ours
    assert pipeline_module._run_error(wrapped, pipeline_dir, options, "extract") is ours
    assert not Path(log).exists(), "our own errors say all there is"
    missing = RuntimeError("step failed")
    missing.__cause__ = _missing()
    said = pipeline_module._run_error(missing, pipeline_dir, options, "load")
    assert isinstance(said, ConfigurationError)
    assert str(said) == f"{missing_settings(_missing())} (full detail: {log})"
    pending = pipeline_module._run_error(_failed("boom"), pipeline_dir, options, "pending")
    assert type(pending) is TimetrackError
    assert str(pending) == (
        f"the load an earlier run left pending fails: boom; {pipeline_module.FIX_PENDING} "
        f"(full detail: {log})"
    )
    for step in ("normalize", "load"):
        failed = pipeline_module._run_error(_failed("boom"), pipeline_dir, options, step)
        assert str(failed) == (
            f"the run failed: boom; {pipeline_module.FIX_PENDING} (full detail: {log})"
        )
    extract = pipeline_module._run_error(_failed("boom"), pipeline_dir, options, "extract")
    assert str(extract) == f"the run failed: boom (full detail: {log})"
    assert Path(log).read_text().endswith("ValueError: boom\n")


def test_duckdb_out_of_memory_names_the_cap_this_release_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = _Wrapped(
        "Pipeline execution failed at `step=load` job_id=clients.abc.0.parquet",
        ValueError("Out of Memory Error: failed to allocate data of size 16.0 MiB"),
    )
    monkeypatch.setattr(pipeline_module, "_written_duckdb_config", {"memory_limit": "128MB"})
    assert pipeline_module._cause(error) == (
        "at load in table clients: DuckDB ran out of memory (memory_limit 128MB): raise it in "
        "destination.duckdb.credentials.global_config, e.g. "
        'DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG=\'{"memory_limit": "1GB"}\'; the next '
        "run loads what this one extracted"
    )
    monkeypatch.setattr(pipeline_module, "_written_duckdb_config", None)
    assert "(memory_limit not set)" in pipeline_module._cause(error)


def test_a_cause_is_cut_at_300_characters() -> None:
    assert pipeline_module._cause(ValueError("x" * 300)) == "x" * 300
    assert pipeline_module._cause(ValueError("x" * 301)) == "x" * 300 + " ..."


def test_the_live_batch_marker_sits_beside_the_pipelines_state(tmp_path: Path) -> None:
    from timetrack.destination.target import resolve_target

    target = resolve_target(
        "duckdb",
        "d",
        name="timetrack",
        duckdb_file=str(tmp_path / "x.duckdb"),
        pipelines_dir=str(tmp_path / "state"),
    )
    marker = pipeline_module.batch_marker_path(target)
    assert marker == tmp_path / "state" / f".{target.pipeline_name}.lock.batch"
    assert pipeline_module.run_lock_path(target).parent == marker.parent


def test_the_step_job_and_reason_are_the_first_dlt_names() -> None:
    # The words of the inner error come after dlt's: backticks, another job_id= or another
    # "with message:" there are the database's, not dlt's markers.
    inner = ValueError("Job failed with message: bad `value` near job_id=x.y with message: z")
    error = _Wrapped(
        "Pipeline execution failed at `step=load` job_id=clients.abc.0.parquet: `a` job_id=b.c",
        inner,
    )
    assert pipeline_module._cause(error) == (
        "at load in table clients: bad `value` near job_id=x.y with message: z"
    )
