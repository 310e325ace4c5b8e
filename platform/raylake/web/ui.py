"""The workspace web UI: server-rendered pages (Jinja2) and the JSON APIs behind them.

``install(app)`` adds both to the workspace app. Pages answer errors as HTML pages and APIs as
JSON, both with 4xx statuses: a name that does not exist (or cannot) is a 404, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from raylake.errors import PermissionDeniedError, RaylakeError
from raylake.web import _auth

HERE = Path(__file__).parent
STATIC_PATH = "/ui/static"
# One shared copy of plotly.js for every page (served by the dashboards router).
PLOTLYJS_URL = "/dashboards/_static/plotly.min.js"

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ms(millis: int | None) -> str:
    """MLflow's epoch milliseconds as a UTC time."""
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


templates.filters["ms"] = _ms

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


_TITLES = {401: "Sign in", 403: "Not allowed", 404: "Not found"}


def status_of(exc: RaylakeError) -> int:
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, LookupError | ValueError):  # unknown or impossible names
        return 404
    return 400


def _problem(exc: Exception) -> tuple[int, str, dict[str, str]]:
    """(status, message, headers) of an error a handler raised."""
    if isinstance(exc, HTTPException):
        detail = exc.detail
        message = detail.get("error", str(detail)) if isinstance(detail, dict) else str(detail)
        return exc.status_code, message, dict(exc.headers or {})
    assert isinstance(exc, RaylakeError)
    return status_of(exc), str(exc), {}


class PageRoute(APIRoute):
    """Routes whose errors are HTML pages."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (HTTPException, RaylakeError) as exc:
                status, message, headers = _problem(exc)
                page = render(
                    request,
                    "error.html",
                    title=_TITLES.get(status, "Error"),
                    status=status,
                    message=message,
                )
                page.status_code = status
                page.headers.update(headers)
                return page

        return guarded


class ApiRoute(APIRoute):
    """Routes whose errors are JSON: ``{"error": ..., "detail": ...}``."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (HTTPException, RaylakeError) as exc:
                status, message, headers = _problem(exc)
                kind = type(exc).__name__ if isinstance(exc, RaylakeError) else str(status)
                return JSONResponse(
                    {"error": kind, "detail": message}, status_code=status, headers=headers
                )

        return guarded


def render(request: Request, template: str, **context: Any) -> Response:
    ws = request.app.state.workspace
    page = HTMLResponse(
        templates.get_template(template).render(
            request=request,
            user=getattr(request.state, "principal", None),
            auth=ws.settings.auth,
            plotlyjs=PLOTLYJS_URL,
            static=STATIC_PATH,
            **context,
        )
    )
    fresh = getattr(request.state, "fresh_token", None)
    if fresh:  # a ?token= link: keep it in a cookie, and off the address bar and history
        again = RedirectResponse(str(request.url.remove_query_params("token")), 303)
        again.set_cookie(_auth.COOKIE, fresh, httponly=True, samesite="strict")
        return again
    return page


def install(app: FastAPI) -> None:
    """Add the UI pages, their JSON APIs and static files to the workspace app."""
    from raylake.web import api, pages

    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(api.router, prefix="/api")
    app.include_router(pages.router)
