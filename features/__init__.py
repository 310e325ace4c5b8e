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

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raylake.features._sources import TABLE_TAG, table_source

__all__ = ["TABLE_TAG", "table_source"]


def __getattr__(name: str) -> Any:
    # Lazy: Ray workers import raylake.features._materialize for its map tasks, which need
    # pyarrow and deltalake but not Feast (seconds of imports per worker process).
    if name in __all__:
        from raylake.features import _sources

        return getattr(_sources, name)
    raise AttributeError(f"module 'raylake.features' has no attribute {name!r}")
