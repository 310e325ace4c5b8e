"""Spark DataFrames in and out of Delta tables without Delta jars.

Spark writes Parquet files itself (on the executors, into the table folder) and raylake commits
them with delta-rs; reads hand Spark the exact file list of a snapshot. No data passes through
the driver or Ray's object store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from raylake.tables import storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _spark_uri(uri: str) -> str:
    return f"file://{storage.local_path(uri)}" if storage.is_local(uri) else uri


def conform(df: DataFrame, target: pa.Schema) -> DataFrame:
    """Select ``target``'s columns in order, casting losslessly and adding missing ones as null."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type, to_arrow_schema

    try:
        current = to_arrow_schema(df.schema)  # PySpark caches the schema: no JVM call here
    except TypeError:
        current = None
    if current is not None and [(f.name, f.type) for f in current] == [
        (f.name, f.type) for f in target
    ]:
        return df  # already the target's columns and types: a select would be ~3 JVM calls a column

    cols = []
    for field in target:
        spark_type = from_arrow_type(field.type)
        if field.name in df.columns:
            cols.append(F.col(f"`{field.name}`").cast(spark_type).alias(field.name))
        else:
            cols.append(F.lit(None).cast(spark_type).alias(field.name))
    return df.select(*cols)


def write_parquet(
    df: DataFrame,
    target: pa.Schema,
    folder_uri: str,
    storage_options: dict[str, str] | None = None,
) -> None:
    """Write ``df`` as Parquet files into ``folder_uri`` (which must not exist yet)."""
    if not storage.is_local(folder_uri):
        # Spark has no object-store connector here (hadoop-aws is not on PyPI): the executors
        # hand their partitions to Ray, whose tasks write them with pyarrow's filesystems.
        import ray.data

        from raylake.tables import ray_io

        # RayDP hands partitions over with an RDD job, and Spark completes an Observation (the
        # pipelines' expectation counts) only on a Dataset action: count the cached rows first.
        conformed = conform(df, target).persist()
        try:
            conformed.count()
            dataset = ray.data.from_spark(conformed)
            ray_io.write_parquet(dataset, target, folder_uri, storage_options)
        finally:
            conformed.unpersist()
        return
    conform(df, target).write.mode("errorifexists").parquet(_spark_uri(folder_uri))
    if storage.is_local(folder_uri):
        # Spark's local file system leaves .crc side files and a _SUCCESS marker; Delta
        # ignores them, but they would stay behind forever once vacuum removes the data.
        for junk in storage.local_path(folder_uri).glob("*"):
            if junk.name.startswith((".", "_")):
                junk.unlink()


def read(
    spark: SparkSession,
    file_uris: list[str],
    schema: pa.Schema,
    storage_options: dict[str, str] | None = None,
) -> DataFrame:
    """A DataFrame over exactly these Parquet files (older files lacking new columns read null)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    if not file_uris:
        return spark.createDataFrame([], from_arrow_schema(schema))
    if not storage.is_local(file_uris[0]):
        return _read_via_ray(spark, file_uris, schema, storage_options)
    spark_schema = from_arrow_schema(schema)
    return spark.read.schema(spark_schema).parquet(*[_spark_uri(u) for u in file_uris])


def _read_via_ray(
    spark: SparkSession,
    file_uris: list[str],
    schema: pa.Schema,
    storage_options: dict[str, str] | None,
) -> DataFrame:
    """No object-store connector in Spark here: one Ray task reads each file, Spark gets blocks.

    Plain tasks rather than ``ray.data.read_parquet``: Ray 2.60's footer-reader actors died at
    start on the loaded test machine ("Expected str or bytes"), failing whole reads.
    """
    import ray
    import ray.data

    fs, _ = storage.filesystem(file_uris[0], storage_options)
    paths = [storage.filesystem(uri, storage_options)[1] for uri in file_uris]
    read = ray.remote(_read_file)
    refs = [read.remote(path, fs, schema) for path in paths]
    return ray.data.from_arrow_refs(refs).to_spark(spark)


def _read_file(path: str, fs: Any, schema: pa.Schema) -> pa.Table:
    # Older files may lack columns added later: those read as nulls (no raylake import here).
    import pyarrow.parquet as pq

    table = pq.read_table(path, filesystem=fs)
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
