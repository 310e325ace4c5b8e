"""Request rows as JSON text for the inference table (no MLflow import: the writer uses it)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def records_json(values: dict[str, list[Any]]) -> str:
    """Columns as JSON records text for the inference table (as ``rows_json`` writes a frame)."""
    names = list(values)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
    try:
        return json.dumps(rows, allow_nan=False)
    except (ValueError, TypeError):  # NaN, infinity, timestamps: pandas writes those
        return rows_json(pd.DataFrame(values))


def rows_json(frame: pd.DataFrame) -> str:
    """The request's rows as JSON text for the inference table."""
    return frame.to_json(orient="records", date_format="iso")
