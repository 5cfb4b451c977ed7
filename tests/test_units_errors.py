"""The exception tree's helpers (timetrack.errors): the status an ApiError carries, a secret
masked as dlt masks it, the error found behind dlt's wrappers, and text a terminal may show."""

from __future__ import annotations

from dlt.common.configuration.providers.toml import TomlProviderReadException

from timetrack.errors import (
    ApiError,
    ConfigurationError,
    NotFoundError,
    QuotaExhaustedError,
    ServiceError,
    TimetrackError,
    find_in_chain,
    find_timetrack_error,
    mask_secret,
    printable,
    unreadable_settings,
)


class Wrapped(Exception):
    """As dlt wraps a step's or a job's failure: the original in `exception`."""

    def __init__(self, message: str, exception: object = None) -> None:
        super().__init__(message)
        self.exception = exception


def test_an_api_error_carries_its_message_and_status() -> None:
    assert (str(NotFoundError("no org 7", 404)), NotFoundError("no org 7", 404).status) == (
        "no org 7",
        404,
    )
    assert ApiError("unreachable").status is None
    quota = QuotaExhaustedError("quota spent", 1800)
    assert (str(quota), quota.status, quota.resets_in) == ("quota spent", 402, 1800)
    assert isinstance(quota, TimetrackError)


def test_a_secret_shows_its_first_and_last_character_or_nothing_when_short() -> None:
    assert mask_secret("abcdef123") == "a*****3"
    assert mask_secret("abcd") == "a*****d"
    assert mask_secret("abc") == "*****"
    assert mask_secret("") == "*****"


def test_the_error_behind_wrappers_is_found_in_exception_cause_or_context() -> None:
    wanted = ServiceError("the service kept failing", 503)
    assert find_in_chain(wanted, ServiceError) is wanted, "the error itself"
    assert find_in_chain(Wrapped("step failed", Wrapped("job failed", wanted)), ApiError) is wanted

    caused = RuntimeError("load failed")
    caused.__cause__ = wanted
    assert find_in_chain(caused, ServiceError) is wanted
    during = RuntimeError("while handling")
    during.__context__ = wanted
    assert find_in_chain(during, ServiceError) is wanted
    assert find_in_chain(Wrapped("step failed", "not an exception"), ServiceError) is None
    assert find_in_chain(RuntimeError("plain"), ServiceError) is None


def test_the_wrapped_error_comes_before_the_cause_and_the_cause_before_the_context() -> None:
    nested, cause, context = (ConfigurationError(name) for name in ("nested", "cause", "context"))
    error = Wrapped("step failed", nested)
    error.__cause__, error.__context__ = cause, context
    assert find_in_chain(error, ConfigurationError) is nested
    error.exception = None
    assert find_in_chain(error, ConfigurationError) is cause
    # Depth first: what the wrapped error hides comes before the wrapper's own cause.
    deep = ConfigurationError("deep")
    error.exception = Wrapped("job failed", deep)
    assert find_in_chain(error, ConfigurationError) is deep


def test_an_error_met_twice_is_looked_at_once_and_a_loop_ends() -> None:
    shared = RuntimeError("the same error as wrapped and as cause")
    wanted = ConfigurationError("found after it")
    error = Wrapped("step failed", shared)
    error.__cause__ = shared
    error.__context__ = wanted
    assert find_in_chain(error, ConfigurationError) is wanted, "the second sight is skipped"

    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert find_in_chain(first, ConfigurationError) is None


def test_the_timetrack_error_behind_an_exception() -> None:
    wanted = ConfigurationError("bad option")
    assert find_timetrack_error(Wrapped("step failed", wanted)) is wanted
    assert find_timetrack_error(Wrapped("step failed", ValueError("other"))) is None


def test_tabs_and_newlines_become_spaces_and_control_characters_go() -> None:
    assert printable("a\tb\nc\r\x1b[0m\u202ed") == "a b c[0md"
    assert printable("plain text") == "plain text"


def test_a_settings_file_dlt_cannot_read_is_named_however_wrapped() -> None:
    unreadable = TomlProviderReadException(
        "secrets.toml", "secrets.toml", ["./.dlt/secrets.toml"], "Unexpected character: '='"
    )
    wrapped = RuntimeError("opening the destination failed")
    wrapped.__cause__ = unreadable
    said = unreadable_settings(wrapped)
    assert isinstance(said, ConfigurationError)
    assert str(said) == f"cannot read dlt's settings: {' '.join(str(unreadable).split())}"
    assert "\n" not in str(said) and "Unexpected character: '='" in str(said)
    assert unreadable_settings(RuntimeError("another fault")) is None
