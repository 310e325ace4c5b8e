"""JSON APIs behind the UI pages: catalog, lineage graph, endpoints' metrics, grants, audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from raylake.web import _auth, _data
from raylake.web.deps import workspace
from raylake.web.ui import ApiRoute
from raylake.workspace import Workspace

router = APIRouter(route_class=ApiRoute, tags=["workspace"])
Ws = Annotated[Workspace, Depends(workspace)]
Who = Annotated[str, Depends(_auth.caller)]


@router.get("/catalog/schemas")
def schemas(ws: Ws, who: Who) -> list[dict[str, Any]]:
    return [
        {"catalog": s.catalog, "name": s.full_name, "owner": s.owner, "comment": s.comment}
        for s in ws.catalog.list_schemas(principal=who)
    ]


@router.get("/catalog/tables")
def tables(ws: Ws, who: Who, schema: str | None = None) -> list[dict[str, Any]]:
    return [_data.plain(t) for t in ws.catalog.list_tables(schema, principal=who)]


@router.get("/catalog/tables/{name}")
def table(
    name: str, request: Request, ws: Ws, who: Who, rows: int = Query(20, ge=0, le=1000)
) -> dict[str, Any]:
    _auth.require(request, who, "SELECT", "table", name)
    detail = _data.table_detail(ws, name, rows)
    return _data.plain(detail)


@router.get("/lineage")
def lineage(ws: Ws, who: Who, node: str | None = None) -> dict[str, Any]:
    """The lineage graph as nodes and edges (whole workspace, or around ``node``)."""
    return _data.lineage_graph(ws, node).to_json()


@router.get("/models")
def models(ws: Ws, who: Who) -> list[dict[str, Any]]:
    return [_data.plain(m) for m in ws.models.list(principal=who)]


@router.get("/models/{name}")
def model(name: str, request: Request, ws: Ws, who: Who) -> dict[str, Any]:
    full = _full_model(name)
    _auth.require(request, who, "SELECT", "model", full)
    return {"name": full, "versions": [_data.plain(v) for v in ws.models.versions(full)]}


@router.get("/endpoints")
def endpoints(ws: Ws, who: Who) -> list[dict[str, Any]]:
    return [_data.plain(e) for e in _data.endpoints(ws, who)]


@router.get("/endpoints/{name}/metrics")
def endpoint_metrics(name: str, ws: Ws, who: Who) -> dict[str, Any]:
    """Cumulative counters; the page plots their differences between polls."""
    return _data.endpoint_metrics(ws, name)


@router.get("/pipelines/runs")
def pipeline_runs(
    ws: Ws, who: Who, pipeline: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return [_data.plain(r) for r in ws.pipeline_runs(pipeline, limit)]


@router.get("/grants")
def grants(request: Request, ws: Ws, who: Who, name: str | None = None) -> list[dict[str, Any]]:
    """All grants (admins) or the caller's own."""
    principal = None if _auth.is_admin(request, who) else who
    return [_data.plain(g) for g in ws.show_grants(name, principal=principal)]


@router.get("/audit")
def audit(
    request: Request,
    ws: Ws,
    who: Who,
    principal: str | None = None,
    action: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Audit events, newest first; non-admins see only their own."""
    if not _auth.is_admin(request, who):
        principal = who
    return [_data.plain(e) for e in ws.audit(principal, action, limit=limit)]


def _full_model(name: str) -> str:
    from raylake.registry import parse_model_name

    return str(parse_model_name(name))
