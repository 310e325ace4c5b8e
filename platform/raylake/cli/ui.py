"""``raylake ui``: serve the workspace HTTP app (``/api/...``) on the configured host and port."""

from __future__ import annotations

from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import settings, workspace


def ui(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to bind (default: http_host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port (default: ui_port)."),
    ] = None,
) -> None:
    """Serve the workspace web app and HTTP API until interrupted."""
    import uvicorn

    from raylake.web import create_app

    s = settings()
    bind_host = host or s.http_host
    bind_port = s.ui_port if port is None else port
    with workspace() as ws:
        _render.console(stderr=True).print(f"raylake UI on http://{bind_host}:{bind_port}")
        uvicorn.run(create_app(ws), host=bind_host, port=bind_port, log_level="warning")
