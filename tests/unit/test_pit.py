"""Point-in-time join correctness against a brute-force reference (plain Python loops)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from raylake.errors import (
    EntityKeyMissingError,
    EntityTimestampError,
    FeatureDefinitionError,
    InvalidFeatureRefError,
)
from raylake.features._pit import ViewSpec, join_local, pit_join

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _ts(rng: np.random.Generator, n: int, span_s: int, null_share: float = 0.0) -> pd.Series:
    # Few distinct seconds: many equal timestamps, across and within keys.
    values = T0 + pd.to_timedelta(rng.integers(0, span_s, n), unit="s")
    series = pd.Series(values).astype("datetime64[us, UTC]")
    if null_share:
        series[rng.random(n) < null_share] = pd.NaT
    return series


def _drivers(rng: np.random.Generator, n: int) -> pd.DataFrame:
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


def _pairs(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """View B: keyed by (driver_id, zone) with a string key, its own timestamp column."""
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, 12, n),
            "zone": rng.choice(["n", "s", "e"], n),
            "ts2": _ts(rng, n, 60),
            "surge": rng.random(n),
        }
    )


def _entities(rng: np.random.Generator, n: int) -> pd.DataFrame:
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


def brute_force(entity: pd.DataFrame, spec: ViewSpec, table: pd.DataFrame) -> list[dict]:
    """For each entity row: the latest row at or before its time (within ttl), by loop."""
    out = []
    for _, e in entity.iterrows():
        best, best_key = None, None
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
            key = (ts, created_key, i)
            if best_key is None or key > best_key:
                best, best_key = row, key
        out.append({f: (best[f] if best is not None else None) for f in spec.features})
    return out


def _same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


def _check(
    result: pd.DataFrame,
    entity: pd.DataFrame,
    views: list[tuple[ViewSpec, pd.DataFrame]],
    full: bool,
) -> None:
    assert len(result) == len(entity)
    pd.testing.assert_frame_equal(result[list(entity.columns)], entity, check_dtype=False)
    for spec, table in views:
        expected = brute_force(entity, spec, table)
        for feature, column in zip(spec.features, spec.output_names(full), strict=True):
            got = result[column].astype(object).where(result[column].notna(), None).tolist()
            want = [row[feature] for row in expected]
            bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if not _same(g, w)]
            assert not bad, (
                f"{column}: rows {bad[:5]} got {[got[i] for i in bad[:5]]} "
                f"want {[want[i] for i in bad[:5]]}"
            )


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.mark.parametrize("seed", range(6))
def test_random_data_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    drivers, pairs, entity = _drivers(rng, 300), _pairs(rng, 200), _entities(rng, 150)
    views = [(VIEW_A, drivers), (VIEW_B, pairs)]
    full = bool(seed % 2)
    result = pit_join(_arrow(entity), "event_timestamp", [(s, _arrow(t)) for s, t in views], full)
    _check(result.to_pandas(), entity, views, full)


def test_equal_timestamp_included_and_created_breaks_ties() -> None:
    entity = pd.DataFrame(
        {"driver_id": [1, 1, 2], "event_timestamp": [T0, T0 + pd.Timedelta("1s"), T0]}
    )
    feats = pd.DataFrame(
        {
            "driver_id": [1, 1, 1, 2, 2],
            "event_ts": [T0, T0, T0 + pd.Timedelta("2s"), T0, T0],
            "created": [T0 + pd.Timedelta("9s"), T0 + pd.Timedelta("5s"), T0, pd.NaT, T0],
            "rate": [1.0, 2.0, 3.0, 4.0, 5.0],
            "trips": [1, 2, 3, 4, 5],
        }
    )
    spec = ViewSpec("d", "", None, ("driver_id",), "event_ts", ("rate",), "created")
    out = pit_join(_arrow(entity), "event_timestamp", [(spec, _arrow(feats))]).to_pandas()
    # Same event time: the later created (9s) wins; a null created loses; never the 2s row.
    assert out["rate"].tolist() == [1.0, 1.0, 5.0]


def test_ttl_expiry_and_entities_without_features() -> None:
    entity = pd.DataFrame(
        {
            "driver_id": [1, 1, 1, 7],
            "event_timestamp": T0 + pd.to_timedelta([10, 20, 21, 20], unit="s"),
        }
    )
    feats = pd.DataFrame({"driver_id": [1], "event_ts": [T0 + pd.Timedelta("10s")], "rate": [0.5]})
    spec = ViewSpec(
        "d", "", None, ("driver_id",), "event_ts", ("rate",), ttl=dt.timedelta(seconds=10)
    )
    out = pit_join(_arrow(entity), "event_timestamp", [(spec, _arrow(feats))]).to_pandas()
    assert out["rate"].tolist()[:2] == [0.5, 0.5]
    assert out["rate"].isna().tolist() == [False, False, True, True]


def test_naive_entity_timestamps_are_utc() -> None:
    entity = pd.DataFrame(
        {
            "driver_id": [1, 1],
            "event_timestamp": [pd.Timestamp("2026-01-01 00:00:05"), pd.Timestamp("2026-01-01")],
        }
    )
    feats = pd.DataFrame({"driver_id": [1], "event_ts": [T0 + pd.Timedelta("5s")], "rate": [1.0]})
    spec = ViewSpec("d", "", None, ("driver_id",), "event_ts", ("rate",))
    out = pit_join(_arrow(entity), "event_timestamp", [(spec, _arrow(feats))]).to_pandas()
    assert out["rate"].isna().tolist() == [False, True]


def test_delta_tables_pinned_version_time_filter_and_field_mapping(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    drivers = _drivers(rng, 400)
    loc = str(tmp_path / "drivers")
    # Stored under other column names: the view maps them (table column -> view name).
    stored = drivers.rename(columns={"rate": "acc_rate", "event_ts": "ts"})
    write_deltalake(loc, stored.iloc[:200])
    write_deltalake(loc, stored.iloc[200:], mode="append")  # the late-arriving rows
    write_deltalake(loc, stored.assign(acc_rate=-1.0), mode="append")  # version 2: not read
    spec = ViewSpec(
        "drivers",
        loc,
        1,
        ("driver_id",),
        "event_ts",
        ("rate", "trips"),
        "created",
        dt.timedelta(seconds=15),
        field_mapping={"acc_rate": "rate", "ts": "event_ts"},
    )
    entity = _entities(rng, 120)
    # A time range that starts late: rows older than min(ts) - ttl may be skipped, none needed.
    entity["event_timestamp"] = entity["event_timestamp"] + pd.Timedelta("30s")
    result = join_local(_arrow(entity), "event_timestamp", [spec]).to_pandas()
    _check(result, entity, [(spec, drivers)], False)
    assert (result["rate"].dropna() >= 0).all()


def test_named_errors(tmp_path: Path) -> None:
    feats = pd.DataFrame({"driver_id": [1], "event_ts": [T0], "rate": [1.0]})
    spec = ViewSpec("d", "", None, ("driver_id",), "event_ts", ("rate",))
    good = pd.DataFrame({"driver_id": [1], "event_timestamp": [T0]})
    views = [(spec, _arrow(feats))]
    with pytest.raises(EntityTimestampError, match="event_timestamp"):
        pit_join(_arrow(good.drop(columns="event_timestamp")), "event_timestamp", views)
    with pytest.raises(EntityTimestampError, match="datetimes"):
        pit_join(_arrow(good.assign(event_timestamp="2026-01-01")), "event_timestamp", views)
    with pytest.raises(EntityKeyMissingError, match="driver_id"):
        pit_join(_arrow(good.rename(columns={"driver_id": "x"})), "event_timestamp", views)
    with pytest.raises(InvalidFeatureRefError, match="full_feature_names"):
        pit_join(_arrow(good), "event_timestamp", [(spec, _arrow(feats))] * 2)
    with pytest.raises(EntityKeyMissingError, match="type"):
        pit_join(_arrow(good.assign(driver_id="1")), "event_timestamp", views)
    loc = str(tmp_path / "t")
    write_deltalake(loc, feats)
    missing = ViewSpec("d", loc, None, ("driver_id",), "event_ts", ("nope",))
    with pytest.raises(FeatureDefinitionError, match="nope"):
        join_local(_arrow(good), "event_timestamp", [missing])
