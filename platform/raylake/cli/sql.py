"""``raylake sql "SELECT ..."``: SQL over the catalog, printed or saved."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from raylake.cli import _render
from raylake.cli._context import workspace
from raylake.errors import InvalidArgumentError
from raylake.sql import formats


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v``: v is a JSON number, true/false/null or a quoted JSON string; else the text."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise InvalidArgumentError(f"bad --param {text!r}: use NAME=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        return name, raw
    if isinstance(value, list | dict):
        return name, raw  # not a scalar: the text as written
    return name, value


def sql(
    query: Annotated[str, typer.Argument(help="One SQL statement ('-' reads it from stdin).")],
    engine: Annotated[
        str, typer.Option("--engine", help="auto, duckdb, datafusion or spark (Spark on Ray).")
    ] = "auto",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE for a :NAME placeholder (repeatable)."),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Allow CREATE TABLE ... AS SELECT and INSERT INTO.")
    ] = False,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Rows the table format shows at most.")
    ] = 1000,
) -> None:
    """Run SQL over catalog tables (``VERSION AS OF n`` or ``name@vn`` for time travel)."""
    if query == "-":
        query = sys.stdin.read()
    params = dict(parse_param(p) for p in param or [])
    if fmt is Format.parquet and output is None:
        raise InvalidArgumentError("--format parquet needs --output FILE")
    with workspace() as ws:
        result = ws.sql(query, params or None, engine=engine, read_only=not write)
    _emit(result, fmt, output, max_rows)


def _emit(result: pa.Table, fmt: Format, output: Path | None, max_rows: int) -> None:
    if fmt is Format.parquet:
        assert output is not None
        formats.write_parquet(result, output)
    elif fmt is Format.csv:
        if output is not None:
            formats.write_csv(result, output)
        else:
            formats.write_csv(result, sys.stdout.buffer)
    elif fmt is Format.json:
        text = json.dumps(formats.to_json(result)["rows"], indent=2)
        if output is not None:
            output.write_text(text + "\n")
        else:
            typer.echo(text)
    else:
        shown = result.slice(0, max_rows)
        rows = [list(r.values()) for r in shown.to_pylist()]
        note = None
        if result.num_rows > max_rows:
            note = f"{result.num_rows - max_rows} more rows (--max-rows, or --format csv)"
        table = _render.table(result.column_names, rows)
        if output is not None:
            from rich.console import Console

            with output.open("w") as f:
                Console(file=f, width=200).print(table)
        else:
            _render.show(table, *([note] if note else []))
    if output is not None:
        _render.console(stderr=True).print(f"{result.num_rows} rows written to {output}")
