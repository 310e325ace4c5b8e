"""The feature retrieval API with auth on: bearer token, SELECT on every feature view read.

A plain Feast repo (tests/helpers/online_repo) served in process, governed by a real local
workspace's catalog database (no Ray, no port)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import raylake
from raylake.features._online_reader import OnlineReader
from raylake.features._server import build, create_app, gate_of
from raylake.governance.gate import Gate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
import online_repo  # noqa: E402

URL = "/get-online-features"
STATS = {"features": ["driver_stats:conv_rate"], "entities": {"driver_id": [1001, 1002]}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> OnlineReader:
    return OnlineReader(online_repo.write_repo(tmp_path_factory.mktemp("online") / "repo"))


@pytest.fixture
def gov(home: Path) -> Iterator[tuple[raylake.Workspace, str]]:
    """An auth-on workspace acting as admin (the server's), and alice's token."""
    with raylake.connect(home=home, user="admin") as admin:
        admin.principals.create_user("alice")
        admin.grant("USE", "catalog", "main", "alice")
        token = admin.tokens.create("alice")
    with raylake.connect(home=home, user="admin", auth=True) as ws:
        yield ws, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("fast_path", [True, False])
def test_no_or_bad_token_401_json_and_audited(reader, gov, fast_path) -> None:
    ws, token = gov
    gate = Gate(ws.guard, ws.tokens)
    client = TestClient(build(reader, gate=gate) if fast_path else create_app(reader, gate))
    for headers in ({}, {"Authorization": token}, bearer(token[:-2]), bearer("x" * 5000)):
        answer = client.post(URL, json=STATS, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "InvalidTokenError"
        assert answer.headers["www-authenticate"] == "Bearer"
    # A 401 comes before the body is looked at.
    assert client.post(URL, content=b"not json").status_code == 401
    denied = ws.audit(principal="anonymous", action="authenticate")
    assert len(denied) == 5 and {e.outcome for e in denied} == {"denied"}


@pytest.mark.parametrize("fast_path", [True, False])
def test_select_on_every_view_read(reader, gov, fast_path) -> None:
    ws, token = gov
    gate = Gate(ws.guard, ws.tokens, ttl=0)  # no caching: every check reaches the guard
    client = TestClient(build(reader, gate=gate) if fast_path else create_app(reader, gate))
    refused = client.post(URL, json=STATS, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "PermissionDeniedError"
    assert "lacks SELECT on feature_view driver_stats" in refused.json()["detail"]

    ws.grant("SELECT", "feature_view", "driver_stats", "alice")
    allowed = client.post(URL, json=STATS, headers=bearer(token))
    assert allowed.status_code == 200
    assert allowed.json() == TestClient(build(reader)).post(URL, json=STATS).json()

    # Two views in one request: both needed.
    two = {**STATS, "features": ["driver_stats:trips", "driver_profile:name"]}
    assert client.post(URL, json=two, headers=bearer(token)).status_code == 403
    # A feature service reads each view it projects (driver_all: the first three views).
    service = {"feature_service": "driver_all", "entities": STATS["entities"]}
    ws.grant("SELECT", "feature_view", "driver_profile", "alice")
    assert client.post(URL, json=service, headers=bearer(token)).status_code == 403
    ws.grant("SELECT", "feature_view", "driver_hourly", "alice")
    assert client.post(URL, json=service, headers=bearer(token)).status_code == 200
    assert client.post(URL, json=two, headers=bearer(token)).status_code == 200

    events = ws.audit(principal="alice", action="read_features", limit=1000)
    assert {e.securable_type for e in events} == {"feature_view"}
    assert [e.outcome for e in events if e.outcome == "denied"] == ["denied"] * 3
    assert events[-1].securable_name == "driver_stats" and events[-1].outcome == "denied"


def test_bad_requests_are_4xx_not_500_with_auth(reader, gov) -> None:
    ws, token = gov
    ws.grant("SELECT", "catalog", "main", "alice")
    client = TestClient(build(reader, gate=Gate(ws.guard, ws.tokens)))
    headers = bearer(token)
    assert client.post(URL, content=b"{", headers=headers).status_code == 400
    odd = {**STATS, "features": [{"a": 1}]}
    assert client.post(URL, json=odd, headers=headers).status_code == 422
    unknown = {"feature_service": "nope", "entities": STATS["entities"]}
    assert client.post(URL, json=unknown, headers=headers).status_code == 404
    bad_name = {**STATS, "features": ["no such view!:x"]}
    assert client.post(URL, json=bad_name, headers=headers).status_code in (404, 422)
    assert client.post(URL, json=STATS, headers=headers).status_code == 200
    # Health, metrics and docs stay open (for probes and scrapers).
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_successes_cached_for_ttl_failures_never(reader, gov) -> None:
    ws, token = gov
    clock = Clock()
    gate = Gate(ws.guard, ws.tokens, ttl=3.0, clock=clock)
    client = TestClient(build(reader, gate=gate))
    ws.grant("SELECT", "feature_view", "driver_stats", "alice")
    for _ in range(5):
        assert client.post(URL, json=STATS, headers=bearer(token)).status_code == 200
    events = ws.audit(principal="alice", action="read_features")
    assert [e.outcome for e in events] == ["allowed"]  # checked once per TTL window
    ws.revoke("SELECT", "feature_view", "driver_stats", "alice")
    assert client.post(URL, json=STATS, headers=bearer(token)).status_code == 200  # cached
    clock.now += 3.1
    assert client.post(URL, json=STATS, headers=bearer(token)).status_code == 403
    assert client.post(URL, json=STATS, headers=bearer(token)).status_code == 403
    events = ws.audit(principal="alice", action="read_features")
    assert [e.outcome for e in events] == ["denied", "denied", "allowed"]  # refusals: each


def test_workspace_facade_brings_the_gate_only_with_auth_on(home: Path) -> None:
    with raylake.connect(home=home) as ws:
        assert gate_of(ws.features) is None
    with raylake.connect(home=home, auth=True) as ws:
        gate = gate_of(ws.features)
        assert isinstance(gate, Gate) and gate.guard is ws.guard
