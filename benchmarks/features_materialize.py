"""Materialization into the online store: raylake on Ray against Feast's own ``materialize``.

The job: a Delta table of N feature rows (M entities, 30 days of event times, 5 features of
mixed types, written in 4 commits) -> the latest row per entity in the SQLite online store.

* raylake: ``ws.features.materialize(start, end)`` — Ray map tasks read the pinned version's
  files (projection + time filter) and keep the latest row per key, a reduce task writes
  through Feast's provider.
* Feast: ``FeatureStore.materialize(start, end)`` on the same repo (local compute engine,
  Feast's file/Dask offline store reading the same Delta table).

Each side materializes its own view (same table, same features, different names), so neither
finds the other's rows; the online values of a sample of entities must be equal. Ray's
start-up is timed on its own (``ray_start_s``), not in ``raylake_s``: a workspace keeps Ray
up. Progress goes to stderr; the last line of stdout is JSON.

With ``--redis`` both write into a ``redis-server`` this script starts on a free loopback
port (raylake then writes from one Ray task per CPU; for SQLite the driver writes).

    python benchmarks/features_materialize.py [--quick] [--redis] [--rows N] [--entities N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import raylake

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.redis_server import redis_server  # noqa: E402  (the tests' throw-away server)

warnings.filterwarnings("ignore", category=DeprecationWarning)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_frame(rng: np.random.Generator, rows: int, entities: int) -> pd.DataFrame:
    seconds = rng.integers(0, 30 * 86400, rows)
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, entities, rows),
            "event_ts": pd.to_datetime(T0) + pd.to_timedelta(seconds, unit="s"),
            "conv_rate": rng.random(rows),
            "acc_rate": rng.random(rows).astype("float32"),
            "avg_daily_trips": rng.integers(0, 1000, rows),
            "rating": rng.random(rows) * 5,
            "city": rng.choice(["paris", "lyon", "nice", "lille"], rows),
        }
    )


def views() -> list:
    from feast import Entity, FeatureView, Field
    from feast.types import Float32, Float64, Int64, String
    from feast.value_type import ValueType

    from raylake.features import table_source

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    schema = [
        Field(name="conv_rate", dtype=Float64),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int64),
        Field(name="rating", dtype=Float64),
        Field(name="city", dtype=String),
    ]
    out = [driver]
    for name in ("raylake_view", "feast_view"):
        source = table_source("bench.driver_stats", timestamp_field="event_ts")
        out.append(
            FeatureView(
                name=name,
                entities=[driver],
                ttl=dt.timedelta(days=60),
                schema=schema,
                source=source,
            )
        )
    return out


def sample(ws: raylake.Workspace, view: str, ids: list[int]) -> pd.DataFrame:
    feats = ["conv_rate", "acc_rate", "avg_daily_trips", "rating", "city"]
    out = ws.features.online([f"{view}:{f}" for f in feats], [{"driver_id": i} for i in ids])
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k rows, 20k entities")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--entities", type=int)
    parser.add_argument("--runs", type=int, default=2, help="raylake runs; the fastest counts")
    parser.add_argument("--redis", action="store_true", help="Redis online store, not SQLite")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    entities = args.entities or (20_000 if args.quick else 100_000)

    with contextlib.ExitStack() as stack:
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="raylake-bench-mat-"))
        url = stack.enter_context(redis_server(home)) if args.redis else None
        with raylake.connect(home=home, online_store_url=url) as ws:
            ws.catalog.create_schema("bench")
            rng = np.random.default_rng(0)
            for _ in range(4):
                ws.write_table("bench.driver_stats", make_frame(rng, rows // 4, entities))
            ws.features.apply(views())
            log(f"table: {rows:,} rows, {entities:,} entities, 4 commits")
            start, end = T0, T0 + dt.timedelta(days=31)

            t = time.perf_counter()
            ws.ray()
            ray_start_s = time.perf_counter() - t
            log(f"Ray up in {ray_start_s:.1f}s")

            runs = []
            for _ in range(args.runs):  # the first run also starts Ray's worker processes
                t = time.perf_counter()
                [done] = ws.features.materialize(start, end, views=["raylake_view"])
                runs.append(time.perf_counter() - t)
                log(f"raylake: {done.rows:,} entities in {runs[-1]:.2f}s")
            raylake_s = min(runs)

            t = time.perf_counter()
            ws.features.feast.materialize(start, end, ["feast_view"])
            feast_s = time.perf_counter() - t
            log(f"Feast: {feast_s:.2f}s")

            ids = [int(i) for i in np.random.default_rng(1).choice(entities + 100, 2000)]
            ours, theirs = sample(ws, "raylake_view", ids), sample(ws, "feast_view", ids)
            equal = ours.equals(theirs)
            if not equal:
                log("online values differ between raylake and Feast")
    load = os.getloadavg()
    result = {
        "online_store": "redis" if args.redis else "sqlite",
        "rows": rows,
        "entities": entities,
        "raylake_s": round(raylake_s, 3),
        "raylake_first_s": round(runs[0], 3),
        "feast_s": round(feast_s, 3),
        "speedup": round(feast_s / raylake_s, 2),
        "ray_start_s": round(ray_start_s, 2),
        "equal": equal,
        "load_avg_1m": round(load[0], 2),
    }
    print(json.dumps(result))
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
