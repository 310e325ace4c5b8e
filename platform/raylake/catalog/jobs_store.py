"""Catalog queries for jobs: definitions seen, per-trigger state, job runs and task runs.

Every method is one short transaction on the catalog's engine (like ``CatalogStore``), so a
scheduler, manual runs and the CLI can share the database from several processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from raylake.catalog.models import JobRow, JobRunRow, JobTriggerRow, TaskRunRow, utcnow
from raylake.catalog.store import CatalogStore

FINISHED = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "INTERRUPTED", "UPSTREAM_FAILED"})


@dataclass(frozen=True)
class TaskRun:
    job_run_id: str
    task: str
    kind: str
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED, UPSTREAM_FAILED, INTERRUPTED
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    outputs: dict[str, Any]
    logs: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class JobRun:
    id: str
    job: str
    status: str  # RUNNING, SUCCEEDED, FAILED, INTERRUPTED
    trigger: str  # manual, cron, table, model_alias
    trigger_key: str | None
    trigger_seq: int | None
    params: dict[str, Any]
    started_at: datetime
    ended_at: datetime | None
    error: str | None
    user: str
    host: str | None = None
    pid: int | None = None
    tasks: list[TaskRun] = field(default_factory=list)

    def task(self, name: str) -> TaskRun:
        for t in self.tasks:
            if t.task == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class TriggerState:
    job: str
    trigger_key: str
    seq: int
    value: str | None
    updated_at: datetime


@dataclass(frozen=True)
class JobInfo:
    name: str
    source: str | None
    spec: dict[str, Any]
    owner: str
    updated_at: datetime


def _task(row: TaskRunRow) -> TaskRun:
    return TaskRun(
        row.job_run_id,
        row.task,
        row.kind,
        row.status,
        row.attempts,
        row.started_at,
        row.ended_at,
        row.error,
        dict(row.outputs or {}),
        row.logs,
    )


def _run(row: JobRunRow, tasks: list[TaskRunRow] | None = None) -> JobRun:
    return JobRun(
        id=row.id,
        job=row.job,
        status=row.status,
        trigger=row.trigger,
        trigger_key=row.trigger_key,
        trigger_seq=row.trigger_seq,
        params=dict(row.params or {}),
        started_at=row.started_at,
        ended_at=row.ended_at,
        error=row.error,
        user=row.user,
        host=row.host,
        pid=row.pid,
        tasks=[_task(t) for t in tasks or []],
    )


def _state(row: JobTriggerRow) -> TriggerState:
    return TriggerState(row.job, row.trigger_key, row.seq, row.value, row.updated_at)


class JobStore:
    """Job tables of the catalog, on the engine of a :class:`CatalogStore`."""

    def __init__(self, catalog: CatalogStore) -> None:
        self._sessions = sessionmaker(catalog.engine, expire_on_commit=False)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # -- definitions -----------------------------------------------------------------------------
    def save_job(self, name: str, source: str | None, spec: dict[str, Any], owner: str) -> None:
        for _ in range(3):  # another process may insert the same job between our read and write
            try:
                with self._tx() as s:
                    row = s.get(JobRow, name)
                    if row is None:
                        s.add(JobRow(name=name, source=source, spec=spec, owner=owner))
                    else:
                        row.source = source or row.source
                        row.spec = spec
                        row.updated_at = utcnow()
                return
            except IntegrityError:
                continue

    def get_job(self, name: str) -> JobInfo | None:
        with self._tx() as s:
            row = s.get(JobRow, name)
            if row is None:
                return None
            return JobInfo(row.name, row.source, dict(row.spec or {}), row.owner, row.updated_at)

    def list_jobs(self) -> list[JobInfo]:
        with self._tx() as s:
            rows = s.scalars(select(JobRow).order_by(JobRow.name))
            return [
                JobInfo(r.name, r.source, dict(r.spec or {}), r.owner, r.updated_at) for r in rows
            ]

    # -- trigger state ---------------------------------------------------------------------------
    def trigger_state(self, job: str, key: str) -> TriggerState | None:
        with self._tx() as s:
            row = s.get(JobTriggerRow, (job, key))
            return _state(row) if row else None

    def init_trigger(self, job: str, key: str, value: str | None) -> TriggerState:
        """The trigger's state, created with ``value`` (seq 0) when first seen."""
        try:
            with self._tx() as s:
                row = s.get(JobTriggerRow, (job, key))
                if row is None:
                    row = JobTriggerRow(job=job, trigger_key=key, seq=0, value=value)
                    s.add(row)
                    s.flush()
                return _state(row)
        except IntegrityError:  # a concurrent scheduler created it first
            state = self.trigger_state(job, key)
            assert state is not None
            return state

    def fire(
        self,
        job: str,
        key: str,
        seen: TriggerState,
        value: str,
        trigger: str,
        params: dict[str, Any],
        user: str,
        host: str,
        pid: int,
    ) -> JobRun | None:
        """Claim one firing of a trigger: move its state from ``seen`` to ``value`` and open the
        job run, in one transaction. None when another scheduler claimed it first."""
        try:
            with self._tx() as s:
                moved = s.execute(
                    update(JobTriggerRow)
                    .where(
                        JobTriggerRow.job == job,
                        JobTriggerRow.trigger_key == key,
                        JobTriggerRow.seq == seen.seq,
                    )
                    .values(seq=seen.seq + 1, value=value, updated_at=utcnow())
                )
                if moved.rowcount != 1:
                    return None  # the state moved under us: someone else fired this event
                row = self._new_run(job, trigger, key, seen.seq + 1, params, user, host, pid)
                s.add(row)
                s.flush()
                return _run(row)
        except IntegrityError:  # the unique (job, trigger_key, trigger_seq): belt and braces
            return None

    def set_trigger_value(self, job: str, key: str, value: str) -> None:
        """Move a trigger's state without firing (e.g. a table went back in version)."""
        with self._tx() as s:
            s.execute(
                update(JobTriggerRow)
                .where(JobTriggerRow.job == job, JobTriggerRow.trigger_key == key)
                .values(value=value, updated_at=utcnow())
            )

    # -- runs ------------------------------------------------------------------------------------
    @staticmethod
    def _new_run(
        job: str,
        trigger: str,
        key: str | None,
        seq: int | None,
        params: dict[str, Any],
        user: str,
        host: str,
        pid: int,
    ) -> JobRunRow:
        return JobRunRow(
            id=uuid.uuid4().hex,
            job=job,
            status="RUNNING",
            trigger=trigger,
            trigger_key=key,
            trigger_seq=seq,
            params=params,
            user=user,
            host=host,
            pid=pid,
        )

    def start_run(
        self, job: str, trigger: str, params: dict[str, Any], user: str, host: str, pid: int
    ) -> JobRun:
        """Open a run that no trigger claims (a manual run)."""
        with self._tx() as s:
            row = self._new_run(job, trigger, None, None, params, user, host, pid)
            s.add(row)
            s.flush()
            return _run(row)

    def add_tasks(self, run_id: str, tasks: list[tuple[str, str]]) -> None:
        with self._tx() as s:
            for name, kind in tasks:
                s.add(
                    TaskRunRow(
                        job_run_id=run_id, task=name, kind=kind, status="PENDING", outputs={}
                    )
                )

    def update_task(self, run_id: str, task: str, **fields: Any) -> None:
        with self._tx() as s:
            row = s.scalar(select(TaskRunRow).filter_by(job_run_id=run_id, task=task))
            if row is None:
                raise KeyError(f"{run_id}/{task}")
            for key, value in fields.items():
                setattr(row, key, value)
            if fields.get("status") == "RUNNING" and row.started_at is None:
                row.started_at = utcnow()
            if fields.get("status") in FINISHED:
                row.ended_at = utcnow()

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Close a run; tasks still PENDING or RUNNING (an interrupted run) get ``status``."""
        with self._tx() as s:
            row = s.get(JobRunRow, run_id)
            if row is None:
                raise KeyError(run_id)
            row.status = status
            row.error = error
            row.ended_at = utcnow()
            for t in s.scalars(select(TaskRunRow).filter_by(job_run_id=run_id)):
                if t.status in ("PENDING", "RUNNING"):
                    t.status = status
                    t.ended_at = utcnow()

    def get_run(self, run_id: str) -> JobRun | None:
        """A run with its task runs; ``run_id`` may be a unique prefix of the id."""
        with self._tx() as s:
            row = s.get(JobRunRow, run_id)
            if row is None and len(run_id) >= 6:
                found = s.scalars(
                    select(JobRunRow).filter(JobRunRow.id.startswith(run_id)).limit(2)
                ).all()
                row = found[0] if len(found) == 1 else None
            if row is None:
                return None
            tasks = s.scalars(
                select(TaskRunRow).filter_by(job_run_id=row.id).order_by(TaskRunRow.id)
            ).all()
            return _run(row, list(tasks))

    def list_runs(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        with self._tx() as s:
            q = select(JobRunRow).order_by(JobRunRow.started_at.desc()).limit(limit)
            if job:
                q = q.filter_by(job=job)
            rows = s.scalars(q).all()
            ids = [r.id for r in rows]
            tasks: dict[str, list[TaskRunRow]] = {i: [] for i in ids}
            for t in s.scalars(
                select(TaskRunRow).filter(TaskRunRow.job_run_id.in_(ids)).order_by(TaskRunRow.id)
            ):
                tasks[t.job_run_id].append(t)
            return [_run(r, tasks[r.id]) for r in rows]

    def interrupt_dead_runs(self, host: str, alive: Any) -> list[str]:
        """Mark RUNNING runs of ``host`` whose process is gone (``alive(pid)`` false) as
        INTERRUPTED: a killed scheduler's run is recorded, and never rerun by itself."""
        done: list[str] = []
        with self._tx() as s:
            for row in s.scalars(select(JobRunRow).filter_by(status="RUNNING", host=host)):
                if row.pid is not None and not alive(row.pid):
                    row.status = "INTERRUPTED"
                    row.error = f"the process running it (pid {row.pid}) ended"
                    row.ended_at = utcnow()
                    for t in s.scalars(select(TaskRunRow).filter_by(job_run_id=row.id)):
                        if t.status in ("PENDING", "RUNNING"):
                            t.status = "INTERRUPTED"
                            t.ended_at = utcnow()
                    done.append(row.id)
        return done
