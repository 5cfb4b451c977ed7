"""Every knob of the emulator: scale of the generated data, limits and faults.

All limits and faults are off by default, so that a plain emulator behaves like a quiet,
healthy service; tests and benchmarks switch on what they exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from timetrack.errors import EmulatorError

FAULT_KINDS = ("429", "500", "502", "503", "504", "slow", "drop", "truncate")
"""Fault kinds: an HTTP status, a slow answer, a dropped connection, a truncated JSON body."""


@dataclass(frozen=True)
class Scale:
    """How much data the generator makes; each field's metadata gives the CLI option's help
    and least value (`timetrack emulator --help` is built from them)."""

    organizations: int = field(default=2, metadata={"help": "Organizations.", "min": 1})
    workspaces: int = field(
        default=3, metadata={"help": "Workspaces, spread over the organizations.", "min": 1}
    )
    users: int = field(
        default=120, metadata={"help": "Users, spread over the organizations.", "min": 3}
    )
    groups_per_organization: int = field(
        default=3, metadata={"help": "Groups in each organization.", "min": 0}
    )
    clients_per_workspace: int = field(
        default=8, metadata={"help": "Clients in each workspace (a quarter archived).", "min": 0}
    )
    projects_per_workspace: int = field(
        default=160,
        metadata={"help": "Projects in each workspace (some inactive, some deleted).", "min": 0},
    )
    tasks_per_workspace: int = field(
        default=120,
        metadata={"help": "Tasks in each workspace (some inactive, some deleted).", "min": 0},
    )
    tags_per_workspace: int = field(
        default=8, metadata={"help": "Tags in each workspace.", "min": 1, "max": 60}
    )
    time_entries: int = field(
        default=4000, metadata={"help": "Time entries in all workspaces together.", "min": 0}
    )
    days: int = field(
        default=120, metadata={"help": "Days of history the time entries cover.", "min": 1}
    )

    def validate(self) -> None:
        """Refuse sizes the data model cannot hold."""
        if self.organizations < 1 or self.workspaces < self.organizations:
            raise EmulatorError("need at least one organization and one workspace per organization")
        if self.users < 3:
            raise EmulatorError("need at least 3 users (the owner, the partial user and a member)")
        if not 1 <= self.tags_per_workspace <= 60:
            raise EmulatorError("tags per workspace must be between 1 and 60")
        for name in ("clients_per_workspace", "projects_per_workspace", "tasks_per_workspace"):
            if getattr(self, name) < 0:
                raise EmulatorError(f"{name} must not be negative")
        if self.time_entries < 0 or self.days < 1:
            raise EmulatorError("time entries must be >= 0 and days >= 1")


@dataclass(frozen=True)
class Limits:
    """Rate limit and hourly quota; zero or False means off."""

    rate_per_second: float = 0.0
    burst: int = 1
    send_retry_after: bool = False
    quota: bool = False
    quota_per_hour: int = 0
    """Overrides every organization's plan quota when above zero."""
    me_quota_per_hour: int = 30
    restricted_features: frozenset[str] = frozenset()
    """Features ('groups', 'reports') that answer a plain 402 on free-plan organizations."""


@dataclass(frozen=True)
class Faults:
    """Probability per request of each fault kind, drawn reproducibly from the seed."""

    rates: dict[str, float] = field(default_factory=dict)
    slow_seconds: float = 0.5

    def validate(self) -> None:
        """Refuse unknown kinds and rates that do not add up to a probability."""
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise EmulatorError(f"unknown fault kind(s): {', '.join(sorted(unknown))}")
        if any(rate < 0 for rate in self.rates.values()) or sum(self.rates.values()) > 1:
            raise EmulatorError("fault rates must be >= 0 and add up to at most 1")


@dataclass(frozen=True)
class Drift:
    """A service departing from the contract, reproducible from the seed; off by default.

    `rate` is the share of records, on every endpoint, rendered with one departure: a declared
    field dropped or null, a value of another type, a new field, or (one tenth of them) the key
    field missing. `alias_rate` is the share of records with legacy aliases (`wid`, `uid`,
    `pid`, `tid`, `cid`) where an alias disagrees with its neutral field (the alias is stale)
    or stands alone (the neutral field absent). The same record always drifts the same way;
    `GET /_emulator/drift` lists what drifted. The data itself never changes: drift is only in
    how a record is rendered.
    """

    rate: float = 0.0
    alias_rate: float = 0.0

    def validate(self) -> None:
        """Refuse rates that are not probabilities."""
        for name in ("rate", "alias_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EmulatorError(f"drift {name} must be between 0 and 1")


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that decides what the emulator serves."""

    token: str = "demo-token"
    """The owner: admin of every organization and workspace."""
    partial_token: str = "partial-token"
    """A second user who sees one workspace of one organization, as admin of both."""
    member_token: str = "member-token"
    """A plain member (admin of nothing) of some workspaces: refused what only admins read."""
    seed: int = 7
    now: float | None = None
    """Unix time the clock starts at; None means the real time."""
    scale: Scale = field(default_factory=Scale)
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    drift: Drift = field(default_factory=Drift)
    offsets: bool = True
    """Spell timestamps with non-UTC offsets too (`+02:00`, `-05:30`, ...), instants unchanged."""
    empty_lists_null: bool = True
    """Answer an empty list as `null`, as the real service does."""
    admin_token: str | None = None
    """When set, every /_emulator/ request must carry it in `X-Emulator-Admin-Token`."""

    def validate(self) -> None:
        """Check every part; raises EmulatorError with a one-line reason."""
        tokens = (self.token, self.partial_token, self.member_token)
        if not all(tokens) or len(set(tokens)) != len(tokens):
            raise EmulatorError("the three tokens must be non-empty and different")
        self.scale.validate()
        self.faults.validate()
        self.drift.validate()
        if self.admin_token is not None and not self.admin_token.strip():
            raise EmulatorError("the admin token must not be empty")
        if self.limits.rate_per_second < 0 or self.limits.burst < 1:
            raise EmulatorError("rate limit must be >= 0 and burst >= 1")
