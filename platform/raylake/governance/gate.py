"""Auth for HTTP servers on a hot path: bearer token -> principal -> privilege, cached briefly.

The feature retrieval API (p99 goal 5 ms) and model endpoint replicas check every request.
A full check is a few catalog queries plus an audit INSERT (a commit); :class:`Gate` remembers
a valid token's principal and an *allowed* check for ``ttl`` seconds, so a steady client costs a
hash and two dict lookups. Failures are never cached: every refused attempt goes through
:class:`~raylake.governance.tokens.Tokens` / :class:`~raylake.governance.guard.Guard` and is
audited. The price is that a revoked token or grant keeps working for at most ``ttl`` seconds.

Only build a Gate when ``settings.auth`` is on; with auth off servers skip it entirely.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from raylake.errors import InvalidTokenError

if TYPE_CHECKING:
    from raylake.governance.guard import Guard
    from raylake.governance.tokens import Tokens
    from raylake.settings import Settings

DEFAULT_TTL_S = 3.0
_MAX_ENTRIES = 10_000  # keys come from clients: bounded, cleared when full
UNAUTHORIZED = "missing, invalid or expired API token"  # same text as raylake.governance.http


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ('' if none)."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Gate:
    """Authenticate and authorize HTTP requests, with a short TTL cache of successes."""

    def __init__(
        self,
        guard: Guard,
        tokens: Tokens,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.tokens = tokens
        self.ttl = ttl
        self._clock = clock
        self._principals: dict[str, tuple[str, float]] = {}  # sha256(token) -> who, expiry
        self._allowed: dict[tuple[str, str, str, str], float] = {}  # (who, priv, type, name)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, ttl: float = DEFAULT_TTL_S) -> Gate:
        """A Gate on the catalog database of ``settings`` (for processes without a Workspace,
        e.g. Ray Serve replicas)."""
        from raylake.catalog import CatalogStore
        from raylake.governance.guard import Guard
        from raylake.governance.principals import Principals
        from raylake.governance.tokens import Tokens

        guard = Guard(CatalogStore(settings.catalog_url), settings.user, True)
        return cls(guard, Tokens(guard, Principals(guard)), ttl)

    # -- cheap, cache only ---------------------------------------------------------------------
    def cached(
        self, authorization: str | None, privilege: str, securable_type: str, names: Iterable[str]
    ) -> str | None:
        """The principal if the token and every privilege are cached as valid, else None
        (then call :meth:`check`). Never touches the database: safe on an event loop."""
        now = self._clock()
        hit = self._principals.get(_digest(bearer(authorization)))
        if hit is None or hit[1] <= now:
            return None
        who = hit[0]
        for name in names:
            expiry = self._allowed.get((who, privilege, securable_type, name))
            if expiry is None or expiry <= now:
                return None
        return who

    # -- full check ----------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> str:
        """The principal of the bearer token; :class:`InvalidTokenError` (audited) if none."""
        token = bearer(authorization)
        key = _digest(token)
        now = self._clock()
        hit = self._principals.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        who = self.tokens.authenticate(token)  # raises InvalidTokenError, audited
        self._remember(self._principals, key, (who, now + self.ttl))
        return who

    def check(
        self,
        authorization: str | None,
        action: str,
        privilege: str,
        securable_type: str,
        names: Iterable[str],
    ) -> str:
        """Authenticate, then require ``privilege`` on every named securable; returns the
        principal. Raises :class:`InvalidTokenError` (401) or :class:`PermissionDeniedError`
        (403); both audited by the guard, and so are allowed checks (once per ``ttl``)."""
        who = self.authenticate(authorization)
        now = self._clock()
        for name in names:
            key = (who, privilege, securable_type, name)
            expiry = self._allowed.get(key)
            if expiry is not None and expiry > now:
                continue
            self.guard.require(action, privilege, securable_type, name, principal=who)
            self._remember(self._allowed, key, now + self.ttl)
        return who

    def _remember(self, cache: dict, key: object, value: object) -> None:
        with self._lock:
            if len(cache) >= _MAX_ENTRIES:
                cache.clear()
            cache[key] = value


def _digest(token: str) -> str:
    # Cache keys are hashes: the process never keeps a table of raw secrets.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


__all__ = ["DEFAULT_TTL_S", "UNAUTHORIZED", "Gate", "InvalidTokenError", "bearer"]
