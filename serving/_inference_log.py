"""The inference table writer: a Ray actor per endpoint that batches request records into Delta.

Replicas call ``writer.log.remote(records)`` (fire and forget) off the request path; the actor
buffers them and appends to ``main.monitoring.<endpoint>_inferences`` when ``max_records`` are
buffered or every ``flush_interval_s`` seconds, so a busy endpoint makes a handful of Delta
commits, not one per request. ``flush()`` and ``close()`` write whatever is buffered.

Usage (inside a Serve replica or any Ray process)::

    writer = inference_writer("churn", settings)
    writer.log.remote([{"request_id": ..., "endpoint": "churn", ...}])
    ray.get(writer.close.remote())  # endpoint deleted: flush, then the actor exits
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import ray

from raylake.catalog import CatalogStore
from raylake.errors import InferenceLogError, InvalidArgumentError, RaylakeError
from raylake.names import DEFAULT_CATALOG
from raylake.serving._monitoring_tables import (
    INFERENCE_SCHEMA,
    MONITORING_SCHEMA,
    inference_table_name,
)
from raylake.serving._records import records_json
from raylake.settings import Settings
from raylake.tables.managed import ManagedTables

log = logging.getLogger(__name__)

NAMESPACE = "raylake"
# A commit's fixed cost (a Parquet file, a Delta log entry, the catalog) is most of the writer's
# work per record at 1,000 records a commit; the interval still bounds how stale the table is.
DEFAULT_MAX_RECORDS = 10_000
DEFAULT_FLUSH_INTERVAL_S = 5.0
# A table that cannot be written for a long time must not eat the actor's memory: past this
# many buffered records the oldest are dropped (and counted in ``stats()``).
DEFAULT_MAX_BUFFERED = 200_000
# The writer's nice value: encoding records, Parquet writes, Delta commits and compactions are
# background work, and on a small node they otherwise take CPU from the replicas answering.
BACKGROUND_NICE = 10
# Every batch is a small Parquet file; compacting every so many commits keeps reads of a
# long-lived inference table (drift reports) from opening thousands of files.
DEFAULT_COMPACT_EVERY = 100

# The fields of the rows replicas send with ``log_rows``, in order: tuples cost a third of
# dicts to pickle, and a busy replica sends one per request.
ROW_FIELDS = (
    "request_id",
    "endpoint",
    "model_name",
    "model_version",
    "ts",
    "latency_ms",
    "inputs",
    "features",
    "prediction",
)
_REQUIRED = ("request_id", "endpoint", "model_name", "model_version", "ts", "latency_ms")
_JSON_FIELDS = ("inputs", "features", "prediction")


def background_priority(increment: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's CPU priority (Linux keeps nice values per thread)."""
    try:
        os.nice(increment)
    except (AttributeError, OSError):  # no nice() on this platform, or not allowed: run as is
        pass


def actor_name(endpoint: str) -> str:
    return f"inference-writer:{endpoint}"


def inference_writer(
    endpoint: str,
    settings: Settings,
    *,
    max_records: int = DEFAULT_MAX_RECORDS,
    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
    detached: bool = True,
    compact_every: int = DEFAULT_COMPACT_EVERY,
) -> Any:
    """The endpoint's writer actor, created on first call and shared by every replica after.

    Detached by default so it outlives the replica (or driver) that created it; ``close()``
    ends it. The batching arguments only apply when this call creates the actor.
    """
    if not ray.is_initialized():
        raise RaylakeError("Ray is not running: start it first (ws.ray())")
    if max_records < 1 or flush_interval_s <= 0 or compact_every < 1:
        raise InvalidArgumentError(
            "max_records and compact_every must be >= 1 and flush_interval_s > 0"
        )
    inference_table_name(endpoint)  # a bad endpoint name fails here, not inside the actor
    return InferenceWriter.options(
        name=actor_name(endpoint),
        namespace=NAMESPACE,
        get_if_exists=True,
        lifetime="detached" if detached else None,
        num_cpus=0,  # it mostly waits; it must not take a core from replicas on small machines
        max_restarts=3,
    ).remote(endpoint, settings, max_records, flush_interval_s, compact_every=compact_every)


