"""Governance: principals, API tokens, privileges and grants, enforcement, the audit log.

Off by default (``RAYLAKE_AUTH=off``): nothing is checked and only governance actions are
audited. With ``RAYLAKE_AUTH=on`` the SDK checks ``settings.user``'s privileges before every
read, write, create, drop, register and grant, refuses with :class:`PermissionDeniedError`
(changing nothing) and audits every attempt. HTTP APIs use :mod:`raylake.governance.http`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raylake.governance.api import Governance
from raylake.governance.audit import AUDIT_TABLE
from raylake.governance.guard import Guard
from raylake.governance.policy import ADMINS_GROUP
from raylake.governance.records import AuditEvent, Grant, Principal, TokenInfo
from raylake.governance.securables import Privilege, Securable, SecurableType, securable

if TYPE_CHECKING:
    from raylake.workspace import Workspace


def audit_event(
    ws: Workspace,
    action: str,
    securable_type: str | None = None,
    name: str | None = None,
    outcome: str = "ok",
    principal: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record one audit event (e.g. ``audit_event(ws, "deploy", "endpoint", "churn")``): one
    row insert in the catalog database, auth on or off."""
    ws.guard.event(action, securable_type, name, outcome, principal, detail)


def require(
    ws: Workspace,
    action: str,
    privilege: str,
    securable_type: str,
    name: str,
    principal: str | None = None,
) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` (default ``settings.user``)
    may do ``action``; audited. A no-op with auth off."""
    ws.guard.require(action, privilege, securable_type, name, principal=principal)


__all__ = [
    "ADMINS_GROUP",
    "AUDIT_TABLE",
    "AuditEvent",
    "Governance",
    "Grant",
    "Guard",
    "Principal",
    "Privilege",
    "Securable",
    "SecurableType",
    "TokenInfo",
    "audit_event",
    "require",
    "securable",
]
