"""Delta tables written and read by the cluster: Spark on Ray (RayDP) and Ray Datasets.

Distributed data is staged as Parquet by the cluster inside the table folder and committed by
delta-rs; these tests check what lands in the table, what lands in the Delta log, and that a
refused or failed write leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

import raylake
from raylake.errors import (
    InvalidArgumentError,
    SchemaMismatchError,
    UnsupportedDataError,
    VersionNotFoundError,
)

pytestmark = pytest.mark.integration


def test_python_workers_use_this_interpreter(ws: raylake.Workspace) -> None:
    # Spark would start its Python workers with "python3" from PATH, which has no pyspark
    # unless the venv is activated; raylake points them at this interpreter.
    from pyspark.sql import functions as F

    exe = F.udf(lambda _: sys.executable)
    [row] = ws.spark().range(1).select(exe("id").alias("exe")).collect()
    assert row.exe == sys.executable


def _rows(df: pd.DataFrame, *cols: str) -> list[tuple[Any, ...]]:
    data = df[list(cols)] if cols else df
    return sorted(data.itertuples(index=False, name=None), key=repr)


def _spark_df(ws: raylake.Workspace, rows: list[tuple[Any, ...]], ddl: str) -> Any:
    return ws.spark().createDataFrame(rows, ddl)


def _ray_ds(df: pd.DataFrame, blocks: int = 2) -> Any:
    import ray.data

    return ray.data.from_pandas(df).repartition(blocks)


def _folder_state(location: str) -> dict[str, Any]:
    """The table folder's data files and log files (an empty staging folder is nothing)."""
    folder = Path(location)
    files = [p for p in folder.rglob("*") if p.is_file() and "_delta_log" not in p.parts]
    return {
        "files": sorted(str(p.relative_to(folder)) for p in files),
        "folders": sorted(
            p.name
            for p in folder.iterdir()
            if p.is_dir() and p.name != "_delta_log" and any(p.iterdir())
        ),
        "log": sorted(p.name for p in (folder / "_delta_log").iterdir()),
    }


def _add_actions(location: str) -> list[dict[str, Any]]:
    adds = []
    for path in sorted((Path(location) / "_delta_log").glob("*.json")):
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                adds.append(action["add"])
    return adds


def _no_part_leftovers(location: str, ws: raylake.Workspace, name: str) -> None:
    """Every file in the folder is referenced by some version (nothing half-written)."""
    folder = Path(location)
    t = ws.table(name)
    referenced = {Path(u).resolve() for v in range(t.version + 1) for u in t.files(version=v)}
    on_disk = {
        p.resolve() for p in folder.rglob("*") if p.is_file() and "_delta_log" not in p.parts
    }
    assert on_disk == referenced
    assert not (folder / "_raylake_staging").exists() or not any(
        (folder / "_raylake_staging").iterdir()
    )
    empty = [p for p in folder.rglob("part-*") if p.is_dir() and not any(p.iterdir())]
    assert empty == []


# -- Spark -------------------------------------------------------------------------------------


