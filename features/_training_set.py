"""Point-in-time training sets from Feast feature refs: resolve, join (features._pit), keep
lineage.

``build_training_set`` turns feature refs into :class:`~raylake.features._pit.ViewSpec` (each
view's table pinned at its current version), joins on the driver for pandas and small tables,
on Ray for Ray Datasets and large tables, and returns a :class:`TrainingSet` that knows what it
read: the sweep code (``raylake.training.data``) records those sources as lineage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from raylake.errors import (
    FeatureDefinitionError,
    FeatureViewNotFoundError,
    InvalidArgumentError,
    InvalidFeatureRefError,
    UnsupportedDataError,
)
from raylake.features import _pit
from raylake.features._lineage import FEATURE_VIEW_KIND, feature_view_node
from raylake.features._sources import table_of
from raylake.names import parse_table_name

if TYPE_CHECKING:
    from feast import FeatureView
    from ray.data import Dataset

    from raylake.features._api import Features

ENGINES = ("auto", "local", "ray")
# A catalog table of entity rows up to this size is joined on the driver: below it, starting
# Ray tasks costs more than the join (1M entity rows join in well under a second locally).
LOCAL_MAX_ROWS = 2_000_000
TRAINING_SET_KIND = "training_set"


class TrainingSet:
    """Entity rows with point-in-time correct features, plus what they were read from.

    ``sources`` lists ``(table, version, "table")`` for every table read (feature tables at the
    pinned version, the entity table if one was named) and ``(feature view node, None,
    "feature_view")`` per view: ``ws.sweep(..., data=training_set)`` records them as lineage.
    """

    def __init__(
        self,
        facade: Features,
        data: pa.Table | Dataset,
        features: list[str],
        sources: list[tuple[str, int | None, str]],
    ) -> None:
        self._facade = facade
        self._data = data
        self.features = features
        self.sources = sources
        self.name: str | None = None  # set by write()
        self.version: int | None = None

    def __repr__(self) -> str:
        where = f"{self.name}@{self.version}" if self.name else "not written"
        return f"TrainingSet({len(self.features)} features, {where})"

    @property
    def is_distributed(self) -> bool:
        return not isinstance(self._data, pa.Table)

    def to_arrow(self) -> pa.Table:
        if isinstance(self._data, pa.Table):
            return self._data
        import ray

        # Arrow blocks straight from the object store: the same types as the local path.
        blocks = ray.get(self._data.to_arrow_refs())
        return pa.concat_tables(blocks) if blocks else pa.table({})

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def to_ray(self) -> Dataset:
        if not isinstance(self._data, pa.Table):
            return self._data
        import ray.data

        self._facade.ensure_ray()
        return ray.data.from_arrow(self._data)

    def __len__(self) -> int:
        return self._data.num_rows if isinstance(self._data, pa.Table) else self._data.count()

    def write(self, name: str, mode: str = "overwrite") -> int:
        """Write the rows as raylake table ``name``; lineage edges lead from every source
        (table@version, feature view) to ``name@version``. Returns the new version."""
        full = str(parse_table_name(name))
        version = self._facade.tables.write(full, self._data, mode)
        store = self._facade.catalog_store
        for source, source_version, kind in self.sources:
            store.add_edge(source, source_version, full, version, None, kind, TRAINING_SET_KIND)
        self.name, self.version = full, version
        return version


# -- feature refs -> view specs ----------------------------------------------------------------
def _requested(facade: Features, features: Any) -> list[tuple[Any, str, list[str]]]:
    """(projection-or-None, view name, features) per view, in request order."""
    from feast import FeatureService

    if isinstance(features, str) and ":" not in features:
        try:
            features = facade.feast.get_feature_service(features)
        except Exception as exc:  # Feast raises its own not-found type
            raise FeatureViewNotFoundError(f"no feature service {features!r} is applied") from exc
    if isinstance(features, FeatureService):
        out = []
        for proj in features.feature_view_projections:
            out.append((proj, proj.name, [f.name for f in proj.features]))
        return out
    if isinstance(features, str):
        features = [features]
    if not isinstance(features, Sequence) or not features:
        raise InvalidFeatureRefError(
            "features must be a non-empty list of 'view:feature' refs or a feature service"
        )
    grouped: dict[str, list[str]] = {}
    for ref in features:
        if (
            not isinstance(ref, str)
            or ref.count(":") != 1
            or ref.startswith(":")
            or ref.endswith(":")
        ):
            raise InvalidFeatureRefError(f"feature ref {ref!r} is not 'view:feature'")
        view, feature = ref.split(":")
        names = grouped.setdefault(view, [])
        if feature not in names:
            names.append(feature)
    return [(None, view, names) for view, names in grouped.items()]


def _view(facade: Features, name: str) -> FeatureView:
    from feast.errors import FeatureViewNotFoundException

    try:
        return facade.feast.get_feature_view(name)
    except FeatureViewNotFoundException:
        raise FeatureViewNotFoundError(f"no feature view {name!r} is applied") from None


def _spec(
    facade: Features, projection: Any, view: FeatureView, features: list[str]
) -> tuple[_pit.ViewSpec, str | None]:
    known = {f.name for f in view.features}
    unknown = [f for f in features if f not in known]
    if unknown:
        raise InvalidFeatureRefError(
            f"feature view {view.name!r} has no features {unknown} (it has {sorted(known)})"
        )
    source = view.batch_source
    table = table_of(source)
    if table is not None:
        handle = facade.tables.get(table)
        location, version = handle.location, handle.version  # pin: every read sees this one
    elif (
        type(source).__name__ == "FileSource" and type(source.file_format).__name__ == "DeltaFormat"
    ):
        from deltalake import DeltaTable

        location = source.path  # a Delta FileSource outside the catalog: pin its version too
        version = DeltaTable(location, storage_options=facade.tables.storage_options).version()
    else:
        raise FeatureDefinitionError(
            f"feature view {view.name!r} reads {type(source).__name__}: training sets read "
            "raylake tables (raylake.features.table_source) or Delta FileSources"
        )
    join_keys = tuple(c.name for c in view.entity_columns)
    key_map = dict(getattr(projection, "join_key_map", None) or view.projection.join_key_map or {})
    prefix = projection.name_to_use() if projection is not None else view.projection.name_to_use()
    spec = _pit.ViewSpec(
        name=prefix,
        location=location,
        version=version,
        join_keys=join_keys,
        timestamp_field=source.timestamp_field,
        features=tuple(features),
        created_timestamp_column=source.created_timestamp_column or None,
        ttl=view.ttl,
        entity_columns=tuple(key_map.get(k, k) for k in join_keys),
        field_mapping=dict(source.field_mapping or {}),
        storage_options=facade.tables.storage_options,
    )
    return spec, table


def resolve(
    facade: Features, features: Any
) -> tuple[list[_pit.ViewSpec], list[tuple[str, int | None, str]], list[str]]:
    """Views to join, the sources they read and the refs (``view:feature``) requested."""
    specs, sources, refs = [], [], []
    for projection, name, names in _requested(facade, features):
        view = _view(facade, name)
        spec, table = _spec(facade, projection, view, names)
        specs.append(spec)
        if table is not None and (table, spec.version, "table") not in sources:
            sources.append((table, spec.version, "table"))
        sources.append((feature_view_node(view.name), None, FEATURE_VIEW_KIND))
        refs += [f"{name}:{f}" for f in names]
    return specs, sources, refs


# -- entity rows -------------------------------------------------------------------------------
def _is_ray_dataset(data: Any) -> bool:
    try:
        from ray.data import Dataset
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return isinstance(data, Dataset)


def build_training_set(
    facade: Features,
    entity_df: Any,
    features: Any,
    full_feature_names: bool = False,
    *,
    event_timestamp_column: str = "event_timestamp",
    engine: str = "auto",
) -> TrainingSet:
    """Join ``features`` onto ``entity_df`` point in time.

    ``entity_df``: pandas DataFrame, pyarrow Table, Ray Dataset, or a catalog table name (read
    at its current version). ``engine``: ``"local"`` joins on this process, ``"ray"`` in Ray
    tasks (hash buckets by key), ``"auto"`` picks Ray for Ray Datasets and large tables.
    """
    if engine not in ENGINES:
        raise InvalidArgumentError(f"engine must be one of {ENGINES}, not {engine!r}")
    specs, sources, refs = resolve(facade, features)
    ts = event_timestamp_column
    if isinstance(entity_df, str):
        handle = facade.tables.get(entity_df)
        version = handle.version
        sources.insert(0, (handle.name, version, "table"))
        if engine == "ray" or (engine == "auto" and handle.num_rows(version) > LOCAL_MAX_ROWS):
            facade.ensure_ray()
            entity_df = handle.to_ray(version)
        else:
            entity_df = handle.to_arrow(version)
    if isinstance(entity_df, pd.DataFrame):
        try:
            entity_df = pa.Table.from_pandas(entity_df, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise UnsupportedDataError(f"entity_df has a column Arrow cannot hold: {exc}") from exc
    if isinstance(entity_df, pa.Table):
        if engine == "ray":
            import ray.data

            facade.ensure_ray()
            entity_df = ray.data.from_arrow(entity_df)
        else:
            return TrainingSet(
                facade, _pit.join_local(entity_df, ts, specs, full_feature_names), refs, sources
            )
    if not _is_ray_dataset(entity_df):
        raise UnsupportedDataError(
            "entity_df must be a pandas DataFrame, a pyarrow Table, a Ray Dataset or a table "
            f"name, not {type(entity_df).__name__}"
        )
    facade.ensure_ray()
    if engine == "local":
        import ray

        blocks = ray.get(entity_df.to_arrow_refs())
        table = pa.concat_tables(blocks)
        return TrainingSet(
            facade, _pit.join_local(table, ts, specs, full_feature_names), refs, sources
        )
    return TrainingSet(
        facade, _pit.join_ray(entity_df, ts, specs, full_feature_names), refs, sources
    )
