"""Training sets end to end through ``ws.features``: Feast views over raylake tables, entity
rows as pandas, a Ray Dataset or a table; written as a table with lineage; swept on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import raylake
from raylake.errors import (
    EntityKeyMissingError,
    EntityTimestampError,
    FeatureViewNotFoundError,
    InvalidFeatureRefError,
)
from raylake.features import table_source
from raylake.features._lineage import feature_view_node
from tests.helpers.pit_reference import (
    VIEW_A,
    VIEW_B,
    check_result,
    drivers_frame,
    entities_frame,
    pairs_frame,
)

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class Repo:
    schema: str
    drivers_table: str
    drivers_version: int
    specs: list[Any]  # ViewSpecs named like the applied views, for the brute-force reference
    frames: list[pd.DataFrame]
    refs: list[str]
    service: str


@pytest.fixture(scope="module")
def repo(ws: raylake.Workspace) -> Repo:
    from feast import Entity, FeatureService, FeatureView, Field
    from feast.types import Float64, Int64, String
    from feast.value_type import ValueType

    schema = f"ts_{dt.datetime.now():%H%M%S%f}"
    ws.catalog.create_schema(schema)
    rng = np.random.default_rng(5)
    drivers, pairs = drivers_frame(rng, 300), pairs_frame(rng, 200)
    drivers_table, pairs_table = f"main.{schema}.drivers", f"main.{schema}.pairs"
    ws.write_table(drivers_table, drivers.iloc[:150])
    # Late-arriving rows: a later version holds rows with earlier event times.
    drivers_version = ws.write_table(drivers_table, drivers.iloc[150:])
    ws.write_table(pairs_table, pairs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        driver = Entity(
            name=f"{schema}_driver", join_keys=["driver_id"], value_type=ValueType.INT64
        )
        zone = Entity(name=f"{schema}_zone", join_keys=["zone"], value_type=ValueType.STRING)
    view_a = FeatureView(
        name=f"{schema}_drivers",
        entities=[driver],
        ttl=VIEW_A.ttl,
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
        ],
        source=table_source(drivers_table, "event_ts", created_timestamp_column="created"),
    )
    view_b = FeatureView(
        name=f"{schema}_pairs",
        entities=[driver, zone],
        ttl=dt.timedelta(0),  # unbounded
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="zone", dtype=String),
            Field(name="surge", dtype=Float64),
        ],
        source=table_source(pairs_table, "ts2"),
    )
    service = FeatureService(name=f"{schema}_svc", features=[view_a, view_b[["surge"]]])
    ws.features.apply([driver, zone, view_a, view_b, service])
    specs = [
        dataclasses.replace(VIEW_A, name=view_a.name),
        dataclasses.replace(VIEW_B, name=view_b.name),
    ]
    refs = [f"{view_a.name}:rate", f"{view_a.name}:trips", f"{view_b.name}:surge"]
    return Repo(schema, drivers_table, drivers_version, specs, [drivers, pairs], refs, service.name)


@pytest.fixture(scope="module")
def entity() -> pd.DataFrame:
    return entities_frame(np.random.default_rng(6), 120)  # includes duplicate rows


@pytest.fixture(scope="module")
def local_result(ws: raylake.Workspace, repo: Repo, entity: pd.DataFrame) -> Any:
    return ws.features.training_set(entity, repo.refs, full_feature_names=True)


def test_pandas_entities_match_brute_force(
    repo: Repo, entity: pd.DataFrame, local_result: Any
) -> None:
    assert not local_result.is_distributed
    views = list(zip(repo.specs, repo.frames, strict=True))
    check_result(local_result.to_pandas(), entity, views, full=True, row_order=False)
    assert (repo.drivers_table, repo.drivers_version, "table") in local_result.sources
    assert (feature_view_node(repo.specs[1].name), None, "feature_view") in local_result.sources


def test_ray_dataset_and_table_entities_equal_pandas(
    ws: raylake.Workspace, repo: Repo, entity: pd.DataFrame, local_result: Any
) -> None:
    import ray.data

    ws.ray()
    expected = local_result.to_pandas()
    ds = ray.data.from_pandas([entity.iloc[:50], entity.iloc[50:100], entity.iloc[100:]])
    on_ray = ws.features.training_set(ds, repo.refs, full_feature_names=True)
    assert on_ray.is_distributed
    assert on_ray.to_ray().count() == len(entity)
    pd.testing.assert_frame_equal(on_ray.to_pandas(), expected, check_dtype=False)

    spine = f"main.{repo.schema}.spine"
    spine_version = ws.write_table(spine, entity)
    # A feature service (by name) selects the same features; ray engine forced on a small table.
    from_table = ws.features.training_set(spine, repo.service, True, engine="ray")
    pd.testing.assert_frame_equal(from_table.to_pandas(), expected, check_dtype=False)
    assert from_table.sources[0] == (spine, spine_version, "table")


def test_write_records_lineage_to_the_feature_tables(
    ws: raylake.Workspace, repo: Repo, local_result: Any
) -> None:
    name = f"main.{repo.schema}.train"
    version = local_result.write(name)
    assert (local_result.name, local_result.version) == (name, version)
    assert len(ws.table(name).to_pandas()) == len(local_result.to_pandas())
    upstream = {(e.source_name, e.source_version) for e in ws.lineage(name).upstream}
    assert (repo.drivers_table, repo.drivers_version) in upstream
    assert (feature_view_node(repo.specs[0].name), None) in upstream


def test_sweep_on_a_training_set_traces_to_the_feature_view(
    ws: raylake.Workspace, repo: Repo, local_result: Any
) -> None:
    def train(config: dict[str, Any], data: pd.DataFrame) -> None:
        from raylake.training import report

        report({"rows": float(len(data)) * config["k"]})

    ws.sweep(train, {"k": 1.0}, metric="rows", data=local_result, progress=False)
    view_node = feature_view_node(repo.specs[0].name)
    downstream = ws.catalog.lineage(view_node).downstream
    assert any(e.target_kind == "run" for e in downstream), downstream


def test_named_errors(ws: raylake.Workspace, repo: Repo, entity: pd.DataFrame) -> None:
    view = repo.specs[0].name
    with pytest.raises(FeatureViewNotFoundError):
        ws.features.training_set(entity, ["nope:rate"])
    with pytest.raises(InvalidFeatureRefError, match="no_such"):
        ws.features.training_set(entity, [f"{view}:no_such"])
    with pytest.raises(InvalidFeatureRefError):
        ws.features.training_set(entity, [f"{view}:rate:x"])
    with pytest.raises(EntityKeyMissingError, match="driver_id"):
        ws.features.training_set(entity.drop(columns="driver_id"), repo.refs)
    with pytest.raises(EntityTimestampError):
        ws.features.training_set(entity, repo.refs, event_timestamp_column="when")
    with pytest.raises(EntityTimestampError):
        ws.features.training_set(entity.assign(event_timestamp=1), repo.refs)
