"""Authentication and access errors, in both layouts."""

from __future__ import annotations

import pytest

from tests.helpers import PARTIAL_TOKEN, Api


def test_missing_authorization_is_401_with_marker_header_and_empty_body(api: Api) -> None:
    response = api.session.get(api.url("/me"), timeout=10)
    assert response.status_code == 401
    assert response.headers["X-Authorization-Missing"] == "true"
    assert response.content == b""


def test_wrong_token_is_403_with_json_string_body(api: Api) -> None:
    response = api.get("/me", token="not-a-token")
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == "Incorrect username and/or password"


def test_wrong_password_is_rejected(api: Api) -> None:
    response = api.session.get(api.url("/me"), auth=("demo-token", "secret"), timeout=10)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "label"),
    [("/organizations/{org}", "organization"), ("/workspaces/{ws}/clients", "workspace")],
)
def test_unknown_id_is_404_and_foreign_id_is_403(api: Api, path: str, label: str) -> None:
    orgs = api.ok("/me/organizations")
    workspaces = api.ok("/me/workspaces")
    mine = set(w["id"] for w in api.ok("/me/workspaces", token=PARTIAL_TOKEN))
    foreign_ws = next(w["id"] for w in workspaces if w["id"] not in mine)
    partial_orgs = {o["id"] for o in api.ok("/me/organizations", token=PARTIAL_TOKEN)}
    foreign_org = next(o["id"] for o in orgs if o["id"] not in partial_orgs)

    unknown = api.get(path.format(org=1, ws=1))
    assert unknown.status_code == 404
    assert unknown.json() == f"Invalid {label} ID"

    foreign = api.get(path.format(org=foreign_org, ws=foreign_ws), token=PARTIAL_TOKEN)
    assert foreign.status_code == 403
    assert foreign.json() == "User does not have access to this resource."


def test_partial_token_sees_one_workspace_of_one_organization(api: Api) -> None:
    everything = api.ok("/me/workspaces")
    partial = api.ok("/me/workspaces", token=PARTIAL_TOKEN)
    assert len(everything) >= 3
    assert len(partial) == 1
    assert len(api.ok("/me/organizations", token=PARTIAL_TOKEN)) == 1
    assert len(api.ok("/me/organizations")) >= 2
