"""Auth of the feature retrieval API (``RAYLAKE_AUTH=on``): a bearer token, then ``SELECT`` on
every feature view a request reads.

Feature views are governance securables of type ``feature_view`` named by their plain Feast
name (``driver_stats``, in catalog ``main``): the same name lineage uses for its
``feature_views:/<view>`` nodes and ``ws.grant("SELECT", "feature_view", "driver_stats", ...)``
takes. An on-demand view reads its source views, so it needs SELECT on them too; a feature
service needs SELECT on each view it projects.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from feast.errors import FeastError

from raylake.errors import OnlineRequestError, UnknownFeatureError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from raylake.features._online_reader import OnlineReader
    from raylake.governance.gate import Gate

ACTION = "read_features"
_MAX_SHAPES = 1024


class FeatureAuth:
    """Which views a request reads (cached per request shape for ``gate.ttl``) and the gate."""

    def __init__(self, gate: Gate, reader: OnlineReader) -> None:
        self.gate = gate
        self._reader = reader
        self._views: dict[tuple, tuple[tuple[str, ...], float]] = {}

    def views(self, features: Sequence[str] | str) -> tuple[str, ...]:
        if not isinstance(features, str) and not all(isinstance(f, str) for f in features):
            raise OnlineRequestError("feature references must be strings 'view:feature'")
        key = (features,) if isinstance(features, str) else tuple(features)
        now = time.monotonic()
        hit = self._views.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        views = self._resolve(features)
        if len(self._views) >= _MAX_SHAPES:
            self._views.clear()
        self._views[key] = (views, now + self.gate.ttl)
        return views

    def _resolve(self, features: Sequence[str] | str) -> tuple[str, ...]:
        store = self._reader.store
        registry, project = store.registry, store.config.project
        try:
            if isinstance(features, str):
                service = registry.get_feature_service(features, project, allow_cache=True)
                named = [p.name for p in service.feature_view_projections]
            else:
                # 'view:feature' or a versioned 'view@v2:feature'; malformed refs are left to
                # the reader (authorised on what they name; it answers 422).
                named = [str(ref).split(":", 1)[0].split("@", 1)[0] for ref in features]
            odfvs = {
                v.name: v for v in registry.list_on_demand_feature_views(project, allow_cache=True)
            }
        except FeastError as exc:
            raise UnknownFeatureError(str(exc)) from exc
        views: list[str] = []
        for name in named:
            if name and name not in views:
                views.append(name)
            odfv = odfvs.get(name)
            if odfv is not None:
                for source in odfv.source_feature_view_projections.values():
                    if source.name not in views:
                        views.append(source.name)
        return tuple(views)
