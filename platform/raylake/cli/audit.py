"""``raylake audit``: who did what, when, and whether it was allowed."""

from __future__ import annotations

from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace


def audit(
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only this principal.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action (e.g. read, grant).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time, e.g. 2026-11-25T08:00.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many events.")] = 100,
    export: Annotated[
        bool, typer.Option("--export", help="Also append new events to main.system.audit.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show audit events, newest first."""
    with workspace() as ws:
        events = ws.audit(principal, action, since, limit)
        version = ws.audit_table() if export else None
    if json_out:
        _render.print_json(events)
    else:
        rows = [
            (
                e.at,
                e.principal,
                e.action,
                e.securable_type,
                e.securable_name,
                e.outcome,
                e.detail or None,
            )
            for e in events
        ]
        columns = ("at (UTC)", "principal", "action", "type", "securable", "outcome", "detail")
        _render.show(_render.table(columns, rows))
    if version is not None:
        typer.echo(f"main.system.audit is at version {version}", err=json_out)
