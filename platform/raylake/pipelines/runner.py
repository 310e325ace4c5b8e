"""Run a pipeline exactly once per input: incremental files, pinned table versions, Delta txn.

Each run gets the next sequence number of its pipeline and commits to the target with the
Delta transaction ``(app id, seq)``. A run interrupted after its commit is recognised on the
next run (the target's ``txn`` version reaches its seq) and completed without writing again;
a run interrupted before it leaves its files un-ingested, so the next run writes them once.

A run given a ``stop`` event runs its Spark jobs in a job group of its own: setting the event
(from another thread, e.g. a job task's timeout) cancels them, and the run fails with
``PipelineStoppedError`` before its commit, so nothing is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable

from raylake.catalog import CatalogStore, PipelineRun
from raylake.errors import (
    ExpectationFailedError,
    PipelineError,
    PipelineRunningError,
    PipelineStoppedError,
    TableNotFoundError,
)
from raylake.names import parse_table_name
from raylake.pipelines import expectations as exp
from raylake.pipelines.definition import Pipeline
from raylake.pipelines.sources import TableSlice, list_files, read_files, read_table
from raylake.tables.managed import ManagedTables
from raylake.tables.writer import open_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _cancellable(
    spark: SparkSession, stop: threading.Event | None, group: str, name: str, seq: int
) -> AbstractContextManager[None]:
    """The run's Spark jobs in a job group cancelled when ``stop`` is set (none without one)."""
    if stop is None:
        return nullcontext()
    from raylake.compute.spark import cancellable_jobs

    return cancellable_jobs(spark, stop, group, f"pipeline {name} run {seq}")


