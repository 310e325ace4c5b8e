"""``raylake models``: registered models, versions and aliases; ``raylake mlflow-ui``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, SchemaFilter, settings, workspace

app = typer.Typer(help="Registered models: list, show, alias, compare.", no_args_is_help=True)

Name = Annotated[
    str, typer.Argument(help="Model name: model (main.models.model), schema.model or c.s.model.")
]


@app.command("list")
def list_models(
    schema: SchemaFilter = None,
    json_out: JsonOption = False,
) -> None:
    """List registered models with their latest version and aliases."""
    with workspace() as ws:
        models = ws.models.list(schema)
    if json_out:
        _render.print_json(models)
        return
    if not models:
        _render.show(f"no models{f' in {schema}' if schema else ''}")
        return
    rows = [(m.name, m.latest_version, m.aliases, m.updated_at, m.description) for m in models]
    _render.show(_render.table(("model", "latest", "aliases", "updated (UTC)", "about"), rows))


@app.command("show")
def show(
    name: Name,
    version: Annotated[
        str | None, typer.Argument(help="A version number or alias (default: latest).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Describe one version (run, signature, params, metrics) and list all versions."""
    with workspace() as ws:
        info = ws.models.get(name, version)
        versions = ws.models.versions(name)
        lineage = ws.lineage(info.name).upstream
    if json_out:
        _render.print_json({"version": info, "versions": versions, "lineage": lineage})
        return
    trained_on = [f"{e.source_name} v{e.source_version}" for e in lineage if e.source_kind != "run"]
    _render.show(
        _render.fields(
            [
                ("model", info.name),
                ("version", info.version),
                ("aliases", ", ".join(info.aliases) or None),
                ("run", info.run_id),
                ("source", info.source),
                ("created (UTC)", info.created_at),
                ("inputs", _columns((info.signature or {}).get("inputs"))),
                ("params", info.params or None),
                ("metrics", {k: f"{v:.6g}" for k, v in info.metrics.items()} or None),
                ("trained on", ", ".join(dict.fromkeys(trained_on)) or None),
            ],
            title=f"{info.name} v{info.version}",
        ),
        _render.table(
            ("version", "aliases", "run", "created (UTC)"),
            [(v.version, ", ".join(v.aliases), v.run_id, v.created_at) for v in versions],
        ),
    )


@app.command("alias")
def alias(
    name: Name,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. champion")],
    version: Annotated[
        str | None, typer.Argument(help="Version number to point the alias at.")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
) -> None:
    """Point ALIAS at VERSION (loads as models:/NAME@ALIAS), or remove it with --delete."""
    if delete == (version is not None):
        raise typer.BadParameter("give a VERSION, or --delete to remove the alias")
    with workspace() as ws:
        if delete:
            ws.models.delete_alias(name, alias_name)
            _render.show(f"removed alias {alias_name} of {name}")
            return
        info = ws.models.set_alias(name, alias_name, str(version))
    _render.show(f"{info.name}@{alias_name} -> version {info.version}")


@app.command("compare")
def compare(
    name: Name,
    first: Annotated[str, typer.Argument(help="Version number or alias.")],
    second: Annotated[str, typer.Argument(help="Version number or alias.")],
    json_out: JsonOption = False,
) -> None:
    """Params and metrics of two versions side by side."""
    with workspace() as ws:
        diff = ws.models.compare(name, first, second)
    if json_out:
        _render.print_json(diff)
        return
    a, b = diff.first.version, diff.second.version
    rows = [("param", k, x, y) for k, (x, y) in diff.params.items()]
    rows += [("metric", k, x, y) for k, (x, y) in diff.metrics.items()]
    rows.append(("signature", "", "same" if diff.same_signature else "differs", ""))
    _render.show(_render.table(("kind", "name", f"v{a}", f"v{b}"), rows, title=diff.name))


def mlflow_ui(
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind (default: this machine only).")
    ] = "127.0.0.1",
) -> None:
    """Start the MLflow UI on the workspace's tracking store and registry."""
    s = settings()
    uri = s.mlflow_tracking_uri or ""
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", host, "--port", str(port)]
    if not uri.startswith(("http://", "https://")):
        command += ["--default-artifact-root", (s.home / "mlartifacts").absolute().as_uri()]
    env = dict(os.environ)
    # mlflow ui starts uvicorn by name: the interpreter's bin folder must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    _render.show(f"MLflow UI for {uri} on http://{host}:{port} (Ctrl+C stops it)")
    sys.stdout.flush()
    # Become the MLflow server: Ctrl+C and kill then reach it (and its uvicorn workers) directly.
    os.execve(sys.executable, command, env)


def _columns(inputs: object) -> str | None:
    import json

    if not isinstance(inputs, str):
        return None
    try:
        cols = json.loads(inputs)
    except ValueError:
        return inputs
    return ", ".join(f"{c.get('name', '?')}: {c.get('type', '?')}" for c in cols) or None
