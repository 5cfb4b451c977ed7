"""Shared fixtures: emulators on free ports, and a small client that speaks both layouts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from timetrack.emulator import EmulatorConfig, EmulatorServer

TOKEN = "demo-token"
PARTIAL_TOKEN = "partial-token"
PREFIX = {"envelope": "/v1", "bare": "/api/v9"}
REPORT = {
    "envelope": "/v1/reports/workspace/{ws}/search/time_entries",
    "bare": "/reports/api/v3/workspace/{ws}/search/time_entries",
}


class Api:
    """Requests against one emulator in one layout; `data()` unwraps the envelope."""

    def __init__(self, base_url: str, layout: str, token: str | None = TOKEN) -> None:
        self.base_url = base_url
        self.layout = layout
        self.token = token
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + PREFIX[self.layout] + path

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        token = token or self.token
        auth = (token, "api_token") if token else None
        return self.session.request(method, self.url(path), auth=auth, timeout=30, **kwargs)

    def get(self, path: str, token: str | None = None, **params: Any) -> requests.Response:
        return self.call("GET", path, token=token, params=params)

    def data(self, response: requests.Response) -> Any:
        assert response.status_code == 200, (response.status_code, response.text)
        body = response.json()
        if self.layout == "envelope" and "total_count" not in body:
            assert set(body) == {"data"}, body
            return body["data"]
        return body

    def ok(self, path: str, token: str | None = None, **params: Any) -> Any:
        return self.data(self.get(path, token=token, **params))

    def report(self, ws: int, body: dict[str, Any], token: str | None = None) -> requests.Response:
        token = token or self.token
        return self.session.post(
            self.base_url + REPORT[self.layout].format(ws=ws),
            json=body,
            auth=(token, "api_token"),
            timeout=30,
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, self.base_url + "/_emulator" + path, timeout=60, **kwargs
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One default emulator shared by tests that only read."""
    with EmulatorServer(EmulatorConfig(seed=7)) as server:
        yield server


@pytest.fixture(params=["envelope", "bare"])
def api(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Api:
    """A client of the shared emulator, once per layout."""
    return Api(emulator.base_url, request.param)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with their own configuration; stopped after the test."""
    started: list[EmulatorServer] = []

    def start(config: EmulatorConfig | None = None) -> EmulatorServer:
        server = EmulatorServer(config or EmulatorConfig()).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
