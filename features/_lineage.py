"""Lineage nodes for features: table@version -> feature view."""

from __future__ import annotations

from raylake.catalog import CatalogStore

FEATURE_VIEW_PREFIX = "feature_views:/"
FEATURE_VIEW_KIND = "feature_view"


def feature_view_node(name: str) -> str:
    # ':' and '/' never appear in table names, so view nodes cannot collide with tables.
    return f"{FEATURE_VIEW_PREFIX}{name}"


def record_view(store: CatalogStore, table: str, version: int, view: str) -> None:
    """The view was applied over ``table`` at ``version`` (add_edge is idempotent)."""
    store.add_edge(table, version, feature_view_node(view), None, None, "table", FEATURE_VIEW_KIND)
