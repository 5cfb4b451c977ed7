"""Which organizations and workspaces a run covers: all the token reaches, or those named."""

from __future__ import annotations

import threading
from typing import Any

from timetrack.errors import ConfigurationError
from timetrack.source.client import ApiClient


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
        self._lock = threading.Lock()
        self._organizations: list[dict[str, Any]] | None = None
        self._workspaces: list[dict[str, Any]] | None = None

    @property
    def narrowed(self) -> bool:
        """Whether the run was limited to named organizations or workspaces."""
        return bool(self.wanted_organizations or self.wanted_workspaces)

    def organizations(self) -> list[dict[str, Any]]:
        """Organization records in scope: those named, else those of the named workspaces,
        else every one the token reaches."""
        with self._lock:
            if self._organizations is None:
                reachable = list(self.client.get("/me/organizations") or [])
                wanted = self.wanted_organizations
                if not wanted and self.wanted_workspaces:
                    wanted = sorted({int(w["organization_id"]) for w in self._all_workspaces()})
                self._organizations = _pick(reachable, wanted, "organization")
            return self._organizations

    def workspaces(self) -> list[dict[str, Any]]:
        """Workspace records in scope: those named, else those of the named organizations,
        else every one the token reaches."""
        with self._lock:
            return self._all_workspaces()

    def _all_workspaces(self) -> list[dict[str, Any]]:
        if self._workspaces is None:
            reachable = list(self.client.get("/me/workspaces") or [])
            if self.wanted_workspaces:
                self._workspaces = _pick(reachable, self.wanted_workspaces, "workspace")
            elif self.wanted_organizations:
                known = {int(w["organization_id"]) for w in reachable}
                missing = [o for o in self.wanted_organizations if o not in known]
                if missing:
                    _pick([], missing, "organization")
                self._workspaces = [
                    w for w in reachable if int(w["organization_id"]) in self.wanted_organizations
                ]
            else:
                self._workspaces = reachable
        return self._workspaces

    def organization_ids(self) -> list[int]:
        """Ids of the organizations in scope."""
        return [int(o["id"]) for o in self.organizations()]

    def workspace_ids(self) -> list[int]:
        """Ids of the workspaces in scope."""
        return [int(w["id"]) for w in self.workspaces()]


def _pick(reachable: list[dict[str, Any]], wanted: list[int], label: str) -> list[dict[str, Any]]:
    """The wanted records out of the reachable ones; a clear error for any the token misses."""
    if not wanted:
        return reachable
    by_id = {int(r["id"]): r for r in reachable}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        known = ", ".join(str(i) for i in sorted(by_id)) or "none"
        raise ConfigurationError(
            f"{label} {', '.join(map(str, missing))} is not reachable with this token "
            f"(it reaches: {known})"
        )
    return [by_id[i] for i in wanted]
