"""Model endpoints with auth on (RAYLAKE_AUTH=on): EXECUTE to score, CREATE/MANAGE to deploy
and delete, every refusal audited. Real Ray Serve replicas check tokens against the
workspace's catalog database (they get the settings with the deployment)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd
import pytest

import raylake
from raylake.errors import PermissionDeniedError

pytestmark = pytest.mark.integration

MODEL = "main.serving_auth_test.tiny"
NAME = "authed"
ROWS = {"dataframe_records": [{"x1": 0.5, "x2": -1.0}, {"x1": -2.0, "x2": 0.1}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Governed:
    admin: raylake.Workspace  # auth on, the owner of catalog main
    url: str
    replica_urls: list[str]
    scorer: str  # principal names and tokens
    outsider: str
    scorer_token: str
    outsider_token: str
    dev: str


@pytest.fixture(scope="module")
def governed(ws: raylake.Workspace) -> Iterator[Governed]:
    from ray import serve
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x1": rng.normal(size=50), "x2": rng.normal(size=50)})
    y = (x.x1 > x.x2).astype("int64")
    version = ws.models.register(LogisticRegression().fit(x, y), MODEL, input_example=x[:3]).version
    ws.models.set_alias(MODEL, "champion", version)
    suffix = os.getpid()
    scorer, outsider, dev = (f"{p}_{suffix}" for p in ("scorer", "outsider", "dev"))
    ws.ray()
    serve.start(http_options={"host": "127.0.0.1", "port": _free_port()})
    admin = raylake.connect(home=ws.settings.home, user=ws.settings.user, auth=True)
    try:
        for name in (scorer, outsider, dev):
            admin.principals.create_user(name)
            admin.grant("USE", "catalog", "main", name)
        admin.grant("USE", "schema", "main.serving_auth_test", dev)
        admin.grant("SELECT", "model", MODEL, dev)
        scorer_token = admin.tokens.create(scorer)
        outsider_token = admin.tokens.create(outsider)
        admin.grant("EXECUTE", "endpoint", NAME, scorer)
        # A developer without CREATE cannot deploy: refused, audited, nothing started.
        with raylake.connect(home=ws.settings.home, user=dev, auth=True) as as_dev:
            with pytest.raises(PermissionDeniedError, match="lacks CREATE on catalog main"):
                as_dev.serve(NAME, model=f"models:/{MODEL}@champion")
            assert NAME not in [e.name for e in as_dev.endpoints.list()]
        endpoint = admin.serve(NAME, model=f"models:/{MODEL}@champion")
        yield Governed(
            admin,
            endpoint.invocations_url,
            [f"{u}/invocations" for u in endpoint.replica_urls],
            scorer,
            outsider,
            scorer_token,
            outsider_token,
            dev,
        )
    finally:
        for e in ws.endpoints.list():
            ws.endpoints.delete(e.name)
        serve.shutdown()
        admin.close()


def test_score_needs_a_token_with_execute(governed: Governed) -> None:
    g = governed
    for url in [g.url, *g.replica_urls]:  # the proxy and direct ingress: same checks
        anonymous = httpx.post(url, json=ROWS, timeout=30)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
        assert anonymous.headers["www-authenticate"] == "Bearer"
        bad = httpx.post(url, json=ROWS, headers={"Authorization": "Bearer rlk_nope"}, timeout=30)
        assert bad.status_code == 401
        refused = httpx.post(
            url, json=ROWS, headers={"Authorization": f"Bearer {g.outsider_token}"}, timeout=30
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        assert "lacks EXECUTE on endpoint authed" in refused.json()["message"]
        ok = httpx.post(
            url, json=ROWS, headers={"Authorization": f"Bearer {g.scorer_token}"}, timeout=30
        )
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["predictions"]) == 2

    audit = g.admin.audit
    assert {e.outcome for e in audit(principal=g.outsider, action="score")} == {"denied"}
    assert {e.outcome for e in audit(principal=g.scorer, action="score")} == {"allowed"}
    assert all(
        e.securable_type == "endpoint" and e.securable_name == NAME
        for e in audit(principal=g.scorer, action="score")
    )
    assert len(audit(principal="anonymous", action="authenticate", limit=1000)) >= 2


def test_endpoint_listings_show_what_each_user_may_see(governed: Governed) -> None:
    from raylake.web import _data

    g = governed
    assert NAME in [e.name for e in g.admin.endpoints.list()]  # the owner of main: everything
    for user, sees in ((g.scorer, True), (g.outsider, False), (g.dev, False)):
        with raylake.connect(home=g.admin.settings.home, user=user, auth=True) as as_user:
            assert (NAME in [e.name for e in as_user.endpoints.list()]) is sees, user
        # Servers list for their caller: the web UI and its JSON API go through this.
        assert (NAME in [e.name for e in _data.endpoints(g.admin, user)]) is sees, user


def test_deploy_and_delete_need_create_and_manage_and_are_audited(governed: Governed) -> None:
    g = governed
    events = g.admin.audit(principal=g.dev, action="deploy")
    assert [e.outcome for e in events] == ["denied"]
    assert events[0].securable_name == "main" and events[0].detail["endpoint"] == NAME
    ok = [e for e in g.admin.audit(action="deploy", limit=1000) if e.outcome == "ok"]
    assert any(e.securable_name == NAME and e.detail["models"] for e in ok)
    with raylake.connect(home=g.admin.settings.home, user=g.dev, auth=True) as as_dev:
        with pytest.raises(PermissionDeniedError, match="lacks MANAGE on endpoint authed"):
            as_dev.endpoints.delete(NAME)
        with pytest.raises(PermissionDeniedError, match="MANAGE"):
            as_dev.endpoints.refresh(NAME)
        with pytest.raises(PermissionDeniedError, match="MANAGE"):  # replacing needs MANAGE
            as_dev.serve(NAME, model=f"models:/{MODEL}@champion")
    assert g.admin.endpoints.get(NAME).status == "RUNNING"
    g.admin.endpoints.delete(NAME)
    deletes = g.admin.audit(action="delete", limit=1000)
    assert [(e.principal, e.outcome) for e in deletes if e.securable_name == NAME][:2] == [
        (g.admin.settings.user, "ok"),
        (g.admin.settings.user, "allowed"),
    ]
    denied = [e for e in deletes if e.principal == g.dev]
    assert [e.outcome for e in denied] == ["denied"]
