"""The FastAPI helpers other raylake servers use: bearer tokens -> principal -> privilege.

A real FastAPI app over a real workspace (in-process ASGI client, no port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

import raylake
from raylake.governance.http import authenticated, require


def _app(ws: raylake.Workspace) -> FastAPI:
    app = FastAPI()
    can_read = require(ws, "SELECT", "table", lambda r: r.path_params["name"], action="read")

    @app.get("/tables/{name}/count")
    def count(name: str, who: str = Depends(can_read)) -> dict:
        # The SDK then acts as the caller, under the same checks.
        with raylake.connect(home=ws.settings.home, user=who, auth=ws.settings.auth) as as_who:
            return {"principal": who, "rows": as_who.table(name).num_rows()}

    @app.get("/whoami")
    def whoami(who: str = Depends(authenticated(ws))) -> dict:
        return {"principal": who}

    return app


@pytest.fixture
def setup(home: Path) -> Iterator[tuple[raylake.Workspace, str]]:
    with raylake.connect(home=home, user="admin") as admin:
        admin.catalog.create_schema("sales")
        admin.write_table("sales.orders", pd.DataFrame({"id": [1, 2, 3]}))
        admin.principals.create_user("alice")
        admin.principals.create_service_principal("scorer")
        admin.grant("USE", "catalog", "main", "alice")
        token = admin.tokens.create("alice")
    with raylake.connect(home=home, user="admin", auth=True) as server_ws:
        yield server_ws, token


def test_without_select_403_with_it_200_and_every_attempt_audited(setup) -> None:
    ws, token = setup
    client = TestClient(_app(ws))
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/whoami", headers=bearer).json() == {"principal": "alice"}
    refused = client.get("/tables/sales.orders/count", headers=bearer)
    assert refused.status_code == 403
    assert "lacks SELECT on table main.sales.orders" in refused.json()["detail"]["error"]
    ws.grant("SELECT", "table", "sales.orders", "alice")
    allowed = client.get("/tables/sales.orders/count", headers=bearer)
    assert allowed.status_code == 200
    assert allowed.json() == {"principal": "alice", "rows": 3}
    events = ws.audit(principal="alice", action="read")
    # Newest first: the 200 was checked twice (HTTP layer, then the SDK as alice), the 403 once.
    assert [e.outcome for e in events] == ["allowed", "allowed", "denied"]
    bad_name = client.get("/tables/Not A Name/count", headers=bearer)
    assert bad_name.status_code == 400


def test_missing_malformed_and_wrong_tokens_get_the_same_401(setup) -> None:
    ws, token = setup
    client = TestClient(_app(ws))
    headers = [
        {},
        {"Authorization": ""},
        {"Authorization": token},  # no scheme
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer rlk_"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Bearer {token[:-1]}{'A' if token[-1] != 'A' else 'B'}"},
        {"Authorization": f"Bearer {token}{token}"},
        {"Authorization": "Bearer " + "x" * 5000},
    ]
    answers = set()
    for h in headers:
        response = client.get("/tables/sales.orders/count", headers=h)
        assert response.status_code == 401, h
        assert response.headers["www-authenticate"] == "Bearer"
        answers.add(response.text)
    assert len(answers) == 1  # nothing says which part was wrong
    assert client.get("/whoami", headers={"Authorization": f"bearer {token}"}).status_code == 200
    ws.tokens.revoke(ws.tokens.list("alice")[0].id)
    assert client.get("/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_with_auth_off_requests_act_as_the_workspace_user(home: Path) -> None:
    with raylake.connect(home=home, user="admin") as ws:
        ws.catalog.create_schema("sales")
        ws.write_table("sales.orders", pd.DataFrame({"id": [1]}))
        client = TestClient(_app(ws))
        response = client.get("/tables/sales.orders/count")
        assert response.json() == {"principal": "admin", "rows": 1}