def normalize(record: Mapping[str, Any]) -> dict[str, Any]:
    """One record checked and coerced to the inference table's column types."""
    missing = [k for k in _REQUIRED if record.get(k) is None]
    if missing:
        raise InvalidArgumentError(f"inference record lacks {missing}")
    ts = record["ts"]
    if isinstance(ts, str):
        ts = dt.datetime.fromisoformat(ts)
    elif isinstance(ts, int | float) and not isinstance(ts, bool):  # POSIX seconds
        ts = dt.datetime.fromtimestamp(ts, dt.UTC)
    if not isinstance(ts, dt.datetime):
        raise InvalidArgumentError(f"ts must be a datetime, not {type(ts).__name__}")
    if ts.tzinfo is None:  # the contract says UTC; naive times are taken as UTC
        ts = ts.replace(tzinfo=dt.UTC)
    out = {
        "request_id": str(record["request_id"]),
        "endpoint": str(record["endpoint"]),
        "model_name": str(record["model_name"]),
        "model_version": int(record["model_version"]),
        "ts": ts.astimezone(dt.UTC),
        "latency_ms": float(record["latency_ms"]),
    }
    for key in _JSON_FIELDS:
        value = record.get(key)
        if value is None and key != "features":
            raise InvalidArgumentError(f"inference record lacks {key!r}")
        out[key] = _json_text(value)
    return out


def _json_text(value: Any) -> str | None:
    """JSON text as given; columns (name -> equal-length lists: what replicas send, so the
    encoding happens here rather than on the request path) as JSON records; any other object
    JSON-encoded."""
    if value is None or isinstance(value, str):
        return value
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and isinstance(v, list) for k, v in value.items())
        and len({len(v) for v in value.values()}) == 1
    ):
        return records_json(value)
    return json.dumps(value)


