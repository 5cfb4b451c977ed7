"""The exception tree of timetrack.

TimetrackError                  every error the package raises on purpose
 +-- ConfigurationError         a bad option or setting, fixable by the user
 +-- EmulatorError              the local emulator could not start or was misused
"""


class TimetrackError(Exception):
    """Root of every error timetrack raises; the CLI prints its message as one line."""


class ConfigurationError(TimetrackError):
    """A setting or option is invalid."""


class EmulatorError(TimetrackError):
    """The emulator could not start or was given an impossible setting."""


def mask_secret(secret: str) -> str:
    """Mask a secret the way dlt does: first and last character only."""
    if len(secret) < 4:
        return "*****"
    return f"{secret[0]}*****{secret[-1]}"
