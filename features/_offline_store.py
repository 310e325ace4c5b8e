"""Feast's file (Dask) offline store, reading Delta sources through the Delta log.

Feast 0.67's file store reads a Delta source with ``dd.read_parquet(<table folder>)``: every
Parquet file in the folder, also those an overwrite, merge or optimize removed from the table.
After the first overwrite (the rides gold table is overwritten on every run) ``feast
materialize`` and ``get_historical_features`` would mix old and new rows. The workspace repo
names this store (``type: raylake.features._offline_store.DeltaFileOfflineStore``), so the
plain ``feast`` CLI imports this module too; importing it makes the Dask store read exactly
the files of the table's current version. Everything else is Feast's own code.
"""

from __future__ import annotations

from typing import Any

from feast.data_format import DeltaFormat
from feast.infra.offline_stores import dask as _dask
from feast.infra.offline_stores.file_source import FileSource

TYPE = f"{__name__}.DeltaFileOfflineStore"
_feast_read = _dask._read_datasource


def _read_datasource(data_source: Any, repo_path: Any) -> Any:
    if not isinstance(getattr(data_source, "file_format", None), DeltaFormat):
        return _feast_read(data_source, repo_path)
    from deltalake import DeltaTable

    path = FileSource.get_uri_for_file_path(repo_path, data_source.file_options.uri)
    files = DeltaTable(path).file_uris()
    if not files:  # an empty table: Feast's reader gives the empty frame with its schema
        return _feast_read(data_source, repo_path)
    return _dask.dd.read_parquet(files)


_dask._read_datasource = _read_datasource  # the module function every Dask method calls


class DeltaFileOfflineStoreConfig(_dask.DaskOfflineStoreConfig):
    type: str = TYPE  # type: ignore[assignment]


class DeltaFileOfflineStore(_dask.DaskOfflineStore):
    """Feast's ``file`` offline store; Delta sources are read at their current version."""
