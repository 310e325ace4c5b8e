"""The workspace UI pages and their JSON APIs on a real workspace (SQLite catalog, Delta tables,
MLflow store), through FastAPI's in-process client: content, 404s, auth on and off."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

import raylake
from raylake.web import _graph, create_app
from raylake.web._metrics import summarize


def _chain(ws: raylake.Workspace) -> None:
    """A table, and lineage edges as features, training and the registry record them."""
    ws.catalog.create_schema("sales")
    ws.write_table("sales.orders", pd.DataFrame({"id": [1, 2, 3], "amount": [9.5, 2.25, 4.0]}))
    ws.write_table("sales.orders", pd.DataFrame({"id": [4], "amount": [7.0]}))
    ws.catalog.set_tags("sales.orders", {"team": "finance"})
    # Seeding lineage as features, training and the registry record it (their code needs Ray).
    chain = [
        ("main.sales.orders", 1, "feature_views:/order_stats", None, "table", "feature_view"),
        ("feature_views:/order_stats", None, "main.sales.train", 0, "feature_view", "training_set"),
        ("main.sales.train", 0, "runs:/sweep0001", None, "table", "run"),  # as training does
        ("runs:/sweep0001", None, "runs:/trial0001", None, "run", "run"),
        ("runs:/trial0001", None, "main.models.churn", 1, "run", "model"),
    ]
    for source, sv, target, tv, sk, tk in chain:
        ws._store.add_edge(source, sv, target, tv, None, sk, tk)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[raylake.Workspace]:
    """One workspace with the chain for the tests that only read (MLflow set-up is slow)."""
    with raylake.connect(home=tmp_path_factory.mktemp("web-ui") / "home") as ws:
        _chain(ws)
        yield ws


@pytest.fixture(scope="module")
def client(shared: raylake.Workspace) -> TestClient:
    return TestClient(create_app(shared))


PAGES = ["/", "/catalog", "/lineage", "/pipelines", "/experiments", "/models", "/endpoints",
         "/monitoring", "/dashboards", "/governance", "/login"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<nav>" in r.text and "Traceback" not in r.text


def test_a_table_without_lineage_is_drawn_alone(
    shared: raylake.Workspace, client: TestClient
) -> None:
    shared.write_table("sales.lonely", pd.DataFrame({"x": [1]}))
    page = client.get("/tables/sales.lonely")
    assert page.status_code == 200 and page.text.count('class="node"') == 1


def test_catalog_and_table_page(client: TestClient) -> None:
    page = client.get("/catalog").text
    assert "main.sales" in page and 'href="/tables/main.sales.orders"' in page
    assert "team=finance" in page
    t = client.get("/tables/sales.orders").text
    assert "main.sales.orders" in t
    for expected in ("amount", "double", "9.5", "2.25", "team=finance", "WRITE", "feature view"):
        assert expected in t, expected
    history = t.split('id="history"')[1]
    assert len(re.findall(r"<tr><td>\d+</td>", history)) == 2  # versions 0 and 1
    api = client.get("/api/catalog/tables/main.sales.orders", params={"rows": 2}).json()
    assert api["version"] == 1 and api["num_rows"] == 4
    assert api["head"]["columns"] == ["id", "amount"] and len(api["head"]["rows"]) == 2
    assert api["info"]["owner"] == api["info"]["owner"] and api["info"]["tags"] == {
        "team": "finance"
    }
    names = [t["full_name"] for t in client.get("/api/catalog/tables").json()]
    assert "main.sales.orders" in names


def test_lineage_graph_shows_the_chain_with_versions(client: TestClient) -> None:
    graph = client.get("/api/lineage").json()
    ids = {n["id"] for n in graph["nodes"]}
    assert {
        "main.sales.orders@v1",
        "feature_views:/order_stats",
        "main.sales.train@v0",
        "runs:/sweep0001",
        "runs:/trial0001",
        "main.models.churn@v1",
    } <= ids
    assert {"source": "runs:/trial0001", "target": "main.models.churn@v1"} in graph["edges"]
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    assert kinds["main.models.churn@v1"] == "model" and kinds["runs:/sweep0001"] == "run"
    assert kinds["main.sales.train@v0"] == "training_set"  # the more specific kind wins
    page = client.get("/lineage").text
    assert page.count('class="node"') == len(ids) and page.count('class="edge"') == 5
    assert 'data-name="main.models.churn" data-version="1"' in page
    # Around one node: the model's upstream reaches the table.
    around = client.get("/api/lineage", params={"node": "main.models.churn"}).json()
    assert "main.sales.orders@v1" in {n["id"] for n in around["nodes"]}
    assert client.get("/lineage", params={"node": "runs:/trial0001"}).status_code == 200


def test_layout_puts_each_step_right_of_its_source_without_overlaps(
    shared: raylake.Workspace,
) -> None:
    from raylake.web._data import lineage_graph

    graph = lineage_graph(shared)
    for s, t in graph.edges:
        assert graph.nodes[s].x < graph.nodes[t].x
    spots = {(n.x, n.y) for n in graph.nodes.values()}
    assert len(spots) == len(graph.nodes)
    assert all(0 <= n.y <= graph.height - _graph.NODE_H for n in graph.nodes.values())


@pytest.mark.parametrize(
    "path",
    ["/tables/sales.nope", "/tables/Not%20A%20Name", "/tables/a.b.c.d", "/models/nope",
     "/models/Bad%20Name", "/endpoints/nope", "/endpoints/Bad-Name", "/monitoring/nope",
     "/monitoring/nope/reports/abc", "/runs/0123", "/experiments/9999",
     "/dashboards?show=nope", "/lineage?node=main.sales.nope", "/no/such/page"],
)  # fmt: skip
def test_bad_names_are_404_pages(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    if not path.startswith("/no/"):
        assert r.headers["content-type"].startswith("text/html") and 'id="error"' in r.text


@pytest.mark.parametrize(
    "path",
    ["/api/catalog/tables/sales.nope", "/api/catalog/tables/a.b.c.d", "/api/models/nope",
     "/api/endpoints/nope/metrics", "/api/lineage?node=nope.nope"],
)  # fmt: skip
def test_bad_names_are_404_json(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["error"] and r.json()["detail"]


def test_models_and_experiments_from_mlflow(local_ws: raylake.Workspace) -> None:
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    _chain(local_ws)
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    mlflow = MlflowClient(local_ws.settings.mlflow_tracking_uri)
    exp_id = mlflow.create_experiment("churn-sweep")
    run = mlflow.create_run(exp_id, run_name="trial-a")
    mlflow.log_param(run.info.run_id, "C", 0.5)
    for step, loss in enumerate([0.9, 0.5, 0.3]):
        mlflow.log_metric(run.info.run_id, "loss", loss, step=step)
    mlflow.set_terminated(run.info.run_id)
    model = LogisticRegression().fit(X, [0, 1, 0, 1])
    local_ws.models.register(model, "churn", input_example=X[:2], description="first")
    local_ws.models.set_alias("churn", "champion", 1)
    c = TestClient(create_app(local_ws))
    models = c.get("/models").text
    assert 'href="/models/main.models.churn"' in models and "@champion → v1" in models
    page = c.get("/models/churn").text
    assert '<span class="tag">@champion</span>' in page.split('id="versions"')[1]
    assert 'class="node"' in page
    assert [v["version"] for v in c.get("/api/models/churn").json()["versions"]] == [1]
    # A model with no lineage into the workspace's tables still has its page and graph.
    local_ws.models.register(model, "plain", input_example=X[:2])
    alone = c.get("/models/plain")
    assert alone.status_code == 200 and "plain v1" in alone.text
    assert f'href="/experiments/{exp_id}">churn-sweep' in c.get("/experiments").text
    runs = c.get(f"/experiments/{exp_id}").text
    assert "trial-a" in runs and "0.3" in runs
    node = f"runs:/{run.info.run_id}"
    local_ws._store.add_edge(node, None, "main.models.churn", 1, None, "run", "model")
    assert "run trial-a" in c.get("/lineage", params={"node": node}).text  # MLflow's run name
    run_page = c.get(f"/runs/{run.info.run_id}").text
    assert "C" in run_page and "plotly-graph-div" in run_page  # the loss curve
    assert "/dashboards/_static/plotly.min.js" in run_page and "cdn" not in run_page.lower()


def test_drift_page_plots_psi_and_links_reports(local_ws: raylake.Workspace) -> None:
    from raylake.serving._monitor import DRIFT_SCHEMA

    local_ws.catalog.create_schema("monitoring")
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "report_id": rid,
            "ts": ts + dt.timedelta(hours=i),
            "endpoint": "churn",
            "window": "1h",
            "window_start": ts,
            "window_end": ts,
            "model_name": "main.models.churn",
            "model_version": 1,
            "baseline": "main.sales.train@v0",
            "feature": feature,
            "kind": "numeric",
            "is_prediction": False,
            "n_baseline": 100,
            "n_recent": 50,
            "psi": psi,
            "ks_stat": 0.1,
            "ks_pvalue": 0.5,
            "drifted": psi > 0.2,
        }
        for i, rid in enumerate(["a" * 32, "b" * 32])
        for feature, psi in (("amount", 0.05 + i * 0.4), ("age", 0.01))
    ]
    table = pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA)
    local_ws.write_table("main.monitoring.churn_drift", table)
    folder = local_ws.settings.home / "monitoring" / "churn"
    folder.mkdir(parents=True)
    (folder / "drift-20260101T010000Z-bbbbbbbb.html").write_text("<html>report b</html>")
    c = TestClient(create_app(local_ws))
    assert 'href="/monitoring/churn"' in c.get("/monitoring").text
    page = c.get("/monitoring/churn").text
    assert "plotly-graph-div" in page and "PSI" in page
    assert page.count("<tr><td>2026-01-01") == 2 and "amount" in page
    assert 'href="/monitoring/churn/reports/' + "b" * 32 in page
    assert c.get("/monitoring/churn/reports/" + "b" * 32).text == "<html>report b</html>"
    assert c.get("/monitoring/churn/reports/" + "a" * 32).status_code == 404  # no HTML kept
    assert c.get("/monitoring/churn/reports/..%2F..%2Fetc").status_code == 404


def test_metrics_summary_sums_replicas_and_drops_inf_bucket() -> None:
    v1 = 'endpoint="e",model="m",model_version="1",role="champion"'
    v2 = 'endpoint="e",model="m",model_version="2",role="challenger"'
    text = f"""# TYPE raylake_endpoint_requests counter
