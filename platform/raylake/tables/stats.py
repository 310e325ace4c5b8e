"""Delta ``add`` actions for Parquet files written by Spark or Ray, with stats from their footers.

Delta readers (delta-rs included) use ``stats`` for file skipping and refuse malformed ones, so
each file gets ``numRecords``, ``minValues``, ``maxValues`` and ``nullCount`` read from the
Parquet footer only (no data is read).
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

# Delta writers truncate string stats to 32 characters; a truncated max would be wrong, so
# longer values are left out of the stats instead (readers then simply do not skip on them).
_MAX_STAT_STRING = 32


@dataclass(frozen=True)
class DataFile:
    """One Parquet file inside a table folder, with the figures a commit needs."""

    relative_path: str
    size: int
    num_rows: int
    stats: dict[str, Any]
    modification_time_ms: int

    def add_action(self) -> AddAction:
        return AddAction(
            self.relative_path,
            self.size,
            {},
            self.modification_time_ms,
            True,
            json.dumps(self.stats),
        )


def _json_value(value: Any, round_up: bool = False) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        if round_up and value.microsecond % 1000:
            # Stats hold milliseconds: a truncated max would let readers skip matching rows.
            value += dt.timedelta(microseconds=1000 - value.microsecond % 1000)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | bytes):
        return None
    if isinstance(value, str) and len(value) > _MAX_STAT_STRING:
        return None
    if isinstance(value, float) and value != value:  # NaN has no order
        return None
    return value


def footer_stats(meta: pq.FileMetaData) -> dict[str, Any]:
    """Delta stats for a file from its footer: row count, min, max and null count per column."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    schema = meta.schema.to_arrow_schema()
    for col_idx, name in enumerate(schema.names):
        if meta.num_row_groups and meta.row_group(0).column(col_idx).path_in_schema != name:
            continue  # nested column: Delta nests its stats; leave it out rather than guess
        lo = hi = None
        null_count = 0
        complete = True
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(col_idx).statistics
            if st is None:
                complete = False
                break
            null_count += st.null_count or 0
            if not st.has_min_max:
                continue
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if not complete:
            continue
        nulls[name] = null_count
        lo, hi = _json_value(lo), _json_value(hi, round_up=True)
        if lo is not None and hi is not None:
            mins[name] = lo
            maxs[name] = hi
    return {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}


def _describe(fs: pafs.FileSystem, table_path: str, info: pafs.FileInfo) -> DataFile:
    meta = pq.read_metadata(info.path, filesystem=fs)
    rel = info.path[len(table_path) :].lstrip("/")
    mtime = int(info.mtime.timestamp() * 1000) if info.mtime else 0
    return DataFile(rel, info.size, meta.num_rows, footer_stats(meta), mtime)


def describe_files(fs: pafs.FileSystem, table_path: str, folder: str) -> list[DataFile]:
    """Every ``*.parquet`` file under ``folder`` (inside the table at ``table_path``)."""
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    infos = [
        i
        for i in fs.get_file_info(selector)
        if i.type == pafs.FileType.File
        and i.base_name.endswith(".parquet")
        and not i.base_name.startswith((".", "_"))
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda i: _describe(fs, table_path.rstrip("/"), i), infos))
