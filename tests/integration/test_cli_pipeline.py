"""``raylake pipeline run`` on real Spark on Ray: a pipeline file, its runs and its lineage.

The CLI opens a second workspace on the session workspace's home; in the same process it
joins the session's Ray and Spark and leaves them running when it closes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app

pytestmark = pytest.mark.integration

ENV = {"COLUMNS": "250"}

PIPELINES = """
import raylake
from pyspark.sql import functions as F


@raylake.pipeline(
    name="clean_{schema}",
    target="{schema}.clean",
    inputs={{"src": "{schema}.src"}},
    expectations=[
        raylake.expect_or_drop("positive", "amount > 0"),
        raylake.expect("small", "amount < 100"),
    ],
)
def clean(src):
    return src.withColumn("doubled", F.col("amount") * 2)


@raylake.pipeline(
    name="total_{schema}",
    target="{schema}.total",
    inputs={{"clean": "{schema}.clean"}},
    mode="overwrite",
)
def total(clean):
    return clean.groupBy().agg(F.sum("amount").alias("amount"), F.count("*").alias("n"))
"""

STRICT = """
import raylake


@raylake.pipeline(name="copy_{schema}", target="{schema}.copy", inputs={{"src": "{schema}.src"}})
def copy(src):
    return src


@raylake.pipeline(
    name="strict_{schema}",
    target="{schema}.strict",
    inputs={{"src": "{schema}.src"}},
    expectations=[raylake.expect_or_fail("positive", "amount > 0")],
)
def strict(src):
    return src
"""


def cli(ws: raylake.Workspace, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ws.settings.home), *args], env=ENV)


@pytest.fixture
def source(ws: raylake.Workspace, schema: str) -> str:
    df = pd.DataFrame({"id": [1, 2, 3, 4, 5], "amount": [10.0, -1.0, 250.0, 5.0, 0.0]})
    ws.write_table(f"{schema}.src", df)
    return f"main.{schema}.src"


def test_pipeline_run_runs_every_pipeline_in_order(
    ws: raylake.Workspace, schema: str, source: str, tmp_path: Path
) -> None:
    path = tmp_path / "pipes.py"
    path.write_text(PIPELINES.format(schema=schema))

    result = cli(ws, "pipeline", "run", str(path))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    assert out.index(f"clean_{schema}") < out.index(f"total_{schema}")
    assert out.count("SUCCEEDED") == 2
    assert "positive=2" in out  # dropped: -1.0 and 0.0
    assert "small=1" in out  # warned: 250.0

    clean = ws.table(f"{schema}.clean").to_pandas().sort_values("id")
    assert list(clean["id"]) == [1, 3, 4]
    assert list(clean["doubled"]) == [20.0, 500.0, 10.0]
    total = ws.table(f"{schema}.total").to_pandas()
    assert (total["amount"][0], total["n"][0]) == (265.0, 3)

    runs = json.loads(cli(ws, "pipeline", "runs", f"clean_{schema}", "--json").stdout)
    assert [(r["status"], r["rows_in"], r["rows_out"]) for r in runs] == [("SUCCEEDED", 5, 3)]
    assert runs[0]["dropped"] == {"positive": 2}
    listed = cli(ws, "pipeline", "runs").stdout
    assert f"clean_{schema}" in listed and f"total_{schema}" in listed

    # Nothing new upstream: a second run of one pipeline (chosen by name) is skipped.
    again = cli(ws, "pipeline", "run", f"{path}:total_{schema}", "--json")
    assert again.exit_code == 0, again.stderr
    assert [(r["pipeline"], r["status"]) for r in json.loads(again.stdout)] == [
        (f"total_{schema}", "SKIPPED")
    ]

    # Lineage of the middle table: the source upstream, the total downstream, with run ids.
    lineage = cli(ws, "lineage", f"{schema}.clean")
    assert lineage.exit_code == 0, lineage.stderr
    clean_run = runs[0]
    assert f"{source} v0 → main.{schema}.clean v0  run {clean_run['id'][:12]}" in lineage.stdout
    assert f"main.{schema}.clean v0 → main.{schema}.total v0" in lineage.stdout


def test_failing_pipeline_reports_one_line_after_the_summary(
    ws: raylake.Workspace, schema: str, source: str, tmp_path: Path
) -> None:
    path = tmp_path / "strict.py"
    path.write_text(STRICT.format(schema=schema))
    result = cli(ws, "pipeline", "run", str(path))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: pipeline strict_")
    assert "expectations failed {'positive': 2}" in lines[-1]
    assert "Traceback" not in result.output
    # The pipeline before it ran and is in the summary; the failed one wrote nothing.
    assert f"copy_{schema}" in result.stdout and "SUCCEEDED" in result.stdout
    assert ws.table(f"{schema}.copy").num_rows() == 5
    assert f"main.{schema}.strict" not in [t.full_name for t in ws.catalog.list_tables(schema)]
    runs = json.loads(cli(ws, "pipeline", "runs", f"strict_{schema}", "--json").stdout)
    assert [r["status"] for r in runs] == ["FAILED"]


def test_info_sees_the_running_ray_and_spark(ws: raylake.Workspace) -> None:
    result = cli(ws, "info", "--json")
    assert result.exit_code == 0, result.stderr
    compute = json.loads(result.stdout)["compute"]
    assert compute["ray"].startswith("running, connected to ")
    assert compute["spark"].startswith("running")
