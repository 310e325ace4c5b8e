"""Recognise what ``data`` is (pandas, Arrow, Ray Dataset, Spark DataFrame) and its Arrow schema."""

from __future__ import annotations

import enum
from typing import Any

import pandas as pd
import pyarrow as pa

from raylake.errors import SchemaMismatchError, UnsupportedDataError

_RAY_SAMPLE_ROWS = 1000


class DataKind(enum.Enum):
    PANDAS = "pandas"
    ARROW = "arrow"
    RAY = "ray"
    SPARK = "spark"

    @property
    def distributed(self) -> bool:
        """Distributed data is written by the cluster, never collected to the driver."""
        return self in (DataKind.RAY, DataKind.SPARK)


def kind_of(data: Any) -> DataKind:
    if isinstance(data, pd.DataFrame):
        return DataKind.PANDAS
    if isinstance(data, pa.Table | pa.RecordBatch):
        return DataKind.ARROW
    # Imported lazily: importing ray or pyspark costs seconds and most callers never need them.
    module = type(data).__module__
    if module.startswith("ray.data"):
        from ray.data import Dataset

        if isinstance(data, Dataset):
            return DataKind.RAY
    if module.startswith("pyspark.sql"):
        from pyspark.sql import DataFrame

        if isinstance(data, DataFrame):
            return DataKind.SPARK
    raise UnsupportedDataError(
        f"cannot write {type(data).__module__}.{type(data).__qualname__}: pass a pandas "
        "DataFrame, a pyarrow Table, a Ray Dataset or a Spark DataFrame"
    )


def to_arrow(data: Any, kind: DataKind) -> pa.Table:
    """Driver-side data as Arrow (only for pandas and Arrow input)."""
    if kind is DataKind.PANDAS:
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:  # e.g. duplicate names
            raise SchemaMismatchError(f"cannot convert the DataFrame to Arrow: {exc}") from exc
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    return data


def arrow_schema(data: Any, kind: DataKind) -> pa.Schema:
    """The Arrow schema of ``data`` without materialising distributed data."""
    if kind is DataKind.SPARK:
        from pyspark.sql.pandas.types import to_arrow_schema

        try:
            return to_arrow_schema(data.schema)
        except TypeError as exc:
            raise SchemaMismatchError(f"unsupported Spark column type: {exc}") from exc
    if kind is DataKind.RAY:
        schema = data.schema(fetch_if_missing=True)
        if schema is None:
            raise SchemaMismatchError("the Ray Dataset is empty and has no schema")
        base = getattr(schema, "base_schema", schema)
        if isinstance(base, pa.Schema):
            return base
        types = list(schema.types)
        if all(isinstance(t, pa.DataType) for t in types):
            return pa.schema(list(zip(schema.names, types, strict=True)))
        # Pandas blocks report object columns (strings, lists...) as Python ``object``: let
        # Arrow infer their types from the first rows, as the write itself will convert them.
        sample = data.take_batch(batch_size=_RAY_SAMPLE_ROWS, batch_format="pyarrow")
        return pa.table(sample).schema
    return to_arrow(data, kind).schema
