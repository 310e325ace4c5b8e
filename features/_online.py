"""Online lookups through Feast's ``get_online_features``, with raylake's named errors.

Feast answers a bad reference with a generic error deep in its code (or, for a missing join
key, sometimes with nulls): checking the request first names the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feast import FeatureService, FeatureStore
from feast.errors import (
    FeastError,
    FeatureServiceNotFoundException,
    FeatureViewNotFoundException,
    OnDemandFeatureViewNotFoundException,
)
from feast.feature_view import DUMMY_ENTITY_ID

from raylake.errors import (
    EntityKeyMissingError,
    FeatureViewNotFoundError,
    InvalidArgumentError,
    InvalidFeatureRefError,
)


def parse_ref(ref: Any) -> tuple[str, str]:
    """``view:feature`` -> (view, feature)."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise InvalidFeatureRefError(f"feature reference {ref!r} is not 'view:feature'")
    view, feature = ref.split(":")
    if not view or not feature:
        raise InvalidFeatureRefError(f"feature reference {ref!r} is not 'view:feature'")
    return view, feature


def _view(store: FeatureStore, name: str) -> Any:
    try:
        return store.get_feature_view(name)
    except FeatureViewNotFoundException:
        pass
    try:
        return store.get_on_demand_feature_view(name)
    except (OnDemandFeatureViewNotFoundException, FeatureViewNotFoundException):
        raise FeatureViewNotFoundError(f"no feature view {name!r} is applied") from None


def resolve(store: FeatureStore, features: Sequence[str] | str) -> tuple[Any, set[str]]:
    """Check ``features`` (refs or a feature service name); return what Feast takes and the
    join keys the request needs."""
    if isinstance(features, str) and ":" not in features:
        try:
            service: FeatureService = store.get_feature_service(features)
        except FeatureServiceNotFoundException:
            raise FeatureViewNotFoundError(f"no feature service {features!r} is applied") from None
        views = [_view(store, p.name) for p in service.feature_view_projections]
        return service, _join_keys(views)
    refs = [features] if isinstance(features, str) else list(features)
    if not refs:
        raise InvalidFeatureRefError("no features requested")
    views = {}
    for ref in refs:
        view_name, feature = parse_ref(ref)
        if view_name not in views:
            views[view_name] = _view(store, view_name)
        if feature not in {f.name for f in views[view_name].features}:
            raise InvalidFeatureRefError(f"feature view {view_name!r} has no feature {feature!r}")
    return refs, _join_keys(list(views.values()))


def _join_keys(views: list[Any]) -> set[str]:
    keys: set[str] = set()
    for view in views:
        keys |= {c.name for c in getattr(view, "entity_columns", [])}
    keys.discard(DUMMY_ENTITY_ID)
    return keys


def check_rows(entity_rows: Any, keys: set[str]) -> list[dict[str, Any]]:
    if isinstance(entity_rows, Mapping) or not isinstance(entity_rows, Sequence):
        raise InvalidArgumentError("entity_rows must be a list of dicts, one per entity")
    rows = list(entity_rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidArgumentError(f"entity row {i} is not a dict: {row!r}")
        missing = sorted(keys - set(row))
        if missing:
            raise EntityKeyMissingError(
                f"entity row {i} has no {', '.join(map(repr, missing))} (needed: {sorted(keys)})"
            )
    return [dict(r) for r in rows]


def online(
    store: FeatureStore,
    features: Sequence[str] | str,
    entity_rows: Any,
    full_feature_names: bool = False,
) -> dict[str, list[Any]]:
    request, keys = resolve(store, features)
    rows = check_rows(entity_rows, keys)
    try:
        response = store.get_online_features(
            features=request, entity_rows=rows, full_feature_names=full_feature_names
        )
    except (FeastError, ValueError, TypeError, KeyError) as exc:
        raise InvalidArgumentError(f"online lookup refused: {exc}") from exc
    return response.to_dict()
