"""Materialization on Ray: Delta table (pinned version) -> latest row per entity -> online store.

Why not Feast's own materialization: it cannot pin a table version (to record what the online
store serves), runs in one process, and its Ray offline store / Ray engine read every Parquet
file in the table's folder, including files a Delta overwrite or merge removed (its file store
too, unless patched as in _offline_store). Here the Delta log decides which files belong to
the version, and the work is a two-stage shuffle on Ray:

1. map tasks read a share of the version's files (only the view's columns, only rows in the
   time window), keep the latest row per entity key within their share, and split those rows
   by a hash of the key;
2. reduce tasks take one hash partition from every map task, keep the latest row per key, and
   write it to the online store through Feast's provider (``online_write_batch``).

For Redis no rows pass through the driver (one reduce task per CPU). A SQLite online store is
a file on the driver's machine with one writer at a time: the driver reduces and writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.repo_config import RepoConfig

ROW = "__raylake_row"
WRITE_BATCH = 10_000


@dataclass(frozen=True)
class ViewPlan:
    """What to read for one view: the source columns, in table names."""

    keys: list[str]  # join keys, as table columns
    columns: list[str]  # keys, timestamps and features, as table columns
    timestamp: str
    created: str | None
    rename: dict[str, str]  # table column -> feature / join key name (Feast field_mapping)


def plan(view: FeatureView) -> ViewPlan:
    source = view.batch_source
    mapping = dict(source.field_mapping or {})
    to_column = {name: column for column, name in mapping.items()}
    keys = [to_column.get(c.name, c.name) for c in view.entity_columns]
    features = [to_column.get(f.name, f.name) for f in view.features]
    created = source.created_timestamp_column or None
    stamps = [source.timestamp_field] + ([created] if created else [])
    columns = list(dict.fromkeys([*keys, *stamps, *features]))
    return ViewPlan(keys, columns, source.timestamp_field, created, mapping)


def _bound(value: dt.datetime, type_: pa.DataType) -> pa.Scalar:
    # Delta `timestamp` columns are UTC (tz-aware in Arrow); `timestamp_ntz` ones are naive.
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if getattr(type_, "tz", None) is None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return pa.scalar(value, type=type_)


def window_filter(
    schema: pa.Schema, column: str, start: dt.datetime | None, end: dt.datetime | None
) -> Any:
    """Rows with ``start <= column <= end`` (Feast's window is inclusive at both ends)."""
    type_ = schema.field(column).type
    expr = pc.field(column).is_valid()
    if start is not None:
        expr = expr & (pc.field(column) >= _bound(start, type_))
    if end is not None:
        expr = expr & (pc.field(column) <= _bound(end, type_))
    return expr


def latest(table: pa.Table, p: ViewPlan) -> pa.Table:
    """The last row per key by (event time, created time); ties keep one of them."""
    if table.num_rows == 0:
        return table
    order = [(p.timestamp, "ascending")] + ([(p.created, "ascending")] if p.created else [])
    table = table.sort_by(order)
    table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    last = table.group_by(p.keys, use_threads=False).aggregate([(ROW, "max")])
    return table.take(last[f"{ROW}_max"]).drop_columns([ROW])


def split(table: pa.Table, keys: Sequence[str], parts: int) -> list[pa.Table]:
    """``table`` split into ``parts`` by a hash of the key columns (same key, same part)."""
    if parts == 1:
        return [table]
    import pandas as pd

    hashes = pd.util.hash_pandas_object(table.select(list(keys)).to_pandas(), index=False)
    part = pa.array((hashes.to_numpy() % parts).astype("int64"))
    return [table.filter(pc.equal(part, i)) for i in range(parts)]


def read_latest(
    location: str,
    storage_options: dict[str, str] | None,
    version: int,
    fragment_ids: list[int],
    p: ViewPlan,
    start: dt.datetime | None,
    end: dt.datetime | None,
    parts: int,
) -> pa.Table | list[pa.Table]:
    """Map task: the latest row per key among some files of the version, split by key hash."""
    from deltalake import DeltaTable

    dataset = DeltaTable(location, version=version, storage_options=storage_options)
    dataset = dataset.to_pyarrow_dataset()
    fragments = list(dataset.get_fragments())
    where = window_filter(dataset.schema, p.timestamp, start, end)
    for key in p.keys:  # Feast cannot key a row without its entity
        where = where & pc.field(key).is_valid()
    tables = [
        fragments[i].to_table(schema=dataset.schema, columns=p.columns, filter=where)
        for i in fragment_ids
    ]
    table = pa.concat_tables(tables) if tables else dataset.schema.empty_table().select(p.columns)
    pieces = split(latest(table, p), p.keys, parts)
    return pieces[0] if parts == 1 else pieces  # Ray: one object per return when parts > 1


def _conform(table: pa.Table, view: FeatureView, p: ViewPlan) -> pa.Table:
    """Rename to Feast's names and cast columns to the declared feature types."""
    from feast.type_map import feast_value_type_to_pa

    table = table.rename_columns([p.rename.get(c, c) for c in table.column_names])
    for f in [*view.features, *view.entity_columns]:
        try:
            target = feast_value_type_to_pa(f.dtype.to_value_type())
        except Exception:  # types Feast converts itself (maps, JSON...)
            continue
        i = table.schema.get_field_index(f.name)
        if table.schema.field(i).type != target:
            table = table.set_column(i, f.name, table.column(i).cast(target))
    return table


def write_latest(config: RepoConfig, view: FeatureView, p: ViewPlan, *pieces: pa.Table) -> int:
    """Reduce task: the latest row per key of one hash partition, written to the online store."""
    from feast.infra.provider import get_provider
    from feast.utils import _convert_arrow_to_proto

    table = latest(pa.concat_tables(pieces), p) if pieces else None
    if table is None or table.num_rows == 0:
        return 0
    table = _conform(table, view, p).combine_chunks()
    join_keys = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    provider = get_provider(config)
    for batch in table.to_batches(max_chunksize=WRITE_BATCH):
        rows = _convert_arrow_to_proto(batch, view, join_keys)
        provider.online_write_batch(config, view, rows, None)
    return table.num_rows


def _ship_by_value() -> None:
    """Send this module's functions to Ray workers by value: by reference, a fresh worker would
    import the whole ``raylake`` package (catalog, SQLAlchemy, Alembic...: seconds per process)
    to run tasks that need only pyarrow and deltalake. Nothing here imports raylake at the top.
    """
    import sys

    import ray.cloudpickle as cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def run(
    location: str,
    storage_options: dict[str, str] | None,
    version: int,
    config: RepoConfig,
    view: FeatureView,
    start: dt.datetime | None,
    end: dt.datetime | None,
    writers: int,
) -> int:
    """Materialize one view from ``location`` at ``version``; returns rows written. Needs Ray.

    ``writers == 0`` writes from this process: a SQLite online store is a file on the
    driver's machine, which a Ray task on another node could not reach.
    """
    import ray
    from deltalake import DeltaTable

    _ship_by_value()
    p = plan(view)
    dtable = DeltaTable(location, version=version, storage_options=storage_options)
    n_files = len(list(dtable.to_pyarrow_dataset().get_fragments()))
    cpus = max(1, int(ray.available_resources().get("CPU", 1)))
    maps = max(1, min(n_files, cpus))
    parts = max(1, writers)
    reader = ray.remote(num_returns=parts)(read_latest).options(num_cpus=1)
    outputs = []
    for m in range(maps):
        ids = list(range(m, n_files, maps))
        out = reader.remote(location, storage_options, version, ids, p, start, end, parts)
        outputs.append(out if parts > 1 else [out])
    if writers == 0:
        return write_latest(config, view, p, *ray.get([out[0] for out in outputs]))
    writer = ray.remote(write_latest).options(num_cpus=1)
    written = [writer.remote(config, view, p, *[out[w] for out in outputs]) for w in range(parts)]
    return sum(ray.get(written))


# -- orchestration: which views, which window, what gets recorded ---------------------------------
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Materialized:
    """One view loaded into the online store: from which table version, over which window."""

    view: str
    table: str | None
    version: int | None
    start: dt.datetime
    end: dt.datetime
    rows: int


def as_utc(value: Any, what: str) -> dt.datetime:
    import pandas as pd

    from raylake.errors import InvalidArgumentError

    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgumentError(f"{what} is not an ISO timestamp: {value!r}") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise InvalidArgumentError(f"{what} must be a datetime or ISO string, not {value!r}")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def writers_for(config: RepoConfig) -> int:
    import ray

    if config.online_store.type == "sqlite":
        return 0  # the driver writes: the file is on its machine, and SQLite has one writer
    return max(1, min(8, int(ray.available_resources().get("CPU", 1))))
