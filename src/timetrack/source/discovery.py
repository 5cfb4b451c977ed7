"""Which organizations and workspaces a run covers: all the token reaches, or those named."""

from __future__ import annotations

import threading
from typing import Any

from timetrack.errors import ConfigurationError
from timetrack.source.client import ApiClient, is_list_or_null
from timetrack.source.schema import as_key


class Discovery:
    """Reads /me/organizations and /me/workspaces once per run, on first need."""

    def __init__(
        self,
        client: ApiClient,
        organization_ids: list[int] | None = None,
        workspace_ids: list[int] | None = None,
    ) -> None:
        self.client = client
        self.wanted_organizations = [int(i) for i in organization_ids or []]
        self.wanted_workspaces = [int(i) for i in workspace_ids or []]
        self.unusable: dict[str, list[Any]] = {}
        """Records of /me/organizations and /me/workspaces without a usable id, by path."""
        self._lock = threading.Lock()
        self._organizations: list[dict[str, Any]] | None = None
        self._workspaces: list[dict[str, Any]] | None = None
        self._reachable_organizations: list[dict[str, Any]] | None = None
        self._reachable_workspaces: list[dict[str, Any]] | None = None
        self.read_now = False
        """Whether this run read the service's lists (not what an earlier run remembered)."""

    def remember(
        self, organizations: list[dict[str, Any]], workspaces: list[dict[str, Any]]
    ) -> None:
        """Use what an earlier run read instead of asking: between discovery's reads (its
        cadence), the token reaches what it reached then."""
        self._reachable_organizations = [dict(r) for r in organizations]
        self._reachable_workspaces = [dict(r) for r in workspaces]

    def reachable(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every organization and workspace the token reaches, narrowing aside."""
        with self._lock:
            organizations = self._all_organizations()
            self._all_workspaces()
            assert self._reachable_workspaces is not None
            return organizations, self._reachable_workspaces

    @property
    def narrowed(self) -> bool:
        """Whether the run was limited to named organizations or workspaces."""
        return bool(self.wanted_organizations or self.wanted_workspaces)

    def _list(self, path: str) -> list[dict[str, Any]]:
        self.read_now = True
        items = self.client.get(path, shape=is_list_or_null)
        if items is None:
            # `null` is how the service says "none", and how a broken answer may look: asked
            # once more, it is believed (and workspaces that were reachable are marked gone).
            items = self.client.get(path, shape=is_list_or_null)
        usable = [r for r in items or [] if isinstance(r, dict) and as_key(r.get("id")) is not None]
        # Records without a usable id cannot be read from; their tables reject them with reasons.
        self.unusable[path] = [r for r in items or [] if not any(r is u for u in usable)]
        return usable

    def organizations(self) -> list[dict[str, Any]]:
        """Organization records in scope: those named, else those of the named workspaces,
        else every one the token reaches."""
        with self._lock:
            if self._organizations is None:
                reachable = self._all_organizations()
                wanted = self.wanted_organizations
                if not wanted and self.wanted_workspaces:
                    wanted = sorted(
                        {o for o in map(_organization_of, self._all_workspaces()) if o is not None}
                    )
                self._organizations = _pick(reachable, wanted, "organization")
            return self._organizations

    def _all_organizations(self) -> list[dict[str, Any]]:
        if self._reachable_organizations is None:
            self._reachable_organizations = self._list("/me/organizations")
        return self._reachable_organizations

    def workspaces(self) -> list[dict[str, Any]]:
        """Workspace records in scope: those named, else those of the named organizations,
        else every one the token reaches."""
        with self._lock:
            return self._all_workspaces()

    def _all_workspaces(self) -> list[dict[str, Any]]:
        if self._workspaces is None:
            if self._reachable_workspaces is None:
                self._reachable_workspaces = self._list("/me/workspaces")
            reachable = self._reachable_workspaces
            for record in reachable:
                organization = _organization_of(record)
                if organization is not None:  # the quota is counted per organization
                    self.client.organization_of[int(record["id"])] = organization
            if self.wanted_workspaces:
                picked = _pick(reachable, self.wanted_workspaces, "workspace")
                if self.wanted_organizations:
                    outside = [
                        int(w["id"])
                        for w in picked
                        if _organization_of(w) not in self.wanted_organizations
                    ]
                    if outside:
                        raise ConfigurationError(
                            f"workspace {', '.join(map(str, outside))} is not in organization "
                            f"{', '.join(map(str, self.wanted_organizations))}: name workspaces "
                            "of the organizations you name, or only one of the two"
                        )
                self._workspaces = picked
            elif self.wanted_organizations:
                _pick(self._all_organizations(), self.wanted_organizations, "organization")
                self._workspaces = [
                    w for w in reachable if _organization_of(w) in self.wanted_organizations
                ]
            else:
                self._workspaces = reachable
        return self._workspaces

    def known_ids(self) -> tuple[list[int], list[int]] | None:
        """Organization and workspace ids in scope if discovery has run, without waiting for
        it or asking the service (safe inside a request of discovery's own)."""
        organizations, workspaces = self._organizations, self._workspaces
        if organizations is None or workspaces is None:
            return None
        return (
            [int(as_key(o["id"]) or 0) for o in organizations],
            [int(as_key(w["id"]) or 0) for w in workspaces],
        )

    def administers(self, scope: str, scope_id: int) -> bool | None:
        """Whether the token's user is admin of an organization or workspace in scope, as
        `/me/organizations` and `/me/workspaces` say in `admin`; None when they do not say."""
        records = self.organizations() if scope == "organization" else self.workspaces()
        for record in records:
            if as_key(record.get("id")) == scope_id:
                admin = record.get("admin")
                return admin if isinstance(admin, bool) else None
        return None

    def organization_ids(self) -> list[int]:
        """Ids of the organizations in scope."""
        return [int(as_key(o["id"]) or 0) for o in self.organizations()]

    def workspace_ids(self) -> list[int]:
        """Ids of the workspaces in scope."""
        return [int(as_key(w["id"]) or 0) for w in self.workspaces()]


def _organization_of(workspace: dict[str, Any]) -> int | None:
    return as_key(workspace.get("organization_id"))


def _pick(reachable: list[dict[str, Any]], wanted: list[int], label: str) -> list[dict[str, Any]]:
    """The wanted records out of the reachable ones; a clear error for any the token misses."""
    if not wanted:
        return reachable
    by_id = {int(as_key(r["id"]) or 0): r for r in reachable}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        known = ", ".join(str(i) for i in sorted(by_id)) or "none"
        raise ConfigurationError(
            f"{label} {', '.join(map(str, missing))} is not reachable with this token "
            f"(it reaches: {known})"
        )
    return [by_id[i] for i in wanted]
