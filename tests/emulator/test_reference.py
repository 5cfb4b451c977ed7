"""The emulator against the service's published reference (shared/service-reference.md).

The reference is parsed at test time (it is regenerated from the service's own definitions, so
it is read, never copied here): every documented field of every endpoint the source reads, and
of the endpoints the emulator serves for the source to read next, must be served in at least one
record with its documented JSON type. Null is allowed (the service sends null widely), but some
record must carry a value of the type, except where this file says why none can.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import TOKEN
from timetrack.emulator import EmulatorConfig, EmulatorServer

REFERENCE = Path(__file__).parents[2].parent / "shared" / "service-reference.md"
"""Beside the repository's clone, as on the machines that work on it and in CI."""

Fields = dict[str, str]
"""field name -> documented type (`string`, `integer`, `array of object`, `?`, ...)."""


@dataclass
class Documented:
    """One endpoint of the reference: its answer's fields and those of its inner records."""

    answer: Fields = field(default_factory=dict)
    inner: dict[str, Fields] = field(default_factory=dict)
    """`data` (the task list's items), `time_entries` (the report row's entries) -> fields."""
    parameters: dict[str, str] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)


_HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (\S+)$")
_FIELD = re.compile(r"`([^`]+)`: ([a-z? ]+?)(?=, `|$)")
_PARAM = re.compile(r"(?:body )?`([^`]+)`(?: \([a-zA-Z]+\))?: ([a-z? ]+?)(?=; |$)")


def parse_reference(text: str) -> dict[str, Documented]:
    """`METHOD PATH` -> what the reference documents for it."""
    found: dict[str, Documented] = {}
    current: Documented | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line.strip())
        if heading:
            current = found.setdefault(f"{heading[1]} {heading[2]}", Documented())
            continue
        if current is None or not line.startswith("- "):
            continue
        label, _, rest = line[2:].partition(": ")
        if label.startswith("answers"):
            current.answer.update(_FIELD.findall(rest))
        elif label.startswith("each "):
            inner = re.search(r"`([^`]+)`", label)
            assert inner, f"reference: cannot tell the inner list of {line!r}"
            current.inner[inner[1]] = dict(_FIELD.findall(rest))
        elif label == "parameters":
            current.parameters.update(_PARAM.findall(rest))
        elif label == "headers":
            current.headers = re.findall(r"`([^`]+)`", rest)
    return found


def reference() -> dict[str, Documented]:
    """The parsed reference; a missing file fails loudly (never a skip)."""
    assert REFERENCE.is_file(), (
        f"the service's reference is missing: {REFERENCE} (shared/service-reference.md must "
        "lie beside the repository's clone)"
    )
    parsed = parse_reference(REFERENCE.read_text(encoding="utf-8"))
    assert len(parsed) > 10, f"the reference parsed to only {sorted(parsed)}"
    return parsed


def fits(kind: str, value: Any) -> bool:
    """Whether a non-null JSON value has the documented type (bools are not numbers)."""
    kind = kind.strip()
    if kind == "?":
        return True
    if kind.startswith("array of "):
        return isinstance(value, list) and all(
            v is None or fits(kind.removeprefix("array of "), v) for v in value
        )
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    raise AssertionError(f"reference: unknown type {kind!r}")


# --- what is exempt, and why -------------------------------------------------------------------

ABSENT_BY_CORRECTION: dict[tuple[str, str], str] = {
    ("GET /api/v9/organizations/{organization_id}/users", "organization_id"): (
        "api-contract.md, Corrections from real responses: organization users have no "
        "organization_id"
    ),
}
"""Documented fields that real responses showed absent: the emulator follows them."""

