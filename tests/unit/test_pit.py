"""Point-in-time join correctness against a brute-force reference (plain Python loops)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import write_deltalake

from raylake.errors import (
    EntityKeyMissingError,
    EntityTimestampError,
    FeatureDefinitionError,
    InvalidFeatureRefError,
)
from raylake.features._pit import ViewSpec, asof_indices, join_local, pit_join
from tests.helpers.pit_reference import (
    T0,
    VIEW_A,
    VIEW_B,
    arrow_table,
    check_result,
    drivers_frame,
    entities_frame,
    pairs_frame,
)


@pytest.mark.parametrize("seed", range(6))
def test_random_data_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    drivers, pairs = drivers_frame(rng, 300), pairs_frame(rng, 200)
    entity = entities_frame(rng, 150)
    views = [(VIEW_A, drivers), (VIEW_B, pairs)]
    full = bool(seed % 2)
    tables = [(s, arrow_table(t)) for s, t in views]
    result = pit_join(arrow_table(entity), "event_timestamp", tables, full)
    check_result(result.to_pandas(), entity, views, full)


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
    out = pit_join(arrow_table(entity), "event_timestamp", [(spec, arrow_table(feats))]).to_pandas()
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
    out = pit_join(arrow_table(entity), "event_timestamp", [(spec, arrow_table(feats))]).to_pandas()
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
    out = pit_join(arrow_table(entity), "event_timestamp", [(spec, arrow_table(feats))]).to_pandas()
    assert out["rate"].isna().tolist() == [False, True]


def test_delta_tables_pinned_version_time_filter_and_field_mapping(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    drivers = drivers_frame(rng, 400)
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
    entity = entities_frame(rng, 120)
    # A time range that starts late: rows older than min(ts) - ttl may be skipped, none needed.
    entity["event_timestamp"] = entity["event_timestamp"] + pd.Timedelta("30s")
    result = join_local(arrow_table(entity), "event_timestamp", [spec]).to_pandas()
    check_result(result, entity, [(spec, drivers)], False, row_order=False)
    assert (result["rate"].dropna() >= 0).all()


def test_named_errors(tmp_path: Path) -> None:
    feats = pd.DataFrame({"driver_id": [1], "event_ts": [T0], "rate": [1.0]})
    spec = ViewSpec("d", "", None, ("driver_id",), "event_ts", ("rate",))
    good = pd.DataFrame({"driver_id": [1], "event_timestamp": [T0]})
    views = [(spec, arrow_table(feats))]
    with pytest.raises(EntityTimestampError, match="event_timestamp"):
        pit_join(arrow_table(good.drop(columns="event_timestamp")), "event_timestamp", views)
    with pytest.raises(EntityTimestampError, match="datetimes"):
        pit_join(arrow_table(good.assign(event_timestamp="2026-01-01")), "event_timestamp", views)
    with pytest.raises(EntityKeyMissingError, match="driver_id"):
        pit_join(arrow_table(good.rename(columns={"driver_id": "x"})), "event_timestamp", views)
    with pytest.raises(InvalidFeatureRefError, match="full_feature_names"):
        pit_join(arrow_table(good), "event_timestamp", [(spec, arrow_table(feats))] * 2)
    with pytest.raises(EntityKeyMissingError, match="type"):
        pit_join(arrow_table(good.assign(driver_id="1")), "event_timestamp", views)
    loc = str(tmp_path / "t")
    write_deltalake(loc, feats)
    missing = ViewSpec("d", loc, None, ("driver_id",), "event_ts", ("nope",))
    with pytest.raises(FeatureDefinitionError, match="nope"):
        join_local(arrow_table(good), "event_timestamp", [missing])


def test_nanosecond_times_over_centuries_use_ranks() -> None:
    """(key, time) does not fit one int64 here: the dense-rank fallback must agree too."""
    rng = np.random.default_rng(3)
    f_codes, e_codes = rng.integers(0, 50, 400), rng.integers(0, 55, 300)
    f_ts = rng.integers(-(2**62), 2**62, 400)  # ns, ~290 years either side of 1970
    e_ts = np.concatenate([rng.integers(-(2**62), 2**62, 290), f_ts[:10]])  # some equal
    got = asof_indices(e_codes, e_ts, f_codes, f_ts, ttl_ns=2**60)
    for i, (code, ts) in enumerate(zip(e_codes, e_ts, strict=True)):
        ok = [j for j in range(400) if f_codes[j] == code and ts - 2**60 <= f_ts[j] <= ts]
        assert got[i] == (max(ok, key=lambda j: (f_ts[j], j)) if ok else -1)