raylake_endpoint_requests_total{{{v1},status="200"}} 3.0
raylake_endpoint_requests_total{{{v2},status="200"}} 1.0
# TYPE raylake_endpoint_errors counter
raylake_endpoint_errors_total{{endpoint="e",status="400",error_code="BAD_REQUEST"}} 2.0
# TYPE raylake_endpoint_request_latency_seconds histogram
raylake_endpoint_request_latency_seconds_bucket{{{v1},le="0.005"}} 2.0
raylake_endpoint_request_latency_seconds_bucket{{{v1},le="+Inf"}} 3.0
raylake_endpoint_request_latency_seconds_sum{{{v1}}} 0.03
raylake_endpoint_request_latency_seconds_count{{{v1}}} 3.0
"""
    m = summarize(text)
    assert (m["requests"], m["errors"], m["latency_count"]) == (4.0, 2.0, 3.0)
    assert m["buckets"] == [[0.005, 2.0]] and m["by_version"] == {"v1": 3.0, "v2": 1.0}


# -- auth on ---------------------------------------------------------------------------------------
@pytest.fixture
def secured(home: Path) -> Iterator[tuple[TestClient, str, str]]:
    """An auth-on UI; tokens of an admin and of alice (USE on main, nothing else)."""
    with raylake.connect(home=home, user="admin") as admin:
        _chain(admin)
        admin.principals.create_user("alice")
        admin.grant("USE", "catalog", "main", "alice")
        alice, root = admin.tokens.create("alice"), admin.tokens.create("admin")
    with raylake.connect(home=home, user="admin", auth=True) as ws:
        yield TestClient(create_app(ws)), alice, root


def test_auth_off_needs_no_token(client: TestClient) -> None:
    assert client.get("/api/catalog/tables").status_code == 200


@pytest.mark.parametrize("path", ["/api/catalog/tables", "/api/lineage", "/api/audit"])
def test_auth_on_apis_want_a_token(secured, path: str) -> None:
    c, alice, _ = secured
    for headers in ({}, {"Authorization": "Bearer rlk_nope"}, {"Authorization": alice}):
        r = c.get(path, headers=headers)
        assert (
            r.status_code == 401 and r.json()["detail"] == "missing, invalid or expired API token"
        )
    assert c.get(path, headers={"Authorization": f"Bearer {alice}"}).status_code == 200
    c.cookies.set("raylake_token", alice)
    assert c.get(path).status_code == 200


@pytest.mark.parametrize(
    "path", ["/", "/catalog", "/lineage", "/governance", "/tables/sales.orders"]
)
def test_auth_on_pages_show_sign_in_without_a_token(secured, path: str) -> None:
    c, _, _ = secured
    r = c.get(path)
    assert r.status_code == 401 and 'name="token"' in r.text
    c.cookies.set("raylake_token", "rlk_bad")
    assert c.get(path).status_code == 401


def test_token_link_becomes_a_session_cookie(secured) -> None:
    c, alice, _ = secured
    r = c.get("/catalog", params={"token": alice})
    assert r.status_code == 200 and "alice" in r.text
    assert [h.status_code for h in r.history] == [303] and str(r.url).endswith("/catalog")
    assert "httponly" in r.history[0].headers["set-cookie"].lower()
    assert c.get("/governance").status_code == 200  # the client kept the cookie


def test_select_is_needed_for_a_table_and_refusals_are_audited(secured) -> None:
    c, alice, root = secured
    as_alice = {"Authorization": f"Bearer {alice}"}
    assert c.get("/tables/sales.orders", headers=as_alice).status_code == 403
    r = c.get("/api/catalog/tables/sales.orders", headers=as_alice)
    assert r.status_code == 403 and "lacks SELECT" in r.json()["detail"]
    as_admin = {"Authorization": f"Bearer {root}"}
    ws = c.app.state.workspace
    ws.grant("SELECT", "table", "sales.orders", "alice")
    assert c.get("/tables/sales.orders", headers=as_alice).status_code == 200
    events = c.get("/api/audit", headers=as_admin, params={"principal": "alice"}).json()
    assert {"denied", "allowed"} <= {e["outcome"] for e in events}
    # alice sees only her own events and grants; the admin sees everyone's.
    own = c.get("/api/audit", headers=as_alice, params={"principal": "admin"}).json()
    assert own and {e["principal"] for e in own} == {"alice"}
    assert {g["principal"] for g in c.get("/api/grants", headers=as_alice).json()} == {"alice"}
    page = c.get("/governance", headers=as_admin).text
    assert 'id="grants"' in page and "SELECT" in page and "denied" in page


def test_sql_over_http_needs_select_on_every_table_it_reads(secured) -> None:
    """The caller's grants decide, not the server's principal; every attempt is audited."""
    c, alice, root = secured
    body = {"query": "SELECT count(*) AS n FROM sales.orders"}
    assert c.post("/api/sql", json=body).status_code == 401
    as_alice = {"Authorization": f"Bearer {alice}"}
    r = c.post("/api/sql", json=body, headers=as_alice)
    assert r.status_code == 403 and "lacks SELECT" in r.json()["detail"]["error"]
    c.app.state.workspace.grant("SELECT", "table", "sales.orders", "alice")
    r = c.post("/api/sql", json=body, headers=as_alice)
    assert r.status_code == 200 and r.json()["rows"][0]["n"] > 0
    events = c.get(
        "/api/audit", headers={"Authorization": f"Bearer {root}"}, params={"principal": "alice"}
    ).json()
    assert {"denied", "allowed"} <= {e["outcome"] for e in events}
    assert c.get("/api/dashboards").status_code == 401  # the dashboards router is signed-in only


def test_listings_show_the_callers_view(secured) -> None:
    """Catalog listings over HTTP are the token's principal's, not the server user's."""
    c, alice, root = secured
    ws = c.app.state.workspace
    ws.write_table("sales.refunds", pd.DataFrame({"id": [1]}))
    as_alice, as_admin = {"Authorization": f"Bearer {alice}"}, {"Authorization": f"Bearer {root}"}

    def tables(headers: dict[str, str], **params: str) -> set[str]:
        r = c.get("/api/catalog/tables", headers=headers, params=params)
        assert r.status_code == 200
        return {t["full_name"] for t in r.json()}

    def schemas(headers: dict[str, str]) -> set[str]:
        return {s["name"] for s in c.get("/api/catalog/schemas", headers=headers).json()}

    everything = {"main.sales.orders", "main.sales.refunds"}
    assert tables(as_admin) == everything
    # alice holds USE on main: she sees its schemas, but no table.
    assert tables(as_alice) == set() and schemas(as_alice) == {"main.default", "main.sales"}
    assert "main.sales.orders" not in c.get("/catalog", headers=as_alice).text
    ws.grant("SELECT", "table", "sales.orders", "alice")
    assert tables(as_alice) == {"main.sales.orders"}
    assert tables(as_alice, schema="sales") == {"main.sales.orders"}
    page = c.get("/catalog", headers=as_alice).text
    assert "main.sales.orders" in page and "refunds" not in page
    assert "refunds" in c.get("/catalog", headers=as_admin).text
    assert c.get("/api/models", headers=as_alice).json() == []
