"""The guide's configuration (`guide.guide_config`) as dlt's own rest_api_source reads it, on a
scripted transport instead of a server: the requests each resource sends (path, bound
placeholders, page size, pages from 1 to the first empty one, the token as basic auth), the
keys and write dispositions, and the session's retries as the guide states them (at most 3
retries of 429 and 5xx, backoff factor 2, Retry-After respected). test_guide.py loads the same
configuration from the emulator into DuckDB."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import requests
from dlt.sources.rest_api import rest_api_source
from requests.adapters import BaseAdapter

from timetrack.source.guide import guide_config

BASE = "http://service.test"
ORG, WS = 9000001, 4000001


class Script(BaseAdapter):
    """Answers each request from `answer(url)` -> (status, headers, body); records the
    requests."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        status, headers, body = self.answer(request.url)
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = orjson.dumps(body)
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


def _session(answer: Any) -> tuple[Any, Script]:
    session = guide_config(BASE, "tok", ORG, WS)["client"]["session"]
    sleeps: list[float] = []
    session.send.retry.sleep = sleeps.append
    session.sleeps = sleeps
    script = Script(answer)
    session.mount("http://", script)
    return session, script


def _in_turn(*answers: tuple[int, dict[str, str]]) -> Any:
    queue = list(answers)
    return lambda url: (*queue.pop(0), {})


def test_a_failing_answer_is_tried_four_times_in_all_with_a_backoff_factor_of_2() -> None:
    session, script = _session(_in_turn(*[(503, {})] * 5))
    assert session.get(BASE + "/me").status_code == 503
    assert len(script.sent) == 4
    assert session.sleeps == [2.0, 4.0, 8.0]


def test_each_retried_status_is_retried_and_retry_after_is_respected() -> None:
    session, script = _session(
        _in_turn((429, {"Retry-After": "1"}), (500, {}), (502, {}), (200, {}))
    )
    assert session.get(BASE + "/me").status_code == 200
    assert session.sleeps == [1.0, 4.0, 8.0]
    session, script = _session(_in_turn((504, {}), (200, {})))
    assert session.get(BASE + "/me").status_code == 200
    assert len(script.sent) == 2


def test_other_statuses_are_not_retried_nor_raised_by_the_session() -> None:
    for status in (400, 404, 501):
        session, script = _session(_in_turn((status, {})))
        assert session.get(BASE + "/me").status_code == status
        assert len(script.sent) == 1


def _service(url: str) -> tuple[int, dict[str, str], Any]:
    path, _, query = url.removeprefix(BASE + "/v1").partition("?")
    if path == f"/organizations/{ORG}":
        return 200, {}, {"data": {"id": ORG, "name": "org"}}
    if path == f"/workspaces/{WS}/statistics":
        return 200, {}, {"data": {"members_count": 3}}
    if path == f"/organizations/{ORG}/groups":
        return 200, {}, {"data": [{"group_id": 5, "name": "g"}]}
    if path == f"/workspaces/{WS}/tasks":
        page = dict(part.split("=") for part in query.split("&"))["page"]
        return 200, {}, {"data": {"1": [{"id": 1}, {"id": 2}], "2": [{"id": 3}]}.get(page, [])}
    return 200, {}, {"data": [{"id": 7, "path": "/v1" + path}]}


RESOURCES = {
    # name: (path asked, primary key, write disposition)
    "time_entries": ("/v1/me/time_entries", "id", "merge"),
    "organizations": (f"/v1/organizations/{ORG}", "id", "merge"),
    "organizations_users": (f"/v1/organizations/{ORG}/users", "id", "merge"),
    "organizations_groups": (f"/v1/organizations/{ORG}/groups", "group_id", "merge"),
    "workspace": (f"/v1/workspaces/{WS}/statistics", None, "replace"),
    "workspace_clients": (f"/v1/workspaces/{WS}/clients", "id", "merge"),
    "workspace_projects": (f"/v1/workspaces/{WS}/projects", "id", "merge"),
    "workspace_tasks": (f"/v1/workspaces/{WS}/tasks", "id", "merge"),
}


def test_each_resource_asks_its_path_with_the_token_and_keeps_its_key() -> None:
    config = guide_config(BASE, "tok", ORG, WS)
    script = Script(_service)
    config["client"]["session"].mount("http://", script)
    source = rest_api_source(config)
    assert list(source.resources) == list(RESOURCES)
    basic = "Basic " + base64.b64encode(b"tok:api_token").decode()
    for name, (path, key, disposition) in RESOURCES.items():
        resource = source.resources[name]
        schema = resource.compute_table_schema()
        assert schema["write_disposition"] == disposition, name
        keys = [c for c, column in schema.get("columns", {}).items() if column.get("primary_key")]
        assert keys == ([key] if key else []), name
        script.sent.clear()
        rows = list(resource)
        urls = [str(r.url).removeprefix(BASE) for r in script.sent]
        assert all(r.headers["Authorization"] == basic for r in script.sent), name
        if name == "workspace_tasks":
            assert urls == [f"{path}?per_page=50&page={n}" for n in (1, 2, 3)]
        else:
            assert urls == [path], name
        assert rows == {
            "workspace_tasks": [{"id": 1}, {"id": 2}, {"id": 3}],
            "organizations": [{"id": ORG, "name": "org"}],
            "workspace": [{"members_count": 3}],
            "organizations_groups": [{"group_id": 5, "name": "g"}],
        }.get(name, [{"id": 7, "path": path}]), name
