"""``raylake pipeline``: run the pipelines a Python file defines; list past runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from raylake.catalog import PipelineRun
from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.cli._loader import load_pipelines, parse_spec
from raylake.names import validate_part

app = typer.Typer(help="Run pipelines and list their runs.", no_args_is_help=True)


@app.command("run")
def run(
    spec: Annotated[
        str,
        typer.Argument(
            metavar="FILE.py[:NAME]",
            help="A Python file defining raylake.Pipeline objects; ':NAME' runs only that one.",
        ),
    ],
    json_out: JsonOption = False,
) -> None:
    """Run every pipeline FILE.py defines, in definition order (or only NAME)."""
    path, name = parse_spec(spec)
    chosen = load_pipelines(path, name)  # a broken file fails before the workspace opens
    runs: list[PipelineRun] = []
    try:
        with _stdout_to_stderr(), workspace() as ws, _progress() as progress:
            for p in chosen:
                task = progress.add_task(f"{p.name}: starting (Spark starts on first use)")

                def say(message: str, task: int = task, label: str = p.name) -> None:
                    progress.update(task, description=f"{label}: {message}")

                try:
                    result = ws.run_pipeline(p, progress=say)
                except BaseException:
                    say("failed")
                    raise
                runs.append(result)
                progress.update(task, description=f"{p.name}: {result.status.lower()}")
                progress.update(task, total=1, completed=1)
    finally:
        # Even when a later pipeline fails, show what the earlier ones did.
        if runs and json_out:
            _render.print_json(runs)
        elif runs:
            _render.show(summary(runs))


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr while the pipelines run.

    The JVMs RayDP starts inherit it and log to it directly (log4j's status lines), which
    would corrupt the summary or JSON on stdout. Ours is printed after fd 1 is restored."""
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: nothing to protect
        yield
        return
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def _progress() -> Iterator[Progress]:
    # On stderr, so stdout carries only the summary (or JSON).
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=_render.console(stderr=True),
    ) as progress:
        yield progress


# The columns every view of a run shows, between its view-specific ones.
_RUN_COLUMNS = ("pipeline", "run", "status", "target", "version", "rows in", "rows out", "dropped")


def _run_cells(r: PipelineRun) -> tuple[object, ...]:
    return (
        r.pipeline,
        r.seq,
        r.status,
        r.target,
        r.target_version,
        r.rows_in,
        r.rows_out,
        r.dropped or None,
    )


def summary(runs: list[PipelineRun]) -> Table:
    rows = [
        (
            *_run_cells(r),
            {k: v for k, v in r.warnings.items() if v} or None,
            _render.duration(r.started_at, r.ended_at),
        )
        for r in runs
    ]
    return _render.table((*_RUN_COLUMNS, "warned", "took"), rows)


@app.command("runs")
def runs(
    pipeline: Annotated[str | None, typer.Argument(help="Only runs of this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")] = 20,
    json_out: JsonOption = False,
) -> None:
    """List pipeline runs, newest first."""
    if pipeline is not None:
        validate_part(pipeline, "pipeline name")
    with workspace() as ws:
        found = ws.pipeline_runs(pipeline, limit)
    if json_out:
        _render.print_json(found)
        return
    if not found:
        _render.show(f"no runs{f' of {pipeline}' if pipeline else ''}")
        return
    rows = [
        (
            r.started_at,
            *_run_cells(r),
            _render.duration(r.started_at, r.ended_at),
            r.id[:12],
            (r.error or "").splitlines()[0] if r.error else None,
        )
        for r in found
    ]
    columns = ("started (UTC)", *_RUN_COLUMNS, "took", "id", "error")
    _render.show(_render.table(columns, rows))
