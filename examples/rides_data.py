"""A realistic raw data set for the examples: ride-hailing trips, one CSV file per day.

Each day has a few bad rows (negative fares, missing drivers, ratings out of range, an
unparseable timestamp) so the pipelines' expectations have something to catch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

CITIES = ["lisbon", "porto", "braga", "faro", "coimbra"]


def day_of_rides(day: dt.date, rows: int, drivers: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(day, tz="UTC")
    pickup = start + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
    distance = np.round(rng.gamma(2.0, 3.0, rows), 2)
    duration = pd.to_timedelta((distance * rng.uniform(90, 240, rows)).astype(int), unit="s")
    fare = np.round(2.5 + distance * 1.1 + rng.normal(0, 1.0, rows), 2)
    df = pd.DataFrame(
        {
            "ride_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(rows)],
            "driver_id": pd.array(rng.integers(1000, 1000 + drivers, rows), dtype="Int64"),
            "rider_id": rng.integers(1, 50_000, rows),
            "city": rng.choice(CITIES, rows),
            "pickup_ts": pickup.strftime("%Y-%m-%d %H:%M:%S"),
            "dropoff_ts": (pickup + duration).strftime("%Y-%m-%d %H:%M:%S"),
            "distance_km": distance,
            "fare": fare,
            "tip": np.round(np.maximum(rng.normal(1.0, 1.5, rows), 0), 2),
            "rating": rng.choice([3, 4, 5, 5, 5], rows).astype(float),
        }
    )
    bad = rng.choice(rows, size=max(4, rows // 500), replace=False)
    quarter = len(bad) // 4 or 1
    df.loc[bad[:quarter], "fare"] = -abs(df.loc[bad[:quarter], "fare"])
    df.loc[bad[quarter : 2 * quarter], "driver_id"] = pd.NA
    df.loc[bad[2 * quarter : 3 * quarter], "rating"] = 9.0
    df.loc[bad[3 * quarter :], "pickup_ts"] = "not-a-time"
    return df


def write_days(
    folder: Path, first: dt.date, days: int, rows_per_day: int, drivers: int = 200
) -> list[Path]:
    """Write ``days`` daily CSV files into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        path = folder / f"rides_{day:%Y-%m-%d}.csv"
        day_of_rides(day, rows_per_day, drivers, seed=day.toordinal()).to_csv(path, index=False)
        paths.append(path)
    return paths
