"""``raylake tables``: list, describe, history, time travel and maintenance of Delta tables."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, SchemaFilter, workspace
from raylake.errors import SchemaNotFoundError
from raylake.names import parse_schema_name

app = typer.Typer(help="List, describe, time-travel and maintain tables.", no_args_is_help=True)

Name = Annotated[
    str, typer.Argument(help="Table name: table, schema.table or catalog.schema.table.")
]


@app.command("list")
def list_tables(
    schema: SchemaFilter = None,
    json_out: JsonOption = False,
) -> None:
    """List tables, all or those of one schema."""
    with workspace() as ws:
        infos = ws.catalog.list_tables(schema)  # with auth on: what the user may see
        if schema is not None and not infos:
            catalog, name = parse_schema_name(schema)
            if not any(s.name == name for s in ws.catalog.list_schemas(catalog)):
                raise SchemaNotFoundError(f"schema {catalog}.{name} does not exist")
    if json_out:
        _render.print_json(infos)
        return
    if not infos:
        _render.show(f"no tables{f' in {schema}' if schema else ''}")
        return
    rows = [(t.full_name, t.last_version, t.owner, t.updated_at, t.tags, t.comment) for t in infos]
    _render.show(
        _render.table(("table", "version", "owner", "updated (UTC)", "tags", "comment"), rows)
    )


@app.command("show")
def show(
    name: Name,
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Also show N sample rows.")] = 0,
    json_out: JsonOption = False,
) -> None:
    """Describe a table: location, owner, version, schema, row count, tags and comment."""
    with workspace() as ws:
        d = ws.catalog.describe(name)
        head = ws.table(name).head(rows, version=d.version) if rows else None
        sample = pa.Table.from_pandas(head, preserve_index=False) if head is not None else None
    if json_out:
        out = _render.jsonable(d.info)
        out.update(version=d.version, rows=d.num_rows, files=d.num_files)
        out["schema"] = [{"name": n, "type": t} for n, t in d.schema]
        if sample is not None:
            out["sample"] = sample.to_pylist()
        _render.print_json(out)
        return
    i = d.info
    renderables: list = [
        _render.fields(
            [
                ("location", i.location),
                ("owner", i.owner),
                ("format", i.format),
                ("version", d.version),
                ("rows", d.num_rows),
                ("files", d.num_files),
                ("created (UTC)", i.created_at),
                ("updated (UTC)", i.updated_at),
                ("tags", i.tags),
                ("comment", i.comment),
            ],
            title=i.full_name,
        ),
        _render.table(("column", "type"), d.schema, title="Schema"),
    ]
    if sample is not None:
        renderables.append(
            _render.table(
                sample.column_names,
                [[row[c] for c in sample.column_names] for row in sample.to_pylist()],
                title=f"First {sample.num_rows} rows",
            )
        )
    _render.show(*renderables)


@app.command("history")
def history(
    name: Name,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many commits.")] = 20,
    json_out: JsonOption = False,
) -> None:
    """Show a table's commits, newest first."""
    with workspace() as ws:
        entries = ws.table(name).history(limit)
    if json_out:
        _render.print_json(entries)
        return
    rows = [
        (e.version, e.timestamp, e.operation, e.rows_added, e.rows_removed, e.user, e.parameters)
        for e in entries
    ]
    columns = (
        "version",
        "time (UTC)",
        "operation",
        "rows added",
        "rows removed",
        "user",
        "details",
    )
    _render.show(_render.table(columns, rows))


@app.command("restore")
def restore(
    name: Name,
    version: Annotated[
        str, typer.Argument(help="Version number, or an ISO timestamp such as 2024-05-01T12:00.")
    ],
) -> None:
    """Make a table's content that of an earlier version, in a new commit."""
    target: int | str = int(version) if version.isdigit() else version
    with workspace() as ws:
        table = ws.table(name)
        new_version = table.restore(target)
    _render.show(f"restored {table.name} to {version}: new version {new_version}")


@app.command("vacuum")
def vacuum(
    name: Name,
    retention_hours: Annotated[
        float, typer.Option("--retention-hours", min=0, help="Keep files younger than this.")
    ] = 168,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List files, delete none.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a retention below the table's minimum.")
    ] = False,
) -> None:
    """Delete data files no longer referenced by recent versions."""
    with workspace() as ws:
        removed = ws.table(name).vacuum(retention_hours, dry_run, enforce_retention=not force)
    verb = "would delete" if dry_run else "deleted"
    _render.show(f"{verb} {len(removed)} file(s)")
    for path in removed:
        _render.show(_render.text(f"  {path}"))


@app.command("optimize")
def optimize(
    name: Name,
    zorder_by: Annotated[
        list[str] | None, typer.Option("--zorder-by", help="Z-order by this column (repeatable).")
    ] = None,
) -> None:
    """Compact small files (and optionally Z-order them)."""
    with workspace() as ws:
        table = ws.table(name)
        metrics = table.optimize(zorder_by=zorder_by)
        version = table.version
    added, removed = metrics.get("numFilesAdded"), metrics.get("numFilesRemoved")
    _render.show(
        f"optimized {table.name}: {removed} file(s) rewritten into {added}; version {version}"
    )
