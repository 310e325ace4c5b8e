"""``POST /api/sql``: read-only SQL over the catalog, as JSON or an Arrow IPC stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from raylake.sql import formats
from raylake.web import deps
from raylake.web._auth import caller, require
from raylake.workspace import Workspace

router = APIRouter(tags=["sql"])


class SqlRequest(BaseModel):
    query: str = Field(description="One SELECT (or WITH) statement.")
    params: dict[str, str | int | float | bool | None] | None = Field(
        default=None, description="Values for :name placeholders (bound as literals)."
    )
    engine: str | None = Field(default=None, description="auto, duckdb, datafusion or spark.")


@router.post(
    "/sql",
    responses={
        200: {
            "description": "rows and schema as JSON, or an Arrow IPC stream when asked for",
            "content": {formats.ARROW_STREAM: {}},
        },
        400: {"description": "bad SQL or parameters"},
        403: {"description": "a statement that writes"},
        404: {"description": "unknown table or version"},
    },
)
def run_sql(
    body: SqlRequest,
    request: Request,
    ws: Annotated[Workspace, Depends(deps.workspace)],
    who: Annotated[str, Depends(caller)],
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    # A sync handler: FastAPI runs it in its thread pool while the engine works.
    if ws.settings.auth:  # the caller, not the server's principal, must hold SELECT on each
        for snapshot in ws._sql.plan(body.query, body.params):
            require(request, who, "SELECT", "table", str(snapshot.name))
    result = ws.sql(body.query, body.params, engine=body.engine, read_only=True)
    if accept and formats.ARROW_STREAM in accept:
        return Response(formats.to_ipc(result), media_type=formats.ARROW_STREAM)
    return JSONResponse(formats.to_json(result))
