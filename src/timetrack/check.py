"""`timetrack check`: does the token work, what does it reach, and what will a first sync cost?"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from timetrack.errors import NO_TOKEN, ApiError, ConfigurationError
from timetrack.source import costs, settings
from timetrack.source.client import ApiClient, header, is_object
from timetrack.source.core import admin_refusal, configured_client
from timetrack.source.discovery import Discovery
from timetrack.source.endpoints import ENDPOINTS, Endpoint
from timetrack.source.reports import PAGE_SIZE, WINDOW_DAYS

PLAN_QUOTAS = {0: 30, 1: 240, 2: 600}
"""Requests an hour by pricing plan id, as the contract gives them (ours: the service does not
send the limit itself, only what is left of it)."""


def check_token(base_url: str | None = None, layout: str | None = None) -> list[str]:
    """Lines describing the token's user, organizations (with their quota now and what a first
    sync needs) and workspaces; raises on any fault."""
    given: dict[str, Any] = {
        k: v for k, v in (("base_url", base_url), ("layout", layout)) if v is not None
    }
    try:
        # A quick look: no pacing, one retry, no quota waits.
        client = configured_client(
            **given, requests_per_second=0, max_retries=1, backoff_factor=0.5, max_quota_wait=0
        )
    except ConfigFieldMissingException:
        raise ConfigurationError(NO_TOKEN) from None
    me = client.get("/me", shape=is_object)
    discovery = Discovery(client)
    organizations = discovery.organizations()
    workspaces = discovery.workspaces()
    configured: Any = dlt.config.get("sources.timetrack.report_start_date")
    start = str(configured or settings.REPORT_HISTORY_START)
    windows = math.ceil((date.today() - date.fromisoformat(start)).days / (WINDOW_DAYS + 1)) + 1
    quotas = _quotas(client)
    lines = [
        f"token OK: user {me.get('fullname')} (id {me.get('id')}) at {client.config.base_url}",
        f"organizations: {len(organizations)}",
    ]
    for org in organizations:
        org_id = org.get("id")
        own = [w for w in workspaces if w.get("organization_id") == org_id]
        count = org.get("user_count")
        users = count if isinstance(count, int) else 0
        # At least: statistics, clients, tags, members, projects, tasks and the report's
        # windows per workspace; users' pages and groups per organization. A report page holds
        # up to 1,000 entries, which the service does not count in advance.
        needed = len(own) * (6 + windows) + math.ceil(max(users, 1) / settings.PER_PAGE) + 1
        plan = PLAN_QUOTAS.get(org.get("pricing_plan_id"))  # type: ignore[arg-type]
        quota = quotas.get(org_id) if isinstance(org_id, int) else None
        if quota is not None:  # what the service says of its own window
            left, resets = quota.get("remaining"), quota.get("resets_in_secs")
            total = quota.get("total")
            plan = total if isinstance(total, int) and total > 0 else plan
        else:  # a service without /me/quota: the headers of one request tell what is left
            _, headers = client.request("GET", client.url(f"/organizations/{org_id}"))
            left = header(headers, "quota-remaining")
            resets = header(headers, "quota-resets-in")
        lines.append(f"  {org_id}  {org.get('name')}")
        lines.append(
            f"      quota: {_number(plan) or 'unknown'} requests an hour on its plan; "
            f"{_number(left) or '?'} left now (resets in {_number(resets) or '?'} s)"
        )
        lines.append(
            f"      a first sync needs at least {needed} requests (plus one per {PAGE_SIZE:,} "
            f"report entries){quota_hours(needed, plan)}"
        )
        hourly = costs.hourly_cost(len(own))
        daily = costs.reconciliation_cost(len(own), users)
        lines.append(
            f"      an unchanged run then costs {hourly} requests here (and {costs.HOURLY_ME} of "
            f"/me's own quota); the daily reconciliation about {daily} more"
        )
        pace = costs.schedule(plan if isinstance(plan, int) else None, hourly, daily)
        if pace is not None:
            lines.append(
                f"      most frequent schedule that leaves half of {_number(plan)} an hour to "
                f"other tools: {pace}"
            )
    lines.append(f"workspaces: {len(workspaces)}")
    for ws in workspaces:
        lines.append(f"  {ws['id']}  {ws.get('name')}  (organization {ws.get('organization_id')})")
    lines.append("tables this token can read:")
    width = max(len(e.table) for e in ENDPOINTS)
    for endpoint in ENDPOINTS:
        lines.append(f"  {endpoint.table:<{width}}  {readable(client, discovery, endpoint)}")
    return lines


def _quotas(client: ApiClient) -> dict[int, dict[str, Any]]:
    """Each organization's quota as `/me/quota` says it (remaining, resets_in_secs, total); empty
    when the service does not answer it as documented (then the headers are read instead)."""
    try:
        answer = client.get("/me/quota")
    except ApiError:
        return {}
    if not isinstance(answer, list):
        return {}
    return {
        item["organization_id"]: item
        for item in answer
        if isinstance(item, dict) and isinstance(item.get("organization_id"), int)
    }


def quota_hours(needed: int, plan: int | None) -> str:
    """How `needed` requests sit in an hourly quota of `plan`: within one hour's, or over how
    many hours (the quota's window slides over an hour)."""
    if not plan:
        return ""
    if needed <= plan:
        return f"; fits in one hour's quota ({needed:,} of {plan:,})"
    return f"; about {math.ceil(needed / plan)} hours at {plan:,} an hour"


def _number(value: Any) -> str:
    """A count as shown: digits grouped; what is no whole number as it came; None as empty."""
    if value is None:
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def readable(client: ApiClient, discovery: Discovery, endpoint: Endpoint) -> str:
    """Whether the token reads a table: `yes`, `no (needs ...)`, or which scopes refuse it.

    Only a table that needs a right (`Endpoint.needs`) is asked about, once per organization
    or workspace where discovery does not call the user admin, for its smallest answer (one
    user of a paged list); the service's 403 decides, by the rule a run uses (`admin_refusal`).
    Every member reads the other tables."""
    if not endpoint.needs:
        return "yes"
    ids = (
        discovery.organization_ids()
        if endpoint.scope == "organization"
        else discovery.workspace_ids()
    )
    refused: list[int] = []
    unknown: list[str] = []
    for scope_id in ids:
        admin = discovery.administers(endpoint.scope, scope_id)
        if admin is True:
            continue
        # A rate history is asked for at the workspace's own level, the one every workspace has.
        path = endpoint.path.format(
            organization_id=scope_id, workspace_id=scope_id, level="workspace", level_id=scope_id
        )
        params: dict[str, Any] | None = None
        if endpoint.reader == "paged":
            params = {"page": 1, "per_page": 1}
        elif endpoint.reader == "rates":
            params = {"type": "billable_rates"}
        try:
            client.get(path, params)
        except ApiError as error:
            if admin_refusal(endpoint, scope_id, error, admin) is None:
                unknown.append(f"{scope_id}: HTTP {error.status or '?'}")
            else:
                refused.append(scope_id)
    scopes = f"{endpoint.scope}s"
    if unknown:
        return f"could not tell ({'; '.join(unknown)})"
    if not refused:
        return "yes"
    if len(refused) == len(ids):
        return f"no (needs {endpoint.needs})"
    return (
        f"in {len(ids) - len(refused)} of {len(ids)} {scopes}; not in "
        f"{', '.join(map(str, refused))} (needs {endpoint.needs})"
    )
