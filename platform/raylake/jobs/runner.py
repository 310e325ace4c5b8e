"""Run a job: its tasks in dependency order, with retries, timeouts and results passed on.

Every task's status, attempts, timings, outputs and logs go to the catalog as they happen;
a failed task marks its downstream tasks UPSTREAM_FAILED while independent branches go on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from raylake.catalog import CatalogStore
from raylake.catalog.jobs_store import JobRun, JobStore
from raylake.jobs import _execute
from raylake.jobs.definition import Job, Task

if TYPE_CHECKING:
    from raylake.workspace import Workspace

log = logging.getLogger(__name__)

# A task's progress as (task name, status, attempt): the CLI shows it live.
Progress = Callable[[str, str, int], None]


def run_node(job: str, run_id: str) -> str:
    """Lineage node of one job run (':/' never occurs in table names)."""
    return f"jobs:/{job}/{run_id}"


class JobRunner:
    def __init__(self, ws: Workspace, store: JobStore, catalog: CatalogStore) -> None:
        self._ws = ws
        self._store = store
        self._catalog = catalog  # lineage edges live in the catalog

    def start(self, job: Job, params: Mapping[str, Any] | None = None) -> JobRun:
        """Open a manual run of ``job`` (run it with :meth:`execute`)."""
        return self._store.start_run(
            job.name,
            "manual",
            dict(params or {}),
            self._ws.settings.user,
            socket.gethostname(),
            os.getpid(),
        )

    def execute(self, job: Job, run: JobRun, progress: Progress | None = None) -> JobRun:
        """Run every task of an opened run; returns the finished run with its task runs."""
        self._store.add_tasks(run.id, [(name, job.task(name).kind) for name in job.order])
        self._link_trigger(job, run)
        results: dict[str, Any] = {}
        failed: list[str] = []
        try:
            for name in job.order:
                task = job.task(name)
                blocked = [d for d in task.depends_on if d in failed]
                if blocked:
                    failed.append(name)
                    self._store.update_task(
                        run.id,
                        name,
                        status="UPSTREAM_FAILED",
                        error=f"upstream task {blocked[0]!r} failed",
                    )
                    if progress:
                        progress(name, "UPSTREAM_FAILED", 0)
                    continue
                ok, result = self._run_task(job, run, task, results, progress)
                if ok:
                    results[name] = result
                else:
                    failed.append(name)
        except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM): record it, then re-raise
            self._store.finish_run(run.id, "INTERRUPTED", f"{type(exc).__name__}: {exc}")
            raise
        error = f"task {failed[0]!r} failed" if failed else None
        self._store.finish_run(run.id, "FAILED" if failed else "SUCCEEDED", error)
        finished = self._store.get_run(run.id)
        assert finished is not None
        return finished

    def _run_task(
        self,
        job: Job,
        run: JobRun,
        task: Task,
        results: Mapping[str, Any],
        progress: Progress | None,
    ) -> tuple[bool, Any]:
        upstream = {dep: results[dep] for dep in task.depends_on}
        # Later sources win: job defaults < this run's parameters < the task's own < upstream.
        available = {**job.params, **run.params, **task.params, **upstream}
        if run.trigger != "manual":
            available.setdefault("trigger", {"kind": run.trigger, "key": run.trigger_key})
        logs: list[str] = []
        attempt = _execute.Attempt(error="not run")
        for number in range(1, task.retries + 2):
            self._store.update_task(run.id, task.name, status="RUNNING", attempts=number)
            if progress:
                progress(task.name, "RUNNING", number)
            if task.kind == "fn":
                self._ws.ray()
                assert task.fn is not None
                attempt = _execute.run_fn(task, _execute.call_kwargs(task.fn, available))
            else:
                attempt = _execute.run_in_runner(self._ws, task, upstream)
            if attempt.logs:
                logs.append(f"--- attempt {number} ---\n{attempt.logs}")
            if attempt.error is None:
                break
            logs.append(f"--- attempt {number} failed ---\n{attempt.error}")
            log.warning("job %s task %s attempt %d failed", job.name, task.name, number)
            if number <= task.retries and task.retry_delay_s:
                time.sleep(task.retry_delay_s)
        status = "SUCCEEDED" if attempt.error is None else "FAILED"
        self._store.update_task(
            run.id,
            task.name,
            status=status,
            error=_last_line(attempt.error),
            outputs=attempt.outputs,
            logs="\n".join(logs)[-_execute.MAX_LOG_CHARS :] or None,
        )
        if progress:
            progress(task.name, status, task.retries + 1)
        if attempt.error is None:
            self._link_outputs(job, run, attempt.outputs)
        return attempt.error is None, attempt.result

    # -- lineage -------------------------------------------------------------------------------
    def _link_trigger(self, job: Job, run: JobRun) -> None:
        trigger = run.params.get("trigger") or {}
        if trigger.get("kind") == "table":
            self._edge(trigger["table"], trigger["version"], run_node(job.name, run.id), None, run)

    def _link_outputs(self, job: Job, run: JobRun, outputs: Mapping[str, Any]) -> None:
        node = run_node(job.name, run.id)
        if outputs.get("target_version") is not None:
            self._edge(node, None, outputs["target"], outputs["target_version"], run, "table")
        if outputs.get("mlflow_parent_run_id"):
            from raylake.registry.lineage import run_node as mlflow_node

            target = mlflow_node(outputs["mlflow_parent_run_id"])
            self._edge(node, None, target, None, run, "run")
        if outputs.get("model_version") is not None:
            self._edge(node, None, outputs["model"], outputs["model_version"], run, "model")

    def _edge(
        self,
        source: str,
        source_version: int | None,
        target: str,
        target_version: int | None,
        run: JobRun,
        target_kind: str = "job_run",
    ) -> None:
        source_kind = "job_run" if source.startswith("jobs:/") else "table"
        self._catalog.add_edge(
            source, source_version, target, target_version, run.id, source_kind, target_kind
        )


def _last_line(error: str | None) -> str | None:
    if error is None:
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error
