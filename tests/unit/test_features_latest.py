"""The pieces of materialization that need no cluster: latest row per key, hash split, window."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.dataset as pads

from raylake.features._materialize import ViewPlan, latest, split, window_filter

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PLAN = ViewPlan(["k"], ["k", "ts", "created", "v"], "ts", "created", {})


def _table() -> pa.Table:
    h = dt.timedelta(hours=1)
    return pa.table(
        {
            "k": [1, 1, 1, 2, 2, 3],
            "ts": [T0, T0 + h, T0 + h, T0 + 2 * h, T0, T0],
            "created": [T0, T0, T0 + h, T0, T0, T0],
            "v": [1.0, 2.0, None, 4.0, 5.0, 6.0],
        }
    )


def test_latest_orders_by_event_then_created_time_and_keeps_nulls() -> None:
    out = latest(_table(), PLAN).sort_by("k").to_pydict()
    # key 1: two rows at T0+1h, the later created one wins even though its value is null
    assert out["k"] == [1, 2, 3] and out["v"] == [None, 4.0, 6.0]


def test_split_keeps_each_key_in_one_part() -> None:
    parts = split(_table(), ["k"], 3)
    assert sum(p.num_rows for p in parts) == 6
    homes = {k: i for i, p in enumerate(parts) for k in p["k"].to_pylist()}
    for i, p in enumerate(parts):
        assert all(homes[k] == i for k in p["k"].to_pylist())


def test_window_is_inclusive_and_handles_naive_columns() -> None:
    h = dt.timedelta(hours=1)
    for tz in ("UTC", None):
        table = pa.table({"ts": pa.array([T0, T0 + h, T0 + 2 * h, None], pa.timestamp("us", tz))})
        expr = window_filter(table.schema, "ts", T0, T0 + h)
        assert pads.dataset(table).to_table(filter=expr).num_rows == 2
        assert (
            pads.dataset(table)
            .to_table(filter=window_filter(table.schema, "ts", None, None))
            .num_rows
            == 3
        )
