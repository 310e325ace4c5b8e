"""Materialization on Ray into SQLite and Redis: online values equal the latest offline row per
entity, computed independently with pandas from the Delta table (real Ray, Delta, Feast,
SQLite and a redis-server this module starts)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import raylake
from tests.helpers.redis_server import redis_server

warnings.filterwarnings("ignore", category=DeprecationWarning, module="feast")

from feast import Entity, FeatureView, Field  # noqa: E402
from feast.types import Float64, Int64, String  # noqa: E402
from feast.value_type import ValueType  # noqa: E402

from raylake.features import table_source  # noqa: E402

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
FEATURES = ["fare", "trips", "city"]
N_DRIVERS = 60  # ids 0..59 have rows; 60..64 never do


def _frame(rng: np.random.Generator, n: int, hours: int, offset: int = 0) -> pd.DataFrame:
    ts = [T0 + dt.timedelta(hours=offset + int(h)) for h in rng.integers(0, hours, n)]
    fare = rng.random(n) * 50
    fare[rng.random(n) < 0.1] = np.nan  # a null in the latest row must stay null online
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, N_DRIVERS, n),
            "event_ts": ts,
            # distinct created times break event-time ties the same way pandas does below
            "created_ts": [T0 + dt.timedelta(seconds=i + offset * 10_000) for i in range(n)],
            "fare": fare,
            "trips": rng.integers(0, 100, n),
            "city": rng.choice(["paris", "lyon", None], n),
        }
    )


def _latest(df: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    window = df[(df.event_ts >= start) & (df.event_ts <= end)]
    return (
        window.sort_values(["event_ts", "created_ts"])
        .drop_duplicates("driver_id", keep="last")
        .set_index("driver_id")
        .sort_index()
    )


def _views(table: str, name: str = "driver_trips") -> list:
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=name,
        entities=[driver],
        ttl=dt.timedelta(days=30),
        schema=[
            Field(name="fare", dtype=Float64),
            Field(name="trips", dtype=Int64),
            Field(name="city", dtype=String),
        ],
        source=table_source(
            table, timestamp_field="event_ts", created_timestamp_column="created_ts"
        ),
    )
    return [driver, view]


def _online(ws: raylake.Workspace, ids: list[int]) -> pd.DataFrame:
    refs = [f"driver_trips:{f}" for f in FEATURES]
    out = ws.features.online(refs, [{"driver_id": i} for i in ids])
    return pd.DataFrame(out).set_index("driver_id")


def _assert_online_equals(ws: raylake.Workspace, expected: pd.DataFrame) -> None:
    ids = list(range(N_DRIVERS + 5))
    got = _online(ws, ids)
    for i in ids:
        row = got.loc[i]
        if i not in expected.index:
            assert row.isna().all(), f"driver {i} has no rows but got {row.to_dict()}"
            continue
        want = expected.loc[i]
        for f in FEATURES:
            if pd.isna(want[f]):
                assert pd.isna(row[f]), (i, f, row[f])
            else:
                assert row[f] == want[f], (i, f, row[f], want[f])


def _materialize_and_check(ws: raylake.Workspace, table: str) -> None:
    rng = np.random.default_rng(7)
    # v0 is overwritten by v1: its files stay in the folder but must never be read.
    ws.write_table(table, _frame(rng, 300, 48))
    ws.write_table(table, _frame(rng, 400, 48), mode="overwrite")
    ws.write_table(table, _frame(rng, 100, 48, offset=10))  # v2: late and newer rows
    ws.features.apply(_views(table))
    start, end = T0, T0 + dt.timedelta(hours=40)
    [done] = ws.features.materialize(start, end, views=["driver_trips"])
    assert (done.view, done.version) == ("driver_trips", 2)
    offline = ws.table(table).to_pandas()
    expected = _latest(offline, start, end)
    assert done.rows == len(expected)
    _assert_online_equals(ws, expected)
    assert ws.features.materialized_version("driver_trips") == (f"main.{table}", 2)

    # New rows after the window: incremental picks up from `end` and only moves newer keys.
    ws.write_table(table, _frame(rng, 50, 24, offset=60))  # v3
    [inc] = ws.features.materialize_incremental(T0 + dt.timedelta(days=5), views=["driver_trips"])
    assert (inc.start, inc.version) == (end, 3)
    offline = ws.table(table).to_pandas()
    expected = _latest(offline, start, T0 + dt.timedelta(days=5))
    _assert_online_equals(ws, expected)
    lineage = ws.lineage(f"main.{table}").downstream
    assert {
        (e.source_version, e.target_name) for e in lineage if e.target_kind == "online_store"
    } == {
        (2, "online_store:/driver_trips"),
        (3, "online_store:/driver_trips"),
    }


def test_materialize_into_sqlite(ws: raylake.Workspace, schema: str) -> None:
    _materialize_and_check(ws, f"{schema}.trips")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with redis_server(tmp_path) as url:
        yield url


def test_materialize_into_redis(
    ws: raylake.Workspace, schema: str, redis_url: str, tmp_path: Path
) -> None:
    # A second workspace on the same catalog and tables, with its own Feast repo on Redis.
    s = ws.settings
    with raylake.connect(
        home=tmp_path / "redis-home",
        catalog_url=s.catalog_url,
        storage_root=s.storage_root,
        online_store_url=redis_url,
    ) as rws:
        assert rws.features.feast.config.online_store.type == "redis"
        _materialize_and_check(rws, f"{schema}.trips")


def test_materialize_rejects_bad_windows(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.InvalidArgumentError):
        ws.features.materialize(T0, T0 - dt.timedelta(days=1))
    with pytest.raises(raylake.InvalidArgumentError):
        ws.features.materialize("yesterday", T0)
    with pytest.raises(raylake.FeatureViewNotFoundError):
        ws.features.materialize(T0, T0, views=["nope"])


def test_cli_materialize_and_online(ws: raylake.Workspace, schema: str) -> None:
    import json

    from typer.testing import CliRunner

    from raylake.cli import app

    table = f"{schema}.cli_trips"
    frame = _frame(np.random.default_rng(3), 80, 24)
    ws.write_table(table, frame)
    ws.features.apply(_views(table, "cli_trips"))

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["--home", str(ws.settings.home), "features", *args])
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result.stdout

    end = (T0 + dt.timedelta(days=2)).isoformat()
    [done] = json.loads(
        cli("materialize", "--start", T0.isoformat(), "--end", end, "--view", "cli_trips", "--json")
    )
    expected = _latest(frame, T0, T0 + dt.timedelta(days=2))
    assert (done["version"], done["rows"]) == (0, len(expected))
    first = int(expected.index[0])
    out = json.loads(cli("online", "cli_trips:trips", "-e", f"driver_id={first}", "--json"))
    assert out == {"driver_id": [first], "trips": [int(expected.loc[first, "trips"])]}
