"""Reading pipeline inputs into Spark: new raw files, and tables at pinned versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow.fs as pafs

from raylake.errors import PipelineError
from raylake.pipelines.definition import Files
from raylake.tables import spark_io, storage
from raylake.tables.table import Table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_EXTENSIONS = {
    "csv": (".csv", ".csv.gz"),
    "json": (".json", ".jsonl", ".ndjson"),
    "parquet": (".parquet",),
}


def list_files(source: Files, storage_options: dict[str, str] | None) -> dict[str, int]:
    """Every data file of ``source``'s format under its folder: path -> size."""
    fs, root = storage.filesystem(source.path, storage_options)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise PipelineError(f"input folder {source.path} does not exist")
    selector = pafs.FileSelector(root, recursive=True)
    return {
        i.path: i.size
        for i in fs.get_file_info(selector)
        if i.type == pafs.FileType.File
        and i.base_name.endswith(_EXTENSIONS[source.format])
        and not i.base_name.startswith((".", "_"))
    }


def read_files(spark: SparkSession, source: Files, paths: list[str]) -> DataFrame:
    reader = spark.read.format(source.format).options(**source.reader_options())
    if source.schema:
        reader = reader.schema(source.schema)
    uris = [f"file://{p}" if storage.is_local(source.path) else p for p in sorted(paths)]
    return reader.load(uris)


@dataclass(frozen=True)
class TableSlice:
    """What a run reads of one table: its version, and for incremental reads only new files."""

    name: str
    version: int
    since: int | None  # version read by the last successful run (incremental inputs)


def read_table(spark: SparkSession, table: Table, part: TableSlice) -> DataFrame:
    schema = table.schema
    files = table.files(part.version)
    if part.since is not None:
        before = set(table.files(part.since))
        now = set(files)
        if before - now:
            raise PipelineError(
                f"incremental input {part.name} was rewritten between versions {part.since} and "
                f"{part.version} (not append-only): read it in full instead"
            )
        files = sorted(now - before)
    return spark_io.read(spark, files, schema, table.storage_options)
