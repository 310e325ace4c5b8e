"""Pipelines on real Spark on Ray and Delta: expectations, incremental files, exactly-once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import raylake

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from rides_pipeline import ingest, write_file  # noqa: E402

pytestmark = pytest.mark.integration

HELPERS = Path(__file__).parents[1] / "helpers"


def expected_rows(*frames: pd.DataFrame) -> pd.DataFrame:
    df = pd.concat(frames)
    return df[df["amount"] > 0].sort_values("id").reset_index(drop=True)


def table_rows(ws: raylake.Workspace, name: str) -> pd.DataFrame:
    df = ws.table(name).to_pandas()
    return df.sort_values("id").reset_index(drop=True)


def test_expectations_and_incremental_files(
    ws: raylake.Workspace, schema: str, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    first = write_file(raw, "a.csv", range(0, 200))
    target = f"{schema}.events"
    p = ingest(raw, target)

    run = ws.run_pipeline(p)
    assert run.status == "SUCCEEDED"
    assert run.rows_in == 200
    assert run.dropped == {"positive_amount": int((first["amount"] <= 0).sum())}
    kept = first[first["amount"] > 0]
    # Every expectation is evaluated on the rows in, as Delta Live Tables counts them.
    assert run.warnings == {"not_porto": int((first["city"] == "porto").sum())}
    assert run.rows_out == len(kept)
    pd.testing.assert_frame_equal(table_rows(ws, target), expected_rows(first), check_dtype=False)

    again = ws.run_pipeline(p)
    assert again.status == "SKIPPED"
    assert ws.table(target).version == run.target_version

    second = write_file(raw, "b.csv", range(200, 300))
    third = ws.run_pipeline(p)
    assert third.status == "SUCCEEDED"
    assert third.files == [str(raw / "b.csv")]
    assert third.rows_in == 100
    pd.testing.assert_frame_equal(
        table_rows(ws, target), expected_rows(first, second), check_dtype=False
    )
    upstream = ws.lineage(target).upstream
    assert [(e.source_kind, e.source_name, e.target_version) for e in upstream] == [
        ("files", str(raw), run.target_version),
        ("table", f"main.{target}", third.target_version),  # the append built on v0
        ("files", str(raw), third.target_version),
    ]


def test_failing_expectation_writes_nothing(
    ws: raylake.Workspace, schema: str, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    write_file(raw, "a.csv", range(0, 50))
    p = raylake.Pipeline(
        name="strict",
        target=f"{schema}.strict",
        inputs={
            "raw": raylake.Files(str(raw), "csv", schema="id BIGINT, amount DOUBLE, city STRING")
        },
        transform=lambda raw: raw,
        expectations=[raylake.expect_or_fail("positive_amount", "amount > 0")],
    )
    with pytest.raises(raylake.ExpectationFailedError, match="positive_amount"):
        ws.run_pipeline(p)
    assert ws.catalog.list_tables(schema) == []
    # The rows were staged (counted during the write) but the staged files are gone again.
    assert not list((Path(ws.settings.storage_root) / "main" / schema).rglob("*.parquet"))
    [run] = ws.pipeline_runs("strict")
    assert run.status == "FAILED"
    # The failed run's files were not consumed: a fixed pipeline still sees them.
    assert ws._store.ingested_files("strict") == set()


def test_bad_condition_and_transform_are_named_errors(
    ws: raylake.Workspace, schema: str, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    write_file(raw, "a.csv", range(0, 10))
    files = raylake.Files(str(raw), "csv", schema="id BIGINT, amount DOUBLE, city STRING")
    bad_sql = raylake.Pipeline(
        name="bad_sql",
        target=f"{schema}.x",
        inputs={"raw": files},
        transform=lambda raw: raw,
        expectations=[raylake.expect("broken", "amount >>> 0 AND")],
    )
    with pytest.raises(raylake.PipelineError, match="invalid expectation"):
        ws.run_pipeline(bad_sql)
    bad_column = raylake.Pipeline(
        name="bad_column",
        target=f"{schema}.x",
        inputs={"raw": files},
        transform=lambda raw: raw.select("no_such_column"),
    )
    with pytest.raises(raylake.PipelineError, match="transform"):
        ws.run_pipeline(bad_column)
    with pytest.raises(raylake.PipelineError, match="parameter"):
        raylake.Pipeline(
            name="p", target=f"{schema}.x", inputs={"raw": files}, transform=lambda other: other
        )
    with pytest.raises(raylake.PipelineError):
        raylake.Pipeline(name="p", target="../x", inputs={"raw": files}, transform=lambda raw: raw)
    assert ws.catalog.list_tables(schema) == []


def test_table_inputs_incremental_merge_and_overwrite(
    ws: raylake.Workspace, schema: str, tmp_path: Path
) -> None:
    source = f"{schema}.source"
    ws.write_table(source, pd.DataFrame({"k": [1, 2, 3], "v": [10.0, 20.0, 30.0]}))
    upsert = raylake.Pipeline(
        name=f"{schema}_upsert",
        target=f"{schema}.latest",
        inputs={"src": raylake.TableInput(source, incremental=True)},
        transform=lambda src: src,
        mode="merge",
        merge_on=["k"],
    )
    total = raylake.Pipeline(
        name=f"{schema}_total",
        target=f"{schema}.total",
        inputs={"latest": f"{schema}.latest"},
        transform=lambda latest: latest.groupBy().sum("v").withColumnRenamed("sum(v)", "total"),
        mode="overwrite",
    )
    assert ws.run_pipeline(upsert).rows_in == 3
    assert ws.run_pipeline(total).status == "SUCCEEDED"
    ws.write_table(source, pd.DataFrame({"k": [3, 4], "v": [33.0, 40.0]}))
    second = ws.run_pipeline(upsert)
    assert second.rows_in == 2  # only the appended rows were read
    # The merged version came from the source's new version and the target's previous one.
    sources = {
        (e.source_name, e.source_version)
        for e in ws.lineage(f"{schema}.latest", second.target_version).upstream
        if e.target_version == second.target_version
    }
    latest = f"main.{schema}.latest"
    assert sources == {(f"main.{source}", 1), (latest, second.target_version - 1)}
    latest = ws.table(f"{schema}.latest").to_pandas().sort_values("k")
    assert latest["v"].tolist() == [10.0, 20.0, 33.0, 40.0]
    ws.run_pipeline(total)
    assert ws.table(f"{schema}.total").to_pandas()["total"].tolist() == [103.0]
    assert ws.run_pipeline(total).status == "SKIPPED"  # same input version as the last run
    ws.write_table(source, pd.DataFrame({"k": [9], "v": [1.0]}), mode="overwrite")
    with pytest.raises(raylake.PipelineError, match="rewritten"):
        ws.run_pipeline(upsert)


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_kill_9_mid_write_then_rerun_writes_once(
    ws: raylake.Workspace, schema: str, tmp_path: Path, point: str
) -> None:
    raw = tmp_path / "raw"
    first = write_file(raw, "a.csv", range(0, 100))
    target = f"{schema}.events"
    name = f"crash_{schema}"
    assert ws.run_pipeline(ingest(raw, target, name)).status == "SUCCEEDED"
    version = ws.table(target).version
    second = write_file(raw, "b.csv", range(100, 250))

    child = subprocess.run(
        [
            sys.executable,
            str(HELPERS / "crash_pipeline.py"),
            str(ws.settings.home),
            str(raw),
            target,
            name,
            point,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]

    if point == "before-commit":
        # Nothing was committed: the table reads at its previous version.
        assert ws.table(target).version == version
        pd.testing.assert_frame_equal(
            table_rows(ws, target), expected_rows(first), check_dtype=False
        )
    rerun = ws.run_pipeline(ingest(raw, target, name))
    pd.testing.assert_frame_equal(
        table_rows(ws, target), expected_rows(first, second), check_dtype=False
    )
    statuses = [r.status for r in ws.pipeline_runs(name)]
    if point == "before-commit":
        assert rerun.status == "SUCCEEDED"
        assert statuses == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    else:
        assert rerun.status == "SKIPPED"  # the killed run had committed: recovered, not redone
        assert statuses == ["SKIPPED", "SUCCEEDED", "SUCCEEDED"]
        assert ws.table(target).version == version + 1
