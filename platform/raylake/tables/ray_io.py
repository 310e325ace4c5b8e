"""Ray Datasets in and out of Delta tables: Ray tasks write the Parquet files, delta-rs commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from raylake.tables import schema_check, storage

if TYPE_CHECKING:
    from ray.data import Dataset


def write_parquet(
    ds: Dataset, target: pa.Schema, folder_uri: str, storage_options: dict[str, str] | None
) -> None:
    """Write ``ds`` conformed to ``target`` as Parquet into ``folder_uri``, on the cluster."""
    fs, path = storage.filesystem(folder_uri, storage_options)

    def _conform(batch: pa.Table) -> pa.Table:
        return schema_check.conform(batch, target)

    ds.map_batches(_conform, batch_format="pyarrow").write_parquet(path, filesystem=fs)


def read(location: str, version: int | None, storage_options: dict[str, str] | None) -> Dataset:
    import ray.data

    return ray.data.read_delta(location, version=version, storage_options=storage_options)
