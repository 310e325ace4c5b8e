"""Rich tables and JSON for the commands: one place decides how values look."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

NONE = "—"


def console(stderr: bool = False) -> Console:
    # A fresh console per use: Rich then writes to whatever sys.stdout/stderr is current
    # (CliRunner swaps them) and reads COLUMNS each time.
    return Console(stderr=stderr, highlight=False)


def show(*renderables: RenderableType) -> None:
    out = console()
    for renderable in renderables:
        # Plain strings may carry data ('[x]'): print them as text, never as Rich markup.
        out.print(Text(renderable) if isinstance(renderable, str) else renderable)


def text(value: Any) -> Text:
    """A cell: plain text (never Rich markup, so '[x]' in data stays '[x]')."""
    if value is None:
        return Text(NONE, style="dim")
    if isinstance(value, dt.datetime):
        return Text(when(value))
    if isinstance(value, dict):
        return Text(", ".join(f"{k}={v}" for k, v in value.items()) or NONE)
    return Text(str(value))


def when(value: dt.datetime | None) -> str:
    if value is None:
        return NONE
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def duration(start: dt.datetime, end: dt.datetime | None) -> str | None:
    if end is None:
        return None
    return f"{(end - start).total_seconds():.1f}s"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")  # wrap long values, never cut them
    for row in rows:
        out.add_row(*(text(v) for v in row))
    return out


def fields(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column 'key  value' table for describing one thing."""
    out = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    for key, value in pairs:
        out.add_row(key, text(value))
    return out


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), indent=2, default=str))
