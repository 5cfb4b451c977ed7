"""Defaults and filters of clients, projects and tasks: what a naive client silently misses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api


def _ws(api: Api) -> int:
    return int(api.ok("/me/workspaces")[0]["id"])


def _all(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        body = api.ok(path, page=page, per_page=200, **params)
        items = (body["data"] if isinstance(body, dict) else body) or []
        found.extend(items)
        if len(items) < 200:
            return found
        page += 1


def test_clients_status_filter(api: Api) -> None:
    ws = _ws(api)
    truth = api.admin("GET", "/truth")["clients"]["by_workspace"][str(ws)]
    active = api.ok(f"/workspaces/{ws}/clients")
    archived = api.ok(f"/workspaces/{ws}/clients", status="archived")
    both = api.ok(f"/workspaces/{ws}/clients", status="both")
    assert not any(c["archived"] for c in active)
    assert archived and all(c["archived"] for c in archived)
    assert len(active) == truth["active"] and len(archived) == truth["archived"]
    assert len(both) == truth["live"] == len(active) + len(archived)
    assert api.get(f"/workspaces/{ws}/clients", status="all").status_code == 400


@pytest.mark.parametrize("entity", ["projects", "tasks"])
def test_active_filter(api: Api, entity: str) -> None:
    ws = _ws(api)
    truth = api.admin("GET", "/truth")[entity]["by_workspace"][str(ws)]
    path = f"/workspaces/{ws}/{entity}"
    default = _all(api, path)
    inactive = _all(api, path, active="false")
    both = _all(api, path, active="both")
    assert all(item["active"] for item in default)
    assert inactive and not any(item["active"] for item in inactive)
    assert len(default) == truth["active"] and len(inactive) == truth["inactive"]
    assert len(both) == truth["live"]
    assert all(item["server_deleted_at"] is None for item in both)
    assert api.get(path, active="maybe").status_code == 400


@pytest.mark.parametrize("entity", ["projects", "tasks"])
def test_since_includes_deleted(api: Api, entity: str) -> None:
    ws = _ws(api)
    truth = api.admin("GET", "/truth")[entity]["by_workspace"][str(ws)]
    changed = _all(api, f"/workspaces/{ws}/{entity}", active="both", since=0)
    deleted = [item for item in changed if item["server_deleted_at"] is not None]
    assert len(deleted) == truth["deleted"] > 0
    assert len(changed) == truth["total"]
    now = api.admin("GET", "/clock")["unix"]
    assert _all(api, f"/workspaces/{ws}/{entity}", since=int(now) + 10) == []
    empty = api.ok(f"/workspaces/{ws}/{entity}", since=int(now) + 10)
    assert (empty["data"] if entity == "tasks" else empty) is None, "an empty list is null"


def test_workspaces_since(api: Api) -> None:
    now = api.admin("GET", "/clock")["unix"]
    assert api.ok("/me/workspaces", since=0)
    assert api.ok("/me/workspaces", since=int(now) + 10) is None, "an empty list is null"
