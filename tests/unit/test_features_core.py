"""Feature definitions on raylake tables: sources, the generated repo, apply's checks, lineage,
and online lookups' named errors. Real Feast, Delta and SQLite; no Ray (nothing materializes)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

import raylake
from raylake.errors import (
    EntityKeyMissingError,
    FeatureDefinitionError,
    FeatureViewNotFoundError,
    InvalidFeatureRefError,
    SettingsError,
    TableNotFoundError,
)
from raylake.features import TABLE_TAG, table_source
from raylake.features._repo import online_store_config

warnings.filterwarnings("ignore", category=DeprecationWarning, module="feast")

from feast import Entity, FeatureService, FeatureView, Field  # noqa: E402
from feast.types import Float32, Float64, Int64  # noqa: E402
from feast.value_type import ValueType  # noqa: E402

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _driver() -> Entity:
    return Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)


def _stats_view(table: str = "gold.stats", **kw) -> FeatureView:
    schema = kw.pop(
        "schema",
        [Field(name="avg_fare", dtype=Float64), Field(name="rides", dtype=Int64)],
    )
    return FeatureView(
        name=kw.pop("name", "driver_stats"),
        entities=[_driver()],
        ttl=dt.timedelta(days=2),
        schema=schema,
        source=table_source(table, timestamp_field=kw.pop("timestamp_field", "event_ts"), **kw),
    )


@pytest.fixture
def gold(local_ws: raylake.Workspace) -> raylake.Workspace:
    local_ws.catalog.create_schema("gold")
    local_ws.write_table(
        "gold.stats",
        pd.DataFrame(
            {
                "driver_id": [1, 2, 1],
                "event_ts": [T0, T0, T0 + dt.timedelta(hours=1)],
                "avg_fare": [10.0, 20.0, 11.0],
                "rides": [3, 4, 5],
                "city": ["a", "b", "a"],
                "ratio": pd.array([0.1, 0.2, 0.3], dtype="float32"),
            }
        ),
    )
    return local_ws


def test_table_source_names_the_table_before_any_workspace() -> None:
    src = table_source("gold.stats", timestamp_field="event_ts", field_mapping={"a": "b"})
    assert src.name == "main.gold.stats"
    assert src.tags == {TABLE_TAG: "main.gold.stats"}
    assert src.timestamp_field == "event_ts"
    assert src.field_mapping == {"a": "b"}
    with pytest.raises(raylake.InvalidNameError):
        table_source("Bad-Name", timestamp_field="ts")


def test_repo_is_a_feast_repo_in_the_home(local_ws: raylake.Workspace) -> None:
    features = local_ws.features
    config = yaml.safe_load((features.repo_path / "feature_store.yaml").read_text())
    assert features.repo_path == local_ws.settings.home / "features"
    assert config["online_store"] == {
        "type": "sqlite",
        "path": str(features.repo_path / "online_store.db"),
    }
    assert config["entity_key_serialization_version"] == 3
    assert config["offline_store"] == {
        "type": "raylake.features._offline_store.DeltaFileOfflineStore"
    }
    assert features.tables is not None and features.catalog_store is not None
    assert callable(features.ensure_ray) and features.settings is local_ws.settings


def test_redis_url_becomes_feast_connection_string(tmp_path: Path) -> None:
    settings = raylake.Settings(home=tmp_path, online_store_url="redis://:s3cret@127.0.0.1:6390/2")
    config = online_store_config(settings, tmp_path)
    assert config == {"type": "redis", "connection_string": "127.0.0.1:6390,db=2,password=s3cret"}
    for bad in ("http://x:1", "redis://", "redis://h:1/x"):
        with pytest.raises(SettingsError):
            online_store_config(raylake.Settings(home=tmp_path, online_store_url=bad), tmp_path)


def test_apply_resolves_location_and_records_lineage(gold: raylake.Workspace) -> None:
    view = _stats_view()
    [info] = gold.features.apply([_driver(), view])
    table = gold.table("gold.stats")
    assert info.table == "main.gold.stats" and info.source == table.location
    assert info.features == {"avg_fare": "Float64", "rides": "Int64"}
    assert info.join_keys == ["driver_id"] and info.entities == ["driver"]
    assert info.ttl == dt.timedelta(days=2)
    [edge] = gold.lineage("gold.stats").downstream
    assert (edge.source_version, edge.target_name, edge.target_kind) == (
        0,
        "feature_views:/driver_stats",
        "feature_view",
    )
    assert [v.name for v in gold.features.list()] == ["driver_stats"]
    assert gold.features.get("driver_stats").table == "main.gold.stats"
    # Applying again (new table version) is idempotent for Feast and adds the new version.
    gold.write_table("gold.stats", gold.table("gold.stats").to_pandas().head(1))
    gold.features.apply([_driver(), _stats_view()])
    assert {e.source_version for e in gold.lineage("gold.stats").downstream} == {0, 1}


def test_apply_infers_features_from_the_table(gold: raylake.Workspace) -> None:
    view = _stats_view(name="inferred", schema=None)
    view = FeatureView(name="inferred", entities=[_driver()], source=view.batch_source)
    gold.features.apply([_driver(), view])
    assert set(gold.features.get("inferred").features) == {"avg_fare", "rides", "city", "ratio"}


def test_apply_checks_columns_types_and_keys_and_applies_nothing(gold: raylake.Workspace) -> None:
    good = _stats_view(name="good")
    bad = _stats_view(
        name="bad",
        schema=[
            Field(name="city", dtype=Float64),  # a string column
            Field(name="missing", dtype=Int64),
            Field(name="ratio", dtype=Float32),  # fine
        ],
        timestamp_field="avg_fare",
    )
    with pytest.raises(FeatureDefinitionError) as err:
        gold.features.apply([_driver(), good, bad])
    message = str(err.value)
    assert "timestamp field 'avg_fare' is double" in message
    assert "'city' is declared Float64 but column 'city' is string" in message
    assert "'missing' is not a column" in message
    assert "ratio" not in message
    assert gold.features.list() == []
    assert gold.lineage("gold.stats").downstream == []

    other_key = Entity(name="rider", join_keys=["rider_id"], value_type=ValueType.INT64)
    no_key = FeatureView(
        name="no_key",
        entities=[other_key],
        schema=[Field(name="rides", dtype=Int64)],
        source=table_source("gold.stats", timestamp_field="event_ts"),
    )
    with pytest.raises(FeatureDefinitionError, match="join key 'rider_id'"):
        gold.features.apply([other_key, no_key])
    with pytest.raises(FeatureDefinitionError, match="entity 'driver' is neither applied"):
        gold.features.apply([_stats_view()])
    with pytest.raises(TableNotFoundError):
        gold.features.apply([_driver(), _stats_view("gold.nope")])
    with pytest.raises(FeatureDefinitionError, match="not str"):
        gold.features.apply(["driver_stats"])


def test_field_mapping_renames_table_columns(gold: raylake.Workspace) -> None:
    view = _stats_view(
        name="mapped",
        schema=[Field(name="fare", dtype=Float64)],
        field_mapping={"avg_fare": "fare"},
    )
    [info] = gold.features.apply([_driver(), view])
    assert info.features == {"fare": "Float64"}


def test_delete_and_unknown_views(gold: raylake.Workspace) -> None:
    gold.features.apply([_driver(), _stats_view()])
    gold.features.delete("driver_stats")
    assert gold.features.list() == []
    with pytest.raises(FeatureViewNotFoundError):
        gold.features.get("driver_stats")
    with pytest.raises(FeatureViewNotFoundError):
        gold.features.delete("driver_stats")


def test_online_lookup_errors_are_named(gold: raylake.Workspace) -> None:
    view = _stats_view()
    service = FeatureService(name="driver_service", features=[view])
    gold.features.apply([_driver(), view, service])
    # Nothing materialized yet: every value is None, keys echo back.
    out = gold.features.online(["driver_stats:avg_fare"], [{"driver_id": 1}])
    assert out == {"driver_id": [1], "avg_fare": [None]}
    out = gold.features.online("driver_service", [{"driver_id": 7}])
    assert out["driver_id"] == [7] and out["rides"] == [None]
    for bad in ("driver_stats.avg_fare", "driver_stats:", ":x", "a:b:c", 3):
        with pytest.raises(InvalidFeatureRefError):
            gold.features.online([bad], [{"driver_id": 1}])
    with pytest.raises(InvalidFeatureRefError, match="no feature 'nope'"):
        gold.features.online(["driver_stats:nope"], [{"driver_id": 1}])
    with pytest.raises(InvalidFeatureRefError):
        gold.features.online([], [{"driver_id": 1}])
    with pytest.raises(FeatureViewNotFoundError, match="feature view 'nope'"):
        gold.features.online(["nope:x"], [{"driver_id": 1}])
    with pytest.raises(FeatureViewNotFoundError, match="feature service 'nope'"):
        gold.features.online("nope", [{"driver_id": 1}])
    with pytest.raises(EntityKeyMissingError, match="entity row 1 has no 'driver_id'"):
        gold.features.online(["driver_stats:rides"], [{"driver_id": 1}, {"rider_id": 2}])
    with pytest.raises(raylake.InvalidArgumentError):
        gold.features.online(["driver_stats:rides"], {"driver_id": [1]})


def test_plain_feast_cli_reads_the_repo_at_the_tables_version(gold: raylake.Workspace) -> None:
    # An overwrite leaves the old Parquet files in the folder: Feast's own file store would
    # read them too (and here serve fare 10.0/11.0, older files' rows); the repo's store must not.
    frame = gold.table("gold.stats").to_pandas()
    frame["avg_fare"] = frame["avg_fare"] * 100
    frame["event_ts"] = frame["event_ts"] - dt.timedelta(minutes=30)  # older than the old rows
    gold.write_table("gold.stats", frame, mode="overwrite")
    gold.features.apply([_driver(), _stats_view()])
    feast = Path(sys.executable).parent / "feast"
    repo = str(gold.features.repo_path)
    out = subprocess.run(
        [str(feast), "-c", repo, "feature-views", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "driver_stats" in out.stdout
    subprocess.run(
        [str(feast), "-c", repo, "materialize", "2025-12-31T00:00:00", "2026-01-02T00:00:00"],
        capture_output=True,
        check=True,
    )
    out = gold.features.online(["driver_stats:avg_fare"], [{"driver_id": 1}, {"driver_id": 2}])
    assert out["avg_fare"] == [1100.0, 2000.0]
