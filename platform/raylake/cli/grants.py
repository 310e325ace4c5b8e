"""``raylake grants``: grant, revoke and show privileges on catalogs, schemas, tables, models,
feature views and endpoints. Acts as ``RAYLAKE_USER``; checked when ``RAYLAKE_AUTH=on``."""

from __future__ import annotations

from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace

app = typer.Typer(help="Grant, revoke and show privileges.", no_args_is_help=True)

PrivilegeArg = Annotated[
    str, typer.Argument(help="USE, SELECT, MODIFY, CREATE, EXECUTE or MANAGE.", show_default=False)
]
TypeArg = Annotated[
    str,
    typer.Argument(help="catalog, schema, table, feature_view, model or endpoint."),
]
NameArg = Annotated[str, typer.Argument(help="The securable's name (e.g. sales.orders).")]
PrincipalArg = Annotated[str, typer.Argument(help="A user, group or service principal.")]


@app.command("grant")
def grant(
    privilege: PrivilegeArg, securable_type: TypeArg, name: NameArg, principal: PrincipalArg
) -> None:
    """Grant PRIVILEGE on a securable to PRINCIPAL (needs MANAGE on it, or ownership)."""
    with workspace() as ws:
        g = ws.grant(privilege, securable_type, name, principal)
    _render.show(
        _render.text(
            f"granted {g.privilege} on {g.securable_type} {g.securable_name} to {g.principal}"
        )
    )


@app.command("revoke")
def revoke(
    privilege: PrivilegeArg, securable_type: TypeArg, name: NameArg, principal: PrincipalArg
) -> None:
    """Revoke a direct grant (grants on parents still hold)."""
    with workspace() as ws:
        removed = ws.revoke(privilege, securable_type, name, principal)
    what = f"{privilege.upper()} on {securable_type} {name} from {principal}"
    _render.show(_render.text(f"revoked {what}" if removed else f"no grant of {what} to revoke"))


@app.command("show")
def show(
    name: Annotated[
        str | None, typer.Argument(help="A securable or a principal (default: every grant).")
    ] = None,
    securable_type: Annotated[
        str | None, typer.Option("--type", help="Read NAME as this securable type.")
    ] = None,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only grants to this principal.")
    ] = None,
    inherited: Annotated[
        bool, typer.Option("--inherited", help="Also grants on the schema and catalog above.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Show grants on a securable, or held by a principal."""
    with workspace() as ws:
        grants = ws.show_grants(
            name, securable_type=securable_type, principal=principal, inherited=inherited
        )
    if json_out:
        _render.print_json(grants)
        return
    rows = [
        (
            g.principal,
            g.privilege,
            g.securable_type,
            g.securable_name,
            g.inherited_from,
            g.granted_by,
            g.granted_at,
        )
        for g in grants
    ]
    columns = (
        "principal",
        "privilege",
        "type",
        "securable",
        "inherited from",
        "granted by",
        "granted (UTC)",
    )
    _render.show(_render.table(columns, rows))
