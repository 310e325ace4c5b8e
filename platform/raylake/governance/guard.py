"""The enforcement hook the SDK calls before acting: check, audit, refuse.

With ``settings.auth`` off (the default) checks are free no-ops and only governance actions
(grants, principals, tokens) are audited; with it on, every check is audited, allowed or not.
"""

from __future__ import annotations

from typing import Any

from raylake.catalog import CatalogStore
from raylake.errors import PermissionDeniedError
from raylake.governance._db import Db
from raylake.governance.audit import AuditLog
from raylake.governance.policy import Policy, Visibility, needs_with_use
from raylake.governance.securables import (
    Privilege,
    Securable,
    SecurableType,
    parse_privilege,
    securable,
)
from raylake.names import TableName


class Guard:
    """Checks privileges of ``user`` (or of a principal an HTTP API authenticated)."""

    def __init__(self, store: CatalogStore, user: str, enabled: bool) -> None:
        self.db = Db(store)
        self.user = user
        self.enabled = enabled
        self.policy = Policy(self.db)
        self.audit = AuditLog(self.db)

    # -- the generic hook ----------------------------------------------------------------------
    def require(
        self,
        action: str,
        privilege: str | Privilege,
        securable_type: str | SecurableType,
        name: str,
        *,
        principal: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Raise :class:`PermissionDeniedError` unless the principal may ``action`` (needing
        ``privilege``, plus USE on the parents) on the securable; audit either way.

        For other components: e.g. ``ws.guard.require("score", "EXECUTE", "endpoint", name,
        principal=who)`` before scoring.
        """
        if not self.enabled:
            return
        self.check(
            action, parse_privilege(privilege), securable(securable_type, name), principal, detail
        )

    def check(
        self,
        action: str,
        privilege: Privilege,
        sec: Securable,
        principal: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if not self.enabled:
            return
        who = principal or self.user
        missing = self.policy.missing(who, needs_with_use(privilege, sec))
        if missing is not None:
            lacking, on = missing
            self.audit.record(
                who, action, sec, "denied", {**(detail or {}), "missing": f"{lacking} on {on}"}
            )
            raise PermissionDeniedError(
                f"{who} may not {action} {sec}: lacks {lacking.value} on {on}"
            )
        self.audit.record(who, action, sec, "allowed", detail)

    def visibility(self, principal: str | None = None) -> Visibility | None:
        """What ``principal`` (default ``user``) may see in listings, to filter them with
        ``Visibility.sees``; None when everything is shown: auth off (no query at all) or an
        admin. Listing is not audited (nothing is refused)."""
        if not self.enabled:
            return None
        return self.policy.visibility(principal or self.user)

    def require_admin(self, action: str, target: Securable | None = None, **detail: Any) -> None:
        """Principal and token administration for others: workspace admins only."""
        if not self.enabled:
            return
        if self.policy.is_admin(self.user):
            return
        self.audit.record(self.user, action, target, "denied", {**detail, "missing": "admin"})
        raise PermissionDeniedError(
            f"{self.user} may not {action}: only workspace admins (the owner of catalog "
            "'main' and members of group 'admins') can"
        )

    def event(
        self,
        action: str,
        securable_type: str | SecurableType | None = None,
        name: str | None = None,
        outcome: str = "ok",
        principal: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record one audit event (always, auth on or off): deploys, scoring, exports..."""
        sec = securable(securable_type, name) if securable_type and name else None
        self.audit.record(principal or self.user, action, sec, outcome, detail)

    # -- the SDK's own checks ------------------------------------------------------------------
    def read_table(self, name: TableName) -> None:
        self.check("read", Privilege.SELECT, _table(name))

    def write_table(self, name: TableName, exists: bool, mode: str) -> None:
        if exists:
            self.check("write", Privilege.MODIFY, _table(name), detail={"mode": mode})
        else:  # a first write creates the table: CREATE on its schema
            self.check("create_table", Privilege.CREATE, _schema(name), detail={"table": str(name)})

    def register_table(self, name: TableName, location: str) -> None:
        self.check(
            "register_table",
            Privilege.CREATE,
            _schema(name),
            detail={"table": str(name), "location": location},
        )

    def drop_table(self, name: TableName) -> None:
        self.check("drop_table", Privilege.MANAGE, _table(name))

    def alter_table(self, name: TableName, what: str) -> None:
        self.check(what, Privilege.MODIFY, _table(name))

    def create_schema(self, catalog: str, schema: str) -> None:
        self.check(
            "create_schema",
            Privilege.CREATE,
            Securable(SecurableType.CATALOG, catalog),
            detail={"schema": f"{catalog}.{schema}"},
        )

    def drop_schema(self, catalog: str, schema: str) -> None:
        self.check(
            "drop_schema", Privilege.MANAGE, Securable(SecurableType.SCHEMA, f"{catalog}.{schema}")
        )

    def register_model(self, name: TableName) -> None:
        self.check("register_model", Privilege.CREATE, _schema(name), detail={"model": str(name)})

    def read_model(self, name: TableName) -> None:
        self.check("load_model", Privilege.SELECT, Securable(SecurableType.MODEL, str(name)))

    def alter_model(self, name: TableName, what: str) -> None:
        self.check(what, Privilege.MODIFY, Securable(SecurableType.MODEL, str(name)))


def _table(name: TableName) -> Securable:
    return Securable(SecurableType.TABLE, str(name))


def _schema(name: TableName) -> Securable:
    return Securable(SecurableType.SCHEMA, name.schema_name)
