"""``raylake schemas``: list and create catalog schemas."""

from __future__ import annotations

from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace

app = typer.Typer(help="List and create schemas.", no_args_is_help=True)


@app.command("list")
def list_schemas(
    catalog: Annotated[str | None, typer.Argument(help="Only this catalog.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List schemas."""
    with workspace() as ws:
        infos = ws.catalog.list_schemas(catalog)
    if json_out:
        _render.print_json(infos)
        return
    rows = [(s.full_name, s.owner, s.created_at, s.comment) for s in infos]
    _render.show(_render.table(("schema", "owner", "created (UTC)", "comment"), rows))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="schema or catalog.schema")],
    comment: Annotated[str | None, typer.Option("--comment", help="A description.")] = None,
) -> None:
    """Create a schema (an existing one is left as it is)."""
    with workspace() as ws:
        info = ws.catalog.create_schema(name, comment)
    _render.show(_render.text(f"schema {info.full_name} ready"))
