"""The workspace's governance facade: principals, tokens, grants and the audit log together."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from raylake.governance.audit import AUDIT_TABLE
from raylake.governance.grants import Grants
from raylake.governance.guard import Guard
from raylake.governance.principals import Principals
from raylake.governance.records import AuditEvent, Grant
from raylake.governance.securables import Privilege, Securable, SecurableType
from raylake.governance.tokens import Tokens

if TYPE_CHECKING:
    from raylake.tables.managed import ManagedTables


class Governance:
    def __init__(self, guard: Guard, tables: ManagedTables) -> None:
        self.guard = guard
        self._tables = tables
        self.principals = Principals(guard)
        self.tokens = Tokens(guard, self.principals)
        self.grants = Grants(guard)

    def grant(self, privilege: str, securable_type: str, name: str, principal: str) -> Grant:
        return self.grants.grant(privilege, securable_type, name, principal)

    def revoke(self, privilege: str, securable_type: str, name: str, principal: str) -> bool:
        return self.grants.revoke(privilege, securable_type, name, principal)

    def show_grants(
        self,
        name: str | None = None,
        *,
        securable_type: str | None = None,
        principal: str | None = None,
        inherited: bool = False,
    ) -> list[Grant]:
        return self.grants.show(
            name, securable_type=securable_type, principal=principal, inherited=inherited
        )

    def audit(
        self,
        principal: str | None = None,
        action: str | None = None,
        since: datetime | timedelta | str | None = None,
        limit: int = 100,
        securable_name: str | None = None,
        outcome: str | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first. With auth on, non-admins see only their own."""
        g = self.guard
        if g.enabled and principal != g.user and not g.policy.is_admin(g.user):
            if principal is not None:
                g.require_admin("read_audit", principal=principal)
            principal = g.user  # everyone may read their own events
        return g.audit.query(principal, action, since, limit, securable_name, outcome)

    def audit_table(self) -> int:
        """Append the events not yet exported to ``main.system.audit``; return its version."""
        self.guard.require_admin("export_audit")
        version = self.guard.audit.export(self._tables, self.guard.user)
        self.guard.audit.record(
            self.guard.user,
            "export_audit",
            Securable(SecurableType.TABLE, AUDIT_TABLE),
            detail={"version": version},
        )
        return version


__all__ = ["Governance", "Privilege", "SecurableType"]
