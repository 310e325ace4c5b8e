"""Schema enforcement: decide whether incoming data may be written to a table, and how."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from raylake.errors import SchemaMismatchError


def normalize_type(t: pa.DataType) -> pa.DataType:
    """The type Delta stores for ``t`` (Delta has one string type and microsecond timestamps)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_dictionary(t):
        return normalize_type(t.value_type)
    if pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(normalize_type(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(normalize_type(t.value_type))
    if pa.types.is_unsigned_integer(t):
        # Delta has signed integers only: the next wider one holds every value (uint64 is
        # kept in int64; values above its maximum are refused when the data is cast).
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(t.bit_width, pa.int64())
    return t


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """True when every value of ``src`` fits in ``dst`` exactly (an implicit cast is safe)."""
    if pa.types.is_integer(src) and pa.types.is_integer(dst):
        if pa.types.is_signed_integer(src) == pa.types.is_signed_integer(dst):
            return src.bit_width <= dst.bit_width
        # unsigned fits a wider signed type only; signed never fits an unsigned one
        return pa.types.is_unsigned_integer(src) and src.bit_width < dst.bit_width
    if pa.types.is_floating(src) and pa.types.is_floating(dst):
        return src.bit_width <= dst.bit_width
    if pa.types.is_integer(src) and pa.types.is_floating(dst):
        return src.bit_width < dst.bit_width - 16  # int8/16/32 fit in float64 exactly
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst):
        return (src.tz is None) == (dst.tz is None)
    return pa.types.is_null(src)  # an all-null column fits any type


@dataclass(frozen=True)
class WritePlan:
    """What a write will store: the table schema afterwards and the columns it adds."""

    target_schema: pa.Schema
    new_columns: list[str] = field(default_factory=list)

    @property
    def evolves(self) -> bool:
        return bool(self.new_columns)


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, normalize_type(f.type), nullable=True) for f in schema],
    )


def plan_write(table_schema: pa.Schema | None, data_schema: pa.Schema, evolve: bool) -> WritePlan:
    """Check ``data_schema`` against the table's and return the schema to write with.

    Missing columns are allowed (written as nulls). Columns with a different type are refused
    unless the cast is lossless. New columns are refused unless ``evolve`` (then added, nullable).
    """
    data = normalize_schema(data_schema)
    dupes = {n for n in data.names if data.names.count(n) > 1}
    if dupes:
        raise SchemaMismatchError(f"duplicate column names in data: {sorted(dupes)}")
    if any(pa.types.is_null(f.type) for f in data) and table_schema is None:
        nulls = [f.name for f in data if pa.types.is_null(f.type)]
        raise SchemaMismatchError(f"cannot infer a type for all-null columns {nulls}")
    if table_schema is None:
        _check_storable(data)
        return WritePlan(data)
    table = normalize_schema(table_schema)
    problems: list[str] = []
    new_columns: list[str] = []
    for f in data:
        if f.name not in table.names:
            new_columns.append(f.name)
            continue
        want = table.field(f.name).type
        if f.type != want and not _widens(f.type, want):
            problems.append(f"column {f.name!r} is {f.type}, the table has {want}")
    if new_columns and not evolve:
        problems.append(
            f"new columns {new_columns} are not in the table "
            "(pass schema_evolution=True to add them)"
        )
    if problems:
        raise SchemaMismatchError("data does not match the table schema: " + "; ".join(problems))
    target = table
    for name in new_columns:
        target = target.append(pa.field(name, data.field(name).type, nullable=True))
    _check_storable(pa.schema([target.field(n) for n in new_columns]))
    return WritePlan(target, new_columns)


def _check_storable(schema: pa.Schema) -> None:
    """Refuse column types Delta has no type for (durations, times, float16...) up front."""
    from deltalake import Schema

    bad = []
    for f in schema:
        if pa.types.is_null(f.type):
            continue
        try:
            Schema.from_arrow(pa.schema([f]))
        except Exception:  # delta-rs raises a bare Exception for unknown types
            bad.append(f"{f.name!r} ({f.type})")
    if bad:
        raise SchemaMismatchError(f"Delta tables cannot store columns {', '.join(bad)}")


def conform(data: pa.Table, target: pa.Schema) -> pa.Table:
    """Cast ``data`` to ``target``: same order, missing columns as nulls, lossless casts applied."""
    columns = []
    for f in target:
        if f.name in data.column_names:
            # Timestamps may lose nanoseconds (Delta keeps microseconds); other casts stay safe.
            try:
                columns.append(
                    data.column(f.name).cast(f.type, safe=not pa.types.is_timestamp(f.type))
                )
            except pa.ArrowInvalid as exc:  # e.g. a uint64 above int64's maximum
                raise SchemaMismatchError(
                    f"column {f.name!r} does not fit {f.type}: {exc}"
                ) from exc
        else:
            columns.append(pa.nulls(data.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=target)