class PipelineRunner:
    def __init__(
        self,
        store: CatalogStore,
        tables: ManagedTables,
        spark: Callable[[], SparkSession],
        user: str,
    ) -> None:
        self._store = store
        self._tables = tables
        self._spark = spark
        self._user = user

    def run(
        self, p: Pipeline, progress: Progress | None = None, stop: threading.Event | None = None
    ) -> PipelineRun:
        """Run ``p`` once over what is new. Setting ``stop`` (from another thread) cancels the
        run's Spark jobs and fails it with ``PipelineStoppedError``; nothing is committed."""
        say = progress or (lambda _msg: None)
        target = str(parse_table_name(p.target))
        self._recover(p, target)
        new_files = self._new_files(p)
        slices = self._table_slices(p)
        if self._nothing_new(p, new_files, slices):
            run = self._store.start_run(p.name, target, self._user, **_owner())
            say("nothing new to read: skipped")
            return self._store.update_run(
                run.id, status="SKIPPED", inputs=_inputs_record(slices), rows_in=0, rows_out=0
            )
        all_files = sorted(f for files in new_files.values() for f in files)
        run = self._store.start_run(p.name, target, self._user, files=all_files, **_owner())
        self._store.update_run(run.id, inputs=_inputs_record(slices))
        try:
            spark = self._spark()
            with _cancellable(spark, stop, f"raylake-pipeline-{run.id}", p.name, run.seq):
                return self._transform_and_write(
                    p, run, target, new_files, slices, say, spark, stop
                )
        except BaseException as exc:
            self._store.update_run(run.id, status="FAILED", error=f"{type(exc).__name__}: {exc}")
            raise

    # -- steps -----------------------------------------------------------------------------
    def _transform_and_write(
        self,
        p: Pipeline,
        run: PipelineRun,
        target: str,
        new_files: dict[str, dict[str, int]],
        slices: dict[str, TableSlice],
        say: Progress,
        spark: SparkSession,
        stop: threading.Event | None,
    ) -> PipelineRun:
        def check_stop() -> None:
            if stop is not None and stop.is_set():
                raise PipelineStoppedError(
                    f"pipeline {p.name}: run {run.seq} was stopped (its Spark jobs were "
                    "cancelled); nothing was written"
                )

        check_stop()  # e.g. told to stop while Spark was starting
        frames: dict[str, DataFrame] = {}
        for key, source in p.file_inputs().items():
            frames[key] = read_files(spark, source, list(new_files[key]))
        for key, part in slices.items():
            frames[key] = read_table(spark, self._tables.get(part.name), part)
        say(f"run {run.seq}: transforming {len(frames)} input(s)")
        try:
            df = p.transform(**frames)
        except Exception as exc:
            raise PipelineError(f"transform of {p.name} failed: {exc}") from exc
        if type(df).__module__ != "pyspark.sql.dataframe" and not hasattr(df, "sparkSession"):
            raise PipelineError(f"transform of {p.name} must return a Spark DataFrame")
        rules = list(p.expectations)
        observed, counts = exp.observe(df, rules, f"raylake_{p.name}_{run.seq}")
        keep = exp.kept_rows(rules)
        checked: exp.Checked | None = None

        def check_before_commit() -> None:
            # The data is staged by now and its counts are known; a failing expectation
            # aborts here, before the commit, so nothing is written.
            nonlocal checked
            check_stop()  # the last moment before the commit: nothing is written after a stop
            checked = counts()
            say(f"run {run.seq}: {checked.rows_in} rows in, {checked.rows_out} to write")
            failed = {k: v for k, v in checked.by_action(rules, "fail").items() if v}
            if failed:
                raise ExpectationFailedError(
                    f"pipeline {p.name}: expectations failed {failed}; nothing was written"
                )

        check_stop()
        try:
            version = self._tables.write(
                target,
                observed.filter(keep) if keep is not None else observed,
                mode=p.mode,
                merge_on=list(p.merge_on) or None,
                schema_evolution=p.schema_evolution,
                app_transaction=(p.app_id, run.seq),
                before_commit=check_before_commit,
            )
        except Exception:
            check_stop()  # a cancelled Spark job: say so rather than "Job 7 cancelled"
            raise
        assert checked is not None  # the writer calls before_commit on every path
        for name, count in checked.by_action(rules, "warn").items():
            if count:
                log.warning("pipeline %s: expectation %s violated by %d rows", p.name, name, count)
        say(f"run {run.seq}: committed {target} version {version}")
        return self._finish(
            run,
            target,
            version,
            rows_in=checked.rows_in,
            rows_out=checked.rows_out,
            dropped=checked.by_action(rules, "drop"),
            warnings=checked.by_action(rules, "warn"),
            new_files=new_files,
            slices=slices,
            p=p,
        )

    def _finish(
        self,
        run: PipelineRun,
        target: str,
        version: int,
        new_files: dict[str, dict[str, int]],
        slices: dict[str, TableSlice],
        p: Pipeline,
        **fields: Any,
    ) -> PipelineRun:
        for part in slices.values():
            self._store.add_edge(part.name, part.version, target, version, run.id)
        if p.mode != "overwrite" and version > 0:
            # An append or merge builds on the target as it was: Delta applies commit N to
            # version N-1, so that is what the new version came from besides the inputs.
            self._store.add_edge(target, version - 1, target, version, run.id)
        for key, source in p.file_inputs().items():
            if new_files.get(key):
                self._store.add_edge(
                    source.path, None, target, version, run.id, source_kind="files"
                )
                self._store.mark_ingested(p.name, run.id, new_files[key])
        return self._store.update_run(run.id, status="SUCCEEDED", target_version=version, **fields)

    def _new_files(self, p: Pipeline) -> dict[str, dict[str, int]]:
        if not p.file_inputs():
            return {}
        done = self._store.ingested_files(p.name)
        options = self._tables.storage_options
        return {
            key: {path: size for path, size in list_files(src, options).items() if path not in done}
            for key, src in p.file_inputs().items()
        }

    def _table_slices(self, p: Pipeline) -> dict[str, TableSlice]:
        last = self._last_success(p)
        slices = {}
        for key, ti in p.table_inputs().items():
            name = str(parse_table_name(ti.name))
            try:
                version = self._tables.get(name).version
            except TableNotFoundError as exc:
                raise PipelineError(f"pipeline {p.name}: input {exc}") from exc
            since = None
            if ti.incremental and last is not None and name in last.inputs:
                since = int(last.inputs[name])
            slices[key] = TableSlice(name, version, since)
        return slices

    def _last_success(self, p: Pipeline) -> PipelineRun | None:
        for run in self._store.list_runs(p.name, limit=100):
            if run.status == "SUCCEEDED":
                return run
        return None

    def _nothing_new(
        self, p: Pipeline, new_files: dict[str, dict[str, int]], slices: dict[str, TableSlice]
    ) -> bool:
        if any(new_files.values()):
            return False
        if p.file_inputs() and not slices:
            return True  # a pure file pipeline with no new files
        last = self._last_success(p)
        if last is None:
            return False
        return all(last.inputs.get(s.name) == s.version for s in slices.values())

    def _recover(self, p: Pipeline, target: str) -> None:
        """Settle a run left RUNNING by a crashed process, by what the target's log says."""
        run = self._store.running_run(p.name)
        if run is None:
            return
        if _owner_alive(run):
            raise PipelineRunningError(
                f"pipeline {p.name} is already running (run {run.seq}, pid {run.pid} on "
                f"{run.host}); wait for it to finish"
            )
        committed = self._committed_seq(p, target)
        if committed is None or committed < run.seq:
            self._store.update_run(
                run.id, status="FAILED", error="interrupted before its commit; data not written"
            )
            return
        log.warning("pipeline %s: run %d committed before it was interrupted", p.name, run.seq)
        version = self._version_of_txn(target, p.app_id, run.seq)
        sizes = {f: 0 for f in run.files}
        new_files = {key: sizes for key in p.file_inputs()}
        slices = {k: TableSlice(k, int(v), None) for k, v in run.inputs.items()}
        self._finish(
            run, target, version, new_files, slices, p, error="recovered after interruption"
        )

    def _committed_seq(self, p: Pipeline, target: str) -> int | None:
        info = self._store.get_table(parse_table_name(target))
        if info is None:
            return None
        dt = open_table(info.location, self._tables.storage_options)
        return dt.transaction_version(p.app_id) if dt is not None else None

    def _version_of_txn(self, target: str, app_id: str, seq: int) -> int:
        info = self._store.get_table(parse_table_name(target))
        assert info is not None
        dt = DeltaTable(info.location, storage_options=self._tables.storage_options)
        # The first version whose txn for app_id reaches seq is the run's commit.
        lo, hi = 0, dt.version()
        while lo < hi:
            mid = (lo + hi) // 2
            probe = DeltaTable(
                info.location, version=mid, storage_options=self._tables.storage_options
            )
            if (probe.transaction_version(app_id) or 0) >= seq:
                hi = mid
            else:
                lo = mid + 1
        return lo


# A RUNNING run on another host cannot be probed; after this long it is taken as crashed.
REMOTE_RUN_STALE_AFTER = dt.timedelta(hours=6)


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _owner_alive(run: PipelineRun) -> bool:
    """Whether the process that opened ``run`` may still be working on it."""
    if run.host != socket.gethostname() or run.pid is None:
        return dt.datetime.now(dt.UTC) - run.started_at < REMOTE_RUN_STALE_AFTER
    if run.pid == os.getpid():
        return False  # this process: a run it opened and abandoned (e.g. an interrupted call)
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _inputs_record(slices: dict[str, TableSlice]) -> dict[str, int]:
    return {s.name: s.version for s in slices.values()}
