"""Check feature definitions against their Delta tables before Feast registers anything.

Feast itself would register a view whose columns do not exist and fail later, at training or
materialization time; checking here turns that into one error at ``apply`` naming every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
from feast import Entity, FeatureService, FeatureView
from feast.data_source import DataSource
from feast.feature_view import DUMMY_ENTITY_NAME
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.value_type import ValueType

from raylake.errors import FeatureDefinitionError
from raylake.features._sources import table_of

FEAST_OBJECTS = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource)


@dataclass(frozen=True)
class TableSnapshot:
    """A source table as it is at apply time: where it lives, its version and schema."""

    name: str
    location: str
    version: int
    schema: pa.Schema


_INTS = {ValueType.INT32, ValueType.INT64}
_FLOATS = {ValueType.FLOAT, ValueType.DOUBLE}


def compatible(value_type: ValueType, arrow: pa.DataType) -> bool:
    """Whether a column of ``arrow`` type can feed a Feast field of ``value_type``."""
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        name = value_type.name
        if not name.endswith("_LIST"):
            return False
        element = ValueType[name.removesuffix("_LIST")]
        return compatible(element, arrow.value_type)
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if value_type in _INTS:
        return pa.types.is_integer(arrow)
    if value_type in _FLOATS:  # ints widen to floats without loss of meaning
        return (
            pa.types.is_floating(arrow) or pa.types.is_integer(arrow) or pa.types.is_decimal(arrow)
        )
    if value_type == ValueType.STRING:
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    if value_type == ValueType.BYTES:
        return pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow)
    if value_type == ValueType.BOOL:
        return pa.types.is_boolean(arrow)
    if value_type == ValueType.UNIX_TIMESTAMP:
        return pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)
    return True  # maps, JSON, structs...: Feast converts these itself


def check_objects(objects: Iterable[object]) -> list[object]:
    objs = list(objects)
    wrong = [o for o in objs if not isinstance(o, FEAST_OBJECTS)]
    if wrong:
        kinds = ", ".join(sorted({type(o).__name__ for o in wrong}))
        raise FeatureDefinitionError(
            f"apply takes Feast Entity, FeatureView, FeatureService and source objects, not {kinds}"
        )
    return objs


def check_view(
    view: FeatureView,
    table: TableSnapshot,
    entity: Callable[[str], Entity | None],
) -> list[str]:
    """Every problem of ``view`` against ``table`` (empty when it is fine)."""
    source = view.batch_source
    columns = {f.name: f.type for f in table.schema}
    # field_mapping renames table columns to feature names; look features up by column.
    to_column = {feature: column for column, feature in (source.field_mapping or {}).items()}
    problems: list[str] = []
    where = f"feature view {view.name!r} (table {table.name})"

    def need_time(col: str, what: str) -> None:
        if col not in columns:
            problems.append(f"{where}: {what} {col!r} is not a column")
        elif not pa.types.is_timestamp(columns[col]):
            problems.append(f"{where}: {what} {col!r} is {columns[col]}, not a timestamp")

    need_time(source.timestamp_field, "timestamp field")
    if source.created_timestamp_column:
        need_time(source.created_timestamp_column, "created timestamp column")

    for name in view.entities:
        if name == DUMMY_ENTITY_NAME:
            continue
        ent = entity(name)
        if ent is None:
            problems.append(f"{where}: entity {name!r} is neither applied nor in this apply")
            continue
        for key in [ent.join_key]:
            column = to_column.get(key, key)
            if column not in columns:
                problems.append(f"{where}: join key {key!r} of entity {name!r} is not a column")
    for field in [*view.features, *view.entity_columns]:
        column = to_column.get(field.name, field.name)
        if column not in columns:
            problems.append(f"{where}: feature {field.name!r} is not a column")
            continue
        value_type = field.dtype.to_value_type()
        if not compatible(value_type, columns[column]):
            problems.append(
                f"{where}: feature {field.name!r} is declared {field.dtype} but column "
                f"{column!r} is {columns[column]}"
            )
    return problems


def raylake_views(objects: Iterable[object]) -> list[FeatureView]:
    """The feature views among ``objects`` whose batch source is a raylake table."""
    return [
        o
        for o in objects
        if isinstance(o, FeatureView) and table_of(getattr(o, "batch_source", None)) is not None
    ]
