"""``raylake dashboards``: create from YAML, list, show, export to a standalone HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.errors import DashboardError

app = typer.Typer(help="SQL dashboards: create, list, show, export as HTML.", no_args_is_help=True)


@app.command("create")
def create(
    spec: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.yaml", help="name, title and queries (name, sql, params, chart)."
        ),
    ],
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an existing one.")] = False,
) -> None:
    """Save the dashboard a YAML file describes (its queries are run once to check them)."""
    try:
        data = yaml.safe_load(spec.read_text())
    except yaml.YAMLError as exc:
        raise DashboardError(f"{spec} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "name" not in data or "queries" not in data:
        raise DashboardError(f"{spec}: expected a mapping with name and queries")
    with workspace() as ws:
        d = ws.dashboards.create(
            data["name"], data["queries"], title=data.get("title"), replace=replace
        )
    _render.show(f"saved dashboard {d.name} ({len(d.queries)} queries)")


@app.command("list")
def list_dashboards(json_out: JsonOption = False) -> None:
    """Dashboards in the catalog."""
    with workspace() as ws:
        found = ws.dashboards.list()
    if json_out:
        _render.print_json([{"name": d.name, "title": d.title, "owner": d.owner} for d in found])
        return
    rows = [(d.name, d.title, len(d.queries), d.owner, d.updated_at) for d in found]
    _render.show(_render.table(("name", "title", "queries", "owner", "updated (UTC)"), rows))


@app.command("show")
def show(name: str, json_out: JsonOption = False) -> None:
    """A dashboard's queries and chart specs."""
    with workspace() as ws:
        d = ws.dashboards.get(name)
    if json_out:
        _render.print_json([q.model_dump(mode="json") for q in d.queries])
        return
    rows = [
        (q.name, q.chart.type, q.chart.x, q.chart.y, q.params or None, q.sql) for q in d.queries
    ]
    title = f"dashboard {d.name}" + (f": {d.title}" if d.title else "")
    _render.show(_render.table(("query", "chart", "x", "y", "params", "sql"), rows, title))


@app.command("export")
def export(
    name: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file (default: NAME.html).")
    ] = None,
) -> None:
    """Write the dashboard as a standalone HTML file (plotly.js inline: works offline)."""
    with workspace() as ws:
        path = ws.dashboards.export(name, output)
    _render.show(f"wrote {path}")


@app.command("delete")
def delete(name: str) -> None:
    """Remove a dashboard from the catalog."""
    with workspace() as ws:
        ws.dashboards.delete(name)
    _render.show(f"deleted dashboard {name}")
