"""Random feature data and a brute-force point-in-time reference (plain Python loops), shared
by the unit tests of the join and the integration tests of training sets."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyarrow as pa

from raylake.features._pit import ViewSpec

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _ts(rng: np.random.Generator, n: int, span_s: int, null_share: float = 0.0) -> pd.Series:
    # Few distinct seconds: many equal timestamps, across and within keys.
    values = T0 + pd.to_timedelta(rng.integers(0, span_s, n), unit="s")
    series = pd.Series(values).astype("datetime64[us, UTC]")
    if null_share:
        series[rng.random(n) < null_share] = pd.NaT
    return series


def drivers_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """View A: driver_id, event_ts, created (ties), two features. Rows 'arrive late': the
    second half is appended after with earlier event times."""
    first = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 12, n // 2),
            "event_ts": _ts(rng, n // 2, 40),
            "created": _ts(rng, n // 2, 5, null_share=0.1),
        }
    )
    late = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 12, n - n // 2),
            "event_ts": _ts(rng, n - n // 2, 20),
            "created": _ts(rng, n - n // 2, 5, null_share=0.1),
        }
    )
    frame = pd.concat([first, late], ignore_index=True)
    frame["rate"] = rng.random(n)
    frame["trips"] = rng.integers(0, 100, n)
    return frame


def pairs_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """View B: keyed by (driver_id, zone) with a string key, its own timestamp column."""
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, 12, n),
            "zone": rng.choice(["n", "s", "e"], n),
            "ts2": _ts(rng, n, 60),
            "surge": rng.random(n),
        }
    )


def entities_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(0, 14, n),  # 12, 13: no features at all
            "zone": rng.choice(["n", "s", "e", "w"], n),
            "event_timestamp": _ts(rng, n, 70),
            "label": rng.integers(0, 2, n),
        }
    )
    return pd.concat([frame, frame.iloc[: n // 5]], ignore_index=True)  # duplicate rows


VIEW_A = ViewSpec(
    "drivers",
    "",
    None,
    ("driver_id",),
    "event_ts",
    ("rate", "trips"),
    created_timestamp_column="created",
    ttl=dt.timedelta(seconds=15),
)
VIEW_B = ViewSpec("pairs", "", None, ("driver_id", "zone"), "ts2", ("surge",))


def brute_force(
    entity: pd.DataFrame, spec: ViewSpec, table: pd.DataFrame, row_order: bool = True
) -> list[list[dict]]:
    """For each entity row, by loop: the rows it may get — the latest at or before its time
    (within ttl), later created first. With ``row_order`` the later table row wins an exact
    tie (one answer); without, every tied row is a right answer (a Delta table's rows have no
    order across files)."""
    out = []
    for _, e in entity.iterrows():
        best: list[dict] = []
        best_key = None
        for i, f in enumerate(table.itertuples(index=False)):
            row = f._asdict()
            if any(row[k] != e[ek] for k, ek in zip(spec.join_keys, spec.entity_keys, strict=True)):
                continue
            ts = row[spec.timestamp_field]
            if pd.isna(ts) or ts > e["event_timestamp"]:
                continue
            if spec.ttl and ts < e["event_timestamp"] - spec.ttl:
                continue
            created = (
                row.get(spec.created_timestamp_column) if spec.created_timestamp_column else None
            )
            created_key = pd.Timestamp.min.tz_localize("UTC") if pd.isna(created) else created
            key = (ts, created_key, i) if row_order else (ts, created_key)
            if best_key is None or key > best_key:
                best, best_key = [row], key
            elif key == best_key:
                best.append(row)
        if not best:
            out.append([{f: None for f in spec.features}])
        else:
            out.append([{f: r[f] for f in spec.features} for r in best])
    return out


def same_value(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


def check_result(
    result: pd.DataFrame,
    entity: pd.DataFrame,
    views: list[tuple[ViewSpec, pd.DataFrame]],
    full: bool,
    row_order: bool = True,
) -> None:
    """Entity columns unchanged and in order; each row's features those of a right row."""
    assert len(result) == len(entity)
    pd.testing.assert_frame_equal(result[list(entity.columns)], entity, check_dtype=False)
    for spec, table in views:
        expected = brute_force(entity, spec, table, row_order)
        columns = spec.output_names(full)
        got = result[columns].astype(object).where(result[columns].notna(), None)
        bad = []
        for i, (row, candidates) in enumerate(
            zip(got.itertuples(index=False), expected, strict=True)
        ):
            values = list(row)
            if not any(
                all(same_value(v, c[f]) for v, f in zip(values, spec.features, strict=True))
                for c in candidates
            ):
                bad.append((i, values, candidates))
        assert not bad, f"{spec.name}: {len(bad)} wrong rows, first {bad[:3]}"


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)
