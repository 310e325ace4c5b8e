"""Where an endpoint's monitoring data lives: table names and the inference table's schema."""

from __future__ import annotations

import re

import pyarrow as pa

from raylake.names import DEFAULT_CATALOG, validate_part

MONITORING_SCHEMA = "monitoring"

# One row per request answered. JSON strings keep the table's schema fixed while models and
# their inputs change; drift reports parse them back into columns.
INFERENCE_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("endpoint", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("latency_ms", pa.float64()),
        pa.field("inputs", pa.string()),
        pa.field("features", pa.string()),
        pa.field("prediction", pa.string()),
    ]
)


def _table_part(endpoint: str) -> str:
    # Endpoint names may carry '-' or capitals; table name parts may not.
    part = re.sub(r"[^a-z0-9_]", "_", endpoint.lower())
    if part[:1].isdigit():
        part = f"e_{part}"
    return part


def inference_table_name(endpoint: str) -> str:
    """``main.monitoring.<endpoint>_inferences``."""
    part = validate_part(f"{_table_part(endpoint)}_inferences", "endpoint name")
    return f"{DEFAULT_CATALOG}.{MONITORING_SCHEMA}.{part}"


def drift_table_name(endpoint: str) -> str:
    """``main.monitoring.<endpoint>_drift``: one row per feature per drift report."""
    part = validate_part(f"{_table_part(endpoint)}_drift", "endpoint name")
    return f"{DEFAULT_CATALOG}.{MONITORING_SCHEMA}.{part}"
