"""Grants and revokes of privileges on securables, and showing them."""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError

from raylake.catalog.models import GrantRow
from raylake.errors import (
    InvalidArgumentError,
    SchemaNotFoundError,
    TableNotFoundError,
)
from raylake.governance.guard import Guard
from raylake.governance.policy import owner_of
from raylake.governance.principals import require_principal
from raylake.governance.records import Grant
from raylake.governance.securables import (
    Privilege,
    Securable,
    SecurableType,
    parse_privilege,
    securable,
)


def _grant(row: GrantRow, inherited_from: str | None = None) -> Grant:
    return Grant(
        row.privilege,
        row.securable_type,
        row.securable_name,
        row.principal,
        row.granted_by,
        row.created_at,
        inherited_from,
    )


class Grants:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._db = guard.db

    def _check_exists(self, sec: Securable) -> None:
        # Catalogs, schemas and tables are known here; models, feature views and endpoints
        # live in MLflow, Feast and Serve, so grants on them may precede them.
        if sec.type not in (SecurableType.CATALOG, SecurableType.SCHEMA, SecurableType.TABLE):
            return
        with self._db.tx() as s:
            if owner_of(s, sec) is None:
                error = (
                    TableNotFoundError if sec.type is SecurableType.TABLE else SchemaNotFoundError
                )
                raise error(f"{sec} does not exist")

    def grant(
        self, privilege: str | Privilege, securable_type: str, name: str, principal: str
    ) -> Grant:
        """Grant ``privilege`` on the securable to ``principal`` (idempotent)."""
        priv, sec = parse_privilege(privilege), securable(securable_type, name)
        if priv is Privilege.EXECUTE and sec.type not in (
            SecurableType.ENDPOINT,
            SecurableType.SCHEMA,
            SecurableType.CATALOG,
        ):
            raise InvalidArgumentError("EXECUTE applies to endpoints (or schemas, catalogs)")
        self._check_exists(sec)
        with self._db.tx() as s:
            require_principal(s, principal)
        detail = {"privilege": priv.value, "principal": principal}
        self._guard.check("grant", Privilege.MANAGE, sec, detail=detail)
        try:
            with self._db.tx() as s:
                row = s.scalar(self._select(priv, sec, principal))
                if row is None:
                    row = GrantRow(
                        securable_type=sec.type.value,
                        securable_name=sec.name,
                        privilege=priv.value,
                        principal=principal,
                        granted_by=self._guard.user,
                    )
                    s.add(row)
                    s.flush()
                result = _grant(row)
        except IntegrityError:  # a concurrent identical grant: same outcome
            with self._db.tx() as s:
                result = _grant(s.scalar(self._select(priv, sec, principal)))
        self._guard.audit.record(self._guard.user, "grant", sec, "ok", detail)
        return result

    def revoke(
        self, privilege: str | Privilege, securable_type: str, name: str, principal: str
    ) -> bool:
        """Revoke a direct grant; returns whether there was one (inherited grants stay)."""
        priv, sec = parse_privilege(privilege), securable(securable_type, name)
        detail = {"privilege": priv.value, "principal": principal}
        self._guard.check("revoke", Privilege.MANAGE, sec, detail=detail)
        with self._db.tx() as s:
            removed = s.execute(
                delete(GrantRow).filter_by(
                    securable_type=sec.type.value,
                    securable_name=sec.name,
                    privilege=priv.value,
                    principal=principal,
                )
            ).rowcount
        self._guard.audit.record(
            self._guard.user, "revoke", sec, "ok", {**detail, "removed": bool(removed)}
        )
        return bool(removed)

    def show(
        self,
        name: str | None = None,
        *,
        securable_type: str | None = None,
        principal: str | None = None,
        inherited: bool = False,
    ) -> list[Grant]:
        """Grants on a securable (``name``; with ``inherited``, also those on its schema and
        catalog), or held by a principal. A bare ``name`` matches either."""
        q = select(GrantRow).order_by(
            GrantRow.securable_type, GrantRow.securable_name, GrantRow.principal, GrantRow.privilege
        )
        conditions = []
        origin: dict[tuple[str, str], str] = {}
        if name is not None:
            targets = self._targets(name, securable_type)
            for sec in targets:
                links = sec.chain if inherited else [sec]
                for link in links:
                    if link != sec:
                        origin.setdefault((link.type.value, link.name), str(link))
                    conditions.append(
                        and_(
                            GrantRow.securable_type == link.type.value,
                            GrantRow.securable_name == link.name,
                        )
                    )
            if securable_type is None:
                conditions.append(GrantRow.principal == name)
            q = q.filter(or_(*conditions)) if conditions else q.filter(False)
        if principal is not None:
            q = q.filter(GrantRow.principal == principal)
        with self._db.tx() as s:
            rows = s.scalars(q).all()
        return [_grant(r, origin.get((r.securable_type, r.securable_name))) for r in rows]

    @staticmethod
    def _targets(name: str, securable_type: str | None) -> list[Securable]:
        if securable_type is not None:
            return [securable(securable_type, name)]
        found = []
        for kind in SecurableType:  # any kind the name is valid for
            try:
                found.append(securable(kind, name))
            except ValueError:
                continue
        return found

    @staticmethod
    def _select(priv: Privilege, sec: Securable, principal: str):  # type: ignore[no-untyped-def]
        return select(GrantRow).filter_by(
            securable_type=sec.type.value,
            securable_name=sec.name,
            privilege=priv.value,
            principal=principal,
        )
