"""``raylake serve``: deploy, list, refresh and delete model endpoints; read replica logs.

Endpoints live on Ray Serve. With ``RAYLAKE_RAY_ADDRESS`` set (a cluster) they outlive the
command; without it the command starts a local Ray, so ``deploy`` keeps serving in the
foreground until Ctrl-C (a local Ray ends with the process that started it).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.errors import InvalidArgumentError

if TYPE_CHECKING:
    from raylake.serving import Endpoint

app = typer.Typer(help="Model endpoints on Ray Serve.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="Endpoint name (lowercase, digits, '_').")]


def _show(e: Endpoint, json_out: bool) -> None:
    if json_out:
        _render.print_json(e)
        return
    models = ", ".join(f"{v.role} {v.model} v{v.version} ({v.weight:g}%)" for v in e.models)
    _render.show(
        _render.fields(
            [
                ("endpoint", e.name),
                ("status", e.status),
                ("invocations", e.invocations_url),
                ("models", models),
                ("replicas", e.replicas),
                ("direct", ", ".join(e.replica_urls) or None),
            ]
        )
    )


@app.command("deploy")
def deploy(
    name: Name,
    model: Annotated[
        str, typer.Option("--model", "-m", help="models:/name@alias or models:/name/version.")
    ] = "models:/main.models.churn@champion",
    replicas: Annotated[int, typer.Option("--replicas", min=1, help="Replica count.")] = 1,
    max_batch_size: Annotated[
        int | None, typer.Option("--max-batch-size", min=1, help="Dynamic batching limit.")
    ] = None,
    challenger: Annotated[
        str | None, typer.Option("--challenger", help="A second model for a traffic split.")
    ] = None,
    challenger_percent: Annotated[
        float, typer.Option("--challenger-percent", min=0, max=100, help="Its share.")
    ] = 10,
    autoscaling: Annotated[
        str | None,
        typer.Option("--autoscaling", help='Ray Serve autoscaling JSON, e.g. {"max_replicas": 4}.'),
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", help="Online feature view:feature (repeat).")
    ] = None,
    entity_key: Annotated[
        list[str] | None, typer.Option("--entity-key", help="Entity key column (repeat).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Deploy (or update) an endpoint serving a registered model."""
    scaling = _json_option(autoscaling, "--autoscaling")
    traffic = (
        {"champion": 100 - challenger_percent, "challenger": challenger_percent}
        if challenger
        else None
    )
    with workspace() as ws:
        endpoint = ws.serve(
            name,
            model=model,
            features=feature or None,
            entity_keys=entity_key or None,
            num_replicas=replicas,
            autoscaling=scaling,
            max_batch_size=max_batch_size,
            challenger=challenger,
            traffic=traffic,
        )
        _show(endpoint, json_out)
        if not ws.settings.ray_address:
            _render.show("serving from a local Ray: press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                ws.endpoints.delete(name)


@app.command("list")
def list_endpoints(json_out: JsonOption = False) -> None:
    """List endpoints with their models and status."""
    with workspace() as ws:
        endpoints = ws.endpoints.list()
    if json_out:
        _render.print_json(endpoints)
        return
    if not endpoints:
        _render.show("no endpoints")
        return
    rows = [
        (
            e.name,
            e.status,
            ", ".join(f"{v.model} v{v.version} {v.weight:g}%" for v in e.models),
            e.replicas,
            e.invocations_url,
        )
        for e in endpoints
    ]
    _render.show(_render.table(("endpoint", "status", "models", "replicas", "url"), rows))


@app.command("show")
def show(name: Name, json_out: JsonOption = False) -> None:
    """Describe one endpoint."""
    with workspace() as ws:
        _show(ws.endpoints.get(name), json_out)


@app.command("refresh")
def refresh(name: Name, json_out: JsonOption = False) -> None:
    """Resolve the endpoint's aliases again and roll to the versions they name now."""
    with workspace() as ws:
        _show(ws.endpoints.refresh(name), json_out)


@app.command("delete")
def delete(name: Name) -> None:
    """Stop an endpoint (buffered inference records are written first)."""
    with workspace() as ws:
        ws.endpoints.delete(name)
    _render.show(f"deleted endpoint {name}")


@app.command("logs")
def logs(
    name: Name,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Lines per replica.")] = 100,
) -> None:
    """Print the last lines of each replica's log (replicas on this machine)."""
    with workspace() as ws:
        typer.echo(ws.endpoints.logs(name, tail))


def _json_option(value: str | None, option: str) -> dict | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{option} must be JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise InvalidArgumentError(f"{option} must be a JSON object")
    return parsed
