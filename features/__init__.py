"""raylake.features: Feast feature views over raylake Delta tables.

Define plain Feast objects (``Entity``, ``FeatureView``, ``Field``, ``FeatureService``) with
sources from :func:`table_source`, then use ``ws.features``::

    from datetime import timedelta
    from feast import Entity, FeatureView, Field
    from feast.types import Float64, Int64
    from raylake.features import table_source

    driver = Entity(name="driver", join_keys=["driver_id"])
    stats = FeatureView(
        name="driver_daily",
        entities=[driver],
        ttl=timedelta(days=7),
        schema=[Field(name="rides", dtype=Int64), Field(name="avg_fare", dtype=Float64)],
        source=table_source("main.gold.driver_daily_stats", timestamp_field="event_ts"),
    )
    ws.features.apply([driver, stats])
"""

from raylake.features._sources import TABLE_TAG, table_source

__all__ = ["TABLE_TAG", "table_source"]
