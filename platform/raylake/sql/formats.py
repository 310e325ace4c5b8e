"""Query results in the shapes tools want: JSON records, CSV, Parquet, Arrow IPC stream."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import math
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def jsonable(value: Any) -> Any:
    """One Arrow value as JSON: ISO dates, exact decimals as strings, NaN/inf as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def schema_json(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def to_json(table: pa.Table) -> dict[str, Any]:
    """``{"schema": [...], "rows": [{column: value}, ...], "num_rows": n}``."""
    rows = [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
    return {"schema": schema_json(table.schema), "rows": rows, "num_rows": table.num_rows}


def to_ipc(table: pa.Table) -> bytes:
    """The Arrow IPC stream format (``application/vnd.apache.arrow.stream``)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def write_csv(table: pa.Table, out: IO[bytes] | Path) -> None:
    pa_csv.write_csv(table, out)


def write_parquet(table: pa.Table, out: IO[bytes] | Path) -> None:
    pq.write_table(table, out)
