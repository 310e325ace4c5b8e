"""``ws.principals``: users, groups (with members) and service principals."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raylake.catalog.models import GrantRow, GroupMemberRow, PrincipalRow
from raylake.errors import InvalidArgumentError, PrincipalExistsError, PrincipalNotFoundError
from raylake.governance.guard import Guard
from raylake.governance.policy import identities
from raylake.governance.records import Principal

KINDS = ("user", "group", "service_principal")
_MAX_NAME = 255


def _check_name(name: str) -> str:
    # Principal names are e-mail addresses or user names: any printable text without spaces.
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME or not name.isprintable():
        raise InvalidArgumentError(f"invalid principal name {name!r}")
    if any(c.isspace() for c in name):
        raise InvalidArgumentError(f"invalid principal name {name!r}: no spaces")
    return name


def require_principal(s: Session, name: str) -> PrincipalRow:
    row = s.get(PrincipalRow, name)
    if row is None:
        raise PrincipalNotFoundError(
            f"no principal {name!r}: create it with ws.principals.create_user/create_group/"
            "create_service_principal"
        )
    return row


class Principals:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._db = guard.db

    # -- creating ------------------------------------------------------------------------------
    def create_user(self, name: str) -> Principal:
        return self._create(name, "user")

    def create_group(self, name: str, members: list[str] | None = None) -> Principal:
        group = self._create(name, "group")
        for member in members or []:
            self.add_member(name, member)
        return self.get(group.name) if members else group

    def create_service_principal(self, name: str) -> Principal:
        return self._create(name, "service_principal")

    def _create(self, name: str, kind: str) -> Principal:
        _check_name(name)
        self._guard.require_admin(f"create_{kind}", principal=name)
        try:
            with self._db.tx() as s:
                s.add(PrincipalRow(name=name, kind=kind, created_by=self._guard.user))
        except IntegrityError:
            raise PrincipalExistsError(f"principal {name!r} already exists") from None
        self._guard.audit.record(self._guard.user, f"create_{kind}", detail={"principal": name})
        return self.get(name)

    def ensure_user(self, name: str) -> None:
        """Register ``name`` as a user if unknown (the acting user, on first token)."""
        with self._db.tx() as s:
            if s.get(PrincipalRow, name) is None:
                s.add(PrincipalRow(name=_check_name(name), kind="user", created_by=name))

    def delete(self, name: str) -> None:
        """Delete a principal with its memberships, tokens and grants."""
        self._guard.require_admin("delete_principal", principal=name)
        with self._db.tx() as s:
            row = require_principal(s, name)
            s.execute(delete(GroupMemberRow).filter_by(member=name))
            s.execute(delete(GroupMemberRow).filter_by(group_name=name))
            s.execute(delete(GrantRow).filter_by(principal=name))
            s.delete(row)  # tokens go with it (ON DELETE CASCADE)
        self._guard.audit.record(self._guard.user, "delete_principal", detail={"principal": name})

    # -- groups --------------------------------------------------------------------------------
    def add_member(self, group: str, member: str) -> None:
        self._guard.require_admin("add_member", group=group, member=member)
        with self._db.tx() as s:
            if require_principal(s, group).kind != "group":
                raise InvalidArgumentError(f"{group!r} is not a group")
            require_principal(s, member)
            # Cycle: the group is already (transitively) inside the new member.
            if member in identities(s, group):
                raise InvalidArgumentError(f"adding {member!r} to {group!r} would make a cycle")
            if s.get(GroupMemberRow, (group, member)) is None:
                s.add(GroupMemberRow(group_name=group, member=member))
        self._guard.audit.record(
            self._guard.user, "add_member", detail={"group": group, "member": member}
        )

    def remove_member(self, group: str, member: str) -> None:
        self._guard.require_admin("remove_member", group=group, member=member)
        with self._db.tx() as s:
            require_principal(s, group)
            s.execute(delete(GroupMemberRow).filter_by(group_name=group, member=member))
        self._guard.audit.record(
            self._guard.user, "remove_member", detail={"group": group, "member": member}
        )

    # -- reading -------------------------------------------------------------------------------
    def get(self, name: str) -> Principal:
        with self._db.tx() as s:
            return _principal(s, require_principal(s, name))

    def list(self, kind: str | None = None) -> list[Principal]:
        if kind is not None and kind not in KINDS:
            raise InvalidArgumentError(f"unknown principal kind {kind!r}: use one of {KINDS}")
        with self._db.tx() as s:
            q = select(PrincipalRow).order_by(PrincipalRow.name)
            if kind:
                q = q.filter_by(kind=kind)
            return [_principal(s, r) for r in s.scalars(q)]


def _principal(s: Session, row: PrincipalRow) -> Principal:
    members = list(
        s.scalars(
            select(GroupMemberRow.member)
            .filter_by(group_name=row.name)
            .order_by(GroupMemberRow.member)
        )
    )
    groups = list(
        s.scalars(
            select(GroupMemberRow.group_name)
            .filter_by(member=row.name)
            .order_by(GroupMemberRow.group_name)
        )
    )
    return Principal(row.name, row.kind, row.created_by, row.created_at, members, groups)
