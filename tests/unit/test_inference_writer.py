"""The inference writer: records as replicas send them, and its place below their CPU priority."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading

import pytest

from raylake.errors import InvalidArgumentError
from raylake.serving._inference_log import (
    BACKGROUND_NICE,
    ROW_FIELDS,
    background_priority,
    normalize,
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_priority_lowers_only_the_calling_thread() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, int] = {}

    def flush_thread() -> None:
        background_priority()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=flush_thread)
    thread.start()
    thread.join()
    assert seen["nice"] == min(before + BACKGROUND_NICE, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def _record(inputs: object, features: object = None) -> dict:
    return {
        "request_id": "r1",
        "endpoint": "e",
        "model_name": "main.models.m",
        "model_version": 3,
        "ts": "2026-01-02T03:04:05+00:00",
        "latency_ms": 1.5,
        "inputs": inputs,
        "features": features,
        "prediction": "[1]",
    }


def test_columns_from_replicas_are_written_as_json_records() -> None:
    out = normalize(_record({"x": [1, 2], "city": ["a", None]}, {"f": [0.5, float("nan")]}))
    assert json.loads(out["inputs"]) == [{"x": 1, "city": "a"}, {"x": 2, "city": None}]
    assert json.loads(out["features"]) == [{"f": 0.5}, {"f": None}]  # NaN: valid JSON null
    assert out["ts"].tzinfo is not None and out["model_version"] == 3


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ('[{"x": 1}]', '[{"x": 1}]'),  # JSON text stays as it is
        ({"x": 1}, '{"x": 1}'),  # not columns: the object itself
        ({"x": [1], "y": [1, 2]}, '{"x": [1], "y": [1, 2]}'),  # unequal lengths: not columns
    ],
)
def test_other_values_are_kept_or_encoded_as_given(given: object, stored: str) -> None:
    assert json.loads(normalize(_record(given))["inputs"]) == json.loads(stored)


def test_replica_rows_are_named_by_row_fields_and_take_posix_time() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    row = ("r9", "e", "main.models.m", 4, when.timestamp(), 2.5, {"x": [1.5]}, None, "[0]")
    out = normalize(dict(zip(ROW_FIELDS, row, strict=True)))
    assert out["ts"] == when and out["request_id"] == "r9" and out["model_version"] == 4
    assert json.loads(out["inputs"]) == [{"x": 1.5}] and out["features"] is None
    with pytest.raises(InvalidArgumentError, match="ts must be a datetime"):
        normalize({**dict(zip(ROW_FIELDS, row, strict=True)), "ts": True})
