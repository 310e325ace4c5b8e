"""Plain records governance hands out (never live ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # user, group, service_principal
    created_by: str
    created_at: datetime
    members: list[str] = field(default_factory=list)  # groups only: direct members
    groups: list[str] = field(default_factory=list)  # groups this principal is directly in


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never its secret."""

    id: str
    principal: str
    comment: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        now = datetime.now(UTC)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class Grant:
    privilege: str
    securable_type: str
    securable_name: str
    principal: str
    granted_by: str
    granted_at: datetime
    # With show_grants(..., inherited=True): the ancestor the grant was made on, if not here.
    inherited_from: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    principal: str
    action: str
    securable_type: str | None
    securable_name: str | None
    outcome: str  # allowed, denied, ok, error
    detail: dict[str, Any]
