"""``ws.jobs``: run jobs by hand, serve their triggers, read their run history."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylake.catalog.jobs_store import JobInfo, JobRun, JobStore
from raylake.errors import JobNotFoundError
from raylake.jobs.definition import Job
from raylake.jobs.loader import load_jobs
from raylake.jobs.runner import JobRunner, Progress
from raylake.jobs.scheduler import Scheduler

if TYPE_CHECKING:
    from raylake.workspace import Workspace


class Jobs:
    """Jobs of one workspace; history and trigger state live in its catalog."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._store = JobStore(ws._store)
        self._runner = JobRunner(ws, self._store, ws._store)

    def load(self, spec: str | Path) -> builtins.list[Job]:
        """The jobs a ``.py`` (``FILE.py[:NAME]``) or ``.yaml`` file defines."""
        return load_jobs(spec)

    def run(
        self,
        job: Job,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        source: str | None = None,
    ) -> JobRun:
        """Run ``job`` now (a manual run) and return the finished run with its task runs."""
        self._remember(job, source)
        run = self._runner.start(job, params)
        return self._runner.execute(job, run, progress)

    def scheduler(
        self,
        jobs: Sequence[Job],
        poll_s: float = 5.0,
        source: str | None = None,
        on_run: Callable[[JobRun], None] | None = None,
        progress: Progress | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> Scheduler:
        """A scheduler for ``jobs``' triggers (``serve()`` it, or ``tick()`` by hand)."""
        for job in jobs:
            self._remember(job, source)
        return Scheduler(
            self._ws,
            self._store,
            self._runner,
            jobs,
            poll_s,
            clock=clock,  # the time source for cron triggers (UTC-aware datetimes)
            on_run=on_run,
            progress=progress,
        )

    def _remember(self, job: Job, source: str | None) -> None:
        self._store.save_job(job.name, source, job.describe(), self._ws.settings.user)

    # -- history -------------------------------------------------------------------------------
    def list(self) -> builtins.list[JobInfo]:
        """Jobs that were run or served here, with where they are defined."""
        return self._store.list_jobs()

    def get(self, name: str) -> JobInfo:
        info = self._store.get_job(name)
        if info is None:
            raise JobNotFoundError(f"no job {name!r} has run or been served in this workspace")
        return info

    def runs(self, job: str | None = None, limit: int = 50) -> builtins.list[JobRun]:
        """Job runs (with their task runs), newest first."""
        return self._store.list_runs(job, limit)

    def get_run(self, run_id: str) -> JobRun:
        """One run by id (or a unique prefix of at least 6 characters)."""
        run = self._store.get_run(run_id)
        if run is None:
            raise JobNotFoundError(f"no job run {run_id!r}")
        return run
