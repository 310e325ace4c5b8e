"""Point-in-time joins of entity rows against feature tables (Delta), on one node or on Ray.

For every entity row (join keys + event timestamp) and every feature view: the feature row with
the same keys and the latest view timestamp ``<= entity ts`` (and ``>= entity ts - ttl`` when the
view has a TTL), ties on the view timestamp broken by the created timestamp (later wins, then
later in the table). No match gives nulls. Every entity row is kept, in input order.

The local join is sort + searchsorted on integer arrays: keys are factorized to dense codes,
feature timestamps to dense ranks, so ``(code, rank)`` packs into one int64 and one
``np.searchsorted`` finds every entity row's match. The cluster join hash-partitions entity and
feature rows by key into buckets, joins each bucket in a Ray task with the same local join, and
sends the matches back to the entity blocks they came from, so order survives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from raylake.errors import (
    EntityKeyMissingError,
    EntityTimestampError,
    FeatureDefinitionError,
    InvalidFeatureRefError,
)

if TYPE_CHECKING:
    from ray.data import Dataset

NAT = np.iinfo(np.int64).min  # null timestamps as int64: sorts first, never matches
_ROW = "__raylake_row"
_BLOCK = "__raylake_block"
_TS = "__raylake_ts"


@dataclass(frozen=True)
class ViewSpec:
    """What the join needs to know about one feature view (resolved from Feast by the caller).

    Column names are the view's names (after the source's ``field_mapping``); ``field_mapping``
    (table column -> view name) is how they are read from the table.
    """

    name: str  # prefix of full feature names (the projection's name to use)
    location: str  # the Delta table
    version: int | None  # pinned table version (None: latest)
    join_keys: tuple[str, ...]  # key columns in the feature table
    timestamp_field: str
    features: tuple[str, ...]
    created_timestamp_column: str | None = None
    ttl: dt.timedelta | None = None
    entity_columns: tuple[str, ...] | None = None  # key columns in the entity rows (join_key_map)
    field_mapping: dict[str, str] = field(default_factory=dict)
    storage_options: dict[str, str] | None = None

    @property
    def entity_keys(self) -> tuple[str, ...]:
        return self.entity_columns or self.join_keys

    @property
    def ttl_ns(self) -> int | None:
        if not self.ttl or self.ttl <= dt.timedelta(0):
            return None  # Feast: a TTL of 0 means unbounded
        return (self.ttl // dt.timedelta(microseconds=1)) * 1000

    def output_names(self, full_feature_names: bool) -> list[str]:
        return [f"{self.name}__{f}" if full_feature_names else f for f in self.features]


def _error(name: str, message: str) -> Exception:
    """A raylake error, imported when raised: Ray workers run this module's functions by value
    (see ``_remote``) and must not import the raylake package (seconds per fresh worker)."""
    import raylake.errors

    return getattr(raylake.errors, name)(message)


# -- timestamps ----------------------------------------------------------------------------------
def timestamps_ns(col: pa.Array | pa.ChunkedArray, what: str) -> np.ndarray:
    """Epoch nanoseconds (UTC; naive timestamps are taken as UTC, like Feast); nulls -> NAT."""
    t = col.type
    if pa.types.is_date(t):
        col = pc.cast(col, pa.timestamp("ns"))
    elif pa.types.is_timestamp(t):
        if t.unit != "ns":
            col = pc.cast(col, pa.timestamp("ns", tz=t.tz))
    else:
        raise _error(
            "EntityTimestampError", f"{what} must be a timestamp (datetime) column, not {t}"
        )
    ints = pc.fill_null(pc.cast(col, pa.int64()), NAT)
    if isinstance(ints, pa.ChunkedArray):
        ints = ints.combine_chunks() if ints.num_chunks != 1 else ints.chunk(0)
    return ints.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _ts_scalar(ns: int, typ: pa.DataType) -> pa.Scalar:
    base = pa.scalar(ns, pa.timestamp("ns", tz=getattr(typ, "tz", None)))
    return base.cast(typ, safe=False)


# -- keys ----------------------------------------------------------------------------------------
def _as_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.to_numpy(zero_copy_only=False)


def key_codes(
    entity_keys: Sequence[pa.ChunkedArray],
    feature_keys: Sequence[pa.ChunkedArray],
    names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense int64 codes for the key tuples of both sides (same tuple, same code; -1 = null)."""
    n_e = len(entity_keys[0]) if entity_keys else 0
    n_f = len(feature_keys[0]) if feature_keys else 0
    if not names:  # an entityless view: every row shares one key
        return np.zeros(n_e, np.int64), np.zeros(n_f, np.int64), 1
    combined: np.ndarray | None = None
    size = 1
    for name, e_col, f_col in zip(names, entity_keys, feature_keys, strict=True):
        e_np, f_np = _as_numpy(e_col), _as_numpy(f_col)
        if len(names) == 1 and (dense := _dense_int_codes(e_np, f_np)) is not None:
            return dense
        if (e_np.dtype.kind in "iufb") != (f_np.dtype.kind in "iufb") and n_e and n_f:
            raise _error(
                "EntityKeyMissingError",
                f"join key {name!r} has type {e_col.type} in the entity rows but "
                f"{f_col.type} in the feature table",
            )
        codes, uniques = pd.factorize(np.concatenate([e_np, f_np]), use_na_sentinel=True)
        codes = codes.astype(np.int64, copy=False)
        if combined is None:
            combined, size = codes, max(len(uniques), 1)
        else:
            null = (combined < 0) | (codes < 0)
            combined = combined * max(len(uniques), 1) + codes
            combined[null] = -1
            size *= max(len(uniques), 1)
            if size > 2**40:  # keep the packed code far from overflow: re-densify
                combined, uniq = pd.factorize(np.where(null, -1, combined), use_na_sentinel=False)
                combined = combined.astype(np.int64)
                combined[null] = -1
                size = len(uniq)
    assert combined is not None
    return combined[:n_e], combined[n_e:], size


