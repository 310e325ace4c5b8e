"""``POST /api/sql`` through FastAPI's TestClient, and ``raylake ui`` as a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

import raylake
from raylake.sql.formats import ARROW_STREAM
from raylake.web import create_app


@pytest.fixture
def client(local_ws: raylake.Workspace) -> TestClient:
    local_ws.write_table(
        "orders",
        pd.DataFrame(
            {
                "id": [1, 2, 3],
                "amount": [1.5, None, float("nan")],
                "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]).as_unit("us"),
            }
        ),
    )
    local_ws.write_table(
        "orders",
        pd.DataFrame(
            {"id": [4], "amount": [2.0], "day": [pd.Timestamp("2026-01-04").as_unit("us")]}
        ),
    )
    return TestClient(create_app(local_ws))


def test_health(client: TestClient) -> None:
    got = client.get("/api/health")
    assert got.status_code == 200 and got.json()["status"] == "ok"


def test_json_rows_and_schema(client: TestClient) -> None:
    got = client.post(
        "/api/sql",
        json={
            "query": "SELECT id, amount, day FROM orders@v0 WHERE id >= :n ORDER BY id",
            "params": {"n": 2},
        },
    )
    assert got.status_code == 200
    body = got.json()
    assert [c["name"] for c in body["schema"]] == ["id", "amount", "day"]
    assert body["num_rows"] == 2
    assert body["rows"] == [
        {"id": 2, "amount": None, "day": "2026-01-02T00:00:00"},
        {"id": 3, "amount": None, "day": "2026-01-03T00:00:00"},  # NaN is not JSON: null
    ]


def test_arrow_stream(client: TestClient) -> None:
    got = client.post(
        "/api/sql",
        json={"query": "SELECT id FROM orders ORDER BY id"},
        headers={"Accept": ARROW_STREAM},
    )
    assert got.status_code == 200 and got.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(got.content).read_all()
    assert table.column("id").to_pylist() == [1, 2, 3, 4]


def test_params_cannot_inject(client: TestClient) -> None:
    for evil in ("1 OR 1=1", "x' OR '1'='1", "1; DROP TABLE orders"):
        got = client.post(
            "/api/sql",
            json={
                "query": "SELECT count(*) AS n FROM orders WHERE CAST(id AS STRING) = :v",
                "params": {"v": evil},
            },
        )
        assert got.json()["rows"] == [{"n": 0}]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"query": "SELEC 1"}, 400, "SqlError"),
        ({"query": "SELECT nope FROM orders"}, 400, "SqlError"),
        ({"query": "SELECT * FROM orders WHERE id = :n"}, 400, "SqlError"),
        ({"query": "SELECT 1 AS x", "engine": "sqlite"}, 400, "InvalidArgumentError"),
        ({"query": "SELECT * FROM nowhere"}, 404, "TableNotFoundError"),
        ({"query": "SELECT * FROM orders@v9"}, 404, "VersionNotFoundError"),
        ({"query": "DROP TABLE orders"}, 403, "ReadOnlyError"),
        ({"query": "CREATE TABLE x AS SELECT 1 AS a"}, 403, "ReadOnlyError"),
    ],
)
def test_errors_are_json(client: TestClient, body: dict, status: int, error: str) -> None:
    got = client.post("/api/sql", json=body)
    assert got.status_code == status
    assert got.json()["error"] == error and got.json()["detail"]


def test_malformed_requests_are_4xx(client: TestClient) -> None:
    assert client.post("/api/sql", json={}).status_code == 422
    assert (
        client.post("/api/sql", json={"query": "SELECT 1", "params": {"a": [1]}}).status_code == 422
    )
    assert client.post("/api/sql", content=b"not json").status_code == 422


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_raylake_ui_serves_the_api(home: Path) -> None:
    with raylake.connect(home=home) as ws:
        ws.write_table("t", pd.DataFrame({"a": [1, 2]}))
    port = _free_port()
    env = {**os.environ, "RAYLAKE_HOME": str(home), "RAYLAKE_UI_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-c", "from raylake.cli.app import main; main()", "ui"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "raylake ui did not come up"
            time.sleep(0.2)
        got = httpx.post(f"{url}/api/sql", json={"query": "SELECT sum(a) AS s FROM t"})
        assert got.json()["rows"] == [{"s": 3}]
    finally:
        server.terminate()
        server.wait(timeout=30)
