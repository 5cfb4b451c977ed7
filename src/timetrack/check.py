"""`timetrack check`: does the token work, and what does it reach?"""

from __future__ import annotations

from typing import Any

import dlt

from timetrack.errors import ConfigurationError
from timetrack.source import settings
from timetrack.source.client import ApiClient, ClientSettings


def _setting(name: str, given: Any, default: Any) -> Any:
    if given is not None:
        return given
    value: Any = dlt.config.get(f"sources.timetrack.{name}")
    return default if value is None else value


def check_token(base_url: str | None = None, layout: str | None = None) -> list[str]:
    """Lines describing the token's user, organizations and workspaces; raises on any fault."""
    token: Any = dlt.secrets.get("sources.timetrack.api_token")
    if not token:
        raise ConfigurationError(
            "no API token: set SOURCES__TIMETRACK__API_TOKEN or api_token in "
            ".dlt/secrets.toml under [sources.timetrack]"
        )
    client = ApiClient(
        str(token),
        ClientSettings(
            base_url=str(_setting("base_url", base_url, settings.DEFAULT_BASE_URL)),
            layout=_setting("layout", layout, "envelope"),
            requests_per_second=0,
            max_retries=1,
            backoff_factor=0.5,
            max_quota_wait=0,
        ),
    )
    me = client.get("/me")
    organizations = client.get("/me/organizations") or []
    workspaces = client.get("/me/workspaces") or []
    lines = [
        f"token OK: user {me.get('fullname')} (id {me.get('id')}) at {client.config.base_url}",
        f"organizations: {len(organizations)}",
    ]
    for org in organizations:
        lines.append(f"  {org['id']}  {org.get('name')}")
    lines.append(f"workspaces: {len(workspaces)}")
    for ws in workspaces:
        lines.append(f"  {ws['id']}  {ws.get('name')}  (organization {ws.get('organization_id')})")
    return lines
