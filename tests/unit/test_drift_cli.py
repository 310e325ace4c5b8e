"""``raylake monitor`` and ``ws.monitor`` on a workspace on disk (no Ray, no Spark)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app
from raylake.serving._monitor import _expand
from raylake.serving._monitoring_tables import INFERENCE_SCHEMA, inference_table_name

ENV = {"COLUMNS": "250"}
MODEL = "main.models.shop"


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), *args], env=ENV)


def _inferences(endpoint: str, frame: pd.DataFrame, end: dt.datetime) -> pa.Table:
    rows = [
        {
            "request_id": f"r{i}",
            "endpoint": endpoint,
            "model_name": MODEL,
            "model_version": 2,
            "ts": end - dt.timedelta(seconds=i + 1),
            "latency_ms": 1.5,
            "inputs": json.dumps({"amount": r.amount, "channel": r.channel}),
            "features": None,
            "prediction": json.dumps([r.amount > 50]),
        }
        for i, r in enumerate(frame.itertuples())
    ]
    return pa.Table.from_pylist(rows, schema=INFERENCE_SCHEMA)


@pytest.fixture
def filled(home: Path) -> Path:
    """A training table, lineage from it to model v2, and recent requests with amount shifted."""
    rng = np.random.default_rng(5)
    train = pd.DataFrame(
        {"amount": rng.normal(40, 10, 3000), "channel": rng.choice(["web", "app"], 3000)}
    )
    recent = pd.DataFrame(
        {"amount": rng.normal(60, 10, 300), "channel": rng.choice(["web", "app"], 300)}
    )
    with raylake.connect(home=home) as ws:
        version = ws.write_table("main.default.train", train)
        ws._store.add_edge("main.default.train", version, "runs:/abc", None, "abc", "table", "run")
        ws._store.add_edge("runs:/abc", None, MODEL, 2, "abc", "run", "model")
        ws.catalog.create_schema("monitoring")
        now = dt.datetime.now(dt.UTC)
        ws.write_table(inference_table_name("shop"), _inferences("shop", recent, now))
    return home


def test_drift_table_html_and_exit_codes(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = cli(
        filled, "monitor", "drift", "shop", "-w", "1h", "--html", str(out), "--no-predictions"
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "main.default.train@0" in result.stdout and "DRIFT" in result.stdout
    assert "drifted: amount" in result.stdout and out.exists()
    assert "channel" in out.read_text()

    strict = cli(filled, "monitor", "drift", "shop", "--fail-on-drift", "--no-predictions")
    assert strict.exit_code == 3

    data = json.loads(cli(filled, "monitor", "drift", "shop", "--json", "--no-predictions").stdout)
    assert data["drifted"] == ["amount"] and data["model_version"] == 2
    assert {f["feature"] for f in data["features"]} == {"amount", "channel"}
    with raylake.connect(home=filled) as ws:
        history = ws.monitor("shop").drift_history()
    assert history["report_id"].nunique() == 3


def test_monitor_errors_are_one_line(filled: Path) -> None:
    unknown = cli(filled, "monitor", "drift", "nope")
    assert unknown.exit_code == 1 and "no inference table" in unknown.stderr
    bad = cli(filled, "monitor", "drift", "shop", "--window", "soon")
    assert bad.exit_code == 1 and "not a duration" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_inferences_command(filled: Path) -> None:
    result = cli(filled, "monitor", "inferences", "shop", "--limit", "5")
    assert result.exit_code == 0 and "r0" in result.stdout
    rows = json.loads(cli(filled, "monitor", "inferences", "shop", "--json", "-w", "1h").stdout)
    assert len(rows) == 20 and rows[0]["request_id"] == "r0"  # newest first


def test_request_json_becomes_columns() -> None:
    rows = pd.DataFrame(
        {
            "inputs": ['{"a": 1, "b": "x"}', '{"a": 2}'],
            "features": ['{"f": 0.5}', None],
            "prediction": ['{"label": 1, "score": 0.9}', '{"label": 0, "score": 0.1}'],
        }
    )
    frame, predictions = _expand(rows)
    assert predictions == ["prediction.label", "prediction.score"]
    assert frame["a"].tolist() == [1, 2] and frame["f"].iloc[0] == 0.5
    assert pd.isna(frame["b"].iloc[1])


def test_requests_of_several_rows_become_one_row_each() -> None:
    # What endpoints log: the request's rows as records, one prediction per row.
    rows = pd.DataFrame(
        {
            "inputs": ['[{"a": 1}, {"a": 2}]', '[{"a": 3}]', '{"a": 4}', "not json"],
            "features": ['[{"f": 10}, {"f": 20}]', None, None, None],
            "prediction": ["[0.1, 0.2]", "[0.3]", "[0.4]", "{oops"],
        }
    )
    frame, predictions = _expand(rows)
    assert predictions == ["prediction"]
    assert frame["a"].tolist()[:4] == [1, 2, 3, 4] and pd.isna(frame["a"].iloc[4])
    assert frame["f"].tolist()[:2] == [10, 20] and frame["f"].isna().sum() == 3
    assert frame["prediction"].tolist()[:4] == [0.1, 0.2, 0.3, 0.4]  # a bad row: missing
