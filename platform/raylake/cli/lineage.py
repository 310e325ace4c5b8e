"""``raylake lineage NAME``: what a table was built from and what was built from it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from raylake.catalog import LineageEdge
from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace


def lineage(
    name: Annotated[
        str, typer.Argument(help="A table name, or a file path recorded as a pipeline source.")
    ],
    json_out: JsonOption = False,
) -> None:
    """Show upstream and downstream lineage, with versions and pipeline run ids."""
    with workspace() as ws:
        found = ws.lineage(name)
        if not found.upstream and not found.downstream and "/" not in name:
            ws.table(name)  # no edges: say so if the table itself does not exist
    if json_out:
        _render.print_json(found)
        return
    root = Tree(Text(found.name, style="bold"))
    if not found.upstream and not found.downstream:
        root.add(Text("no lineage recorded", style="dim"))
    if found.upstream:
        _grow(root.add("upstream"), found.name, found.upstream, upstream=True)
    if found.downstream:
        _grow(root.add("downstream"), found.name, found.downstream, upstream=False)
    _render.show(root)


def _grow(
    branch: Tree,
    node: str,
    edges: list[LineageEdge],
    upstream: bool,
    expanded: set[str] | None = None,
) -> None:
    """Add the edges touching ``node`` under ``branch``, then recurse into their other ends.

    Each name is expanded once: repeated runs add one edge each, and cycles must end."""
    expanded = expanded if expanded is not None else {node}
    mine = [e for e in edges if (e.target_name if upstream else e.source_name) == node]
    for edge in reversed(mine):  # newest first
        child = branch.add(edge_label(edge))
        other = edge.source_name if upstream else edge.target_name
        if other not in expanded:
            expanded.add(other)
            _grow(child, other, edges, upstream, expanded)


def edge_label(e: LineageEdge) -> Text:
    def end(kind: str, name: str, version: int | None) -> str:
        kind_note = "" if kind == "table" else f" ({kind})"
        return f"{name}{kind_note}" + ("" if version is None else f" v{version}")

    label = f"{end(e.source_kind, e.source_name, e.source_version)} → "
    label += end(e.target_kind, e.target_name, e.target_version)
    if e.run_id:
        label += f"  run {e.run_id[:12]}"
    return Text(label)