@ray.remote
class InferenceWriter:
    """Buffers inference records and appends them to the endpoint's inference table."""

    def __init__(
        self,
        endpoint: str,
        settings: Settings,
        max_records: int = DEFAULT_MAX_RECORDS,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        compact_every: int = DEFAULT_COMPACT_EVERY,
    ) -> None:
        background_priority()  # this thread runs log(); the flush thread inherits it
        self._endpoint = endpoint
        self._table = inference_table_name(endpoint)
        self._max_records = max_records
        self._interval = flush_interval_s
        self._max_buffered = max_buffered
        self._compact_every = compact_every
        self._store = CatalogStore(settings.catalog_url)
        self._store.create_schema(DEFAULT_CATALOG, MONITORING_SCHEMA, settings.user)
        self._tables = ManagedTables(settings, self._store, _no_spark)
        # Each batch commits with a Delta ``txn`` (app id, sequence): a batch whose commit
        # landed although the call reported an error is not appended twice on retry.
        self._app_id = f"raylake-inference-{endpoint}-{uuid.uuid4().hex}"
        self._seq = 0
        self._buffer: list[dict[str, Any]] = []
        self._pending: tuple[int, list[dict[str, Any]]] | None = None  # a batch that failed
        self._retrying = False
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one commit at a time, in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._written = 0
        self._commits = 0
        self._dropped = 0
        self._last_error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="inference-flush", daemon=True)
        self._thread.start()

    # -- the API replicas use -------------------------------------------------------------------
    def log(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Buffer ``records`` (all or none: a bad record refuses the call); returns how many."""
        rows = [normalize(r) for r in records]
        with self._lock:
            self._buffer.extend(rows)
            overflow = len(self._buffer) - self._max_buffered
            if overflow > 0:
                del self._buffer[:overflow]
                self._dropped += overflow
                log.warning("%s: dropped %d inference records (buffer full)", self._table, overflow)
            full = len(self._buffer) >= self._max_records
        if full:
            self._wake.set()  # the flush thread writes; log() stays quick
        return len(rows)

    def log_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        """``log`` for rows of ``ROW_FIELDS`` in order (what replicas send)."""
        return self.log([dict(zip(ROW_FIELDS, row, strict=True)) for row in rows])

    def flush(self) -> int | None:
        """Write everything buffered now; the table version, or None if nothing was buffered.

        Raises :class:`InferenceLogError` if the commit fails; the records stay buffered.
        """
        return self._flush()

    def close(self) -> int | None:
        """Flush, stop the timer and end the actor (the endpoint is gone or shutting down)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)
        version = self._flush()
        self._closed = True
        self._store.close()
        ray.actor.exit_actor()
        return version  # not reached: exit_actor ends the call; callers see the actor exit

    def stats(self) -> dict[str, Any]:
        with self._lock:
            buffered = len(self._buffer) + (len(self._pending[1]) if self._pending else 0)
        return {
            "table": self._table,
            "buffered": buffered,
            "written": self._written,
            "commits": self._commits,
            "dropped": self._dropped,
            "last_error": self._last_error,
        }

    def __ray_shutdown__(self) -> None:
        # Graceful actor exit (not close()): still write what is buffered.
        if not self._closed:
            self._stop.set()
            try:
                self._flush()
            except InferenceLogError:
                log.exception("%s: inference records lost at shutdown", self._table)

    # -- internals ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._flush()
            except InferenceLogError:
                # Logged in _flush; wait a whole interval before trying again, even if the
                # buffer keeps filling, rather than hammering a failing store.
                self._stop.wait(self._interval)

    def _flush(self) -> int | None:
        with self._write_lock:
            version = None
            # A batch kept from a failed flush goes first (rows stay in order), then the buffer.
            for _ in range(2):
                if self._pending is None:
                    with self._lock:
                        if not self._buffer:
                            break
                        batch, self._buffer = self._buffer, []
                    self._seq += 1
                    self._pending = (self._seq, batch)
                version = self._write_pending()
            return version

    def _write_pending(self) -> int:
        assert self._pending is not None
        seq, batch = self._pending
        try:
            version = self._commit(seq, batch)
        except Exception as exc:  # any store error: keep the batch for the next flush
            self._retrying = True
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s: writing %d inference records failed (kept for the next flush): %s",
                self._table,
                len(batch),
                self._last_error,
            )
            raise InferenceLogError(
                f"{self._table}: writing {len(batch)} records failed: {self._last_error}"
            ) from exc
        self._pending = None
        self._retrying = False
        self._last_error = None
        self._written += len(batch)
        self._commits += 1
        if self._commits % self._compact_every == 0:
            version = self._compact(version)
        return version

    def _compact(self, version: int) -> int:
        # Only this actor appends to the table, so compaction races no writer; a failure
        # costs nothing but the small files staying a while longer.
        try:
            self._tables.get(self._table).optimize()
            return self._tables.get(self._table).version
        except Exception as exc:
            log.warning("%s: compaction failed (retried later): %s", self._table, exc)
            return version

    def _commit(self, seq: int, batch: list[dict[str, Any]]) -> int:
        if self._retrying:  # only a retried batch can have landed already
            already = self._committed_seq()
            if already is not None and already >= seq:
                return self._tables.get(self._table).version
        data = pa.Table.from_pylist(batch, schema=INFERENCE_SCHEMA)
        started = time.perf_counter()
        version = self._tables.write(
            self._table,
            data,
            mode="append",
            app_transaction=(self._app_id, seq),
            comment=f"requests and responses of endpoint {self._endpoint}",
        )
        log.debug("%s: %d rows in %.3fs", self._table, len(batch), time.perf_counter() - started)
        return version

    def _committed_seq(self) -> int | None:
        try:
            delta = self._tables.get(self._table).delta()
        except RaylakeError:
            return None  # no table yet
        return delta.transaction_version(self._app_id)


def _no_spark() -> Any:
    raise RuntimeError("the inference writer never starts Spark")  # pragma: no cover
