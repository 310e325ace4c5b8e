"""The scheduler: poll every trigger, fire each event once, run the jobs it fires.

Restart-safe by keeping each trigger's state in the catalog (last fired schedule time, last
table version, last alias version). Firing is a compare-and-swap on that state in the same
transaction that opens the job run, and a unique (job, trigger, firing number) backs it up:
two schedulers polling the same catalog cannot both run one event. A cron run missed while
no scheduler was up runs once on start (the latest missed time), not once per missed time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from raylake.catalog.jobs_store import JobRun, JobStore
from raylake.errors import InvalidJobError, ModelNotFoundError, TableNotFoundError
from raylake.jobs.definition import Cron, Job, OnModelAlias, OnTableUpdate, Trigger
from raylake.jobs.runner import JobRunner, Progress

if TYPE_CHECKING:
    from raylake.workspace import Workspace

log = logging.getLogger(__name__)

NO_VERSION = "none"  # the state value of a model alias that points nowhere (yet)


@dataclass(frozen=True)
class _Event:
    """A trigger that should fire now: the new state value and what the run is told."""

    value: str
    params: dict[str, Any]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Scheduler:
    """Fires the triggers of ``jobs``. ``tick()`` polls once; ``serve()`` polls until stopped."""

    def __init__(
        self,
        ws: Workspace,
        store: JobStore,
        runner: JobRunner,
        jobs: Sequence[Job],
        poll_s: float = 5.0,
        clock: Callable[[], dt.datetime] | None = None,
        on_run: Callable[[JobRun], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        names = [j.name for j in jobs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidJobError(f"two jobs are named {duplicates[0]!r}")
        if poll_s <= 0:
            raise InvalidJobError("poll_s must be > 0")
        self._ws = ws
        self._store = store
        self._runner = runner
        self.jobs = list(jobs)
        self.poll_s = poll_s
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._on_run = on_run
        self._progress = progress
        self._host = socket.gethostname()
        self._stop = threading.Event()

    # -- one poll ------------------------------------------------------------------------------
    def tick(self) -> list[JobRun]:
        """Check every trigger once; run (to the end) each job whose trigger fired."""
        finished: list[JobRun] = []
        for job in self.jobs:
            for trigger in job.triggers:
                if self._stop.is_set():
                    return finished
                try:
                    run = self._claim(job, trigger)
                except Exception:  # e.g. the catalog briefly unreachable: try again next poll
                    log.exception("checking trigger %s of job %s failed", trigger.key, job.name)
                    continue
                if run is None:
                    continue
                log.info("job %s fired by %s (run %s)", job.name, trigger.key, run.id)
                done = self._runner.execute(job, run, self._progress)
                finished.append(done)
                if self._on_run:
                    self._on_run(done)
        return finished

    def _claim(self, job: Job, trigger: Trigger) -> JobRun | None:
        try:
            current = self._current(trigger)
        except (TableNotFoundError, ModelNotFoundError) as exc:
            log.debug("trigger %s of %s not ready: %s", trigger.key, job.name, exc)
            current = None
        initial = current if current is not None else NO_VERSION
        if isinstance(trigger, Cron):
            initial = self._now().isoformat()  # a new schedule starts now: no backfill
        state = self._store.init_trigger(job.name, trigger.key, initial)
        event = self._event(trigger, state.value, current)
        if event is None:
            return None
        kind = {Cron: "cron", OnTableUpdate: "table", OnModelAlias: "model_alias"}[type(trigger)]
        params = {"trigger": {"kind": kind, "key": trigger.key, **event.params}}
        return self._store.fire(
            job.name,
            trigger.key,
            state,
            event.value,
            kind,
            params,
            self._ws.settings.user,
            self._host,
            os.getpid(),
        )

    def _now(self) -> dt.datetime:
        return self._clock()

    def _current(self, trigger: Trigger) -> str | None:
        if isinstance(trigger, OnTableUpdate):
            return str(self._ws.table(trigger.table).version)
        if isinstance(trigger, OnModelAlias):
            return str(self._ws.models.get(trigger.model, trigger.alias).version)
        return None

    def _event(self, trigger: Trigger, last: str | None, current: str | None) -> _Event | None:
        if isinstance(trigger, Cron):
            now = self._now().astimezone(ZoneInfo(trigger.timezone))
            # The latest scheduled time <= now (get_prev alone is strictly before its start).
            due = croniter(trigger.expr, now + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
            if last is not None and due <= dt.datetime.fromisoformat(last):
                return None
            return _Event(due.isoformat(), {"scheduled_time": due.isoformat()})
        if current is None:
            return None
        if isinstance(trigger, OnTableUpdate):
            previous = None if last in (None, NO_VERSION) else int(last)
            if previous is not None and int(current) <= previous:
                return None
            return _Event(
                current,
                {"table": trigger.table, "version": int(current), "previous_version": previous},
            )
        if current == last:
            return None
        return _Event(
            current,
            {
                "model": trigger.model,
                "alias": trigger.alias,
                "version": int(current),
                "previous_version": None if last in (None, NO_VERSION) else int(last),
            },
        )

    # -- serving -------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Record runs a killed scheduler on this host left RUNNING as INTERRUPTED."""
        return self._store.interrupt_dead_runs(self._host, _alive)

    def serve(self, max_ticks: int | None = None) -> None:
        """Poll until :meth:`stop` (or ``max_ticks`` polls). Jobs run one at a time."""
        self.recover()
        ticks = 0
        while not self._stop.is_set():
            self.tick()
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                return
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()
