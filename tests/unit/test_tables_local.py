"""Delta tables written from the driver (pandas, Arrow): modes, schemas, time travel, upkeep.

Every test uses a real workspace (SQLite catalog, delta-rs tables in a temporary home).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

import raylake
from raylake.errors import (
    InvalidArgumentError,
    SchemaMismatchError,
    SchemaNotFoundError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedDataError,
    VersionNotFoundError,
)

NAME = "bronze.events"


@pytest.fixture
def ws(home: Path) -> Any:
    """A local workspace with a fixed user and a ``bronze`` schema."""
    with raylake.connect(home=home, user="alice") as workspace:
        workspace.catalog.create_schema("bronze")
        yield workspace


def _df(ids: list[int], values: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "v": values if values is not None else [f"v{i}" for i in ids]})


def _rows(ws: raylake.Workspace, name: str = NAME, **kw: Any) -> list[tuple[Any, ...]]:
    df = ws.table(name).to_pandas(**kw)
    return sorted(df.itertuples(index=False, name=None), key=repr)


def _snapshot(ws: raylake.Workspace, name: str = NAME) -> dict[str, Any]:
    """Everything a failed write must leave untouched."""
    t = ws.table(name)
    folder = Path(t.location)
    return {
        "version": t.version,
        "rows": _rows(ws, name),
        "history": len(t.history()),
        "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*")),
        "catalog": ws.catalog.list_tables(),
    }


# -- write modes -------------------------------------------------------------------------------


def test_append_overwrite_merge(ws: raylake.Workspace) -> None:
    assert ws.write_table(NAME, _df([1, 2, 3])) == 0
    assert ws.write_table(NAME, _df([4])) == 1
    assert _rows(ws) == [(1, "v1"), (2, "v2"), (3, "v3"), (4, "v4")]

    v = ws.write_table(NAME, _df([2, 5], ["two", "five"]), mode="merge", merge_on=["id"])
    assert v == 2
    assert _rows(ws) == [(1, "v1"), (2, "two"), (3, "v3"), (4, "v4"), (5, "five")]

    assert ws.write_table(NAME, _df([9]), mode="overwrite") == 3
    assert _rows(ws) == [(9, "v9")]
    assert ws.table(NAME).num_rows() == 1
    assert ws.catalog.describe(NAME).info.last_version == 3


def test_merge_on_several_keys_and_string_key(ws: raylake.Workspace) -> None:
    base = pd.DataFrame({"k1": [1, 1, 2], "k2": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]})
    ws.write_table(NAME, base)
    ws.write_table(
        NAME,
        pd.DataFrame({"k1": [1, 2], "k2": ["b", "b"], "x": [20.0, 40.0]}),
        mode="merge",
        merge_on=("k1", "k2"),
    )
    assert _rows(ws) == [(1, "a", 1.0), (1, "b", 20.0), (2, "a", 3.0), (2, "b", 40.0)]
    ws.write_table(NAME, base.head(1).assign(x=-1.0), mode="merge", merge_on="k1")
    # merge_on="k1" alone matches both k1 == 1 rows in the table: both are updated.
    assert _rows(ws) == [(1, "a", -1.0), (1, "a", -1.0), (2, "a", 3.0), (2, "b", 40.0)]


def test_merge_creates_a_missing_table(ws: raylake.Workspace) -> None:
    assert ws.write_table(NAME, _df([1, 2]), mode="merge", merge_on="id") == 0
    assert _rows(ws) == [(1, "v1"), (2, "v2")]


def test_arrow_table_and_record_batch(ws: raylake.Workspace) -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "v": ["a", "b"]})
    ws.write_table(NAME, table)
    ws.write_table(NAME, table.to_batches()[0])
    assert _rows(ws) == [(1, "a"), (1, "a"), (2, "b"), (2, "b")]
    assert ws.table(NAME).to_arrow().schema.names == ["id", "v"]


def test_missing_columns_are_written_as_null(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1]))
    ws.write_table(NAME, pd.DataFrame({"id": [2]}))
    assert _rows(ws) == [(1, "v1"), (2, None)]


def test_lossless_widening_is_accepted(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, pd.DataFrame({"id": np.array([1], dtype=np.int64), "f": [1.5]}))
    narrow = pa.table(
        {"id": pa.array([2], pa.int32()), "f": pa.array([2.5], pa.float32())},
    )
    ws.write_table(NAME, narrow)
    t = ws.table(NAME)
    assert t.schema.field("id").type == pa.int64()
    assert t.schema.field("f").type == pa.float64()
    assert sorted(t.to_pandas()["id"]) == [1, 2]


def test_timestamps_round_trip(ws: raylake.Workspace) -> None:
    naive = pd.to_datetime(["2024-01-01 10:00:00.123456", "2024-06-30 23:59:59.000000"])
    aware = naive.tz_localize("Europe/Paris")
    ws.write_table(NAME, pd.DataFrame({"id": [1, 2], "naive": naive, "aware": aware}))
    back = ws.table(NAME).to_pandas().sort_values("id")
    assert list(back["naive"]) == list(naive)
    assert list(back["aware"]) == list(aware.tz_convert("UTC"))
    assert ws.table(NAME).schema.field("aware").type == pa.timestamp("us", tz="UTC")


# -- refused writes change nothing -------------------------------------------------------------


_MISMATCHED = [
    pd.DataFrame({"id": ["one"], "v": ["x"]}),  # wrong type
    pd.DataFrame({"id": [1.5], "v": ["x"]}),  # float into int: lossy
    pd.DataFrame({"id": [1], "v": [2]}),  # int into string
    pd.DataFrame({"id": [1], "v": ["x"], "extra": [1]}),  # new column, no evolution
    pd.DataFrame({"id": [1], "v": ["x"]}).rename(columns={"v": "id"}),  # duplicate names
    pd.DataFrame({"id": [1], "v": [object()]}),  # not convertible to Arrow
]


@pytest.mark.parametrize(
    ("bad", "mode"),
    [(bad, mode) for bad in _MISMATCHED for mode in ("append", "overwrite", "merge")]
    + [(pd.DataFrame({"extra": [1]}), "append"), (pd.DataFrame({"extra": [1]}), "overwrite")],
)
def test_schema_mismatch_writes_nothing(
    ws: raylake.Workspace, bad: pd.DataFrame, mode: str
) -> None:
    ws.write_table(NAME, _df([1, 2]))
    before = _snapshot(ws)
    merge_on = "id" if mode == "merge" else None
    with pytest.raises(SchemaMismatchError):
        ws.write_table(NAME, bad, mode=mode, merge_on=merge_on)
    assert _snapshot(ws) == before


def test_schema_mismatch_on_narrower_table_type(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, pa.table({"id": pa.array([1], pa.int32())}))
    before = _snapshot(ws)
    with pytest.raises(SchemaMismatchError):
        ws.write_table(NAME, pd.DataFrame({"id": [2**40]}))  # int64 does not fit int32
    assert _snapshot(ws) == before


@pytest.mark.parametrize(
    "column",
    [
        pd.to_timedelta([1, 2], unit="s"),  # Arrow duration: Delta has no such type
        pa.array([dt.time(1, 2), dt.time(3, 4)]),
        pa.array([1.0, 2.0], pa.float16()),
    ],
    ids=["duration", "time", "float16"],
)
def test_types_delta_cannot_store_are_refused(ws: raylake.Workspace, column: Any) -> None:
    with pytest.raises(SchemaMismatchError, match="cannot store"):
        ws.write_table(NAME, pa.table({"id": [1, 2], "x": column}))
    assert ws.catalog.list_tables() == []
    assert not (Path(ws.settings.storage_root) / "main" / "bronze" / "events").exists()
    ws.write_table(NAME, pa.table({"id": [1, 2]}))
    before = _snapshot(ws)
    with pytest.raises(SchemaMismatchError, match="cannot store"):
        ws.write_table(NAME, pa.table({"id": [1, 2], "x": column}), schema_evolution=True)
    assert _snapshot(ws) == before


def test_unsigned_integers(ws: raylake.Workspace) -> None:
    # Delta has signed integers only: unsigned ones are stored in a type that holds them all.
    ws.write_table(
        NAME,
        pa.table(
            {
                "u8": pa.array([255], pa.uint8()),
                "u32": pa.array([2**32 - 1], pa.uint32()),
                "u64": pa.array([2**63 - 1], pa.uint64()),
            }
        ),
    )
    t = ws.table(NAME)
    assert [f.type for f in t.schema] == [pa.int16(), pa.int64(), pa.int64()]
    assert _rows(ws) == [(255, 2**32 - 1, 2**63 - 1)]
    before = _snapshot(ws)
    with pytest.raises(SchemaMismatchError):  # does not fit int64
        ws.write_table(NAME, pa.table({"u64": pa.array([2**64 - 1], pa.uint64())}))
    with pytest.raises(SchemaMismatchError):  # uint16 may not fit int16: refused by type
        ws.write_table(NAME, pa.table({"u8": pa.array([1], pa.uint16())}))
    assert _snapshot(ws) == before
    ws.write_table(
        NAME, pa.table({"u8": pa.array([7], pa.uint8()), "u32": pa.array([1], pa.int32())})
    )
    assert t.num_rows() == 2


def test_schema_evolution_adds_a_nullable_column(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2]))
    v = ws.write_table(
        NAME, pd.DataFrame({"id": [3], "v": ["v3"], "score": [0.5]}), schema_evolution=True
    )
    t = ws.table(NAME)
    assert t.version == v == 1
    assert t.schema.names == ["id", "v", "score"]
    assert t.schema.field("score").nullable
    df = t.to_pandas().sort_values("id")
    assert df["score"].isna().tolist() == [True, True, False]
    assert df["score"].iloc[2] == 0.5
    # The old version still has the old schema.
    assert t.to_pandas(version=0).columns.tolist() == ["id", "v"]
    # Later writes without the new column still work (null), and without evolution too.
    ws.write_table(NAME, _df([4]))
    assert ws.table(NAME).to_pandas().set_index("id")["score"].isna().loc[4]


def test_schema_evolution_with_merge(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2]))
    ws.write_table(
        NAME,
        pd.DataFrame({"id": [2, 3], "v": ["two", "three"], "flag": [True, False]}),
        mode="merge",
        merge_on="id",
        schema_evolution=True,
    )
    df = ws.table(NAME).to_pandas().set_index("id").sort_index()
    assert df["v"].tolist() == ["v1", "two", "three"]
    assert df["flag"].isna().tolist() == [True, False, False]
    assert df["flag"].loc[2] == True  # noqa: E712 - object column


@pytest.mark.parametrize(
    "data",
    [
        [{"id": 1, "v": "x"}],
        {"id": [1], "v": ["x"]},
        np.array([[1, 2]]),
        None,
        "id,v\n1,x",
        pd.Series([1, 2]),
    ],
    ids=["list", "dict", "numpy", "none", "str", "series"],
)
def test_unsupported_data_writes_nothing(ws: raylake.Workspace, data: Any) -> None:
    ws.write_table(NAME, _df([1]))
    before = _snapshot(ws)
    with pytest.raises(UnsupportedDataError):
        ws.write_table(NAME, data)
    assert _snapshot(ws) == before
    # A new table is not created (neither in the catalog nor on disk).
    with pytest.raises(UnsupportedDataError):
        ws.write_table("bronze.fresh", data)
    assert [t.full_name for t in ws.catalog.list_tables()] == ["main.bronze.events"]
    assert not (Path(ws.settings.storage_root) / "main" / "bronze" / "fresh").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "upsert"},
        {"mode": "APPEND"},
        {"mode": "merge"},
        {"mode": "merge", "merge_on": []},
        {"mode": "append", "merge_on": ["id"]},
        {"mode": "merge", "merge_on": ["nope"]},
    ],
)
def test_invalid_arguments_write_nothing(ws: raylake.Workspace, kwargs: dict[str, Any]) -> None:
    ws.write_table(NAME, _df([1]))
    before = _snapshot(ws)
    with pytest.raises(InvalidArgumentError):
        ws.write_table(NAME, _df([2]), **kwargs)
    assert _snapshot(ws) == before


def test_duplicate_merge_keys_write_nothing(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2]))
    before = _snapshot(ws)
    with pytest.raises(InvalidArgumentError, match="duplicated"):
        ws.write_table(NAME, _df([2, 2, 3]), mode="merge", merge_on="id")
    assert _snapshot(ws) == before
    with pytest.raises(InvalidArgumentError):
        ws.write_table("bronze.fresh", _df([2, 2]), mode="merge", merge_on="id")
    assert [t.full_name for t in ws.catalog.list_tables()] == ["main.bronze.events"]


def test_write_to_a_missing_schema_writes_nothing(ws: raylake.Workspace) -> None:
    with pytest.raises(SchemaNotFoundError):
        ws.write_table("nosuch.t", _df([1]))
    assert ws.catalog.list_tables() == []
    assert not (Path(ws.settings.storage_root) / "main" / "nosuch").exists()


# -- time travel and history -------------------------------------------------------------------


def _three_versions(ws: raylake.Workspace) -> list[dt.datetime]:
    ws.write_table(NAME, _df([1]))
    time.sleep(0.02)  # distinct commit timestamps (milliseconds) for time travel
    ws.write_table(NAME, _df([2]))
    time.sleep(0.02)
    ws.write_table(NAME, _df([3]), mode="overwrite")
    return [h.timestamp for h in reversed(ws.table(NAME).history())]


def test_time_travel_by_version(ws: raylake.Workspace) -> None:
    _three_versions(ws)
    t = ws.table(NAME)
    assert [r[0] for r in _rows(ws, version=0)] == [1]
    assert [r[0] for r in _rows(ws, version=1)] == [1, 2]
    assert [r[0] for r in _rows(ws, version=2)] == [3]
    assert t.num_rows(version=1) == 2
    assert t.to_arrow(version=1, columns=["id"]).column_names == ["id"]
    for bad in (-1, 3, 99):
        with pytest.raises(VersionNotFoundError):
            t.to_pandas(version=bad)
    with pytest.raises(InvalidArgumentError):
        t.to_pandas(version=1, timestamp=dt.datetime.now(dt.UTC))


def test_time_travel_by_timestamp(ws: raylake.Workspace) -> None:
    stamps = _three_versions(ws)
    t = ws.table(NAME)
    for version, stamp in enumerate(stamps):
        expected = _rows(ws, version=version)
        assert _rows(ws, timestamp=stamp) == expected
        assert _rows(ws, timestamp=stamp.isoformat()) == expected
        # Naive datetimes are UTC.
        assert _rows(ws, timestamp=stamp.replace(tzinfo=None)) == expected
    # Between two commits: the earlier one.
    assert _rows(ws, timestamp=stamps[1] + dt.timedelta(microseconds=500)) == _rows(ws, version=1)
    # After the last commit: the latest.
    assert _rows(ws, timestamp=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == _rows(ws)
    with pytest.raises(InvalidArgumentError):
        t.to_pandas(timestamp="yesterday")


def test_time_travel_before_the_first_commit_fails(ws: raylake.Workspace) -> None:
    stamps = _three_versions(ws)
    t = ws.table(NAME)
    with pytest.raises(VersionNotFoundError):
        t.to_pandas(timestamp=stamps[0] - dt.timedelta(seconds=1))
    with pytest.raises(VersionNotFoundError):
        t.to_pandas(timestamp=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_history_entries(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2, 3]))
    ws.write_table(NAME, _df([4, 5]))
    ws.write_table(NAME, _df([5, 6], ["five", "six"]), mode="merge", merge_on="id")
    ws.write_table(NAME, _df([7]), mode="overwrite")
    history = ws.table(NAME).history()
    assert [h.version for h in history] == [3, 2, 1, 0]
    assert [h.operation for h in history] == ["WRITE", "MERGE", "WRITE", "WRITE"]
    assert [h.rows_added for h in history] == [1, 1, 2, 3]
    assert history[0].parameters.get("mode") == "Overwrite"
    assert history[2].parameters.get("mode") == "Append"
    assert {h.user for h in history} == {"alice"}
    assert all(h.timestamp.tzinfo is not None for h in history)
    assert [h.timestamp for h in history] == sorted((h.timestamp for h in history), reverse=True)
    assert all("raylake.commitId" not in h.parameters for h in history)
    assert [h.version for h in ws.table(NAME).history(limit=2)] == [3, 2]


def test_restore(ws: raylake.Workspace) -> None:
    _three_versions(ws)
    t = ws.table(NAME)
    v = t.restore(1)
    assert v == 3 == t.version
    assert [r[0] for r in _rows(ws)] == [1, 2]
    assert t.history()[0].operation == "RESTORE"
    assert ws.catalog.list_tables()[0].last_version == 3
    with pytest.raises(VersionNotFoundError):
        t.restore(17)
    with pytest.raises(VersionNotFoundError):
        t.restore(-1)
    assert t.version == 3


def test_vacuum_after_overwrite_and_restore(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2]))  # v0: files A
    ws.write_table(NAME, _df([3]), mode="overwrite")  # v1: files B, A removed
    t = ws.table(NAME)
    t.restore(0)  # v2: A again, B removed
    folder = Path(t.location)
    v1_files = {Path(u).name for u in t.files(version=1)}
    current_files = {Path(u).name for u in t.files()}
    assert v1_files and not v1_files & current_files

    assert t.vacuum() == []  # the default retention keeps everything recent
    assert t.vacuum(retention_hours=0, dry_run=True, enforce_retention=False)
    assert all((folder / f).exists() for f in v1_files)

    removed = t.vacuum(retention_hours=0, enforce_retention=False)
    assert {Path(f).name for f in removed} == v1_files
    on_disk = {p.name for p in folder.glob("*.parquet")}
    assert on_disk == current_files
    # The current version (and v0, whose files are the current ones) still read.
    assert [r[0] for r in _rows(ws)] == [1, 2]
    assert [r[0] for r in _rows(ws, version=0)] == [1, 2]
    assert ws.catalog.describe(NAME).num_rows == 2
    # Version 1's data is gone.
    with pytest.raises(VersionNotFoundError):
        t.to_pandas(version=1)
    with pytest.raises(VersionNotFoundError):
        t.to_arrow(timestamp=t.history()[-2].timestamp)
    # The table keeps working.
    ws.write_table(NAME, _df([4]))
    assert [r[0] for r in _rows(ws)] == [1, 2, 4]


def test_vacuum_refuses_short_retention_unless_told(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1]))
    ws.write_table(NAME, _df([2]), mode="overwrite")
    t = ws.table(NAME)
    with pytest.raises(InvalidArgumentError):  # below the table's minimum retention
        t.vacuum(retention_hours=0)
    with pytest.raises(InvalidArgumentError):
        t.vacuum(retention_hours=-1)
    assert [r[0] for r in _rows(ws, version=0)] == [1]


def test_optimize_compacts_small_files(ws: raylake.Workspace) -> None:
    for i in range(8):
        ws.write_table(NAME, _df([i * 10, i * 10 + 1]))
    t = ws.table(NAME)
    before_rows = _rows(ws)
    assert len(t.files()) == 8
    assert ws.catalog.describe(NAME).num_files == 8
    version = t.version

    metrics = t.optimize()
    assert metrics["numFilesRemoved"] == 8
    assert metrics["numFilesAdded"] == 1
    assert t.version == version + 1
    assert len(t.files()) == 1
    assert ws.catalog.describe(NAME).num_files == 1
    assert _rows(ws) == before_rows
    assert t.history()[0].operation == "OPTIMIZE"
    assert ws.catalog.list_tables()[0].last_version == version + 1


def test_optimize_zorder(ws: raylake.Workspace) -> None:
    for i in range(4):
        ws.write_table(NAME, _df([i, 100 - i]))
    t = ws.table(NAME)
    rows = _rows(ws)
    t.optimize(zorder_by=["id"])
    assert _rows(ws) == rows
    assert len(t.files()) == 1
    with pytest.raises(InvalidArgumentError):
        t.optimize(zorder_by=["nope"])


# -- tables written outside raylake, and dropping ----------------------------------------------


def test_external_writes_are_seen(ws: raylake.Workspace, tmp_path: Path) -> None:
    location = str(tmp_path / "external" / "ext")
    write_deltalake(location, pa.table({"id": [1, 2]}))
    info = ws.catalog.register_table("bronze.ext", location)
    assert info.location == location
    assert info.last_version == 0

    write_deltalake(location, pa.table({"id": [3]}), mode="append")
    write_deltalake(location, pa.table({"id": [4]}), mode="append")
    t = ws.table("bronze.ext")
    assert t.version == 2
    assert sorted(t.to_pandas()["id"]) == [1, 2, 3, 4]
    described = ws.catalog.describe("bronze.ext")
    assert described.version == 2
    assert described.info.last_version == 2
    assert described.num_rows == 4
    assert {i.full_name: i.last_version for i in ws.catalog.list_tables()} == {"main.bronze.ext": 2}
    # raylake writes to the registered location, not to a managed folder.
    assert ws.write_table("bronze.ext", pd.DataFrame({"id": [5]})) == 3
    assert DeltaTable(location).version() == 3
    assert not (Path(ws.settings.storage_root) / "main" / "bronze" / "ext").exists()


def test_register_table_errors(ws: raylake.Workspace, tmp_path: Path) -> None:
    location = str(tmp_path / "ext")
    with pytest.raises(InvalidArgumentError):
        ws.catalog.register_table("bronze.ext", location)  # no Delta table there
    write_deltalake(location, pa.table({"id": [1]}))
    with pytest.raises(SchemaNotFoundError):
        ws.catalog.register_table("nosuch.ext", location)
    ws.catalog.register_table("bronze.ext", location)
    with pytest.raises(TableExistsError):
        ws.catalog.register_table("bronze.other", location)  # location already registered
    other = str(tmp_path / "ext2")
    write_deltalake(other, pa.table({"id": [2]}))
    with pytest.raises(TableExistsError):
        ws.catalog.register_table("bronze.ext", other)  # name already taken
    assert ws.catalog.describe("bronze.ext").info.location == location
    assert [t.full_name for t in ws.catalog.list_tables()] == ["main.bronze.ext"]


def test_drop_table_purge(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1]))
    folder = Path(ws.table(NAME).location)
    assert (folder / "_delta_log").is_dir()
    info = ws.catalog.drop_table(NAME)
    assert info.full_name == "main.bronze.events"
    assert not folder.exists()
    assert ws.catalog.list_tables() == []
    with pytest.raises(TableNotFoundError):
        ws.table(NAME)
    with pytest.raises(TableNotFoundError):
        ws.catalog.drop_table(NAME)


def test_drop_table_without_purge_keeps_the_data(ws: raylake.Workspace) -> None:
    ws.write_table(NAME, _df([1, 2]))
    folder = Path(ws.table(NAME).location)
    ws.catalog.drop_table(NAME, purge=False)
    assert ws.catalog.list_tables() == []
    with pytest.raises(TableNotFoundError):
        ws.table(NAME)
    assert DeltaTable(str(folder)).to_pyarrow_table().num_rows == 2
    ws.catalog.register_table("bronze.revived", str(folder))
    assert [r[0] for r in _rows(ws, "bronze.revived")] == [1, 2]
