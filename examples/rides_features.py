"""Feature definitions over the rides gold table: plain Feast objects on a raylake table.

Apply them from Python (see quickstart.py) or with the CLI:
``raylake features apply examples/rides_features.py``.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field
from feast.types import Float64, Int64
from feast.value_type import ValueType

from raylake.features import table_source

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)

driver_daily = FeatureView(
    name="driver_daily",
    entities=[driver],
    ttl=timedelta(days=7),  # a driver-day older than a week is no longer a feature
    schema=[
        Field(name="rides", dtype=Int64),
        Field(name="avg_fare", dtype=Float64),
        Field(name="avg_rating", dtype=Float64),
        Field(name="total_km", dtype=Float64),
        Field(name="tip_ratio", dtype=Float64),
    ],
    source=table_source("main.gold.driver_daily_stats", timestamp_field="event_ts"),
)

driver_activity = FeatureService(name="driver_activity", features=[driver_daily])

OBJECTS = [driver, driver_daily, driver_activity]
