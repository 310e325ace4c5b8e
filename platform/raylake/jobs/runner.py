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
from dataclasses import dataclass
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
        """Run every task of an opened run; returns the finished run with its task runs.

        Ready ``fn`` tasks run concurrently as Ray tasks; pipeline, sweep, register and
        endpoint tasks run one at a time in this process while those go on.
        """
        self._store.add_tasks(run.id, [(name, job.task(name).kind) for name in job.order])
        self._link_trigger(job, run)
        execution = _Execution(self, job, run, progress)
        try:
            execution.run()
        except BaseException as exc:  # interrupted (Ctrl-C, SIGTERM): record it, then re-raise
            execution.cancel()
            self._store.finish_run(run.id, "INTERRUPTED", f"{type(exc).__name__}: {exc}")
            raise
        failed = execution.failed
        error = f"task {failed[0]!r} failed" if failed else None
        self._store.finish_run(run.id, "FAILED" if failed else "SUCCEEDED", error)
        finished = self._store.get_run(run.id)
        assert finished is not None
        return finished

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


@dataclass
class _Flight:
    """One ``fn`` attempt running on Ray."""

    task: Task
    number: int
    ref: Any
    deadline: float | None


class _Execution:
    """The state of one run while it executes: results, failures, attempts in flight."""

    def __init__(self, runner: JobRunner, job: Job, run: JobRun, progress: Progress | None) -> None:
        self.runner = runner
        self.store = runner._store
        self.job = job
        self.run_record = run
        self.progress = progress
        self.results: dict[str, Any] = {}
        self.failed: list[str] = []
        self.logs: dict[str, list[str]] = {}
        self.flights: dict[Any, _Flight] = {}

    def run(self) -> None:
        waiting = list(self.job.order)
        while waiting or self.flights:
            before = len(waiting)
            for name in list(waiting):
                task = self.job.task(name)
                blocked = [d for d in task.depends_on if d in self.failed]
                if blocked:
                    waiting.remove(name)
                    self._finish(task, "UPSTREAM_FAILED", f"upstream task {blocked[0]!r} failed")
                elif all(d in self.results for d in task.depends_on):
                    waiting.remove(name)
                    if task.kind == "fn":
                        self._launch(task, 1)
                    else:
                        self._run_in_runner(task)
            if self.flights:
                self._wait()
            elif len(waiting) == before:  # cannot happen for a validated DAG; never spin
                raise RuntimeError(f"tasks {waiting} can never start")

    def cancel(self) -> None:
        import ray

        for ref in self.flights:
            ray.cancel(ref, force=True)

    # -- fn tasks on Ray ---------------------------------------------------------------------
    def _available(self, task: Task) -> dict[str, Any]:
        run = self.run_record
        upstream = {dep: self.results[dep] for dep in task.depends_on}
        # Later sources win: job defaults < this run's parameters < the task's own < upstream.
        available = {**self.job.params, **run.params, **task.params, **upstream}
        if run.trigger != "manual":
            available.setdefault("trigger", {"kind": run.trigger, "key": run.trigger_key})
        return available

    def _launch(self, task: Task, number: int) -> None:
        self._running(task, number)
        self.runner._ws.ray()
        assert task.fn is not None
        kwargs = _execute.call_kwargs(task.fn, self._available(task))
        ref = _execute.submit_fn(task, kwargs)
        deadline = time.monotonic() + task.timeout_s if task.timeout_s else None
        self.flights[ref] = _Flight(task, number, ref, deadline)

    def _wait(self) -> None:
        import ray

        deadlines = [f.deadline for f in self.flights.values() if f.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready, _ = ray.wait(list(self.flights), num_returns=1, timeout=timeout)
        now = time.monotonic()
        for ref, flight in list(self.flights.items()):
            if ref in ready:
                attempt = _execute.collect_fn(ref)
            elif flight.deadline is not None and now >= flight.deadline:
                attempt = _execute.timed_out(flight.task, ref)
            else:
                continue
            del self.flights[ref]
            if self._settle(flight.task, flight.number, attempt):
                if flight.task.retry_delay_s:
                    time.sleep(flight.task.retry_delay_s)
                self._launch(flight.task, flight.number + 1)

    # -- tasks in this process ---------------------------------------------------------------
    def _run_in_runner(self, task: Task) -> None:
        upstream = {dep: self.results[dep] for dep in task.depends_on}
        for number in range(1, task.retries + 2):
            self._running(task, number)
            attempt = _execute.run_in_runner(self.runner._ws, task, upstream)
            if not self._settle(task, number, attempt):
                return
            if task.retry_delay_s:
                time.sleep(task.retry_delay_s)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _running(self, task: Task, number: int) -> None:
        self.store.update_task(self.run_record.id, task.name, status="RUNNING", attempts=number)
        if self.progress:
            self.progress(task.name, "RUNNING", number)

    def _settle(self, task: Task, number: int, attempt: _execute.Attempt) -> bool:
        """Record an attempt; True when the task should be tried again."""
        logs = self.logs.setdefault(task.name, [])
        if attempt.logs:
            logs.append(f"--- attempt {number} ---\n{attempt.logs}")
        if attempt.error is not None:
            logs.append(f"--- attempt {number} failed ---\n{attempt.error}")
            log.warning("job %s task %s attempt %d failed", self.job.name, task.name, number)
            if number <= task.retries:
                return True
            self._finish(task, "FAILED", _last_line(attempt.error), attempt)
            return False
        self.results[task.name] = attempt.result
        self._finish(task, "SUCCEEDED", None, attempt)
        self.runner._link_outputs(self.job, self.run_record, attempt.outputs)
        return False

    def _finish(
        self,
        task: Task,
        status: str,
        error: str | None,
        attempt: _execute.Attempt | None = None,
    ) -> None:
        if status != "SUCCEEDED":
            self.failed.append(task.name)
        logs = "\n".join(self.logs.get(task.name, []))[-_execute.MAX_LOG_CHARS :] or None
        self.store.update_task(
            self.run_record.id,
            task.name,
            status=status,
            error=error,
            outputs=attempt.outputs if attempt else {},
            logs=logs,
        )
        if self.progress:
            self.progress(task.name, status, 0)


def _last_line(error: str | None) -> str | None:
    if error is None:
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else error
