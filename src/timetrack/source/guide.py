"""The configuration guide's `rest_api` configuration, corrected only where dlt 1.31 rejects it.

It is kept as the guide wrote it so the two can be read side by side, and so that tests and the
benchmark can run it through dlt's own `rest_api_source` against the emulator. Each correction
is marked `# dlt:`. What the guide misses (archived and inactive records, pages after the first,
history past 9 days, every organization and workspace but one) is what `timetrack_source` adds.
"""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.requests import Client


def guide_config(
    base_url: str, api_token: str, organization_id: int, workspace_id: int
) -> dict[str, Any]:
    """The guide's RESTAPIConfig for one organization and one workspace."""
    session = Client(  # dlt: retries belong to the HTTP session, not the rest_api configuration
        request_max_attempts=4,  # dlt: counts the first attempt; "at most 3" retries is 4
        request_backoff_factor=2,
        status_codes=(429, 500, 502, 503, 504),
        raise_for_status=False,
        respect_retry_after_header=True,
    ).session
    org = {"organization_id": organization_id}  # dlt: placeholders must be bound
    ws = {"workspace_id": workspace_id}
    return {
        "client": {
            "base_url": base_url,
            "auth": {
                "type": "http_basic",  # dlt: the guide's "basic" is rejected
                "username": api_token,
                "password": "api_token",
            },
            "session": session,
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {"data_selector": "data"},
        },
        "resources": [
            {"name": "time_entries", "endpoint": {"path": "/v1/me/time_entries"}},
            {
                "name": "organizations",
                "endpoint": {"path": "/v1/organizations/{organization_id}", "params": org},
            },
            {
                "name": "organizations_users",
                "endpoint": {"path": "/v1/organizations/{organization_id}/users", "params": org},
            },
            {
                "name": "organizations_groups",
                "primary_key": "group_id",
                "endpoint": {"path": "/v1/organizations/{organization_id}/groups", "params": org},
            },
            {
                "name": "workspace",
                "primary_key": None,  # dlt: statistics have no id; merging on a missing key fails
                "write_disposition": "replace",
                "endpoint": {"path": "/v1/workspaces/{workspace_id}/statistics", "params": ws},
            },
            {
                "name": "workspace_clients",
                "endpoint": {"path": "/v1/workspaces/{workspace_id}/clients", "params": ws},
            },
            {
                "name": "workspace_projects",
                "endpoint": {"path": "/v1/workspaces/{workspace_id}/projects", "params": ws},
            },
            {
                "name": "workspace_tasks",
                "endpoint": {
                    "path": "/v1/workspaces/{workspace_id}/tasks",
                    # dlt: page_number has no limit/limit_param; the page size goes in params
                    "params": {**ws, "per_page": 50},
                    "paginator": {
                        "type": "page_number",
                        "page_param": "page",
                        "base_page": 1,  # dlt: pages start at 0 by default; the API's at 1
                        "total_path": None,  # dlt: no total of pages: stop at an empty page
                    },
                },
            },
        ],
    }
