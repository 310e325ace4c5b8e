"""A plain Feast repo (parquet sources, SQLite or Redis online store) for the retrieval tests.

Three views on ``driver_id`` with mixed types (floats, ints, strings, bools, a list, nulls), one
view on the composite key (``driver_id``, ``customer_id``) and a feature service. Values are
random but seeded; ``materialize`` loads the latest row per entity into the online store. The
repo needs nothing from raylake, so the same folder works with ``feast serve``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

N_DRIVERS = 200
N_CUSTOMERS = 20
END = datetime(2026, 3, 1, tzinfo=UTC)
VIEWS = ("driver_stats", "driver_profile", "driver_hourly")
# 9 features, 3 per view: the request shape of the benchmark.
NINE = [
    "driver_stats:conv_rate",
    "driver_stats:acc_rate",
    "driver_stats:trips",
    "driver_profile:name",
    "driver_profile:rating",
    "driver_profile:active",
    "driver_hourly:avg_speed",
    "driver_hourly:last_city",
    "driver_hourly:tags",
]


def _frames(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    # Only the first 3/4 of the ids have rows: the rest are "missing" entities.
    ids = np.arange(1000, 1000 + N_DRIVERS * 3 // 4)
    n = len(ids) * 3  # three rows per driver at different times: the latest one must win
    driver = np.repeat(ids, 3)
    ts = [
        END - timedelta(hours=int(h), seconds=int(s))
        for h, s in zip(rng.integers(1, 500, n), rng.integers(0, 3600, n), strict=True)
    ]
    conv = rng.random(n).astype("float32")
    conv[rng.random(n) < 0.1] = np.nan  # nulls in the source
    stats = pd.DataFrame(
        {
            "driver_id": driver,
            "event_ts": ts,
            "conv_rate": conv,
            "acc_rate": rng.random(n),
            "trips": rng.integers(0, 10_000, n),
        }
    )
    profile = pd.DataFrame(
        {
            "driver_id": driver,
            "event_ts": ts[::-1],
            "name": [f"driver-{i}-é" for i in rng.integers(0, 10**6, n)],
            "rating": rng.normal(4, 1, n).round(3),
            "active": rng.random(n) < 0.5,
        }
    )
    cities = np.array(["Paris", "Lyon", "Oslo", "Rome"])
    hourly = pd.DataFrame(
        {
            "driver_id": driver,
            "event_ts": [t - timedelta(minutes=7) for t in ts],
            "avg_speed": rng.random(n).astype("float32") * 100,
            "last_city": cities[rng.integers(0, 4, n)],
            "tags": [list(cities[: int(k)]) for k in rng.integers(0, 4, n)],
        }
    )
    m = N_CUSTOMERS * 10
    trips = pd.DataFrame(
        {
            "driver_id": rng.choice(ids, m),
            "customer_id": [f"c{i}" for i in rng.integers(0, N_CUSTOMERS, m)],
            "event_ts": [END - timedelta(minutes=int(x)) for x in rng.integers(1, 10_000, m)],
            "orders": rng.integers(0, 50, m).astype("int32"),
        }
    )
    return {
        "driver_stats": stats,
        "driver_profile": profile,
        "driver_hourly": hourly,
        "driver_customer": trips,
    }


def write_repo(path: Path, online_store: str | None = None, seed: int = 7) -> Path:
    """Write data and ``feature_store.yaml`` under ``path``, apply and materialize; return it."""
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Array, Bool, Float32, Float64, Int32, Int64, String
    from feast.value_type import ValueType

    path.mkdir(parents=True, exist_ok=True)
    data = path / "data"
    data.mkdir(exist_ok=True)
    if online_store and online_store.startswith("redis://"):
        hostport = online_store.removeprefix("redis://").split("/")[0]
        online = f'online_store:\n  type: redis\n  connection_string: "{hostport}"\n'
    else:
        online = "online_store:\n  type: sqlite\n  path: online.db\n"
    (path / "feature_store.yaml").write_text(
        "project: rides\nprovider: local\nregistry: registry.db\n"
        + online
        + "offline_store:\n  type: file\nentity_key_serialization_version: 3\n"
    )
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    schemas = {
        "driver_stats": [
            Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
        ],
        "driver_profile": [
            Field(name="name", dtype=String),
            Field(name="rating", dtype=Float64),
            Field(name="active", dtype=Bool),
        ],
        "driver_hourly": [
            Field(name="avg_speed", dtype=Float32),
            Field(name="last_city", dtype=String),
            Field(name="tags", dtype=Array(String)),
        ],
        "driver_customer": [Field(name="orders", dtype=Int32)],
    }
    views = []
    for name, frame in _frames(seed).items():
        file = data / f"{name}.parquet"
        frame.to_parquet(file)
        entities = [driver, customer] if name == "driver_customer" else [driver]
        views.append(
            FeatureView(
                name=name,
                entities=entities,
                ttl=timedelta(days=3650),
                schema=schemas[name],
                source=FileSource(path=str(file), timestamp_field="event_ts"),
                online=True,
            )
        )
    service = FeatureService(name="driver_all", features=views[:3])
    store = FeatureStore(repo_path=str(path))
    store.apply([driver, customer, *views, service])
    store.materialize(END - timedelta(days=60), END + timedelta(seconds=1))
    return path