def _dense_int_codes(e: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Integer ids in a compact range are their own codes (offset from the smallest): no hash
    table needed. None when they are not ints, have nulls (float arrays) or spread too far."""
    if e.dtype.kind not in "iu" or f.dtype.kind not in "iu" or not len(e) or not len(f):
        return None
    lo = min(int(e.min()), int(f.min()))
    hi = max(int(e.max()), int(f.max()))
    if hi - lo > 4 * (len(e) + len(f)) + 1024:
        return None
    return e.astype(np.int64) - lo, f.astype(np.int64) - lo, hi - lo + 1


# -- the local join ------------------------------------------------------------------------------
def _time_positions(
    f_ts: np.ndarray, e_ts: np.ndarray, n_codes: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature and entity times as small ints with ``f <= e`` kept, and their span.

    Feature times are offsets from the earliest in the coarsest unit that divides them all
    (Delta stores microseconds, often whole seconds), so ``code * span + time`` fits an int64
    with no sort; entity times are floored to the same unit, which keeps ``f <= e`` exact since
    every ``f`` is a multiple. If that would not fit, dense ranks (np.unique) stand in.
    """
    t_min, t_max = int(f_ts.min()), int(f_ts.max())
    rel = f_ts - t_min
    for unit in (1_000_000_000, 1_000_000, 1_000, 1):
        if unit == 1 or not np.any(rel % unit):
            break
    span = (t_max - t_min) // unit + 2
    if n_codes * span < 2**62:
        e_rel = np.clip(e_ts, t_min - unit, t_max) - t_min
        # Entity times before every feature time become -1: no match (checked by code).
        e_time = np.where(e_ts < t_min, -1, e_rel // unit)
        return rel // unit, e_time, span
    uniq, ranks = np.unique(f_ts, return_inverse=True)
    return ranks, np.searchsorted(uniq, e_ts, side="right") - 1, len(uniq) + 1


def asof_indices(
    e_codes: np.ndarray,
    e_ts: np.ndarray,
    f_codes: np.ndarray,
    f_ts: np.ndarray,
    f_created: np.ndarray | None = None,
    ttl_ns: int | None = None,
) -> np.ndarray:
    """For each entity row, the index of its point-in-time feature row, or -1."""
    out = np.full(len(e_codes), -1, np.int64)
    if not len(e_codes) or not len(f_codes):
        return out
    n_codes = int(max(e_codes.max(initial=-1), f_codes.max(initial=-1))) + 1
    wanted = np.zeros(n_codes + 1, bool)
    wanted[e_codes[e_codes >= 0]] = True
    # Only feature rows that some entity row asks for, with a key and a timestamp.
    keep = np.flatnonzero((f_codes >= 0) & wanted[f_codes] & (f_ts != NAT))
    if not len(keep):
        return out
    codes, ts = f_codes[keep], f_ts[keep]
    # (code, time) packed into one int64: one argsort instead of np.lexsort (10-40x slower).
    f_time, e_time, span = _time_positions(ts, e_ts, n_codes)
    packed = codes * span + f_time
    order = np.argsort(packed)
    ordered = packed[order]
    if len(ordered) > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
        # Equal (key, time): the later created wins, then the later table row (stable sorts).
        if f_created is None:
            order = np.argsort(packed, kind="stable")
        else:
            order = np.lexsort((f_created[keep], packed))
        ordered = packed[order]
    sorted_codes = codes[order]
    packed = ordered
    e_packed = e_codes * span + e_time
    valid_e = (e_codes >= 0) & (e_ts != NAT)
    pos = np.searchsorted(packed, e_packed, side="right") - 1
    hit = valid_e & (pos >= 0)
    pos_c = np.where(hit, pos, 0)
    hit &= sorted_codes[pos_c] == e_codes
    idx = keep[order[pos_c]]
    if ttl_ns is not None:
        hit &= f_ts[idx] >= e_ts - ttl_ns
    out[hit] = idx[hit]
    return out


def join_view(entity: pa.Table, ts: np.ndarray, spec: ViewSpec, features: pa.Table) -> pa.Table:
    """The view's feature columns for every entity row (nulls where nothing matches)."""
    e_keys = [entity.column(c) for c in spec.entity_keys]
    f_keys = [features.column(c) for c in spec.join_keys]
    e_codes, f_codes, _ = key_codes(e_keys, f_keys, spec.join_keys)
    f_ts = timestamps_ns(
        features.column(spec.timestamp_field), f"{spec.name}.{spec.timestamp_field}"
    )
    created = None
    if spec.created_timestamp_column:
        created = timestamps_ns(
            features.column(spec.created_timestamp_column),
            f"{spec.name}.{spec.created_timestamp_column}",
        )
    idx = asof_indices(e_codes, ts, f_codes, f_ts, created, spec.ttl_ns)
    take = pa.array(idx, mask=idx < 0)
    return features.select(list(spec.features)).take(take)


def check_entity(entity_schema: pa.Schema, ts_col: str, specs: Sequence[ViewSpec]) -> None:
    """Named errors for entity rows the join cannot use, before any work."""
    names = set(entity_schema.names)
    if ts_col not in names:
        raise EntityTimestampError(
            f"entity rows have no timestamp column {ts_col!r} (columns: {sorted(names)})"
        )
    typ = entity_schema.field(ts_col).type
    if not (pa.types.is_timestamp(typ) or pa.types.is_date(typ)):
        raise EntityTimestampError(
            f"entity timestamp column {ts_col!r} must hold datetimes, not {typ}"
        )
    for spec in specs:
        missing = [k for k in spec.entity_keys if k not in names]
        if missing:
            raise EntityKeyMissingError(
                f"feature view {spec.name!r} joins on {list(spec.entity_keys)}: entity rows "
                f"lack {missing}"
            )


def output_columns(entity_names: Sequence[str], specs: Sequence[ViewSpec], full: bool) -> list[str]:
    seen = set(entity_names)
    out: list[str] = []
    for spec in specs:
        for name in spec.output_names(full):
            if name in seen:
                raise InvalidFeatureRefError(
                    f"feature column {name!r} appears twice in the result (an entity column or "
                    "another view has it): pass full_feature_names=True"
                )
            seen.add(name)
            out.append(name)
    return out


def pit_join(
    entity: pa.Table,
    ts_col: str,
    views: Sequence[tuple[ViewSpec, pa.Table]],
    full_feature_names: bool = False,
) -> pa.Table:
    """Entity rows (in order) with every view's feature columns appended."""
    specs = [s for s, _ in views]
    check_entity(entity.schema, ts_col, specs)
    names = output_columns(entity.schema.names, specs, full_feature_names)
    ts = timestamps_ns(entity.column(ts_col), f"entity column {ts_col!r}")
    result = entity
    i = 0
    for spec, table in views:
        cols = join_view(entity, ts, spec, table)
        for col in cols.columns:
            result = result.append_column(names[i], col)
            i += 1
    return result


# -- reading feature tables ----------------------------------------------------------------------
def _source_columns(spec: ViewSpec) -> dict[str, str]:
    """View column name -> table column name, for the columns the join needs."""
    inverse = {v: k for k, v in spec.field_mapping.items()}
    wanted = [*spec.join_keys, spec.timestamp_field]
    if spec.created_timestamp_column:
        wanted.append(spec.created_timestamp_column)
    wanted += list(spec.features)
    return {name: inverse.get(name, name) for name in dict.fromkeys(wanted)}


def _open(spec: ViewSpec) -> Any:
    from deltalake import DeltaTable

    return DeltaTable(spec.location, version=spec.version, storage_options=spec.storage_options)


def time_filter(spec: ViewSpec, schema: pa.Schema, lo_ns: int | None, hi_ns: int | None) -> Any:
    """A pyarrow predicate on the table's timestamp column: files outside it are skipped."""
    column = _source_columns(spec)[spec.timestamp_field]
    typ = schema.field(column).type
    expr = None
    if hi_ns is not None and pa.types.is_timestamp(typ):
        # Round the bound outward when the column is coarser than ns; the join is exact anyway.
        expr = pc.field(column) <= _ts_scalar(hi_ns + 999_999, typ)
    if lo_ns is not None and pa.types.is_timestamp(typ):
        low = pc.field(column) >= _ts_scalar(lo_ns - 999_999, typ)
        expr = low if expr is None else expr & low
    return expr


def _rename(table: pa.Table, spec: ViewSpec) -> pa.Table:
    mapping = _source_columns(spec)
    return table.rename_columns(
        [next(k for k, v in mapping.items() if v == c) for c in table.column_names]
    )


def _check_columns(spec: ViewSpec, schema: pa.Schema) -> None:
    missing = [src for src in _source_columns(spec).values() if src not in schema.names]
    if missing:
        raise FeatureDefinitionError(
            f"feature view {spec.name!r}: its table {spec.location} has no columns {missing}"
        )


def read_view(spec: ViewSpec, lo_ns: int | None, hi_ns: int | None) -> pa.Table:
    """The view's rows with event time in ``[lo, hi]``: only the needed columns, pinned version."""
    dtable = _open(spec)
    schema = pa.schema(dtable.schema().to_arrow())
    _check_columns(spec, schema)
    columns = list(_source_columns(spec).values())
    expr = time_filter(spec, schema, lo_ns, hi_ns)
    table = dtable.to_pyarrow_dataset().to_table(columns=columns, filter=expr)
    return _rename(table, spec)


def time_bounds(ts: np.ndarray, spec: ViewSpec) -> tuple[int | None, int | None]:
    """The event times of feature rows the entity rows can match: ``[min - ttl, max]``."""
    valid = ts[ts != NAT]
    if not len(valid):
        return (0, -1)  # nothing can match: an empty range
    lo, hi = int(valid.min()), int(valid.max())
    return ((lo - spec.ttl_ns) if spec.ttl_ns else None, hi)


def join_local(
    entity: pa.Table, ts_col: str, specs: Sequence[ViewSpec], full_feature_names: bool = False
) -> pa.Table:
    """Read each view (pruned to the entity rows' time range) and join on this process."""
    check_entity(entity.schema, ts_col, specs)
    output_columns(entity.schema.names, specs, full_feature_names)
    ts = timestamps_ns(entity.column(ts_col), f"entity column {ts_col!r}")
    views = [(s, read_view(s, *time_bounds(ts, s))) for s in specs]
    return pit_join(entity, ts_col, views, full_feature_names)


# -- the cluster join ----------------------------------------------------------------------------
def _bucket_of(table: pa.Table, columns: Sequence[str], buckets: int) -> np.ndarray:
    if buckets == 1 or not columns:
        return np.zeros(table.num_rows, np.int64)
    frame = pd.DataFrame({f"k{i}": _as_numpy(table.column(c)) for i, c in enumerate(columns)})
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return (hashed % np.uint64(buckets)).astype(np.int64)


def _split(table: pa.Table, bucket: np.ndarray, buckets: int) -> list[pa.Table]:
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    sorted_table = table.take(pa.array(order))
    return [sorted_table.slice(bounds[b], bounds[b + 1] - bounds[b]) for b in range(buckets)]


def _key_types(spec: ViewSpec) -> list[pa.DataType]:
    """The feature table's key types: entity keys are cast to them so both sides hash alike."""
    schema = pa.schema(_open(spec).schema().to_arrow())
    _check_columns(spec, schema)
    src = _source_columns(spec)
    return [schema.field(src[k]).type for k in spec.join_keys]


def join_ray(
    entity: Dataset,
    ts_col: str,
    specs: Sequence[ViewSpec],
    full_feature_names: bool = False,
    buckets: int | None = None,
) -> Dataset:
    """The same join on Ray: hash buckets by key, one task per (view, bucket); a Ray Dataset
    in the entity rows' order comes back."""
    import ray
    import ray.data

    blocks = entity.to_arrow_refs()
    n_blocks = len(blocks)
    if not n_blocks:
        return entity
    # The schema of a block as Arrow (Ray's own schema may hold pandas types), read remotely.
    schema = ray.get(_schema.remote(blocks[0]))
    check_entity(schema, ts_col, specs)
    names = output_columns(schema.names, specs, full_feature_names)
    cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)
    buckets = buckets or max(1, min(64, 2 * cpus))
    key_types = [_key_types(s) for s in specs]

    # 1. Entity blocks -> per (view, bucket) pieces of (keys, ts, block, row); plus time bounds.
    part_e = _partition_entities.options(num_returns=len(specs) * buckets + 1)
    e_parts = [part_e.remote(b, i, ts_col, specs, key_types, buckets) for i, b in enumerate(blocks)]
    stats = ray.get([p[-1] for p in e_parts])
    valid = [s for s in stats if s is not None]
    lo = min(s[0] for s in valid) if valid else 0
    hi = max(s[1] for s in valid) if valid else -1

    joined: list[list[Any]] = []  # per view: per bucket -> n_blocks refs
    for v, spec in enumerate(specs):
        lo_v = (lo - spec.ttl_ns) if spec.ttl_ns else None
        fragments = _fragment_count(spec, lo_v, hi)
        tasks = max(1, min(fragments, 2 * cpus))
        part_f = (
            _partition_features.options(num_returns=buckets) if buckets > 1 else _partition_features
        )
        f_parts = [part_f.remote(spec, t, tasks, lo_v, hi, buckets) for t in range(tasks)]
        if buckets == 1:
            f_parts = [[r] for r in f_parts]
        per_bucket = []
        for b in range(buckets):
            e_refs = [p[v * buckets + b] for p in e_parts]
            f_refs = [p[b] for p in f_parts]
            task = _join_bucket.options(num_returns=n_blocks) if n_blocks > 1 else _join_bucket
            out = task.remote(spec, n_blocks, len(e_refs), *e_refs, *f_refs)
            per_bucket.append(out if n_blocks > 1 else [out])
        joined.append(per_bucket)

    # 2. Back to the entity blocks: each gets its rows' features, in row order.
    finals = []
    for i, block in enumerate(blocks):
        pieces = [joined[v][b][i] for v in range(len(specs)) for b in range(buckets)]
        finals.append(_assemble.remote(block, len(specs), buckets, names, *pieces))
    return ray.data.from_arrow_refs(finals)


def _schema_fn(block: pa.Table) -> pa.Schema:
    return block.schema


def _fragment_count(spec: ViewSpec, lo: int | None, hi: int | None) -> int:
    dtable = _open(spec)
    dataset = dtable.to_pyarrow_dataset()
    expr = time_filter(spec, dataset.schema, lo, hi)
    return (
        sum(1 for _ in dataset.get_fragments(filter=expr))
        if expr is not None
        else len(list(dataset.get_fragments()))
    )


def _remote(fn: Any) -> Any:
    import sys

    import ray
    from ray import cloudpickle

    # Ship this module's task functions (and ViewSpec) to workers by value: importing them by
    # name would import raylake and Feast in every fresh worker (tens of seconds on a busy
    # machine); by value, workers need only numpy, pandas, pyarrow and deltalake.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray.remote(fn)


def _partition_entities_fn(
    block: pa.Table,
    block_index: int,
    ts_col: str,
    specs: Sequence[ViewSpec],
    key_types: list[list[pa.DataType]],
    buckets: int,
) -> Any:
    ts = timestamps_ns(block.column(ts_col), f"entity column {ts_col!r}")
    rows = pa.array(np.arange(block.num_rows, dtype=np.int64))
    out: list[Any] = []
    for spec, types in zip(specs, key_types, strict=True):
        cols = {}
        for key, typ in zip(spec.entity_keys, types, strict=True):
            col = block.column(key)
            try:
                cols[key] = col.cast(typ) if col.type != typ else col
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise _error(
                    "EntityKeyMissingError",
                    f"join key {key!r} has type {col.type} in the entity rows but {typ} in "
                    f"feature view {spec.name!r}",
                ) from exc
        cols[_TS] = pa.array(ts)
        cols[_BLOCK] = pa.array(np.full(block.num_rows, block_index, np.int64))
        cols[_ROW] = rows
        part = pa.table(cols)
        out += _split(part, _bucket_of(part, spec.entity_keys, buckets), buckets)
    valid = ts[ts != NAT]
    out.append((int(valid.min()), int(valid.max())) if len(valid) else None)
    return tuple(out) if len(out) > 1 else out[0]


def _partition_features_fn(
    spec: ViewSpec, task: int, tasks: int, lo: int | None, hi: int | None, buckets: int
) -> Any:
    dataset = _open(spec).to_pyarrow_dataset()
    expr = time_filter(spec, dataset.schema, lo, hi)
    fragments = list(
        dataset.get_fragments(filter=expr) if expr is not None else dataset.get_fragments()
    )
    columns = list(_source_columns(spec).values())
    # Contiguous runs of fragments, concatenated in task order later: rows keep the table's
    # order, so exact ties resolve as on the local path.
    per_task = -(-len(fragments) // tasks)
    mine = fragments[task * per_task : (task + 1) * per_task]
    if mine:
        table = pa.concat_tables([f.to_table(columns=columns, filter=expr) for f in mine])
    else:
        table = dataset.schema.empty_table().select(columns)
    table = _rename(table, spec)
    parts = _split(table, _bucket_of(table, spec.join_keys, buckets), buckets)
    return tuple(parts) if buckets > 1 else parts[0]


def _join_bucket_fn(spec: ViewSpec, n_blocks: int, n_entity: int, *parts: pa.Table) -> Any:
    entity = pa.concat_tables(parts[:n_entity])
    features = pa.concat_tables(parts[n_entity:], promote_options="permissive")
    ts = entity.column(_TS).to_numpy().astype(np.int64)
    e_keys = [entity.column(c) for c in spec.entity_keys]
    f_keys = [features.column(c) for c in spec.join_keys]
    e_codes, f_codes, _ = key_codes(e_keys, f_keys, spec.join_keys)
    f_ts = timestamps_ns(features.column(spec.timestamp_field), spec.timestamp_field)
    created = None
    if spec.created_timestamp_column:
        created = timestamps_ns(
            features.column(spec.created_timestamp_column), spec.created_timestamp_column
        )
    idx = asof_indices(e_codes, ts, f_codes, f_ts, created, spec.ttl_ns)
    values = features.select(list(spec.features)).take(pa.array(idx, mask=idx < 0))
    out = values.append_column(_BLOCK, entity.column(_BLOCK)).append_column(
        _ROW, entity.column(_ROW)
    )
    block_ids = entity.column(_BLOCK).to_numpy().astype(np.int64)
    parts_out = _split(out, block_ids, n_blocks)
    return tuple(parts_out) if n_blocks > 1 else parts_out[0]


def _assemble_fn(
    block: pa.Table, n_views: int, buckets: int, names: list[str], *pieces: pa.Table
) -> pa.Table:
    result = block
    i = 0
    for v in range(n_views):
        part = pa.concat_tables(pieces[v * buckets : (v + 1) * buckets])
        order = np.argsort(part.column(_ROW).to_numpy(), kind="stable")
        part = part.take(pa.array(order)).drop_columns([_BLOCK, _ROW])
        for col in part.columns:
            result = result.append_column(names[i], col)
            i += 1
    return result


class _LazyRemote:
    """A Ray remote function made on first use, so importing this module never imports Ray."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self._remote: Any = None

    def _get(self) -> Any:
        if self._remote is None:
            self._remote = _remote(self._fn)
        return self._remote

    def options(self, **kw: Any) -> Any:
        return self._get().options(**kw)

    def remote(self, *args: Any) -> Any:
        return self._get().remote(*args)


_partition_entities = _LazyRemote(_partition_entities_fn)
_partition_features = _LazyRemote(_partition_features_fn)
_join_bucket = _LazyRemote(_join_bucket_fn)
_assemble = _LazyRemote(_assemble_fn)
_schema = _LazyRemote(_schema_fn)
