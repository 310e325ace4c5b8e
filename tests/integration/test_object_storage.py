"""Tables on an S3-compatible object store (moto on loopback): pandas, Ray and Spark data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import raylake
from tests.helpers.object_store import ObjectStore, moto_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[ObjectStore]:
    with moto_s3() as store:
        yield store


@pytest.fixture
def s3_ws(ws: raylake.Workspace, s3: ObjectStore, tmp_path: Path) -> Iterator[raylake.Workspace]:
    """A second workspace whose tables live in the bucket; it joins the session's Ray and Spark."""
    with raylake.connect(
        home=tmp_path / "home",
        storage_root=f"s3://{s3.bucket}/{tmp_path.name}",
        storage_options=s3.storage_options,
    ) as workspace:
        yield workspace


def _frame(start: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + n), "x": [float(i) / 2 for i in range(n)]})


def test_pandas_ray_and_spark_writes_land_in_the_bucket(s3_ws: raylake.Workspace, s3: ObjectStore):
    import ray.data

    name = "main.default.events"
    assert s3_ws.write_table(name, _frame(0, 10), mode="overwrite") == 0
    assert s3_ws.write_table(name, ray.data.from_pandas(_frame(10, 10))) == 1
    spark_df = s3_ws.spark().createDataFrame(_frame(20, 10))
    assert s3_ws.write_table(name, spark_df) == 2

    table = s3_ws.table(name)
    assert table.location.startswith(f"s3://{s3.bucket}/")
    assert sorted(table.to_pandas()["id"]) == list(range(30))
    assert table.to_ray().count() == 30
    assert table.to_spark().count() == 30
    assert table.to_spark(version=0).count() == 10

    prefix = table.location.removeprefix(f"s3://{s3.bucket}/")
    keys = s3.keys(prefix)
    assert any(k.endswith(".parquet") for k in keys)
    assert any("_delta_log/00000000000000000002.json" in k for k in keys)


def test_merge_of_spark_data_on_object_storage(s3_ws: raylake.Workspace):
    name = "main.default.dim"
    s3_ws.write_table(name, _frame(0, 5), mode="overwrite")
    update = s3_ws.spark().createDataFrame(pd.DataFrame({"id": [3, 4, 5], "x": [30.0, 40.0, 50.0]}))
    s3_ws.write_table(name, update, mode="merge", merge_on="id")
    got = s3_ws.table(name).to_pandas().sort_values("id").reset_index(drop=True)
    assert list(got["id"]) == [0, 1, 2, 3, 4, 5]
    assert list(got["x"]) == [0.0, 0.5, 1.0, 30.0, 40.0, 50.0]


def test_pipeline_with_expectations_writes_to_object_storage(s3_ws: raylake.Workspace):
    """Expectation counts survive the Spark -> Ray hand-off used for object storage."""
    s3_ws.write_table(
        "main.default.raw", pd.DataFrame({"k": [1, 2, 3, 4], "v": [1.0, -1.0, 3.0, -4.0]})
    )
    clean = raylake.Pipeline(
        name="clean_to_s3",
        target="main.default.clean",
        inputs={"raw": raylake.TableInput("main.default.raw", incremental=True)},
        transform=lambda raw: raw,
        expectations=[raylake.expect_or_drop("positive", "v > 0")],
    )
    run = s3_ws.run_pipeline(clean)
    assert (run.status, run.rows_in, run.rows_out) == ("SUCCEEDED", 4, 2)
    assert run.dropped == {"positive": 2}
    assert sorted(s3_ws.table("main.default.clean").to_pandas()["k"]) == [1, 3]
