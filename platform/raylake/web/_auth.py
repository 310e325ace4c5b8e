"""Who is looking at the UI: a bearer token, a session cookie or a ``?token=`` link.

With ``settings.auth`` off every request is ``settings.user`` and nothing is checked. With it on,
pages and APIs need a valid API token (checked by governance, the same way for all three
carriers; a wrong one is one 401 whatever was wrong) and the governance privilege on what they
show; refusals are audited by governance.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from raylake.errors import InvalidNameError, InvalidTokenError, PermissionDeniedError
from raylake.governance.http import principal_from_request
from raylake.web.deps import workspace

COOKIE = "raylake_token"
UNAUTHORIZED = "missing, invalid or expired API token"


def token_of(request: Request) -> str:
    """The token a browser or client sent: header first, then cookie, then query."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or request.query_params.get("token") or ""


def caller(request: Request) -> str:
    """A dependency: the calling principal (401 without a valid token when auth is on)."""
    who = _caller(request)
    request.state.principal = who
    return who


def _caller(request: Request) -> str:
    ws = workspace(request)
    if not ws.settings.auth:
        return ws.settings.user
    if request.headers.get("authorization"):
        return principal_from_request(request, ws)  # governance's own bearer check
    try:
        who = ws.tokens.authenticate(token_of(request))
    except InvalidTokenError:
        raise HTTPException(
            401, detail={"error": UNAUTHORIZED}, headers={"WWW-Authenticate": "Bearer"}
        ) from None
    request.state.fresh_token = request.query_params.get("token")  # pages set it as cookie
    return who


def require(request: Request, who: str, privilege: str, securable_type: str, name: str) -> None:
    """403 unless ``who`` holds ``privilege`` on the securable (no-op with auth off)."""
    ws = workspace(request)
    try:
        ws.guard.require(f"ui {request.url.path}", privilege, securable_type, name, principal=who)
    except PermissionDeniedError as exc:
        raise HTTPException(403, detail={"error": str(exc)}) from None
    except (InvalidNameError, ValueError, KeyError) as exc:
        raise HTTPException(404, detail={"error": f"no such {securable_type}: {exc}"}) from None


def is_admin(request: Request, who: str) -> bool:
    ws = workspace(request)
    return not ws.settings.auth or ws.guard.policy.is_admin(who)
