"""Who may do what: API keys as the domain sees them (roles, tenant), without their secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["ApiKey", "Role"]


class Role(StrEnum):
    """What a key may do; each role includes the ones below it (admin > submit > read). `metrics` stands
    apart: it may scrape /metrics and nothing else, and no other role includes it."""

    READ = "read"
    SUBMIT = "submit"
    ADMIN = "admin"
    METRICS = "metrics"

    @property
    def rank(self) -> int:
        """Position in the hierarchy."""
        return _RANKS[self]


_RANKS = {Role.METRICS: -1, Role.READ: 0, Role.SUBMIT: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: everything but the secret part."""

    key_id: str
    prefix: str
    tenant: str
    roles: frozenset[Role]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, role: Role) -> bool:
        """True when one of the key's roles is `role` or above it (metrics only by itself)."""
        if role is Role.METRICS:
            return role in self.roles
        return any(held.rank >= role.rank for held in self.roles)
