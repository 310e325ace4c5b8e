"""Who holds which privilege: ownership, direct grants, group grants, inheritance downwards.

The rules (Unity Catalog in spirit):
- a privilege granted on a catalog or schema holds for everything inside it;
- a grant to a group holds for its members (groups may contain groups);
- the owner of a securable, or of any of its ancestors, holds every privilege on it;
- ``MANAGE`` holds every other privilege (a manager could grant them to itself anyway);
- workspace admins (the owner of the ``main`` catalog, members of the ``admins`` group) hold all.

Listings show what a principal may see (:class:`Visibility`): what it owns or holds a privilege
on, by these same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from raylake.catalog.models import CatalogRow, GrantRow, GroupMemberRow, SchemaRow, TableRow
from raylake.governance._db import Db
from raylake.governance.securables import Privilege, Securable, SecurableType
from raylake.names import DEFAULT_CATALOG

ADMINS_GROUP = "admins"


# Built once: the checks run on every SDK call with auth on, and prebuilt Core statements with
# bound parameters hit SQLAlchemy's compiled cache (building ORM queries per call cost ~3x more).
_GROUPS_OF = select(GroupMemberRow.group_name).where(
    GroupMemberRow.member.in_(bindparam("names", expanding=True))
)
_CATALOG_OWNER = select(CatalogRow.owner).where(CatalogRow.name == bindparam("c"))
_SCHEMA_OWNER = select(SchemaRow.owner).where(
    SchemaRow.catalog_name == bindparam("c"), SchemaRow.name == bindparam("s")
)
_TABLE_OWNER = select(TableRow.owner).where(
    TableRow.catalog_name == bindparam("c"),
    TableRow.schema_name == bindparam("s"),
    TableRow.name == bindparam("t"),
)
_GRANTS_ON = select(GrantRow.securable_type, GrantRow.securable_name, GrantRow.privilege).where(
    GrantRow.principal.in_(bindparam("ids", expanding=True)),
    GrantRow.securable_name.in_(bindparam("names", expanding=True)),
)


def identities(s: Session, principal: str) -> set[str]:
    """The principal and every group it belongs to, directly or through other groups."""
    conn = s.connection()
    found = {principal}
    frontier = {principal}
    while frontier:
        groups = set(conn.execute(_GROUPS_OF, {"names": sorted(frontier)}).scalars())
        frontier = groups - found
        found |= frontier
    return found


def owner_of(s: Session, sec: Securable) -> str | None:
    """Owners are recorded for catalogs, schemas and tables (models, views, endpoints: none)."""
    parts = sec.name.split(".")
    conn = s.connection()
    if sec.type is SecurableType.CATALOG:
        return conn.execute(_CATALOG_OWNER, {"c": parts[0]}).scalar()
    if sec.type is SecurableType.SCHEMA:
        return conn.execute(_SCHEMA_OWNER, {"c": parts[0], "s": parts[1]}).scalar()
    if sec.type is SecurableType.TABLE:
        return conn.execute(_TABLE_OWNER, {"c": parts[0], "s": parts[1], "t": parts[2]}).scalar()
    return None


def is_admin(s: Session, ids: set[str]) -> bool:
    return (
        ADMINS_GROUP in ids or owner_of(s, Securable(SecurableType.CATALOG, DEFAULT_CATALOG)) in ids
    )


# Which privileges, held on a securable or inherited from its schema or catalog, let a principal
# see it in a listing. Every privilege can be granted on a catalog or schema to hold for what is
# inside, so any of them shows a schema; USE and CREATE are container privileges (no check ever
# asks them of a table, model, feature view or endpoint), so inherited they show the schemas of a
# catalog but not the objects in them — as USE CATALOG / USE SCHEMA in Unity Catalog. A grant made
# on the object itself shows it whatever the privilege.
_EVERY = frozenset(p.value for p in Privilege)
_ON_DATA = frozenset({Privilege.SELECT.value, Privilege.MODIFY.value, Privilege.MANAGE.value})
_SHOWN_BY: dict[SecurableType, frozenset[str]] = {
    SecurableType.CATALOG: _EVERY,
    SecurableType.SCHEMA: _EVERY,
    SecurableType.TABLE: _ON_DATA,
    SecurableType.FEATURE_VIEW: _ON_DATA,
    SecurableType.MODEL: _ON_DATA,
    SecurableType.ENDPOINT: frozenset({Privilege.EXECUTE.value, Privilege.MANAGE.value}),
}

_ALL_GRANTS_TO = select(GrantRow.securable_type, GrantRow.securable_name, GrantRow.privilege).where(
    GrantRow.principal.in_(bindparam("ids", expanding=True))
)
_CATALOGS_OWNED = select(CatalogRow.name).where(
    CatalogRow.owner.in_(bindparam("ids", expanding=True))
)
_SCHEMAS_OWNED = select(SchemaRow.catalog_name, SchemaRow.name).where(
    SchemaRow.owner.in_(bindparam("ids", expanding=True))
)


@dataclass(frozen=True)
class Visibility:
    """What one (non-admin) principal may see in listings, loaded once per listing.

    A securable is shown when the principal (or a group it is in) owns it or its schema or
    catalog, or holds a privilege on it, or one on its schema or catalog that shows it
    (``_SHOWN_BY``): the inheritance of :func:`holds`, asked for "any privilege".
    """

    ids: frozenset[str]
    owned: frozenset[Securable]  # catalogs and schemas owned by one of ``ids``
    granted: dict[tuple[str, str], frozenset[str]]  # (type, name) -> privileges granted to ids

    def sees(self, sec: Securable, owner: str | None = None) -> bool:
        """Whether ``sec`` (whose ``owner`` the caller already knows, if any) is shown."""
        if owner is not None and owner in self.ids:
            return True
        shown_by = _SHOWN_BY[sec.type]
        for link in sec.chain:
            if link in self.owned:
                return True
            privileges = self.granted.get((link.type.value, link.name))
            if privileges and (link == sec or not privileges.isdisjoint(shown_by)):
                return True
        return False


def _grants_on(s: Session, ids: set[str], links: Iterable[Securable]) -> set[tuple[str, str, str]]:
    """(type, name, privilege) of every grant to ``ids`` on ``links``: one query."""
    wanted = {(link.type.value, link.name) for link in links}
    rows = s.connection().execute(
        _GRANTS_ON, {"ids": sorted(ids), "names": sorted({n for _, n in wanted})}
    )
    return {(t, n, p) for t, n, p in rows if (t, n) in wanted}


def holds(
    owners: dict[Securable, str | None],
    grants: set[tuple[str, str, str]],
    ids: set[str],
    privilege: Privilege,
    sec: Securable,
) -> bool:
    """Whether any of ``ids`` holds ``privilege`` on ``sec``: owns it or a parent, or has it
    (or MANAGE) granted on it or a parent."""
    wanted = (privilege.value, Privilege.MANAGE.value)
    return any(
        owners.get(link) in ids or any((link.type.value, link.name, p) in grants for p in wanted)
        for link in sec.chain
    )


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
        """The first of ``needs`` the principal does not hold, or None.

        One transaction, a handful of queries whatever the number of needs: the principal's
        groups, the owners along the chains, and every grant to them on the chains at once.
        """
        needs = list(needs)
        main = Securable(SecurableType.CATALOG, DEFAULT_CATALOG)
        links = {main} | {link for _, sec in needs for link in sec.chain}
        with self._db.tx() as s:
            ids = identities(s, principal)
            owners = {link: owner_of(s, link) for link in links}
            if ADMINS_GROUP in ids or owners[main] in ids:
                return None
            grants = _grants_on(s, ids, links)
        for privilege, sec in needs:
            if not holds(owners, grants, ids, privilege, sec):
                return privilege, sec
        return None

    def allowed(self, principal: str, privilege: Privilege, sec: Securable) -> bool:
        return self.missing(principal, [(privilege, sec)]) is None

    def visibility(self, principal: str) -> Visibility | None:
        """What ``principal`` may see in listings; None for workspace admins (everything).

        A constant number of queries whatever is listed: the principal's groups, the owner of
        ``main``, every grant to them, and the catalogs and schemas they own.
        """
        with self._db.tx() as s:
            ids = identities(s, principal)
            if is_admin(s, ids):
                return None
            conn = s.connection()
            params = {"ids": sorted(ids)}
            granted: dict[tuple[str, str], set[str]] = {}
            for kind, name, privilege in conn.execute(_ALL_GRANTS_TO, params):
                granted.setdefault((kind, name), set()).add(privilege)
            owned = {
                Securable(SecurableType.CATALOG, name)
                for name in conn.execute(_CATALOGS_OWNED, params).scalars()
            } | {
                Securable(SecurableType.SCHEMA, f"{catalog}.{name}")
                for catalog, name in conn.execute(_SCHEMAS_OWNED, params)
            }
        return Visibility(
            frozenset(ids), frozenset(owned), {k: frozenset(v) for k, v in granted.items()}
        )

    def is_admin(self, principal: str) -> bool:
        with self._db.tx() as s:
            return is_admin(s, identities(s, principal))
