"""Writes to one Delta table: append, overwrite and merge, with schema enforcement and retries.

Driver-side data (pandas, Arrow) goes through delta-rs directly. Distributed data (Spark, Ray)
is written as Parquet by the cluster into a fresh folder inside the table, and delta-rs commits
those files with stats from their footers. Every commit carries a unique ``raylake.commitId``
so the version it became can be found even while other processes commit too.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Schema, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.exceptions import SchemaMismatchError as DeltaSchemaMismatch
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.transaction import create_table_with_add_actions

from raylake.errors import (
    CommitConflictError,
    InvalidArgumentError,
    SchemaMismatchError,
)
from raylake.tables import schema_check, storage
from raylake.tables.data import DataKind, arrow_schema, kind_of, to_arrow
from raylake.tables.stats import DataFile, describe_files

log = logging.getLogger(__name__)

WriteMode = Literal["append", "overwrite", "merge"]
MODES = ("append", "overwrite", "merge")
STAGING_DIR = "_raylake_staging"  # hidden from Delta readers and vacuum: merge sources only
APPEND_RETRIES = 200  # appends never conflict logically; retries only wait out busy commits
COMMIT_ID_KEY = "raylake.commitId"
ROWS_KEY = "raylake.rows"


@dataclass(frozen=True)
class WriteOptions:
    mode: WriteMode = "append"
    merge_on: tuple[str, ...] = ()
    schema_evolution: bool = False
    user: str = "unknown"
    app_transaction: tuple[str, int] | None = None  # Delta ``txn``: exactly-once for reruns
    storage_options: dict[str, str] | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)
    # Runs once the data is staged and before anything is committed; raising aborts the
    # write and leaves nothing behind (pipelines check expectations counted during staging).
    before_commit: Callable[[], None] | None = None

    def commit_properties(
        self, commit_id: str, extra: dict[str, str] | None = None
    ) -> CommitProperties:
        txns = [Transaction(*self.app_transaction)] if self.app_transaction else None
        meta = {
            "userName": self.user,
            COMMIT_ID_KEY: commit_id,
            **self.extra_metadata,
            **(extra or {}),
        }
        return CommitProperties(custom_metadata=meta, app_transactions=txns, max_commit_retries=20)


def validate(options: WriteOptions) -> None:
    if options.mode not in MODES:
        raise InvalidArgumentError(f"unknown write mode {options.mode!r}: use one of {MODES}")
    if options.mode == "merge" and not options.merge_on:
        raise InvalidArgumentError("mode='merge' needs merge_on=[key columns]")
    if options.mode != "merge" and options.merge_on:
        raise InvalidArgumentError("merge_on is only used with mode='merge'")


def open_table(location: str, storage_options: dict[str, str] | None) -> DeltaTable | None:
    # One log load; ``is_deltatable`` first would load the log twice for every write.
    try:
        return DeltaTable(location, storage_options=storage_options)
    except DeltaTableNotFound:
        return None


def table_arrow_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def read_commit_info(
    location: str, version: int, storage_options: dict[str, str] | None
) -> dict[str, Any] | None:
    """The ``commitInfo`` of one version, read from its log file (None: no such file).

    ``DeltaTable.history`` cannot be used for this while others commit: delta-rs numbers
    its entries from the version it loaded but reads them from the newest commit in storage,
    so a commit landing in between shifts every version number it reports.
    """
    fs, path = storage.filesystem(location, storage_options)
    log_file = f"{path.rstrip('/')}/_delta_log/{version:020d}.json"
    try:
        with fs.open_input_stream(log_file) as stream:
            raw = stream.read()
    except FileNotFoundError:
        return None
    for line in raw.splitlines():
        if b'"commitInfo"' in line:  # cheap filter: add actions can be long
            action = json.loads(line)
            if "commitInfo" in action:
                info: dict[str, Any] = action["commitInfo"]
                return info
    return {}


def find_commit(
    location: str, commit_id: str, storage_options: dict[str, str] | None, after: int = -1
) -> int:
    """The version whose commit carries ``commit_id``: the first one after ``after``.

    ``after`` is the version the writer read before committing, so this usually reads one or
    two small log files.
    """
    version = after + 1
    while (info := read_commit_info(location, version, storage_options)) is not None:
        if info.get(COMMIT_ID_KEY) == commit_id:
            return version
        version += 1
    raise CommitConflictError(f"commit {commit_id} was not found in {location}")


def _version_of(dt: DeltaTable | None) -> int:
    return dt.version() if dt is not None else -1


def write(location: str, data: Any, options: WriteOptions) -> int:
    """Write ``data`` to the Delta table at ``location``; return the version committed."""
    validate(options)
    kind = kind_of(data)
    incoming = arrow_schema(data, kind)
    missing_keys = [k for k in options.merge_on if k not in incoming.names]
    if missing_keys:
        raise InvalidArgumentError(f"merge_on columns {missing_keys} are not in the data")
    if kind.distributed:
        return _write_distributed(location, data, kind, incoming, options)
    return _write_local(location, to_arrow(data, kind), options)


# -- driver-side data --------------------------------------------------------------------------


def _write_local(location: str, table: pa.Table, options: WriteOptions) -> int:
    if options.mode == "merge":
        _check_unique_keys(table, options.merge_on)
    if options.before_commit is not None:
        options.before_commit()  # driver-side data is "staged" already: it is in memory
    attempts = APPEND_RETRIES if options.mode == "append" else 1
    for attempt in range(attempts):
        dt = open_table(location, options.storage_options)
        read_version = _version_of(dt)
        current = table_arrow_schema(dt) if dt is not None else None
        plan = schema_check.plan_write(current, table.schema, options.schema_evolution)
        conformed = schema_check.conform(table, plan.target_schema)
        commit_id = uuid.uuid4().hex
        props = options.commit_properties(commit_id)
        try:
            if options.mode == "merge" and dt is not None:
                _merge(dt, conformed, options, plan.evolves, props)
            else:
                write_deltalake(
                    dt if dt is not None else location,  # the loaded table: no second load
                    conformed,
                    mode="overwrite" if options.mode == "overwrite" else "append",
                    schema_mode="merge" if plan.evolves else None,
                    storage_options=options.storage_options,
                    commit_properties=props,
                )
        except CommitFailedError as exc:
            if options.mode != "append":
                raise CommitConflictError(
                    f"a concurrent writer changed the table during this {options.mode}: {exc}"
                ) from exc
            _backoff(attempt)
            continue
        except DeltaSchemaMismatch as exc:
            raise SchemaMismatchError(str(exc)) from exc
        return find_commit(location, commit_id, options.storage_options, read_version)
    raise CommitConflictError(f"append to {location} failed after {attempts} attempts")


def _backoff(attempt: int) -> None:
    time.sleep(min(0.01 * (attempt + 1), 0.2))


def _check_unique_keys(source: pa.Table, keys: tuple[str, ...]) -> None:
    if source.num_rows == 0:
        return
    counts = source.group_by(list(keys)).aggregate([([], "count_all")])
    dupes = counts.filter(pc.greater(counts["count_all"], 1))
    if dupes.num_rows:
        sample = dupes.slice(0, 3).drop_columns(["count_all"]).to_pylist()
        raise InvalidArgumentError(
            f"merge source has {dupes.num_rows} duplicated merge_on keys, e.g. {sample}"
        )


def _merge(
    dt: DeltaTable,
    source: Any,
    options: WriteOptions,
    evolve: bool,
    props: CommitProperties,
) -> dict[str, Any]:
    predicate = " AND ".join(f't."{k}" = s."{k}"' for k in options.merge_on)
    try:
        return (
            dt.merge(
                source,
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                merge_schema=evolve,
                commit_properties=props,
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    except DeltaError as exc:
        if isinstance(exc, CommitFailedError):
            raise
        raise SchemaMismatchError(f"merge failed: {exc}") from exc


# -- distributed data (Spark, Ray) --------------------------------------------------------------


def _stage(
    data: Any, kind: DataKind, target: pa.Schema, folder: str, options: WriteOptions
) -> None:
    if kind is DataKind.SPARK:
        from raylake.tables import spark_io

        spark_io.write_parquet(data, target, folder, options.storage_options)
    else:
        from raylake.tables import ray_io

        ray_io.write_parquet(data, target, folder, options.storage_options)
    if options.before_commit is not None:
        options.before_commit()


def _write_distributed(
    location: str, data: Any, kind: DataKind, incoming: pa.Schema, options: WriteOptions
) -> int:
    dt = open_table(location, options.storage_options)
    current = table_arrow_schema(dt) if dt is not None else None
    plan = schema_check.plan_write(current, incoming, options.schema_evolution)
    if options.mode == "merge" and dt is not None:
        return _merge_staged(location, dt, data, kind, plan, options)
    folder_name = f"part-{uuid.uuid4().hex}"
    folder = storage.join(location, folder_name)
    try:
        # Inside the try: a failed Spark job or Ray task leaves part files behind too.
        _stage(data, kind, plan.target_schema, folder, options)
        fs, table_path = storage.filesystem(location, options.storage_options)
        files = describe_files(fs, table_path, storage.join(table_path, folder_name))
        return _commit_files(location, files, plan, options)
    except BaseException:
        if not _referenced(location, folder_name, options.storage_options):
            storage.delete_tree(folder, options.storage_options)  # nothing committed: leave nothing
        raise


def _referenced(location: str, folder_name: str, storage_options: dict[str, str] | None) -> bool:
    """Whether the table's files include ``folder_name``'s (the commit landed after all)."""
    try:
        dt = open_table(location, storage_options)
        marker = f"/{folder_name}/"  # a fresh uuid: it cannot match anything else
        return dt is not None and any(marker in uri for uri in dt.file_uris())
    except Exception:  # cannot tell: keeping orphans (vacuum removes them) beats losing data
        return True


def _commit_files(
    location: str, files: list[DataFile], plan: schema_check.WritePlan, options: WriteOptions
) -> int:
    actions = [f.add_action() for f in files]
    # delta-rs records no row counts for transactions it did not write: history reads this.
    rows = {ROWS_KEY: str(sum(f.num_rows for f in files))}
    mode = "overwrite" if options.mode == "overwrite" else "append"
    attempts = APPEND_RETRIES if mode == "append" else 1
    for attempt in range(attempts):
        commit_id = uuid.uuid4().hex
        props = options.commit_properties(commit_id, rows)
        read_version = -1
        try:
            dt = open_table(location, options.storage_options)
            read_version = _version_of(dt)
            if dt is None:
                create_table_with_add_actions(
                    location,
                    Schema.from_arrow(plan.target_schema),
                    actions,
                    "error",
                    [],
                    storage_options=options.storage_options,
                    commit_properties=props,
                )
            else:
                if plan.evolves:
                    _add_columns(dt, plan)
                dt.create_write_transaction(
                    actions, mode, plan.target_schema, commit_properties=props
                )
        except (CommitFailedError, DeltaError) as exc:
            if mode != "append" or not _is_conflict(exc):
                if isinstance(exc, CommitFailedError):
                    raise CommitConflictError(
                        f"a concurrent writer changed the table during this {mode}: {exc}"
                    ) from exc
                raise
            _backoff(attempt)
            continue
        return find_commit(location, commit_id, options.storage_options, read_version)
    raise CommitConflictError(f"append to {location} failed after {attempts} attempts")


def _is_conflict(exc: Exception) -> bool:
    # A concurrent creator makes version 0 exist under us: retrying as an append is right.
    return isinstance(exc, CommitFailedError) or "already exists" in str(exc)


def _add_columns(dt: DeltaTable, plan: schema_check.WritePlan) -> None:
    from deltalake import Field

    current = table_arrow_schema(dt).names
    new = [plan.target_schema.field(n) for n in plan.new_columns if n not in current]
    if new:
        dt.alter.add_columns([Field.from_arrow(f) for f in new])


def _merge_staged(
    location: str,
    dt: DeltaTable,
    data: Any,
    kind: DataKind,
    plan: schema_check.WritePlan,
    options: WriteOptions,
) -> int:
    """Merge distributed data: the cluster stages it as Parquet, delta-rs streams it in."""
    read_version = dt.version()
    folder = storage.join(location, STAGING_DIR, uuid.uuid4().hex)
    try:
        _stage(data, kind, plan.target_schema, folder, options)
        fs, path = storage.filesystem(folder, options.storage_options)
        source = pads.dataset(path, filesystem=fs, format="parquet", schema=plan.target_schema)
        _check_unique_keys(source.to_table(columns=list(options.merge_on)), options.merge_on)
        commit_id = uuid.uuid4().hex
        try:
            _merge(
                dt,
                source.scanner().to_reader(),
                options,
                plan.evolves,
                options.commit_properties(commit_id),
            )
        except CommitFailedError as exc:
            raise CommitConflictError(
                f"a concurrent writer changed the table during this merge: {exc}"
            ) from exc
        return find_commit(location, commit_id, options.storage_options, read_version)
    finally:
        storage.delete_tree(folder, options.storage_options)
