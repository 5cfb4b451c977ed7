"""The subscriptions' signing secrets, kept as dlt secrets (never as data): in the project's
`.dlt/secrets.toml` under `[sources.timetrack.webhooks.secrets]`, one per subscription id, or
in environment variables `SOURCES__TIMETRACK__WEBHOOKS__SECRETS__<SUBSCRIPTION_ID>`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dlt
import tomlkit
from dlt.common.configuration.exceptions import ConfigProviderException
from dlt.common.configuration.providers.toml import SecretsTomlProvider

from timetrack.errors import ConfigurationError, printable

SECTIONS = ("sources", "timetrack", "webhooks")
KEY = "secrets"
ENV_PREFIX = "SOURCES__TIMETRACK__WEBHOOKS__SECRETS__"


def secrets_file() -> Path:
    """The project's secrets.toml, where dlt reads secrets first."""
    return Path(dlt.current.run_context().settings_dir) / "secrets.toml"


def load_secrets() -> dict[int, str]:
    """Subscription id -> secret, read afresh (a listener picks up what a later setup stored)."""
    context = dlt.current.run_context()
    provider = SecretsTomlProvider(context.settings_dir, context.global_dir)
    found, _ = provider.get_value(KEY, dict, None, *SECTIONS)  # type: ignore[arg-type]
    out: dict[int, str] = {}
    if isinstance(found, dict):
        for key, value in found.items():
            if str(key).isdigit() and isinstance(value, str):
                out[int(key)] = value
    for name, value in os.environ.items():
        suffix = name.removeprefix(ENV_PREFIX)
        if suffix != name and suffix.isdigit():
            out[int(suffix)] = value
    return out


def _edit(change: dict[int, str | None]) -> None:
    try:
        path = secrets_file()
    except ConfigProviderException as error:  # dlt reads the file as its run context starts
        raise ConfigurationError(
            f"cannot write the webhook secrets: {printable(str(error))}"
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
        table = document
        for name in (*SECTIONS, KEY):
            if name not in table:
                table[name] = tomlkit.table()
            table = table[name]
        for subscription_id, secret in change.items():
            if secret is None:
                table.pop(str(subscription_id), None)
            else:
                table[str(subscription_id)] = secret
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secrets.", suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # secrets: the owner's only
            out.write(tomlkit.dumps(document))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot write the webhook secrets to {path}: {error}") from None


def store_secret(subscription_id: int, secret: str) -> None:
    """Keep one subscription's secret in the project's secrets.toml."""
    if load_secrets().get(subscription_id) != secret:
        _edit({subscription_id: secret})


def forget_secrets(subscription_ids: list[int]) -> None:
    """Remove secrets of subscriptions that are gone."""
    if subscription_ids:
        _edit(dict.fromkeys(subscription_ids))