ALWAYS_NULL: dict[tuple[str, str], str] = {
    ("GET /api/v9/workspaces/{workspace_id}/tags", "deleted_at"): (
        "the list holds live tags only (a deleted tag is gone from it), so its deleted_at is null"
    ),
    ("GET /api/v9/workspaces/{workspace_id}/rates/{level}/{level_id}", "deleted_at"): (
        "the rates listed are the ones in force or past, never deleted ones (ours)"
    ),
    ("GET /api/v9/me/organizations", "suspended_at"): (
        "no generated organization is suspended: a suspended one refuses its API (ours)"
    ),
    ("GET /api/v9/organizations/{organization_id}", "suspended_at"): (
        "no generated organization is suspended: a suspended one refuses its API (ours)"
    ),
    ("GET /api/v9/me/workspaces", "suspended_at"): "no generated workspace is suspended (ours)",
    ("GET /api/v9/workspaces/{workspace_id}/projects", "template_id"): (
        "no generated project is a template, so none was made from one (ours)"
    ),
    ("GET /api/v9/me", "openid_email"): "no generated user signs in through OpenID (ours)",
    ("GET /api/v9/me/time_entries", "shared_with"): (
        "null unless include_sharing=true asks for it, then [] (no entry is shared) (ours)"
    ),
}
"""Documented fields the emulator serves, but null on every record it can serve, and why."""

ISSUE_26_PENDING: dict[str, set[str]] = {
    "GET /api/v9/me": {
        "clients",
        "projects",
        "tags",
        "tasks",
        "time_entries",
        "workspaces",
    },
}
"""Fields the emulator does not serve yet: /me's related lists (`with_related_data=true`), which
no client of ours reads. Once they are served, `test_issue_26_fields_are_still_pending` fails:
delete them from this list then, and the field test holds them too."""


# --- reading every record the emulator serves --------------------------------------------------


