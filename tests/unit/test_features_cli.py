"""``raylake features`` commands on a local workspace (no Ray: nothing is materialized here)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app

ENV = {"COLUMNS": "250"}

DEFS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field
from feast.types import Float64, Int64
from feast.value_type import ValueType
from raylake.features import table_source

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[Field(name="fare", dtype=Float64), Field(name="rides", dtype=Int64)],
    source=table_source("gold.stats", timestamp_field="event_ts"),
)
service = FeatureService(name="driver_service", features=[stats])
"""


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), *args], env=ENV)


def ok(home: Path, *args: str) -> str:
    result = cli(home, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def fails(home: Path, *args: str) -> str:
    result = cli(home, *args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    return result.stderr


@pytest.fixture
def defs(home: Path, tmp_path: Path) -> Path:
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("gold")
        frame = pd.DataFrame(
            {
                "driver_id": [1, 2],
                "event_ts": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 2,
                "fare": [1.5, 2.5],
                "rides": [3, 4],
            }
        )
        ws.write_table("gold.stats", frame)
    path = tmp_path / "features_def.py"
    path.write_text(DEFS)
    return path


def test_apply_list_show_online_delete(home: Path, defs: Path) -> None:
    assert "feature views: driver_stats" in ok(home, "features", "apply", str(defs))
    out = ok(home, "features", "list")
    assert "driver_stats" in out and "main.gold.stats" in out and "fare, rides" in out
    [view] = json.loads(ok(home, "features", "list", "--json"))
    assert view["table"] == "main.gold.stats" and view["ttl"] == 86400
    assert "never" in ok(home, "features", "show", "driver_stats")
    got = json.loads(
        ok(home, "features", "online", "driver_stats:fare", "-e", "driver_id=1", "--json")
    )
    assert got == {"driver_id": [1], "fare": [None]}
    got = json.loads(
        ok(home, "features", "online", "driver_service", "-e", "driver_id=2", "--json")
    )
    assert got["driver_id"] == [2] and set(got) == {"driver_id", "fare", "rides"}
    assert ok(home, "features", "repo").strip() == str(home / "features")
    ok(home, "features", "delete", "driver_stats")
    assert "no feature views" in ok(home, "features", "list")


def test_errors_are_one_line(home: Path, defs: Path, tmp_path: Path) -> None:
    ok(home, "features", "apply", str(defs))
    assert "no feature view 'nope'" in fails(home, "features", "show", "nope")
    assert "not 'view:feature'" in fails(
        home, "features", "online", "driver_stats:fare", "x.y", "-e", "driver_id=1"
    )
    assert "has no 'driver_id'" in fails(
        home, "features", "online", "driver_stats:fare", "-e", "rider=1"
    )
    assert "key=value" in fails(home, "features", "online", "driver_stats:fare", "-e", "1")
    assert "--start or --incremental" in fails(home, "features", "materialize")
    assert "not an ISO timestamp" in fails(home, "features", "materialize", "--start", "yesterday")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert "defines no Feast" in fails(home, "features", "apply", str(empty))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(DEFS.replace('"gold.stats"', '"gold.missing"'))
    assert "main.gold.missing does not exist" in fails(home, "features", "apply", str(wrong))
