"""Discovery against a stand-in client: which organizations and workspaces a run covers."""

from __future__ import annotations

from typing import Any

import pytest

from timetrack.errors import ConfigurationError
from timetrack.source.client import is_list_or_null
from timetrack.source.discovery import Discovery, _organization_of, _pick

ORGS = [{"id": 1, "name": "one"}, {"id": "2", "name": "two"}]
WORKSPACES = [
    {"id": 10, "organization_id": 1},
    {"id": "11", "organization_id": "2"},
    {"id": 12, "organization_id": 1},
    {"id": 13},
]


class Lists:
    """Answers each path with the next of its scripted answers; counts the requests."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = {f"/me/{name}": list(values) for name, values in answers.items()}
        self.asked: list[str] = []
        self.organization_of: dict[int, int] = {}

    def get(self, path: str, shape: Any = None) -> Any:
        assert shape is is_list_or_null
        self.asked.append(path)
        answers = self.answers[path]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def _discovery(
    organizations: list[Any] | None = None,
    workspaces: list[Any] | None = None,
    **wanted: Any,
) -> tuple[Discovery, Lists]:
    client = Lists(
        organizations=[ORGS] if organizations is None else organizations,
        workspaces=[WORKSPACES] if workspaces is None else workspaces,
    )
    return Discovery(client, **wanted), client  # type: ignore[arg-type]


def test_everything_the_token_reaches_by_default() -> None:
    discovery, client = _discovery()
    assert not discovery.narrowed
    assert discovery.known_ids() is None, "nothing asked yet"
    assert discovery.organizations() == ORGS
    assert discovery.workspaces() == WORKSPACES
    assert discovery.organization_ids() == [1, 2]
    assert discovery.workspace_ids() == [10, 11, 12, 13]
    assert discovery.known_ids() == ([1, 2], [10, 11, 12, 13])
    assert client.asked == ["/me/organizations", "/me/workspaces"], "each list read once"
    assert client.organization_of == {10: 1, 11: 2, 12: 1}, "the quota is per organization"


def test_known_ids_wait_for_both_lists() -> None:
    discovery, _ = _discovery()
    discovery.workspaces()
    assert discovery.known_ids() is None
    discovery.organizations()
    assert discovery.known_ids() == ([1, 2], [10, 11, 12, 13])


def test_named_ids_are_taken_as_integers() -> None:
    discovery, _ = _discovery(organization_ids=["2"], workspace_ids=["11"])
    assert discovery.wanted_organizations == [2]
    assert discovery.wanted_workspaces == [11]
    assert discovery.narrowed
    assert Discovery(Lists(), organization_ids=[1]).narrowed  # type: ignore[arg-type]
    assert Discovery(Lists(), workspace_ids=[1]).narrowed  # type: ignore[arg-type]
    nothing = Discovery(Lists(), organization_ids=[], workspace_ids=None)  # type: ignore[arg-type]
    assert (nothing.wanted_organizations, nothing.wanted_workspaces) == ([], [])
    assert nothing.unusable == {}


def test_named_organizations_keep_their_workspaces() -> None:
    discovery, _ = _discovery(organization_ids=[1])
    assert discovery.organizations() == [ORGS[0]]
    assert discovery.workspace_ids() == [10, 12]


def test_named_workspaces_bring_their_organizations() -> None:
    discovery, _ = _discovery(workspace_ids=[12, 11, 13])
    assert discovery.workspace_ids() == [12, 11, 13], "in the order named"
    assert discovery.organization_ids() == [1, 2], "sorted, and none for a workspace without"
    one, _ = _discovery(workspace_ids=[12])
    assert one.organization_ids() == [1], "only the organizations of the named workspaces"
    assert one.organizations() == [ORGS[0]]


def test_a_named_organization_the_token_misses_is_refused() -> None:
    discovery, _ = _discovery(organization_ids=[3, 1])
    with pytest.raises(ConfigurationError) as caught:
        discovery.organizations()
    assert str(caught.value) == (
        "organization 3 is not reachable with this token (it reaches: 1, 2)"
    )


def test_named_workspaces_in_named_organizations() -> None:
    discovery, _ = _discovery(organization_ids=[1], workspace_ids=[12])
    assert discovery.workspace_ids() == [12]
    assert discovery.organization_ids() == [1]


def test_a_named_workspace_outside_the_named_organizations_is_refused() -> None:
    discovery, _ = _discovery(organization_ids=[1, 2], workspace_ids=[13, 10, 11])
    with pytest.raises(ConfigurationError) as caught:
        discovery.workspaces()
    assert str(caught.value) == (
        "workspace 13 is not in organization 1, 2: name workspaces of the organizations you "
        "name, or only one of the two"
    )
    two, _ = _discovery(organization_ids=[2], workspace_ids=[10, 12])
    with pytest.raises(ConfigurationError, match=r"^workspace 10, 12 is not in organization 2:"):
        two.workspaces()


def test_a_named_organization_the_token_misses_is_refused_even_for_workspaces() -> None:
    discovery, _ = _discovery(organization_ids=[3])
    with pytest.raises(ConfigurationError) as caught:
        discovery.workspaces()
    assert str(caught.value) == (
        "organization 3 is not reachable with this token (it reaches: 1, 2)"
    )


def test_a_named_workspace_the_token_misses_is_refused() -> None:
    discovery, _ = _discovery(workspace_ids=[99, 10, 98])
    with pytest.raises(ConfigurationError) as caught:
        discovery.workspace_ids()
    assert str(caught.value) == (
        "workspace 99, 98 is not reachable with this token (it reaches: 10, 11, 12, 13)"
    )


def test_pick_says_none_when_nothing_is_reachable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _pick([], [5], "organization")
    assert str(caught.value) == "organization 5 is not reachable with this token (it reaches: none)"
    assert _pick(ORGS, [], "organization") is ORGS
    assert _pick(ORGS, [2, 1], "organization") == [ORGS[1], ORGS[0]]


def test_the_organization_of_a_workspace() -> None:
    assert _organization_of({"organization_id": "7"}) == 7
    assert _organization_of({"organization_id": None}) is None
    assert _organization_of({}) is None


def test_a_null_list_is_asked_once_more_and_then_believed() -> None:
    discovery, client = _discovery(organizations=[None, ORGS], workspaces=[None])
    assert discovery.organizations() == ORGS
    assert discovery.workspaces() == []
    assert client.asked == ["/me/organizations"] * 2 + ["/me/workspaces"] * 2
    assert discovery.unusable == {"/me/organizations": [], "/me/workspaces": []}


def test_records_without_a_usable_id_are_set_aside() -> None:
    odd: list[Any] = [{"id": None}, "text", {"name": "x"}, {"id": "x1"}, {"id": True}]
    discovery, _ = _discovery(organizations=[[odd[0], ORGS[0], odd[1], odd[2], odd[3], odd[4]]])
    assert discovery.organizations() == [ORGS[0]]
    assert discovery.unusable == {"/me/organizations": odd}


def test_an_equal_record_is_set_aside_only_if_it_is_the_unusable_one() -> None:
    same = {"id": 1}
    discovery, _ = _discovery(organizations=[[same, dict(same)]])
    assert discovery.organizations() == [same, same]
    assert discovery.unusable == {"/me/organizations": []}


def test_whether_the_user_administers_a_scope_as_discovery_says() -> None:
    discovery, client = _discovery(
        organizations=[[{"id": 1, "admin": True}, {"id": "2", "admin": False}, {"id": 3}]],
        workspaces=[
            [
                {"id": 10, "organization_id": 1, "admin": False},
                {"id": 11, "organization_id": 2, "admin": "yes"},
                {"id": 12, "organization_id": 1, "admin": True},
            ]
        ],
    )
    assert [discovery.administers("organization", i) for i in (1, 2, 3, 4)] == [
        True,
        False,
        None,  # not said
        None,  # not in scope
    ]
    assert [discovery.administers("workspace", i) for i in (10, 11, 12, 1)] == [
        False,
        None,  # not a boolean: not said
        True,
        None,  # an organization's id, no workspace's
    ]
    assert client.asked == ["/me/organizations", "/me/workspaces"], "asked nothing more"
