"""Who holds which privilege: ownership, direct grants, group grants, inheritance downwards.

The rules (Unity Catalog in spirit):
- a privilege granted on a catalog or schema holds for everything inside it;
- a grant to a group holds for its members (groups may contain groups);
- the owner of a securable, or of any of its ancestors, holds every privilege on it;
- ``MANAGE`` holds every other privilege (a manager could grant them to itself anyway);
- workspace admins (the owner of the ``main`` catalog, members of the ``admins`` group) hold all.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from raylake.catalog.models import CatalogRow, GrantRow, GroupMemberRow, SchemaRow, TableRow
from raylake.governance._db import Db
from raylake.governance.securables import Privilege, Securable, SecurableType
from raylake.names import DEFAULT_CATALOG

ADMINS_GROUP = "admins"


def identities(s: Session, principal: str) -> set[str]:
    """The principal and every group it belongs to, directly or through other groups."""
    found = {principal}
    frontier = {principal}
    while frontier:
        groups = set(
            s.scalars(select(GroupMemberRow.group_name).filter(GroupMemberRow.member.in_(frontier)))
        )
        frontier = groups - found
        found |= frontier
    return found


def owner_of(s: Session, sec: Securable) -> str | None:
    """Owners are recorded for catalogs, schemas and tables (models, views, endpoints: none)."""
    parts = sec.name.split(".")
    if sec.type is SecurableType.CATALOG:
        row = s.get(CatalogRow, sec.name)
        return row.owner if row else None
    if sec.type is SecurableType.SCHEMA:
        return s.scalar(select(SchemaRow.owner).filter_by(catalog_name=parts[0], name=parts[1]))
    if sec.type is SecurableType.TABLE:
        return s.scalar(
            select(TableRow.owner).filter_by(
                catalog_name=parts[0], schema_name=parts[1], name=parts[2]
            )
        )
    return None


def is_admin(s: Session, ids: set[str]) -> bool:
    return (
        ADMINS_GROUP in ids or owner_of(s, Securable(SecurableType.CATALOG, DEFAULT_CATALOG)) in ids
    )


def holds(s: Session, ids: set[str], privilege: Privilege, sec: Securable) -> bool:
    """Whether any of ``ids`` holds ``privilege`` on ``sec`` (admin rights checked apart)."""
    chain = sec.chain
    if any(owner_of(s, link) in ids for link in chain):
        return True
    on_chain = or_(
        *(
            and_(GrantRow.securable_type == link.type.value, GrantRow.securable_name == link.name)
            for link in chain
        )
    )
    wanted = {privilege.value, Privilege.MANAGE.value}
    q = (
        select(GrantRow.id)
        .filter(GrantRow.principal.in_(ids), GrantRow.privilege.in_(wanted), on_chain)
        .limit(1)
    )
    return s.scalar(q) is not None


def needs_with_use(privilege: Privilege, sec: Securable) -> list[tuple[Privilege, Securable]]:
    """What an action on ``sec`` needs: the privilege itself plus ``USE`` on every ancestor
    (as in Unity Catalog, reading a table needs USE on its schema and catalog too)."""
    return [(Privilege.USE, p) for p in reversed(sec.parents)] + [(privilege, sec)]


class Policy:
    def __init__(self, db: Db) -> None:
        self._db = db

    def missing(
        self, principal: str, needs: Iterable[tuple[Privilege, Securable]]
    ) -> tuple[Privilege, Securable] | None:
        """The first of ``needs`` the principal does not hold, or None (one transaction)."""
        with self._db.tx() as s:
            ids = identities(s, principal)
            if is_admin(s, ids):
                return None
            for privilege, sec in needs:
                if not holds(s, ids, privilege, sec):
                    return privilege, sec
            return None

    def allowed(self, principal: str, privilege: Privilege, sec: Securable) -> bool:
        return self.missing(principal, [(privilege, sec)]) is None

    def is_admin(self, principal: str) -> bool:
        with self._db.tx() as s:
            return is_admin(s, identities(s, principal))
