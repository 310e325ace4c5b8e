"""FastAPI helpers: who is calling (``Authorization: Bearer <token>``) and may they?

Use in an app that has the workspace at hand::

    from raylake.governance.http import require

    can_read = require(ws, "SELECT", "table", lambda request: request.path_params["name"])

    @app.get("/tables/{name}")
    def read(name: str, who: str = Depends(can_read)): ...

With auth off every request acts as ``settings.user`` and nothing is checked. With auth on, a
missing or bad token is 401 (one message whatever was wrong) and a missing privilege is 403;
both are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, Request

from raylake.errors import InvalidNameError, InvalidTokenError, PermissionDeniedError

if TYPE_CHECKING:
    from raylake.workspace import Workspace

_UNAUTHORIZED = "missing, invalid or expired API token"


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def principal_from_request(request: Request, ws: Workspace) -> str:
    """The principal the request's bearer token belongs to; 401 if none or bad (auth off:
    ``settings.user``)."""
    if not ws.settings.auth:
        return ws.settings.user
    try:
        return ws.tokens.authenticate(_bearer(request))
    except InvalidTokenError:
        raise HTTPException(
            401, detail={"error": _UNAUTHORIZED}, headers={"WWW-Authenticate": "Bearer"}
        ) from None


def authenticated(ws: Workspace) -> Callable[[Request], str]:
    """A FastAPI dependency returning the calling principal (401 without a valid token)."""

    def dependency(request: Request) -> str:  # sync: FastAPI runs it in its thread pool
        return principal_from_request(request, ws)

    return dependency


def require(
    ws: Workspace,
    privilege: str,
    securable_type: str,
    securable_from_request: Callable[[Request], str],
    action: str | None = None,
) -> Callable[[Request], str]:
    """A FastAPI dependency: authenticate, then require ``privilege`` on the securable the
    request names; returns the principal. 401 / 403 / 400 (bad name) as JSON."""

    def dependency(request: Request) -> str:
        who = principal_from_request(request, ws)
        try:
            name = securable_from_request(request)
            ws.guard.require(
                action or f"{request.method} {request.url.path}",
                privilege,
                securable_type,
                name,
                principal=who,
            )
        except PermissionDeniedError as exc:
            raise HTTPException(403, detail={"error": str(exc)}) from None
        except (InvalidNameError, KeyError, ValueError) as exc:
            raise HTTPException(400, detail={"error": f"bad securable name: {exc}"}) from None
        return who

    return dependency


def error_body(exc: Any) -> dict[str, Any]:
    """The JSON body these helpers answer with (for apps that format errors themselves)."""
    return exc.detail if isinstance(exc, HTTPException) else {"error": str(exc)}
