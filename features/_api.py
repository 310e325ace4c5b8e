"""``ws.features``: the workspace's feature store, Feast definitions over raylake tables.

A small facade: each method delegates to the module that does the work (validation, lineage,
materialization, training sets, the HTTP API). Its public attributes (``feast``, ``repo_path``,
``tables``, ``catalog_store``, ``ensure_ray``, ``settings``) are what those modules build on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from feast import Entity, FeatureStore, FeatureView
from feast.data_source import DataSource
from feast.errors import EntityNotFoundException, FeastError, FeatureViewNotFoundException
from feast.feature_view import DUMMY_ENTITY_NAME

from raylake.catalog import CatalogStore
from raylake.errors import (
    FeatureDefinitionError,
    FeatureViewNotFoundError,
    InvalidArgumentError,
)
from raylake.features import _materialize, _sqlite_time, _validate
from raylake.features._lineage import last_materialized, record_materialized, record_view
from raylake.features._materialize import Materialized
from raylake.features._repo import write_repo
from raylake.features._sources import point_at, table_of
from raylake.settings import Settings
from raylake.tables.managed import ManagedTables

if TYPE_CHECKING:
    from raylake.features._training_set import TrainingSet


@dataclass(frozen=True)
class FeatureViewInfo:
    """One applied feature view: where its data comes from and what it serves."""

    name: str
    table: str | None  # the raylake table (None for a plain Feast source)
    source: str  # the source's path or name
    timestamp_field: str
    entities: list[str]
    join_keys: list[str]
    features: dict[str, str]  # name -> Feast type
    ttl: dt.timedelta | None
    online: bool
    tags: dict[str, str] = field(default_factory=dict)
    view: FeatureView | None = field(default=None, repr=False, compare=False)


class Features:
    """The feature store of one workspace (see ``raylake.features``)."""

    def __init__(
        self,
        settings: Settings,
        tables: ManagedTables,
        catalog_store: CatalogStore,
        ensure_ray: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.catalog_store = catalog_store
        self.ensure_ray = ensure_ray
        self.repo_path: Path = write_repo(settings)
        self.feast = FeatureStore(repo_path=str(self.repo_path))

    def __repr__(self) -> str:
        return f"Features(repo_path={str(self.repo_path)!r})"

    # -- definitions ---------------------------------------------------------------------------
    def apply(self, objects: Iterable[Any] | Any) -> list[FeatureViewInfo]:
        """Register Feast objects; views on raylake tables are checked against their tables
        first (columns, types, join keys) and nothing is applied if any check fails."""
        if not isinstance(objects, Iterable):
            objects = [objects]
        objs = _validate.check_objects(objects)
        snapshots = self._point_sources(objs)
        entities = {o.name: o for o in objs if isinstance(o, Entity)}
        problems: list[str] = []
        views = _validate.raylake_views(objs)
        for view in views:
            table = snapshots[table_of(view.batch_source)]  # type: ignore[index]
            problems += _validate.check_view(
                view, table, lambda n: entities.get(n) or self._entity(n)
            )
        if problems:
            raise FeatureDefinitionError("; ".join(problems))
        try:
            self.feast.apply(objs)
        except (FeastError, ValueError, TypeError) as exc:
            raise FeatureDefinitionError(f"Feast refused the definitions: {exc}") from exc
        for view in views:
            table = snapshots[table_of(view.batch_source)]  # type: ignore[index]
            record_view(self.catalog_store, table.name, table.version, view.name)
        return [self._info(v) for v in views]

    def _point_sources(self, objs: list[object]) -> dict[str, _validate.TableSnapshot]:
        """Resolve every raylake source's table (TableNotFoundError if missing) and write its
        location into the source."""
        sources: list[DataSource] = [o for o in objs if isinstance(o, DataSource)]
        sources += [v.batch_source for v in objs if isinstance(v, FeatureView) and v.batch_source]
        snapshots: dict[str, _validate.TableSnapshot] = {}
        for source in sources:
            name = table_of(source)
            if name is None:
                continue
            if name not in snapshots:
                snapshots[name] = self.snapshot(name)
            point_at(source, snapshots[name].location)  # type: ignore[arg-type]
        return snapshots

    def snapshot(self, table: str, version: int | None = None) -> _validate.TableSnapshot:
        """A raylake table's location, version and schema (latest, or at ``version``)."""
        t = self.tables.get(table)
        dtable = t.delta(version)
        return _validate.TableSnapshot(
            t.name, t.location, dtable.version(), pa.schema(dtable.schema().to_arrow())
        )

    def _entity(self, name: str) -> Entity | None:
        try:
            return self.feast.get_entity(name)
        except EntityNotFoundException:
            return None

    def list(self) -> list[FeatureViewInfo]:
        """Applied feature views with their sources, entities, features and TTL."""
        views = self.feast.list_feature_views()
        return [self._info(v) for v in sorted(views, key=lambda v: v.name)]

    def get(self, name: str) -> FeatureViewInfo:
        return self._info(self.view(name))

    def view(self, name: str) -> FeatureView:
        """The applied Feast ``FeatureView`` called ``name``."""
        try:
            return self.feast.get_feature_view(name)
        except FeatureViewNotFoundException:
            raise FeatureViewNotFoundError(f"no feature view {name!r} is applied") from None

    def delete(self, name: str) -> None:
        """Remove a feature view from the registry (its table and online rows stay)."""
        self.view(name)
        self.feast.delete_feature_view(name)

    def _info(self, view: FeatureView) -> FeatureViewInfo:
        source = view.batch_source
        join_keys = [c.name for c in view.entity_columns]
        return FeatureViewInfo(
            name=view.name,
            table=table_of(source),
            source=getattr(source, "path", None) or source.name,
            timestamp_field=source.timestamp_field,
            entities=[e for e in view.entities if e != DUMMY_ENTITY_NAME],
            join_keys=join_keys,
            features={f.name: str(f.dtype) for f in view.features},
            ttl=view.ttl,
            online=view.online,
            tags=dict(view.tags or {}),
            view=view,
        )

    # -- materialization (raylake.features._materialize) ---------------------------------------
    def materialize(
        self, start: Any, end: Any, views: Sequence[str] | None = None
    ) -> list[Materialized]:
        """Load the latest row per entity with event time in ``[start, end]`` into the online
        store, for every online view (or ``views``), on Ray. Each view reads its table at one
        pinned version, recorded in the catalog (lineage table@version -> online store)."""
        _sqlite_time.register()  # see _sqlite_time: a process-wide converter
        start_at = _materialize.as_utc(start, "start")
        end_at = _materialize.as_utc(end, "end")
        if start_at > end_at:
            raise InvalidArgumentError(f"start {start_at} is after end {end_at}")
        return [self._materialize(v, start_at, end_at) for v in self._online_views(views)]

    def materialize_incremental(
        self, end: Any, views: Sequence[str] | None = None
    ) -> list[Materialized]:
        """Like ``materialize`` from where the last one ended (first time: ``end`` minus the
        view's TTL, or all history for a view without TTL)."""
        _sqlite_time.register()  # see _sqlite_time: a process-wide converter
        end_at = _materialize.as_utc(end, "end")
        done = []
        for view in self._online_views(views):
            start = view.most_recent_end_time
            if start is None:
                start = end_at - view.ttl if view.ttl else _materialize.EPOCH
            done.append(self._materialize(view, _materialize.as_utc(start, "start"), end_at))
        return done

    def _online_views(self, names: Sequence[str] | None) -> list[FeatureView]:
        if names is None:
            return [v for v in self.feast.list_feature_views() if v.online]
        if isinstance(names, str):
            names = [names]
        return [self.view(n) for n in names]

    def _materialize(self, view: FeatureView, start: dt.datetime, end: dt.datetime) -> Materialized:
        table = table_of(view.batch_source)
        if table is None:  # a plain Feast source: Feast's own materialization
            self.feast.materialize(start, end, [view.name])
            return Materialized(view.name, None, None, start, end, -1)
        snap = self.snapshot(table)
        self.ensure_ray()
        config = self.feast.config
        rows = _materialize.run(
            snap.location,
            self.tables.storage_options,
            snap.version,
            config,
            view,
            None if start == _materialize.EPOCH else start,
            end,
            _materialize.writers_for(config),
        )
        record_materialized(self.catalog_store, snap.name, snap.version, view.name)
        self.feast.registry.apply_materialization(view, self.feast.project, start, end)
        return Materialized(view.name, snap.name, snap.version, start, end, rows)

    def materialized_version(self, view: str) -> tuple[str, int] | None:
        """The table and version last materialized for ``view`` (None if never)."""
        return last_materialized(self.catalog_store, view)

    # -- online lookups (raylake.features._online) ---------------------------------------------
    def online(
        self,
        features: Sequence[str] | str,
        entity_rows: Sequence[dict[str, Any]],
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """Online feature values: ``features`` as ``["view:feature", ...]`` or a feature
        service name, ``entity_rows`` as ``[{"driver_id": 1}, ...]``; returns column lists
        (join keys first), None where an entity has no value."""
        _sqlite_time.register()  # see _sqlite_time: a process-wide converter
        from raylake.features._online import online

        return online(self.feast, features, entity_rows, full_feature_names)

    # -- training sets (raylake.features._training_set) ----------------------------------------
    def training_set(
        self,
        entity_df: Any,
        features: Sequence[str] | Any,
        full_feature_names: bool = False,
        *,
        event_timestamp_column: str = "event_timestamp",
        engine: str = "auto",
    ) -> TrainingSet:
        """Point-in-time correct features for every entity row and its event timestamp.

        ``entity_df``: pandas, a Ray Dataset or a table name; ``features``: ``view:feature``
        refs or a feature service (object or name). The result has ``to_pandas()``,
        ``to_ray()``, ``write(name)`` and ``sources`` (lineage). ``engine``: ``"local"``,
        ``"ray"`` (hash buckets joined in Ray tasks) or ``"auto"`` (Ray for Ray Datasets and
        large tables)."""
        from raylake.features._training_set import build_training_set

        return build_training_set(
            self,
            entity_df,
            features,
            full_feature_names,
            event_timestamp_column=event_timestamp_column,
            engine=engine,
        )

    # -- the HTTP retrieval API (raylake.features._server) -------------------------------------
    def serve(self, host: str | None = None, port: int | None = None) -> Any:
        """Serve ``POST /get-online-features`` (Feast's JSON shape) on ``host:port``."""
        from raylake.features._server import serve

        return serve(self, host, port)
