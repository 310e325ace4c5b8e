"""The FastAPI app factory: one app per workspace, routers added per feature.

Errors users cause (``RaylakeError``) are JSON with a 4xx status everywhere, never a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from raylake.errors import RaylakeError, ReadOnlyError

if TYPE_CHECKING:
    from raylake.workspace import Workspace


def error_status(exc: RaylakeError) -> int:
    if isinstance(exc, ReadOnlyError):
        return 403
    if isinstance(exc, LookupError):  # unknown table, version, model
        return 404
    return 400


async def _raylake_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RaylakeError)
    return JSONResponse(
        {"error": type(exc).__name__, "detail": str(exc)}, status_code=error_status(exc)
    )


def create_app(workspace: Workspace) -> FastAPI:
    """The workspace's HTTP app: ``/api/health``, ``/api/sql`` (and what other parts add)."""
    from raylake import __version__
    from raylake.web import sql

    app = FastAPI(title="raylake", version=__version__)
    app.state.workspace = workspace
    app.add_exception_handler(RaylakeError, _raylake_error)

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(sql.router, prefix="/api")
    from raylake.dashboards.web import router as dashboards
    from raylake.web._auth import caller

    # Signed-in callers only when auth is on (the check is a no-op when it is off).
    app.include_router(dashboards, dependencies=[Depends(caller)])
    from raylake.web import ui

    ui.install(app)  # the workspace UI pages and their /api/... JSON
    return app
