"""The exception tree of timetrack.

TimetrackError                  every error the package raises on purpose; the CLI prints one line
 +-- ConfigurationError         a bad option or setting, fixable by the user
 +-- RunStopped                 the run was asked to stop (Ctrl-C, a service failing every retry):
 |                              what was fetched lands, the next run resumes
 +-- QuotaStopped               a run stopped for the hourly quota with its progress saved (75)
 +-- EmulatorError              the local emulator could not start or was misused
 +-- ApiError                   the service refused or failed a request
      +-- AuthenticationError   the token was rejected (or none was given)
      +-- AccessDeniedError     the token may not read an organization or workspace
      +-- NotFoundError         an organization or workspace id does not exist
      +-- QuotaExhaustedError   the hourly quota is spent and resets too late to wait for
      +-- FeatureNotOnPlanError a plain 402: the plan lacks the feature; never retried
      +-- ServiceError          a failure that outlived every retry (5xx, 429, bad bodies)
      +-- ConnectionFailedError the base URL cannot be reached
"""

from __future__ import annotations

import re
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class TimetrackError(Exception):
    """Root of every error timetrack raises; the CLI prints its message as one line."""


class ConfigurationError(TimetrackError):
    """A setting or option is invalid."""


NO_TOKEN = (
    "no API token: set SOURCES__TIMETRACK__API_TOKEN or api_token in "
    ".dlt/secrets.toml under [sources.timetrack]"
)
"""The one message for a missing token, wherever it is found missing."""


class RunStopped(TimetrackError):
    """Sending was stopped for the rest of the run; resources end cleanly on it."""


class QuotaStopped(TimetrackError):
    """The run landed what it fetched and stopped for the hourly quota: run again later.

    The CLI exits with EXIT_TEMPFAIL so that a scheduler retries instead of alerting."""

    exit_code = 75


class EmulatorError(TimetrackError):
    """The emulator could not start or was given an impossible setting."""


class ApiError(TimetrackError):
    """The service refused or failed a request; `status` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """The API token was rejected."""


class AccessDeniedError(ApiError):
    """The token is not a member of the organization or workspace asked for."""


class NotFoundError(ApiError):
    """The organization or workspace does not exist."""


class QuotaExhaustedError(ApiError):
    """The hourly request quota is spent; `resets_in` seconds until a request is allowed."""

    def __init__(self, message: str, resets_in: int) -> None:
        super().__init__(message, 402)
        self.resets_in = resets_in


class FeatureNotOnPlanError(ApiError):
    """A plain 402: the organization's plan does not include this endpoint."""


class ServiceError(ApiError):
    """The service kept failing (5xx, 429, dropped or broken answers) after every retry."""


class ConnectionFailedError(ApiError):
    """The base URL could not be reached at all."""


def mask_secret(secret: str) -> str:
    """Mask a secret the way dlt does: first and last character only."""
    if len(secret) < 4:
        return "*****"
    return f"{secret[0]}*****{secret[-1]}"


def find_in_chain(error: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` behind one that dlt may have wrapped several times: in
    its `exception` attribute (dlt's step and job errors), its cause or its context."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        nested = getattr(current, "exception", None)
        followed = (nested, current.__cause__, current.__context__)
        pending += [e for e in reversed(followed) if isinstance(e, BaseException)]
    return None


def find_timetrack_error(error: BaseException) -> TimetrackError | None:
    """The TimetrackError behind an exception that dlt may have wrapped several times."""
    return find_in_chain(error, TimetrackError)


_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def unreadable_settings(error: BaseException) -> ConfigurationError | None:
    """The one line for a settings file dlt could not read (a .dlt/secrets.toml or config.toml
    that is no TOML), however dlt wrapped it, whichever command or step asked dlt first; None
    for another error. It is the user's to fix, not the destination's nor the service's."""
    from dlt.common.configuration.exceptions import ConfigProviderException

    found = find_in_chain(error, ConfigProviderException)
    if found is None:
        return None
    return ConfigurationError(f"cannot read dlt's settings: {' '.join(str(found).split())}")


def printable(text: str) -> str:
    """Text as a terminal may show it: control characters (an escape sequence, a carriage
    return that forges a line) and bidirectional overrides removed, a newline made a space."""
    return _UNPRINTABLE.sub("", text.replace("\n", " ").replace("\t", " "))
