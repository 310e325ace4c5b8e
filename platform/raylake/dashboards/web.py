"""Dashboard routes for the workspace web app: pages, their JSON specs, plotly.js served once."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse

from raylake.web.deps import workspace
from raylake.workspace import Workspace

PLOTLYJS_PATH = "/dashboards/_static/plotly.min.js"

router = APIRouter()
Ws = Annotated[Workspace, Depends(workspace)]


@cache
def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@router.get(PLOTLYJS_PATH, include_in_schema=False)
def plotlyjs() -> Response:
    return Response(
        _plotlyjs(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/dashboards/{name}", response_class=HTMLResponse)
def dashboard_page(name: str, ws: Ws) -> HTMLResponse:
    """The dashboard as a page (embeddable in an iframe); its queries run on each request."""
    return HTMLResponse(ws.dashboards.render(name, plotlyjs_url=PLOTLYJS_PATH))


@router.get("/api/dashboards")
def list_dashboards(ws: Ws) -> list[dict[str, Any]]:
    return [
        {"name": d.name, "title": d.title, "queries": len(d.queries), "owner": d.owner}
        for d in ws.dashboards.list()
    ]


@router.get("/api/dashboards/{name}")
def get_dashboard(name: str, ws: Ws) -> dict[str, Any]:
    d = ws.dashboards.get(name)
    return {
        "name": d.name,
        "title": d.title,
        "owner": d.owner,
        "queries": [q.model_dump(mode="json") for q in d.queries],
        "updated_at": d.updated_at.isoformat(),
    }
