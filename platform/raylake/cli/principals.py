"""``raylake principals`` and ``raylake tokens``: who may sign in, and their API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.errors import InvalidArgumentError

app = typer.Typer(help="Users, groups and service principals.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the HTTP APIs (shown once).", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The principal's name.")]
KindOption = Annotated[str, typer.Option("--kind", help="user, group or service_principal.")]


@app.command("list")
def list_principals(
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List principals (groups with their members)."""
    with workspace() as ws:
        found = ws.principals.list(kind)
    if json_out:
        _render.print_json(found)
        return
    rows = [
        (p.name, p.kind, ", ".join(p.members) or None, ", ".join(p.groups) or None, p.created_at)
        for p in found
    ]
    _render.show(_render.table(("name", "kind", "members", "member of", "created (UTC)"), rows))


@app.command("create")
def create(
    name: NameArg,
    kind: KindOption = "user",
    members: Annotated[
        list[str] | None, typer.Option("--member", help="A member (groups; repeatable).")
    ] = None,
) -> None:
    """Create a user (default), a group or a service principal (workspace admins)."""
    with workspace() as ws:
        if kind == "group":
            p = ws.principals.create_group(name, members or [])
        elif kind == "service_principal":
            p = ws.principals.create_service_principal(name)
        elif kind == "user":
            p = ws.principals.create_user(name)
        else:
            raise InvalidArgumentError(
                f"unknown kind {kind!r}: use user, group or service_principal"
            )
    _render.show(_render.text(f"{p.kind} {p.name} created"))


@app.command("delete")
def delete(name: NameArg) -> None:
    """Delete a principal with its memberships, tokens and grants."""
    with workspace() as ws:
        ws.principals.delete(name)
    _render.show(_render.text(f"{name} deleted"))


@app.command("add-member")
def add_member(group: Annotated[str, typer.Argument(help="The group.")], member: NameArg) -> None:
    """Add a user, service principal or group to a group."""
    with workspace() as ws:
        ws.principals.add_member(group, member)
    _render.show(_render.text(f"{member} is in {group}"))


@app.command("remove-member")
def remove_member(
    group: Annotated[str, typer.Argument(help="The group.")], member: NameArg
) -> None:
    """Remove a member from a group."""
    with workspace() as ws:
        ws.principals.remove_member(group, member)
    _render.show(_render.text(f"{member} removed from {group}"))


@tokens_app.command("create")
def create_token(
    principal: Annotated[
        str | None, typer.Argument(help="For whom (default: RAYLAKE_USER).")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="What it is for.")] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Expire after this many days.")
    ] = None,
) -> None:
    """Create a token and print it: it is shown this once and stored only as a hash."""
    with workspace() as ws:
        secret = ws.tokens.create(principal, comment, timedelta(days=days) if days else None)
    typer.echo(secret)  # plain stdout: easy to capture in scripts


@tokens_app.command("list")
def list_tokens(
    principal: Annotated[str | None, typer.Argument(help="Only this principal's.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List tokens (never their secrets)."""
    with workspace() as ws:
        found = ws.tokens.list(principal)
    if json_out:
        _render.print_json(found)
        return
    rows = [
        (
            t.id,
            t.principal,
            "yes" if t.active else "no",
            t.comment,
            t.created_at,
            t.expires_at,
            t.revoked_at,
        )
        for t in found
    ]
    columns = ("id", "principal", "active", "comment", "created (UTC)", "expires", "revoked")
    _render.show(_render.table(columns, rows))


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id (see list).")],
) -> None:
    """Revoke a token at once."""
    with workspace() as ws:
        ws.tokens.revoke(token_id)
    _render.show(_render.text(f"token {token_id} revoked"))