def test_spark_append_overwrite_merge(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_modes"
    ddl = "id BIGINT, city STRING, amount DOUBLE"
    v0 = ws.write_table(name, _spark_df(ws, [(1, "porto", 1.5), (2, "lisbon", 2.5)], ddl))
    v1 = ws.write_table(name, _spark_df(ws, [(3, "faro", 3.5)], ddl))
    assert (v0, v1) == (0, 1)
    t = ws.table(name)
    assert _rows(t.to_pandas()) == [(1, "porto", 1.5), (2, "lisbon", 2.5), (3, "faro", 3.5)]
    assert t.schema == pa.schema(
        [("id", pa.int64()), ("city", pa.string()), ("amount", pa.float64())]
    )

    v2 = ws.write_table(
        name,
        _spark_df(ws, [(2, "LISBON", 20.0), (4, "braga", 4.0)], ddl),
        mode="merge",
        merge_on=["id"],
    )
    assert v2 == 2
    assert _rows(t.to_pandas()) == [
        (1, "porto", 1.5),
        (2, "LISBON", 20.0),
        (3, "faro", 3.5),
        (4, "braga", 4.0),
    ]
    v3 = ws.write_table(name, _spark_df(ws, [(9, "evora", 9.0)], ddl), mode="overwrite")
    assert v3 == 3
    assert _rows(t.to_pandas()) == [(9, "evora", 9.0)]
    assert _rows(t.to_pandas(version=1), "id") == [(1,), (2,), (3,)]
    assert ws.catalog.describe(name).info.last_version == 3
    _no_part_leftovers(t.location, ws, name)


def test_spark_missing_and_widened_columns(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_cols"
    ws.write_table(name, _spark_df(ws, [(1, "a", 1.0)], "id BIGINT, s STRING, x DOUBLE"))
    # int -> bigint and float -> double are lossless; a missing column is written as null.
    ws.write_table(name, _spark_df(ws, [(2, 2.5)], "id INT, x FLOAT"))
    t = ws.table(name)
    assert t.schema.field("id").type == pa.int64()
    assert _rows(t.to_pandas().fillna({"s": "<null>"})) == [(1, "a", 1.0), (2, "<null>", 2.5)]


def test_spark_schema_evolution(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_evolve"
    ws.write_table(name, _spark_df(ws, [(1, "a"), (2, "b")], "id BIGINT, s STRING"))
    v = ws.write_table(
        name,
        _spark_df(ws, [(3, "c", 0.5)], "id BIGINT, s STRING, score DOUBLE"),
        schema_evolution=True,
    )
    t = ws.table(name)
    assert t.version == v
    assert t.schema.names == ["id", "s", "score"]
    df = t.to_pandas().sort_values("id")
    assert df["score"].isna().tolist() == [True, True, False]
    assert t.to_pandas(version=0).columns.tolist() == ["id", "s"]
    # Spark reads the old files (without the column) as null too.
    sdf = t.to_spark().orderBy("id").toPandas()
    assert sdf["score"].isna().tolist() == [True, True, False]
    # Merge with evolution as well.
    ws.write_table(
        name,
        _spark_df(ws, [(1, "A", 1.0, "x")], "id BIGINT, s STRING, score DOUBLE, tag STRING"),
        mode="merge",
        merge_on="id",
        schema_evolution=True,
    )
    df = t.to_pandas().set_index("id").sort_index()
    assert df.loc[1, "s"] == "A" and df.loc[1, "tag"] == "x"
    assert df["tag"].isna().tolist() == [False, True, True]
    _no_part_leftovers(t.location, ws, name)


@pytest.mark.parametrize(
    ("rows", "ddl", "mode"),
    [
        ([(1, 5)], "id BIGINT, s BIGINT", "append"),  # wrong type
        ([(1, "x", 2)], "id BIGINT, s STRING, extra BIGINT", "append"),  # extra column
        ([(1, "x", 2)], "id BIGINT, s STRING, extra BIGINT", "overwrite"),
        ([(1.0, "x")], "id DOUBLE, s STRING", "merge"),  # lossy key type
        ([("1", "x")], "id STRING, s STRING", "overwrite"),
    ],
)
def test_spark_schema_mismatch_writes_nothing(
    ws: raylake.Workspace, schema: str, rows: list[Any], ddl: str, mode: str
) -> None:
    name = f"{schema}.spark_mismatch"
    ws.write_table(name, _spark_df(ws, [(1, "a")], "id BIGINT, s STRING"))
    t = ws.table(name)
    before = _folder_state(t.location)
    with pytest.raises(SchemaMismatchError):
        ws.write_table(
            name,
            _spark_df(ws, rows, ddl),
            mode=mode,
            merge_on="id" if mode == "merge" else None,
        )
    assert t.version == 0
    assert _folder_state(t.location) == before
    assert _rows(t.to_pandas()) == [(1, "a")]


def test_spark_job_failure_leaves_nothing(ws: raylake.Workspace, schema: str) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    name = f"{schema}.spark_fails"
    ws.write_table(name, _spark_df(ws, [(1,)], "id BIGINT"))
    t = ws.table(name)
    before = _folder_state(t.location)

    @F.udf(LongType())
    def explode_on_7(x: int) -> int:
        if x == 7:
            raise ValueError("boom")
        return x

    bad = ws.spark().range(0, 20, numPartitions=4).select(explode_on_7("id").alias("id"))
    with pytest.raises(Exception, match="boom"):
        ws.write_table(name, bad)
    assert t.version == 0
    assert _folder_state(t.location) == before
    _no_part_leftovers(t.location, ws, name)


@pytest.mark.parametrize(
    "query",
    [
        "select 1 as id, interval '1' year as i",  # no Arrow type
        "select 1 as id, interval '1' day as i",  # Arrow duration: no Delta type
    ],
)
def test_spark_unstorable_types_are_refused_up_front(
    ws: raylake.Workspace, schema: str, query: str
) -> None:
    name = f"{schema}.spark_never"
    with pytest.raises(SchemaMismatchError):
        ws.write_table(name, ws.spark().sql(query))
    assert ws.catalog.list_tables(schema) == []
    folder = Path(ws.settings.storage_root) / "main" / schema / "spark_never"
    assert not folder.exists() or not any(folder.iterdir())


def test_spark_timestamps_round_trip(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_ts"
    sdf = ws.spark().sql(
        "select 1L as id, timestamp'2024-03-10 01:59:59.123456' as ts, "
        "timestamp_ntz'2024-03-10 01:59:59.123456' as local_ts, date'2024-02-29' as day "
        "union all select 2L, timestamp'1999-12-31 23:00:00', "
        "timestamp_ntz'1999-12-31 23:00:00', date'1999-12-31'"
    )
    ws.write_table(name, sdf)
    t = ws.table(name)
    assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("local_ts").type == pa.timestamp("us")
    assert t.schema.field("day").type == pa.date32()
    df = t.to_pandas().sort_values("id")
    # The session time zone is UTC: the literal is that instant.
    assert list(df["ts"]) == [
        pd.Timestamp("2024-03-10 01:59:59.123456", tz="UTC"),
        pd.Timestamp("1999-12-31 23:00:00", tz="UTC"),
    ]
    assert list(df["local_ts"]) == [
        pd.Timestamp("2024-03-10 01:59:59.123456"),
        pd.Timestamp("1999-12-31 23:00:00"),
    ]
    assert list(df["day"]) == [dt.date(2024, 2, 29), dt.date(1999, 12, 31)]
    # And back into Spark unchanged.
    back = t.to_spark().orderBy("id").collect()
    assert back[0]["ts"] == dt.datetime(2024, 3, 10, 1, 59, 59, 123456)
    assert back[0]["local_ts"] == dt.datetime(2024, 3, 10, 1, 59, 59, 123456)
    # A pandas append of timestamps lands in the same column.
    ws.write_table(
        name,
        pd.DataFrame({"id": [3], "ts": pd.to_datetime(["2025-01-01T00:00:00Z"])}),
    )
    assert t.to_pandas().set_index("id").loc[3, "ts"] == pd.Timestamp("2025-01-01", tz="UTC")


def test_to_spark_and_time_travel(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_read"
    ws.write_table(name, pd.DataFrame({"id": [1, 2], "s": ["a", "b"]}))
    ws.write_table(name, _spark_df(ws, [(3, "c")], "id BIGINT, s STRING"))
    ws.write_table(name, pd.DataFrame({"id": [9], "s": ["z"]}), mode="overwrite")
    t = ws.table(name)
    assert sorted(r["id"] for r in t.to_spark().collect()) == [9]
    assert sorted(r["id"] for r in t.to_spark(version=1).collect()) == [1, 2, 3]
    assert sorted(r["id"] for r in t.to_spark(version=0).collect()) == [1, 2]
    stamp = t.history()[1].timestamp
    assert sorted(r["id"] for r in t.to_spark(timestamp=stamp).collect()) == [1, 2, 3]
    with pytest.raises(VersionNotFoundError):
        t.to_spark(version=7)
    # The DataFrame is usable in Spark SQL.
    t.to_spark(version=1).createOrReplaceTempView("v1")
    assert ws.spark().sql("select count(*) as n from v1 where id > 1").collect()[0]["n"] == 2


def test_to_spark_of_an_empty_table(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.spark_empty"
    ws.write_table(name, pd.DataFrame({"id": [1]}))
    ws.write_table(name, pd.DataFrame({"id": pd.Series([], dtype="int64")}), mode="overwrite")
    sdf = ws.table(name).to_spark()
    assert sdf.count() == 0
    assert sdf.columns == ["id"]


# -- Ray ---------------------------------------------------------------------------------------


def test_ray_append_overwrite_merge(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.ray_modes"
    base = pd.DataFrame({"id": range(100), "v": [f"v{i}" for i in range(100)]})
    assert ws.write_table(name, _ray_ds(base, 3)) == 0
    t = ws.table(name)
    assert t.num_rows() == 100
    assert ws.write_table(name, _ray_ds(base.head(10))) == 1
    assert len(t.to_pandas()) == 110

    upd = pd.DataFrame({"id": [5, 500], "v": ["five", "new"]})
    assert ws.write_table(name, _ray_ds(upd), mode="merge", merge_on="id") == 2
    df = t.to_pandas()
    assert len(df) == 111
    assert set(df.loc[df["id"] == 5, "v"]) == {"five"}  # both copies of id 5 were updated
    assert list(df.loc[df["id"] == 500, "v"]) == ["new"]

    assert ws.write_table(name, _ray_ds(upd), mode="overwrite") == 3
    assert _rows(t.to_pandas()) == [(5, "five"), (500, "new")]
    _no_part_leftovers(t.location, ws, name)


def test_ray_schema_evolution_and_mismatch(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.ray_schema"
    ws.write_table(name, _ray_ds(pd.DataFrame({"id": [1, 2], "v": ["a", "b"]})))
    t = ws.table(name)
    before = _folder_state(t.location)
    with pytest.raises(SchemaMismatchError):
        ws.write_table(name, _ray_ds(pd.DataFrame({"id": [3], "v": ["c"], "extra": [1.0]})))
    with pytest.raises(SchemaMismatchError):
        ws.write_table(name, _ray_ds(pd.DataFrame({"id": ["3"], "v": ["c"]})))
    assert t.version == 0
    assert _folder_state(t.location) == before

    ws.write_table(
        name,
        _ray_ds(pd.DataFrame({"id": [3], "v": ["c"], "extra": [1.0]})),
        schema_evolution=True,
    )
    df = t.to_pandas().sort_values("id")
    assert df["extra"].isna().tolist() == [True, True, False]
    ds = t.to_ray()
    assert ds.count() == 3
    assert sorted(ds.to_pandas()["id"]) == [1, 2, 3]
    assert sorted(t.to_ray(version=0).to_pandas()["id"]) == [1, 2]
    _no_part_leftovers(t.location, ws, name)


def test_ray_task_failure_leaves_nothing(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.ray_fails"
    ws.write_table(name, _ray_ds(pd.DataFrame({"id": [1]})))
    t = ws.table(name)
    before = _folder_state(t.location)

    def boom(batch: pd.DataFrame) -> pd.DataFrame:
        if (batch["id"] == 77).any():
            raise ValueError("boom")
        return batch

    bad = _ray_ds(pd.DataFrame({"id": range(100)}), 4).map_batches(
        boom, batch_format="pandas", max_retries=0
    )
    with pytest.raises(Exception, match="boom"):
        ws.write_table(name, bad)
    assert t.version == 0
    assert _rows(t.to_pandas()) == [(1,)]
    # Ray may still finish a write task it was cancelling after raising: such a straggler is
    # never committed, and vacuum removes it.
    t.vacuum(retention_hours=0, enforce_retention=False)
    after = _folder_state(t.location)
    assert after["files"] == before["files"]
    assert after["folders"] == before["folders"]


def test_ray_duplicate_merge_keys_write_nothing(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.ray_dupes"
    ws.write_table(name, _ray_ds(pd.DataFrame({"id": [1, 2]})))
    t = ws.table(name)
    before = _folder_state(t.location)
    with pytest.raises(InvalidArgumentError):
        ws.write_table(name, _ray_ds(pd.DataFrame({"id": [2, 2, 3]})), mode="merge", merge_on="id")
    assert t.version == 0
    assert _folder_state(t.location) == before


def test_unsupported_data_in_a_cluster_workspace(ws: raylake.Workspace, schema: str) -> None:
    with pytest.raises(UnsupportedDataError):
        ws.write_table(f"{schema}.nope", ws.spark().sparkContext.parallelize([1, 2]))
    assert ws.catalog.list_tables(schema) == []


# -- the Delta log ------------------------------------------------------------------------------


def test_history_and_stats_of_distributed_commits(ws: raylake.Workspace, schema: str) -> None:
    name = f"{schema}.stats"
    sdf = ws.spark().sql(
        "select id, cast(id % 7 as int) as bucket, concat('name-', id) as label, "
        "case when id % 10 = 0 then null else cast(id * 1.5 as double) end as amount, "
        "timestamp_micros(1700000000000000 + id * 1000001) as ts "
        "from range(0, 1000, 1, 4)"
    )
    ws.write_table(name, sdf)
    ray_part = pd.DataFrame(
        {
            "id": range(1000, 1200),
            "bucket": pa.array([i % 7 for i in range(200)], pa.int32()).to_pandas(),
            "label": [f"name-{i}" for i in range(1000, 1200)],
            "amount": [float(i) for i in range(200)],
            "ts": pd.to_datetime(range(200), unit="s", utc=True),
        }
    )
    ws.write_table(name, _ray_ds(ray_part, 2))
    t = ws.table(name)
    history = t.history()
    assert [h.version for h in history] == [1, 0]
    assert [h.rows_added for h in history] == [200, 1000]
    assert {h.user for h in history} == {ws.settings.user}

    adds = _add_actions(t.location)
    assert len(adds) >= 2
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == 1200
    for add in adds:
        stats = json.loads(add["stats"])
        assert stats["numRecords"] > 0
        assert set(stats["minValues"]) >= {"id", "bucket", "label"}
        assert set(stats["maxValues"]) == set(stats["minValues"])
        assert stats["minValues"]["id"] <= stats["maxValues"]["id"]
        assert set(stats["nullCount"]) == {"id", "bucket", "label", "amount", "ts"}
        assert add["path"].startswith("part-")
        assert add["size"] == (Path(t.location) / add["path"]).stat().st_size

    # delta-rs's own SQL engine uses the stats for file skipping: results must be exact.
    dtable = DeltaTable(t.location)
    qb = QueryBuilder().register("t", dtable)

    def sql(query: str) -> list[dict[str, Any]]:
        return pa.table(qb.execute(query).read_all()).to_pylist()

    assert sql("select count(*) as n from t") == [{"n": 1200}]
    assert sql("select count(*) as n from t where id >= 990 and id < 1010") == [{"n": 20}]
    assert sql("select count(*) as n from t where amount is null") == [{"n": 100}]
    assert sql("select count(*) as n from t where label = 'name-999'") == [{"n": 1}]
    full = t.to_pandas()
    assert sql("select max(id) as m from t where bucket = 3") == [
        {"m": int(full.loc[full["bucket"] == 3, "id"].max())}
    ]
    cut = "2023-11-14T22:13:21.000000Z"  # 1700000001 s: ids 1.. of the Spark part
    expected = int((full["ts"] >= pd.Timestamp(cut)).sum())
    assert sql(f"select count(*) as n from t where ts >= '{cut}'") == [{"n": expected}]
