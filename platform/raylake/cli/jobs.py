"""``raylake jobs``: run jobs, serve their triggers, list jobs and runs, show a run's logs."""

from __future__ import annotations

import json
import signal
from typing import Annotated, Any

import typer

from raylake.catalog.jobs_store import JobRun
from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.errors import InvalidArgumentError, JobError
from raylake.jobs import Job, load_jobs
from raylake.names import validate_part

app = typer.Typer(
    help="Run jobs, serve their schedules and triggers, read run history.", no_args_is_help=True
)

SpecArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE[.py[:NAME]|.yaml]",
        help="A Python file defining raylake.jobs.Job objects (':NAME' picks one) or a YAML file.",
    ),
]


def _params(values: list[str] | None) -> dict[str, Any]:
    """``key=value`` options -> a dict; values are parsed as JSON when they are JSON."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidArgumentError(f"--param {item!r}: use NAME=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _say(task: str, status: str, attempt: int) -> None:
    suffix = f" (attempt {attempt})" if status == "RUNNING" and attempt > 1 else ""
    _render.console(stderr=True).print(f"  {task}: {status.lower()}{suffix}", markup=False)


def _tasks_table(run: JobRun) -> Any:
    rows = [
        (
            t.task,
            t.kind,
            t.status,
            t.attempts,
            _render.duration(t.started_at, t.ended_at) if t.started_at else None,
            _outputs(t.outputs),
            t.error,
        )
        for t in run.tasks
    ]
    title = f"job {run.job} run {run.id[:12]}: {run.status}"
    columns = ("task", "kind", "status", "attempts", "took", "outputs", "error")
    return _render.table(columns, rows, title=title)


def _outputs(outputs: dict[str, Any]) -> str | None:
    shown = {k: v for k, v in outputs.items() if v is not None and k != "best_params"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or None


@app.command("run")
def run(
    spec: SpecArgument,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A run parameter NAME=VALUE (JSON values parsed)."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Run the jobs a file defines now (manual runs); exit 1 if one fails."""
    jobs = load_jobs(spec)  # a broken file fails before the workspace opens
    params = _params(param)
    runs: list[JobRun] = []
    with workspace() as ws:
        for job in jobs:
            _render.console(stderr=True).print(f"job {job.name}", markup=False)
            runs.append(ws.jobs.run(job, params, progress=_say, source=spec))
    if json_out:
        _render.print_json(runs)
    else:
        _render.show(*(_tasks_table(r) for r in runs))
    if any(r.status != "SUCCEEDED" for r in runs):
        raise typer.Exit(1)


@app.command("serve")
def serve(
    specs: Annotated[
        list[str],
        typer.Argument(metavar="FILE...", help="Files defining the jobs to schedule."),
    ],
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between trigger checks.")
    ] = 5.0,
    max_ticks: Annotated[
        int | None, typer.Option("--max-ticks", min=1, help="Stop after this many polls.")
    ] = None,
) -> None:
    """Run the scheduler: fire cron, table-update and model-alias triggers until stopped.

    Restart-safe: trigger state lives in the catalog, so a run missed while it was down runs
    once, and a second scheduler on the same catalog cannot run the same event twice.
    """
    jobs: list[Job] = []
    for spec in specs:
        jobs.extend(load_jobs(spec))
    with workspace() as ws:
        out = _render.console(stderr=True)

        def on_run(r: JobRun) -> None:
            out.print(f"{r.job}: run {r.id[:12]} ({r.trigger}) {r.status}", markup=False)

        scheduler = ws.jobs.scheduler(jobs, poll, source=" ".join(specs), on_run=on_run)
        triggers = sum(len(j.triggers) for j in jobs)
        out.print(f"serving {len(jobs)} job(s), {triggers} trigger(s); poll every {poll:g} s")
        # SIGTERM stops after the job in progress (Ctrl-C interrupts it, recorded as such).
        previous = signal.signal(signal.SIGTERM, lambda *_: scheduler.stop())
        try:
            scheduler.serve(max_ticks)
        except KeyboardInterrupt:
            out.print("stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)


@app.command("list")
def list_jobs(json_out: JsonOption = False) -> None:
    """Jobs run or served in this workspace, with their triggers and last run."""
    with workspace() as ws:
        jobs = ws.jobs.list()
        last = {j.name: (ws.jobs.runs(j.name, 1) or [None])[0] for j in jobs}
    if json_out:
        _render.print_json(jobs)
        return
    if not jobs:
        _render.show("no jobs yet (raylake jobs run FILE or raylake jobs serve FILE)")
        return
    rows = [
        (
            j.name,
            ", ".join(t["name"] for t in j.spec.get("tasks", [])),
            ", ".join(j.spec.get("triggers", [])) or "manual",
            j.source,
            last[j.name].status if last[j.name] else None,
            last[j.name].started_at if last[j.name] else None,
        )
        for j in jobs
    ]
    columns = ("job", "tasks", "triggers", "source", "last run", "started (UTC)")
    _render.show(_render.table(columns, rows))


@app.command("runs")
def runs(
    job: Annotated[str | None, typer.Argument(help="Only runs of this job.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")] = 20,
    json_out: JsonOption = False,
) -> None:
    """List job runs, newest first."""
    if job is not None:
        validate_part(job, "job name")
    with workspace() as ws:
        found = ws.jobs.runs(job, limit)
    if json_out:
        _render.print_json(found)
        return
    if not found:
        _render.show(f"no runs{f' of {job}' if job else ''}")
        return
    rows = [
        (
            r.started_at,
            r.job,
            r.id[:12],
            r.status,
            r.trigger,
            ", ".join(f"{t.task}={t.status.lower()}" for t in r.tasks),
            _render.duration(r.started_at, r.ended_at),
            r.error,
        )
        for r in found
    ]
    columns = ("started (UTC)", "job", "run", "status", "trigger", "tasks", "took", "error")
    _render.show(_render.table(columns, rows))


@app.command("logs")
def logs(
    run_id: Annotated[str, typer.Argument(help="A job run id (or a prefix of 6+ characters).")],
    task: Annotated[str | None, typer.Option("--task", help="Only this task.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Show a run's tasks, outputs, errors and captured output."""
    with workspace() as ws:
        found = ws.jobs.get_run(run_id)
    tasks = [t for t in found.tasks if task in (None, t.task)]
    if task is not None and not tasks:
        raise JobError(f"run {found.id[:12]} of {found.job} has no task {task!r}")
    if json_out:
        _render.print_json(tasks)
        return
    _render.show(_tasks_table(found))
    for t in tasks:
        _render.show(f"--- {t.task} ({t.status.lower()}) ---", t.logs or "(no output)")
