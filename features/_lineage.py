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


ONLINE_PREFIX = "online_store:/"
ONLINE_KIND = "online_store"


def online_node(view: str) -> str:
    return f"{ONLINE_PREFIX}{view}"


def record_materialized(store: CatalogStore, table: str, version: int, view: str) -> None:
    """``table`` at ``version`` is what the online store serves for ``view`` now."""
    store.add_edge(table, version, online_node(view), None, None, "table", ONLINE_KIND)


def last_materialized(store: CatalogStore, view: str) -> tuple[str, int] | None:
    node = online_node(view)
    edges = [e for e in store.edges_of(node) if e.target_name == node]
    if not edges:
        return None
    last = max(edges, key=lambda e: e.created_at)
    return last.source_name, last.source_version  # type: ignore[return-value]
