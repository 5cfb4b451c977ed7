"""Paging edges of the three paged lists, and that walking every page gives the truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import Api
from timetrack.emulator import EmulatorConfig, EmulatorServer, Scale


def _ws(api: Api) -> int:
    return int(api.ok("/me/workspaces")[0]["id"])


def _org(api: Api) -> int:
    return int(api.ok("/me/organizations")[0]["id"])


def _items(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    """A page's items; the service answers an empty page as null, never as []."""
    body = api.ok(path, **params)
    items = body["data"] if isinstance(body, dict) else body
    assert items != [], "an empty list is answered as null"
    return items or []


def _walk(api: Api, path: str, per_page: int, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        items = _items(api, path, page=page, per_page=per_page, **params)
        found.extend(items)
        if len(items) < per_page:
            return found
        page += 1


LISTS = [
    ("/organizations/{org}/users", {}, "organization_users", 50),
    ("/workspaces/{ws}/projects", {"active": "both"}, "projects", 151),
    ("/workspaces/{ws}/tasks", {"active": "both"}, "tasks", 50),
]


@pytest.mark.parametrize(("path", "params", "entity", "default"), LISTS)
def test_walking_every_page_gives_every_record_once(
    api: Api, path: str, params: dict[str, str], entity: str, default: int
) -> None:
    org, ws = _org(api), _ws(api)
    path = path.format(org=org, ws=ws)
    truth = api.admin("GET", "/truth")[entity]
    key = "by_organization" if entity == "organization_users" else "by_workspace"
    expected = truth[key][str(org if key == "by_organization" else ws)]["live"]
    assert expected > default, "the dataset must hold a list longer than one page"
    first = _items(api, path, **params)
    assert len(first) == default, "without page the default page size applies"
    walked = _walk(api, path, 37, **params)
    assert len(walked) == expected
    assert len({item["id"] for item in walked}) == expected


@pytest.mark.parametrize(("path", "params", "entity", "default"), LISTS)
def test_paging_edges(
    api: Api, path: str, params: dict[str, str], entity: str, default: int
) -> None:
    path = path.format(org=_org(api), ws=_ws(api))
    everything = _walk(api, path, 200, **params)
    total = len(everything)
    assert _items(api, path, page=1000, per_page=50, **params) == []
    # per_page over the maximum is clamped to 200
    assert len(_items(api, path, page=1, per_page=5000, **params)) == min(total, 200)
    # an exact multiple: the last full page, then an empty one
    divisor = next(d for d in range(2, total) if total % d == 0)
    per_page = total // divisor
    assert len(_items(api, path, page=divisor, per_page=per_page, **params)) == per_page
    assert _items(api, path, page=divisor + 1, per_page=per_page, **params) == []
    for bad in ({"page": 0}, {"per_page": 0}, {"page": "x"}):
        assert api.get(path, **params, **bad).status_code == 400


def test_tasks_wrapper_counts_and_echoes_paging(api: Api) -> None:
    path = f"/workspaces/{_ws(api)}/tasks"
    body = api.ok(path, page=2, per_page=30, active="both")
    assert body["page"] == 2 and body["per_page"] == 30
    assert body["total_count"] == len(_walk(api, path, 200, active="both"))
    assert body["sort_field"] == "name" and body["sort_order"] == "ASC"


def test_exact_multiple_of_default_page(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(
        EmulatorConfig(scale=Scale(tasks_per_workspace=0, projects_per_workspace=3))
    )
    api = Api(server.base_url, "envelope")
    ws = _ws(api)
    project = _items(api, f"/workspaces/{ws}/projects", active="both")[0]["id"]
    for n in range(100):
        api.admin("POST", f"/workspaces/{ws}/tasks", json={"project_id": project, "name": f"t{n}"})
    path = f"/workspaces/{ws}/tasks"
    pages = [_items(api, path, page=page) for page in (1, 2, 3)]
    assert [len(p) for p in pages] == [50, 50, 0]
    assert api.ok(path, page=3)["total_count"] == 100
