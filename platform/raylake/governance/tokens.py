"""``ws.tokens``: API tokens for HTTP clients — random, shown once, kept only as a hash.

A token is ``rlk_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored;
with that much entropy a salt or a slow hash adds nothing, and the hash is the lookup key, so
checking a token never compares secrets byte by byte in Python: a wrong, malformed or revoked
token takes the same path (hash, one indexed lookup) and gets the same error.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from raylake.catalog.models import ApiTokenRow, PrincipalRow, utcnow
from raylake.errors import InvalidArgumentError, InvalidTokenError
from raylake.governance.guard import Guard
from raylake.governance.principals import Principals, require_principal
from raylake.governance.records import TokenInfo

PREFIX = "rlk_"
_MAX_TOKEN_LENGTH = 256
_INVALID = "invalid or expired API token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.principal,
        row.comment,
        row.created_by,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


class Tokens:
    def __init__(self, guard: Guard, principals: Principals) -> None:
        self._guard = guard
        self._db = guard.db
        self._principals = principals

    def create(
        self,
        principal: str | None = None,
        comment: str | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        """A new token for ``principal`` (default: the acting user). The secret is returned
        here and never again. Tokens for others need a workspace admin."""
        who = principal or self._guard.user
        if who != self._guard.user:
            self._guard.require_admin("create_token", principal=who)
        else:
            self._principals.ensure_user(who)
        if expires_in is not None and expires_in <= timedelta(0):
            raise InvalidArgumentError("expires_in must be positive")
        secret = PREFIX + secrets.token_urlsafe(32)
        token_id = uuid.uuid4().hex[:16]
        with self._db.tx() as s:
            if require_principal(s, who).kind == "group":
                raise InvalidArgumentError(f"{who!r} is a group: tokens are for users and services")
            s.add(
                ApiTokenRow(
                    id=token_id,
                    principal=who,
                    token_hash=token_hash(secret),
                    comment=comment,
                    created_by=self._guard.user,
                    expires_at=utcnow() + expires_in if expires_in else None,
                )
            )
        self._guard.audit.record(
            self._guard.user, "create_token", detail={"principal": who, "token_id": token_id}
        )
        return secret

    def list(self, principal: str | None = None) -> list[TokenInfo]:
        """Tokens (never their secrets); with auth on, others' tokens need an admin."""
        if principal != self._guard.user and self._guard.enabled:
            if not self._guard.policy.is_admin(self._guard.user):
                principal = self._guard.user
        q = select(ApiTokenRow).order_by(ApiTokenRow.created_at)
        if principal is not None:
            q = q.filter_by(principal=principal)
        with self._db.tx() as s:
            return [_info(r) for r in s.scalars(q)]

    def revoke(self, token_id: str) -> TokenInfo:
        with self._db.tx() as s:
            row = s.get(ApiTokenRow, token_id)
            if row is None:
                raise InvalidArgumentError(f"no token with id {token_id!r}")
            owner = row.principal
        if owner != self._guard.user:
            self._guard.require_admin("revoke_token", principal=owner, token_id=token_id)
        with self._db.tx() as s:
            row = s.get(ApiTokenRow, token_id)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            info = _info(row)
        self._guard.audit.record(
            self._guard.user, "revoke_token", detail={"principal": owner, "token_id": token_id}
        )
        return info

    def authenticate(self, token: str) -> str:
        """The principal a token belongs to; :class:`InvalidTokenError` (one message for every
        reason, audited) when missing, malformed, unknown, revoked or expired."""
        text = token if isinstance(token, str) else ""
        digest = token_hash(text[:_MAX_TOKEN_LENGTH])
        now = datetime.now(UTC)
        with self._db.tx() as s:
            row = s.scalar(select(ApiTokenRow).filter_by(token_hash=digest))
            found = (
                row is not None
                and row.revoked_at is None
                and (row.expires_at is None or row.expires_at > now)
                and len(text) <= _MAX_TOKEN_LENGTH
                and secrets.compare_digest(row.token_hash, digest)
                and s.get(PrincipalRow, row.principal) is not None
            )
            principal = row.principal if found and row is not None else None
        if principal is None:
            # Which part was wrong stays unsaid; the hash prefix lets admins correlate attempts.
            self._guard.audit.record(
                "anonymous", "authenticate", outcome="denied", detail={"token_sha256": digest[:12]}
            )
            raise InvalidTokenError(_INVALID)
        return principal