class Reader:
    """The bare layout (the reference's own paths) of one emulator, with the owner's token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = (TOKEN, "api_token")

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base_url}/api/v9{path}", params=params, timeout=60)
        assert response.status_code == 200, (path, params, response.status_code, response.text)
        return response.json()

    def pages(self, path: str, **params: Any) -> Iterator[Any]:
        page = 1
        while True:
            items = self.get(path, page=page, per_page=200, **params)
            items = items["data"] if isinstance(items, dict) else items
            if not items:
                return
            yield from items
            page += 1
            assert page < 100, f"{path} pages without end: does it ignore `page`?"

    def admin(self, path: str) -> Any:
        response = self.session.get(f"{self.base_url}/_emulator{path}", timeout=60)
        assert response.status_code == 200, response.text
        return response.json()


def _served(base_url: str) -> dict[str, list[dict[str, Any]]]:
    """`METHOD PATH` (and `METHOD PATH inner`) -> every record served there, across the
    organizations and workspaces the owner reaches, deleted ones included where a `since`
    shows them."""
    read = Reader(base_url)
    out: dict[str, list[dict[str, Any]]] = {}

    def add(key: str, items: Any) -> None:
        out.setdefault(key, []).extend(
            items if isinstance(items, list) else [] if items is None else [items]
        )

    add("GET /api/v9/me", read.get("/me"))
    add("GET /api/v9/me", read.get("/me", with_related_data="true"))
    add("GET /api/v9/me/organizations", read.get("/me/organizations"))
    add("GET /api/v9/me/workspaces", read.get("/me/workspaces"))
    add("GET /api/v9/me/time_entries", read.get("/me/time_entries"))
    add("GET /api/v9/me/time_entries", read.get("/me/time_entries", since=_since(read)))
    add("GET /api/v9/me/time_entries", read.get("/me/time_entries", meta="true"))
    add("GET /api/v9/me/quota", read.get("/me/quota"))
    for org in read.get("/me/organizations"):
        o = org["id"]
        add("GET /api/v9/organizations/{organization_id}", read.get(f"/organizations/{o}"))
        add(
            "GET /api/v9/organizations/{organization_id}/users",
            list(read.pages(f"/organizations/{o}/users")),
        )
        add(
            "GET /api/v9/organizations/{organization_id}/groups",
            read.get(f"/organizations/{o}/groups"),
        )
    for ws in read.get("/me/workspaces"):
        w = ws["id"]
        ws_key = "GET /api/v9/workspaces/{workspace_id}"
        add(f"{ws_key}/statistics", read.get(f"/workspaces/{w}/statistics"))
        add(f"{ws_key}/users", read.get(f"/workspaces/{w}/users"))
        add(f"{ws_key}/workspace_users", read.get(f"/workspaces/{w}/workspace_users"))
        add(f"{ws_key}/clients", read.get(f"/workspaces/{w}/clients", status="both"))
        add(f"{ws_key}/projects", list(read.pages(f"/workspaces/{w}/projects", active="both")))
        add(f"{ws_key}/projects", list(read.pages(f"/workspaces/{w}/projects", since=1)))
        tasks = read.get(f"/workspaces/{w}/tasks", active="both", per_page=200)
        add(f"{ws_key}/tasks", tasks)
        add(f"{ws_key}/tasks data", list(read.pages(f"/workspaces/{w}/tasks", active="both")))
        add(f"{ws_key}/tasks data", list(read.pages(f"/workspaces/{w}/tasks", since=1)))
        add(f"{ws_key}/tags", read.get(f"/workspaces/{w}/tags"))
        add(f"{ws_key}/project_users", read.get(f"/workspaces/{w}/project_users"))
        add(
            f"{ws_key}/project_users",
            read.get(f"/workspaces/{w}/project_users", with_group_members="true"),
        )
        add(f"{ws_key}/project_groups", read.get(f"/workspaces/{w}/project_groups"))
        rows = _report_rows(read, w)
        key = "POST /reports/api/v3/workspace/{workspace_id}/search/time_entries"
        add(key, rows)
        add(f"{key} time_entries", [e for r in rows for e in r.get("time_entries") or []])
    rates_key = "GET /api/v9/workspaces/{workspace_id}/rates/{level}/{level_id}"
    asked: set[tuple[int, str, int, str]] = set()
    per_level: dict[tuple[str, str], int] = {}
    for rate in read.admin("/records/rates"):
        target = (rate["workspace_id"], rate["level"], rate["level_id"], rate["type"])
        seen = per_level.get((target[1], target[3]), 0)
        if target in asked or seen >= 8:  # a few histories of every level and type
            continue
        asked.add(target)
        per_level[(target[1], target[3])] = seen + 1
        w, level, level_id, kind = target
        add(rates_key, read.get(f"/workspaces/{w}/rates/{level}/{level_id}", type=kind))
    return out


def _since(read: Reader) -> int:
    clock = read.admin("/clock")
    return int(clock["unix"]) - 80 * 86_400


def _report_rows(read: Reader, workspace_id: int) -> list[dict[str, Any]]:
    clock = read.admin("/clock")
    end = clock["now"][:10]
    year = int(end[:4]) - 1
    response = read.session.post(
        f"{read.base_url}/reports/api/v3/workspace/{workspace_id}/search/time_entries",
        json={"start_date": f"{year}{end[4:]}", "end_date": end, "page_size": 1000},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json() or []
    return rows


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, list[dict[str, Any]]]]:
    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        yield _served(server.base_url)


CHECKED = (
    "GET /api/v9/me",
    "GET /api/v9/me/organizations",
    "GET /api/v9/me/workspaces",
    "GET /api/v9/me/time_entries",
    "GET /api/v9/me/quota",
    "GET /api/v9/organizations/{organization_id}",
    "GET /api/v9/organizations/{organization_id}/users",
    "GET /api/v9/organizations/{organization_id}/groups",
    "GET /api/v9/workspaces/{workspace_id}/statistics",
    "GET /api/v9/workspaces/{workspace_id}/users",
    "GET /api/v9/workspaces/{workspace_id}/workspace_users",
    "GET /api/v9/workspaces/{workspace_id}/clients",
    "GET /api/v9/workspaces/{workspace_id}/projects",
    "GET /api/v9/workspaces/{workspace_id}/tasks",
    "GET /api/v9/workspaces/{workspace_id}/tags",
    "GET /api/v9/workspaces/{workspace_id}/project_users",
    "GET /api/v9/workspaces/{workspace_id}/project_groups",
    "GET /api/v9/workspaces/{workspace_id}/rates/{level}/{level_id}",
    "POST /reports/api/v3/workspace/{workspace_id}/search/time_entries",
)
"""The endpoints the source reads (src/timetrack/source/endpoints.py, discovery, `check`),
the members list it may read, and the ones the emulator serves for it to read next."""


def documented_fields() -> Iterator[tuple[str, str, str]]:
    """(key of the served records, field, documented type) for every checked field."""
    parsed = reference()
    for endpoint in CHECKED:
        assert endpoint in parsed, f"the reference no longer documents {endpoint}"
        documented = parsed[endpoint]
        for name, kind in documented.answer.items():
            yield endpoint, name, kind
        for inner, fields in documented.inner.items():
            for name, kind in fields.items():
                yield f"{endpoint} {inner}", name, kind


def problems(served: dict[str, list[dict[str, Any]]]) -> tuple[list[str], int, int]:
    """What departs from the reference, and how many documented fields are served of all."""
    found: list[str] = []
    total = good = 0
    for key, name, kind in documented_fields():
        endpoint = key.split(" ")[0] + " " + key.split(" ")[1]
        if name in ISSUE_26_PENDING.get(key, ()):
            continue
        total += 1
        if (endpoint, name) in ABSENT_BY_CORRECTION:
            good += 1
            continue
        records = served.get(key, [])
        assert records, f"nothing served for {key}"
        present = [r[name] for r in records if isinstance(r, dict) and name in r]
        if not present:
            found.append(f"{key}: {name} ({kind}) is never served")
            continue
        values = [v for v in present if v is not None]
        wrong = [v for v in values if not fits(kind, v)]
        if wrong:
            found.append(f"{key}: {name} should be {kind}, is {wrong[0]!r}")
        elif not values and (endpoint, name) not in ALWAYS_NULL:
            found.append(f"{key}: {name} ({kind}) is null in every record")
        else:
            good += 1
    return found, good, total


def test_every_documented_field_is_served_with_its_type(
    served: dict[str, list[dict[str, Any]]],
) -> None:
    found, good, total = problems(served)
    assert not found, f"{good} of {total} documented fields served:\n" + "\n".join(found)


def test_issue_26_fields_are_still_pending(served: dict[str, list[dict[str, Any]]]) -> None:
    """Tightens the test above once issue 26 is merged: a field it serves now must leave the
    pending list, so that the test above holds it."""
    now_served = sorted(
        f"{key}: {name}"
        for key, names in ISSUE_26_PENDING.items()
        for name in names
        if any(isinstance(r, dict) and name in r for r in served.get(key, []))
    )
    assert not now_served, (
        "served now, so delete them from ISSUE_26_PENDING in tests/emulator/test_reference.py: "
        + ", ".join(now_served)
    )


def test_the_reference_parses() -> None:
    parsed = reference()
    tasks = parsed["GET /api/v9/workspaces/{workspace_id}/tasks"]
    assert tasks.answer["data"] == "array of object" and tasks.inner["data"]["name"] == "string"
    users = parsed["GET /api/v9/organizations/{organization_id}/users"]
    assert users.headers == ["X-Page", "X-Page-Size", "X-Pages", "X-Records", "X-Sort-Order"]
    assert parsed["GET /api/v9/workspaces/{workspace_id}/tags"].parameters["per_page"] == "integer"
    assert fits("array of integer", [1, 2]) and not fits("integer", True)
    assert not fits("number", False) and fits("number", 3)


HEADERS_NOT_SENT: dict[tuple[str, str], str] = {
    ("POST /reports/api/v3/workspace/{workspace_id}/search/time_entries", "X-Range-Start"): (
        "the reference names it without saying what range it holds; not sent (ours)"
    ),
    ("POST /reports/api/v3/workspace/{workspace_id}/search/time_entries", "X-Range-End"): (
        "the reference names it without saying what range it holds; not sent (ours)"
    ),
}
"""Documented headers the emulator does not send, and why."""


def test_documented_headers_are_sent() -> None:
    parsed = reference()
    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        read = Reader(server.base_url)
        org = read.get("/me/organizations")[0]["id"]
        ws = read.get("/me/workspaces")[0]["id"]
        users = read.session.get(
            f"{server.base_url}/api/v9/organizations/{org}/users", params={"per_page": 5}
        )
        end = read.admin("/clock")["now"][:10]
        report = read.session.post(
            f"{server.base_url}/reports/api/v3/workspace/{ws}/search/time_entries",
            json={"start_date": f"{int(end[:4]) - 1}{end[4:]}", "end_date": end, "page_size": 5},
        )
    answers = {
        "GET /api/v9/organizations/{organization_id}/users": users,
        "POST /reports/api/v3/workspace/{workspace_id}/search/time_entries": report,
    }
    documented = {key: parsed[key].headers for key in CHECKED if parsed[key].headers}
    assert set(documented) == set(answers), "a checked endpoint documents headers not tested here"
    missing = [
        f"{key}: {name}"
        for key, names in documented.items()
        for name in names
        if name not in answers[key].headers and (key, name) not in HEADERS_NOT_SENT
    ]
    assert not missing, missing
