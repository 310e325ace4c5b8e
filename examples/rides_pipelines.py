"""The rides medallion: raw CSV files -> bronze -> silver -> gold, as raylake pipelines.

Run them from Python (see quickstart.py) or with the CLI:
``RIDES_RAW=/path/to/csv raylake pipeline run examples/rides_pipelines.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

import raylake

RAW_SCHEMA = (
    "ride_id STRING, driver_id BIGINT, rider_id BIGINT, city STRING, pickup_ts TIMESTAMP, "
    "dropoff_ts TIMESTAMP, distance_km DOUBLE, fare DOUBLE, tip DOUBLE, rating DOUBLE"
)


def make_pipelines(raw_folder: str | Path) -> list[raylake.Pipeline]:
    """The three pipelines, in the order they run."""

    @raylake.pipeline(
        target="main.bronze.rides",
        inputs={"raw": raylake.Files(str(raw_folder), "csv", schema=RAW_SCHEMA)},
        expectations=[raylake.expect("has_ride_id", "ride_id IS NOT NULL")],
    )
    def bronze_rides(raw: DataFrame) -> DataFrame:
        # Bronze keeps every row as it came, plus where and when it was ingested.
        return raw.withColumn("source_file", F.input_file_name()).withColumn(
            "ingested_at", F.current_timestamp()
        )

    @raylake.pipeline(
        target="main.silver.rides",
        inputs={"bronze": raylake.TableInput("main.bronze.rides", incremental=True)},
        mode="merge",
        merge_on=["ride_id"],
        expectations=[
            raylake.expect_or_drop("valid_pickup", "pickup_ts IS NOT NULL"),
            raylake.expect_or_drop("has_driver", "driver_id IS NOT NULL"),
            raylake.expect_or_drop("positive_fare", "fare > 0"),
            raylake.expect_or_drop("rating_in_range", "rating BETWEEN 1 AND 5"),
            raylake.expect("plausible_trip", "distance_km < 100"),
        ],
    )
    def silver_rides(bronze: DataFrame) -> DataFrame:
        return bronze.select(
            "ride_id",
            "driver_id",
            "rider_id",
            "city",
            "pickup_ts",
            "dropoff_ts",
            "distance_km",
            "fare",
            "tip",
            "rating",
            ((F.col("dropoff_ts").cast("long") - F.col("pickup_ts").cast("long")) / 60.0).alias(
                "duration_min"
            ),
        ).dropDuplicates(["ride_id"])

    @raylake.pipeline(
        target="main.gold.driver_daily_stats",
        inputs={"silver": "main.silver.rides"},
        mode="overwrite",
    )
    def driver_daily_stats(silver: DataFrame) -> DataFrame:
        # One row per driver and day: the features a model of driver behaviour would use.
        return silver.groupBy("driver_id", F.date_trunc("day", "pickup_ts").alias("event_ts")).agg(
            F.count("*").alias("rides"),
            F.round(F.avg("fare"), 4).alias("avg_fare"),
            F.round(F.avg("rating"), 4).alias("avg_rating"),
            F.round(F.sum("distance_km"), 3).alias("total_km"),
            F.round(F.avg("duration_min"), 4).alias("avg_duration_min"),
            F.round(F.sum("tip") / F.sum("fare"), 6).alias("tip_ratio"),
        )

    return [bronze_rides, silver_rides, driver_daily_stats]


# Module-level pipelines for `raylake pipeline run examples/rides_pipelines.py`.
bronze, silver, gold = make_pipelines(os.environ.get("RIDES_RAW", "data/rides_raw"))
