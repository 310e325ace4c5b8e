"""raylake's retrieval API and Feast's own feature server (``feast serve``) side by side.

Both servers run as real processes on the same Feast repo and online store (SQLite, and Redis
with a ``redis-server`` this test starts), get the same requests over HTTP and must answer the
same JSON. Feast orders the features of one view arbitrarily (a set), so answers are compared
column by column, keyed by feature name; the values, statuses and timestamps inside each
column must be identical.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
import online_repo  # noqa: E402

from tests.helpers.redis_server import redis_server  # noqa: E402

BIN = Path(sys.executable).parent
ALL = [*online_repo.NINE, "driver_customer:orders"]
URL = "/get-online-features"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def processes(
    commands: dict[str, list[str]], logs: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run each command (name → args) until the block ends; first wait until every
    ``name/health`` answers 200. They start side by side: imports are slow on 2 busy cores."""
    procs = {}
    try:
        for url, args in commands.items():
            with (logs / f"{len(procs)}.log").open("wb") as out:
                procs[url] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 180
        waiting = set(procs)
        while waiting:
            for url in list(waiting):
                if procs[url].poll() is not None:
                    raise RuntimeError(f"{commands[url]} exited: {_logs(logs)}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        waiting.discard(url)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {sorted(waiting)}: {_logs(logs)}")
            time.sleep(0.3)
        yield
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _logs(folder: Path) -> str:
    return " | ".join(p.read_text()[-1500:] for p in sorted(folder.glob("*.log")))


@contextmanager
def both_servers(repo: Path) -> Iterator[tuple[str, str]]:
    """Feast's server as a process; ours in a thread of this process (one slow start less:
    the process path is covered by test_cli_serve)."""
    from raylake.features._online_reader import OnlineReader
    from raylake.features._server import running

    feast = free_port()
    feast_url = f"http://127.0.0.1:{feast}"
    feast_cmd = [
        str(BIN / "feast"), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(feast),
        "--no-access-log",
    ]  # fmt: skip
    with processes({feast_url: feast_cmd}, repo), running(OnlineReader(repo)) as ours_url:
        yield ours_url, feast_url


def requests(seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for _ in range(count):
        rows = rng.randint(1, 6)
        body: dict[str, Any] = {
            "features": rng.sample(ALL, rng.randint(1, len(ALL))),
            "entities": {"driver_id": [rng.randint(990, 1210) for _ in range(rows)]},
            "full_feature_names": rng.random() < 0.3,
        }
        if "driver_customer:orders" in body["features"] or rng.random() < 0.2:
            body["entities"]["customer_id"] = [f"c{rng.randint(0, 25)}" for _ in range(rows)]
        yield body
    yield {"feature_service": "driver_all", "entities": {"driver_id": [1000, 1001, 5]}}
    yield {
        "feature_service": "driver_all",
        "entities": {"driver_id": [7]},
        "full_feature_names": True,
    }
    yield {
        "features": online_repo.NINE,
        "entities": {"driver_id": [1000, 1]},
        "include_feature_view_version_metadata": True,
    }


def by_name(answer: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(answer["metadata"]["feature_names"], answer["results"], strict=True))


def served_ok(client: httpx.Client, url: str) -> float:
    """The server's count of 200 answers to /get-online-features, from /metrics. (Importing
    feast.metrics turns prometheus_client multiprocess: values are per process, not per app.)"""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get(url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "raylake_feature_server_requests_total" and sample.labels == {
                "endpoint": URL,
                "status": "200",
            }:
                return sample.value
    return 0.0


def compare(ours_url: str, feast_url: str) -> None:
    with httpx.Client(timeout=30) as client:
        served_before = served_ok(client, ours_url)
        for body in requests(seed=3, count=40):
            ours, feast = (
                client.post(ours_url + URL, json=body),
                client.post(feast_url + URL, json=body),
            )
            assert ours.status_code == feast.status_code == 200, (ours.text, feast.text)
            assert list(ours.json()) == list(feast.json())
            assert by_name(ours.json()) == by_name(feast.json()), body
            meta = [
                {k: v for k, v in r.json()["metadata"].items() if k != "feature_names"}
                for r in (ours, feast)
            ]
            assert meta[0] == meta[1]
        bad = {"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}}
        assert client.post(ours_url + URL, json=bad).status_code == 404
        bad = {"features": ["driver_stats:trips"], "entities": {"driver_id": ["x"]}}
        assert client.post(ours_url + URL, json=bad).status_code == 422
        assert served_ok(client, ours_url) - served_before == 43


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_same_json_as_feast_serve_on_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        repo = online_repo.write_repo(tmp_path / "repo", online_store=url)
        with both_servers(repo) as (ours, feast):
            compare(ours, feast)


def test_same_json_as_feast_serve_on_sqlite(tmp_path: Path) -> None:
    repo = online_repo.write_repo(tmp_path / "repo")
    with both_servers(repo) as (ours, feast):
        compare(ours, feast)


def test_cli_serve(tmp_path: Path) -> None:
    """``raylake features serve --port P`` serves the workspace's repo until stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "raylake"), "features", "serve", "--port", str(port)]
    env = {**os.environ, "RAYLAKE_HOME": str(tmp_path / "home")}
    with processes({url: command}, tmp_path, env=env):
        body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}}
        response = httpx.post(url + URL, json=body)
        assert response.status_code == 404
        assert response.json()["error"] == "UnknownFeatureError"
        assert "/get-online-features" in httpx.get(url + "/openapi.json").json()["paths"]


def test_workspace_views_over_http(ws, schema: str) -> None:
    """A view over a raylake Delta table, materialized on Ray, served over HTTP: the API answers
    what Feast's own get_online_features answers on the workspace's repo."""
    import datetime as dt

    import numpy as np
    import pandas as pd
    from feast import Entity, FeatureView, Field
    from feast.feature_server_utils import convert_response_to_dict
    from feast.types import Float64, Int64, String
    from feast.value_type import ValueType

    from raylake.features import table_source
    from raylake.features._server import running

    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    rng = np.random.default_rng(11)
    n = 200
    frame = pd.DataFrame(
        {
            "srv_driver_id": rng.integers(0, 40, n),
            "event_ts": [t0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 5000, n)],
            "fare": rng.random(n) * 30,
            "trips": rng.integers(0, 9, n),
            "city": rng.choice(["oslo", "rome", None], n),
        }
    )
    table = f"{schema}.srv_trips"
    ws.write_table(table, frame)
    entity = Entity(name="srv_driver", join_keys=["srv_driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=f"srv_{schema}",
        entities=[entity],
        ttl=dt.timedelta(days=30),
        schema=[
            Field(name="fare", dtype=Float64),
            Field(name="trips", dtype=Int64),
            Field(name="city", dtype=String),
        ],
        source=table_source(table, timestamp_field="event_ts"),
    )
    ws.features.apply([entity, view])
    ws.features.materialize(t0, t0 + dt.timedelta(days=5), views=[view.name])
    refs = [f"{view.name}:{f}" for f in ("fare", "trips", "city")]
    entities = {"srv_driver_id": list(range(45))}  # 40..44 have no rows
    expected = convert_response_to_dict(
        ws.features.feast.get_online_features(features=refs, entity_rows=entities).proto
    )
    with running(ws.features) as url:
        got = httpx.post(url + URL, json={"features": refs, "entities": entities}).json()
    assert by_name(got) == by_name(expected)
    assert by_name(got)["trips"]["statuses"][40:] == ["NOT_FOUND"] * 5
