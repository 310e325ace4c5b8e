"""Point-in-time training set: raylake against Feast's file offline store, same data, same repo.

The job: 100,000 entity rows (driver id + event time, 10,500 drivers of which 500 have no
features) against a 1,000,000-row feature table (10,000 drivers, 30 days, a created timestamp,
three features) behind one Feast feature view with a 7-day TTL, applied through
``ws.features``.

* raylake: ``ws.features.training_set(entity_df, refs).to_pandas()`` — the table read once
  through delta-rs at a pinned version (needed columns only, event-time range pushed down),
  then a sort + searchsorted point-in-time join on this process.
* Feast: ``FeatureStore.get_historical_features(entity_df, refs).to_df()`` on the same repo
  (Feast 0.67's ``file`` offline store: Dask merge of every entity row with every feature row
  of its key, then TTL filter and de-duplication).

Both results are sorted by (driver, time) and compared value by value (``results_equal``);
the entity rows are distinct per (driver, time) because Feast collapses duplicates. Each side
joins a 10-row warm-up first (imports, registry load). Progress goes to stderr; the last
stdout line is JSON.

    python benchmarks/training_set.py [--quick] [--entities N] [--rows N] [--engine local|ray]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

import raylake

SEED = 0
T0 = pd.Timestamp("2026-01-01", tz="UTC")
DAYS = 30
REFS = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:trips"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_features(rows: int, drivers: int) -> pd.DataFrame:
    """Distinct (driver, event time) pairs: on equal event times Feast's file store does not
    reliably let the later created row win (its sort is not stable: seen in 1 of 10,000 rows),
    so ties would compare Feast's arbitrary choice, not the join."""
    rng = np.random.default_rng(SEED)
    seconds = rng.choice(DAYS * 86400, rows, replace=rows > DAYS * 86400)
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, drivers, rows).astype(np.int64),
            "event_ts": (T0 + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]"),
            # Created a little after the event, sometimes the same second: ties get broken.
            "created": (
                T0 + pd.to_timedelta(seconds + rng.integers(0, 600, rows), unit="s")
            ).astype("datetime64[us, UTC]"),
            "conv_rate": rng.random(rows),
            "acc_rate": rng.random(rows),
            "trips": rng.integers(0, 1000, rows).astype(np.int64),
        }
    )


def make_entities(rows: int, drivers: int) -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 1)
    extra = max(drivers // 20, 1)  # ids with no features at all
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(0, drivers + extra, rows * 2).astype(np.int64),
            "event_timestamp": T0
            + pd.to_timedelta(rng.integers(0, (DAYS + 2) * 86400, rows * 2), unit="s"),
        }
    )
    frame = frame.drop_duplicates(["driver_id", "event_timestamp"]).head(rows)
    frame["label"] = rng.integers(0, 2, len(frame))
    return frame.reset_index(drop=True)


def define(ws: raylake.Workspace, table: str) -> None:
    from feast import Entity, FeatureView, Field
    from feast.types import Float64, Int64

    from raylake.features import table_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=dt.timedelta(days=7),
        schema=[
            Field(name="conv_rate", dtype=Float64),
            Field(name="acc_rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
        ],
        source=table_source(table, timestamp_field="event_ts", created_timestamp_column="created"),
    )
    ws.features.apply([driver, view])


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["driver_id", "event_timestamp", "label", *[r.split(":")[1] for r in REFS]]].copy()
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True)
    out["trips"] = out["trips"].astype("float64")
    return out.sort_values(["driver_id", "event_timestamp"]).reset_index(drop=True)


def compare(ours: pd.DataFrame, feast: pd.DataFrame) -> tuple[bool, int]:
    """Whether the results agree, and how many entity rows Feast left out.

    Feast's file store drops an entity row whose driver has feature rows but none inside the
    TTL window before the row's time (its TTL filter removes them all and the left join is
    lost); raylake keeps the row with null features, as for drivers with no features. So:
    every row Feast returns must be in raylake's result with the same values, and every row
    it left out must have null features in raylake's.
    """
    a, b = normalized(ours), normalized(feast)
    keys = ["driver_id", "event_timestamp"]
    merged = a.merge(b[keys].assign(_in_feast=True), on=keys, how="left")
    in_feast = merged["_in_feast"].notna()
    dropped = merged.loc[~in_feast]
    features = [r.split(":")[1] for r in REFS]
    if dropped[features].notna().any().any() or int(in_feast.sum()) != len(b):
        log("Feast left out rows that have features, or returned rows raylake has not")
        return False, len(dropped)
    kept = a.loc[in_feast.to_numpy()].reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(kept, b, check_dtype=False)
    except AssertionError as exc:
        log(f"results differ: {exc}")
        return False, len(dropped)
    return True, len(dropped)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="raylake-bench-ts-") as home:
        with raylake.connect(home=home) as ws:
            ws.catalog.create_schema("bench")
            table = "main.bench.driver_stats"
            log(f"writing {args.rows:,} feature rows ...")
            ws.write_table(table, make_features(args.rows, args.drivers))  # one version, one commit
            define(ws, table)
            entities = make_entities(args.entities, args.drivers)
            fs = ws.features.feast

            def raylake_join(df: pd.DataFrame) -> pd.DataFrame:
                return ws.features.training_set(df, REFS, engine=args.engine).to_pandas()

            def feast_join(df: pd.DataFrame) -> pd.DataFrame:
                return fs.get_historical_features(entity_df=df, features=REFS).to_df()

            warm = entities.head(10)
            raylake_join(warm)
            feast_join(warm)
            log(f"raylake: {len(entities):,} entity rows ...")
            raylake_s, ours = timed(lambda: raylake_join(entities))
            log(f"raylake {raylake_s:.2f}s; Feast file offline store ...")
            feast_s, theirs = timed(lambda: feast_join(entities))
            log(f"feast {feast_s:.2f}s; comparing ...")
            same, dropped = compare(ours, theirs)
            matched = float(ours["conv_rate"].notna().mean())
    return {
        "raylake_s": round(raylake_s, 3),
        "feast_s": round(feast_s, 3),
        "speedup": round(feast_s / raylake_s, 2),
        "rows": len(entities),
        "feature_rows": args.rows,
        "matched_share": round(matched, 3),
        "results_equal": same,
        "feast_dropped_rows": dropped,
        "engine": args.engine,
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10,000 entity rows, 100,000 features")
    p.add_argument("--entities", type=int, default=None)
    p.add_argument("--rows", type=int, default=None, help="feature table rows")
    p.add_argument("--drivers", type=int, default=None)
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    args = p.parse_args(argv)
    args.entities = args.entities or (10_000 if args.quick else 100_000)
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.drivers = args.drivers or max(args.rows // 100, 1)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
