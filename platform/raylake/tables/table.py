"""A handle on one catalog table: reads, time travel, history and maintenance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from raylake.errors import CommitConflictError, InvalidArgumentError, VersionNotFoundError
from raylake.tables import spark_io
from raylake.tables.writer import COMMIT_ID_KEY, ROWS_KEY, read_commit_info

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from ray.data import Dataset


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    timestamp: dt.datetime
    operation: str
    rows_added: int | None
    rows_removed: int | None
    user: str | None
    parameters: dict[str, Any]


_ADDED = ("num_added_rows", "num_target_rows_inserted", "numOutputRows")
_REMOVED = ("num_removed_rows", "num_target_rows_deleted", "num_deleted_rows")


def _metric(metrics: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in metrics and metrics[key] is not None:
            return int(metrics[key])
    return None


def _history_entry(raw: dict[str, Any]) -> HistoryEntry:
    metrics = raw.get("operationMetrics") or {}
    added = _metric(metrics, _ADDED)
    if added is None and ROWS_KEY in raw:
        added = int(raw[ROWS_KEY])
    return HistoryEntry(
        version=int(raw["version"]),
        timestamp=dt.datetime.fromtimestamp(raw["timestamp"] / 1000, dt.UTC),
        operation=raw.get("operation", "UNKNOWN"),
        rows_added=added,
        rows_removed=_metric(metrics, _REMOVED),
        user=raw.get("userName"),
        parameters={
            k: v for k, v in (raw.get("operationParameters") or {}).items() if k != COMMIT_ID_KEY
        },
    )


class Table:
    """One Delta table, as registered in the catalog under ``name``."""

    def __init__(
        self,
        name: str,
        location: str,
        storage_options: dict[str, str] | None,
        spark: Callable[[], SparkSession],
        on_change: Callable[[int], None],
        before_change: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.location = location
        self._storage_options = storage_options
        self._spark = spark
        self._on_change = on_change  # tells the catalog the version a maintenance op made
        # Called with the operation's name before restore/vacuum/optimize change anything
        # (governance: the MODIFY check; raising refuses the operation).
        self._before_change = before_change or (lambda _op: None)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, version={self.version})"

    def delta(self, version: int | None = None, timestamp: Any = None) -> DeltaTable:
        """The delta-rs ``DeltaTable`` at a version or timestamp (latest by default)."""
        return self._delta(version, timestamp)

    def _delta(self, version: int | None = None, timestamp: Any = None) -> DeltaTable:
        if version is not None and timestamp is not None:
            raise InvalidArgumentError("pass version or timestamp, not both")
        try:
            dtable = DeltaTable(self.location, storage_options=self._storage_options)
            if version is not None:
                if not isinstance(version, int) or version < 0 or version > dtable.version():
                    raise VersionNotFoundError(
                        f"{self.name} has no version {version} (latest is {dtable.version()})"
                    )
                dtable.load_as_version(version)
            elif timestamp is not None:
                when = _as_datetime(timestamp)
                dtable.load_as_version(when)
                self._check_committed_by(when, dtable.version())
            return dtable
        except DeltaError as exc:
            raise VersionNotFoundError(f"{self.name}: {exc}") from exc

    def _check_committed_by(self, when: dt.datetime, loaded: int) -> None:
        # delta-rs loads the first version for any timestamp before it; that version did not
        # exist yet at ``when``, so reading it would be wrong time travel.
        info = read_commit_info(self.location, loaded, self._storage_options) or {}
        committed = info.get("timestamp")
        if committed is not None and committed > int(when.timestamp() * 1000):
            first = dt.datetime.fromtimestamp(committed / 1000, dt.UTC)
            raise VersionNotFoundError(
                f"{self.name} has no version at {when.isoformat()} (version {loaded} was "
                f"committed at {first.isoformat()})"
            )

    @property
    def version(self) -> int:
        return self._delta().version()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(self._delta().schema().to_arrow())

    def num_rows(self, version: int | None = None) -> int:
        return self._delta(version).count()

    # -- reads ---------------------------------------------------------------------------------
    def to_arrow(
        self, version: int | None = None, timestamp: Any = None, columns: list[str] | None = None
    ) -> pa.Table:
        dtable = self._delta(version, timestamp)
        try:
            return pa.table(dtable.to_pyarrow_table(columns=columns))
        except FileNotFoundError as exc:
            if version is None and timestamp is None:
                raise
            raise VersionNotFoundError(
                f"{self.name} version {dtable.version()} can no longer be read: its data files "
                f"were removed (vacuum): {exc}"
            ) from exc

    def to_pandas(
        self, version: int | None = None, timestamp: Any = None, columns: list[str] | None = None
    ) -> pd.DataFrame:
        return self.to_arrow(version, timestamp, columns).to_pandas()

    def head(self, n: int = 10, version: int | None = None) -> pd.DataFrame:
        """The first ``n`` rows, reading only as many files as needed."""
        if n < 0:
            raise InvalidArgumentError("n must be >= 0")
        dataset = self._delta(version).to_pyarrow_dataset()
        return dataset.head(n).to_pandas()

    def to_ray(self, version: int | None = None, timestamp: Any = None) -> Dataset:
        from raylake.tables import ray_io

        if timestamp is not None:
            version = self._delta(timestamp=timestamp).version()
        self._delta(version)  # a clear error for a missing version before Ray starts reading
        return ray_io.read(self.location, version, self._storage_options)

    def to_spark(self, version: int | None = None, timestamp: Any = None) -> DataFrame:
        dtable = self._delta(version, timestamp)
        schema = pa.schema(dtable.schema().to_arrow())
        return spark_io.read(self._spark(), dtable.file_uris(), schema, self._storage_options)

    def files(self, version: int | None = None) -> list[str]:
        return self._delta(version).file_uris()

    @property
    def storage_options(self) -> dict[str, str] | None:
        """The delta-rs options for this table's storage (object-store credentials)."""
        return self._storage_options

    # -- history and maintenance ---------------------------------------------------------------
    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """Commits newest first: version, time, operation, rows added/removed, who."""
        # delta-rs numbers entries from the version it loaded but reads them from the newest
        # commit in storage: if someone commits in between, every number is off. Read again
        # until no commit landed during the read.
        for _ in range(20):
            dtable = self._delta()
            read = dtable.version()
            raw = dtable.history(limit)
            dtable.update_incremental()
            if dtable.version() == read:
                return [_history_entry(h) for h in raw]
        raise CommitConflictError(f"{self.name} changed during every attempt to read its history")

    def restore(self, version: int | str | dt.datetime) -> int:
        """Make the table's content that of ``version`` (or a timestamp) in a new commit."""
        self._before_change("restore")
        dtable = self._delta()
        target = _as_datetime(version) if isinstance(version, str) else version
        if isinstance(target, int) and not 0 <= target <= dtable.version():
            raise VersionNotFoundError(f"{self.name} has no version {target}")
        if target == dtable.version():
            return target  # already that content: nothing to commit
        try:
            dtable.restore(target)
        except DeltaError as exc:
            raise VersionNotFoundError(f"{self.name}: cannot restore to {version}: {exc}") from exc
        return self._changed()

    def vacuum(
        self, retention_hours: float = 168, dry_run: bool = False, enforce_retention: bool = True
    ) -> list[str]:
        """Delete files no longer referenced for ``retention_hours``; returns them."""
        if retention_hours < 0:
            raise InvalidArgumentError("retention_hours must be >= 0")
        if not dry_run:
            self._before_change("vacuum")
        try:
            removed = self._delta().vacuum(
                retention_hours=int(retention_hours),
                dry_run=dry_run,
                enforce_retention_duration=enforce_retention,
            )
        except DeltaError as exc:  # e.g. a retention under the table's minimum
            raise InvalidArgumentError(f"cannot vacuum {self.name}: {exc}") from exc
        if not dry_run:
            self._changed()
        return removed

    def optimize(self, zorder_by: list[str] | None = None) -> dict[str, Any]:
        """Compact small files (and Z-order by columns if given); returns delta-rs's metrics."""
        self._before_change("optimize")
        dtable = self._delta()
        if zorder_by:
            unknown = [c for c in zorder_by if c not in self.schema.names]
            if unknown:
                raise InvalidArgumentError(f"cannot Z-order by unknown columns {unknown}")
            metrics = dtable.optimize.z_order(zorder_by)
        else:
            metrics = dtable.optimize.compact()
        self._changed()
        return metrics

    def _changed(self) -> int:
        version = self.version
        self._on_change(version)
        return version


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(dt.datetime.fromisoformat(value))
        except ValueError as exc:
            raise InvalidArgumentError(f"not an ISO timestamp: {value!r}") from exc
    if isinstance(value, pd.Timestamp):
        return _as_datetime(value.to_pydatetime())
    raise InvalidArgumentError(f"timestamp must be a datetime or ISO string, not {value!r}")
