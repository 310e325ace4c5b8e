"""The workspace UI in headless Chromium over a demo-like chain on real Ray, Feast, MLflow and
Ray Serve: table -> feature view -> training set -> sweep -> trial run -> model -> endpoint.

Every page loads without console errors, the lineage graph draws the whole chain, the endpoint
page plots live metrics, and screenshots land in tests/artifacts/ui/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import raylake
from raylake.training import report

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
FEATURES = ["rate", "trips"]
ENDPOINT = "ui_demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(config: dict[str, Any], data: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=config["C"]).fit(data[FEATURES], data["label"])
    acc = float(model.score(data[FEATURES], data["label"]))
    report({"accuracy": acc}, model=model, input_example=data[FEATURES][:3])


@dataclass
class Demo:
    ws: raylake.Workspace
    schema: str
    view: str
    model: str
    version: int
    base: str  # the UI's URL


def _chain(ws: raylake.Workspace, schema: str) -> tuple[str, str, int]:
    """The demo chain, small: 120 driver rows, one view, a 1-trial sweep, one model (and a
    dashboard over the table)."""
    from feast import Entity, FeatureView, Field
    from feast.types import Float64, Int64
    from feast.value_type import ValueType
    from ray import tune

    from raylake.features import table_source

    rng = np.random.default_rng(11)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    drivers = pd.DataFrame(
        {
            "driver_id": np.arange(120, dtype="int64"),
            "event_ts": [t0] * 120,
            "rate": rng.normal(size=120),
            "trips": rng.integers(0, 20, size=120).astype("int64"),
        }
    )
    table = f"main.{schema}.drivers"
    ws.write_table(table, drivers)
    driver = Entity(name=f"{schema}_driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=f"{schema}_stats",
        entities=[driver],
        ttl=dt.timedelta(days=1),
        schema=[Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int64)],
        source=table_source(table, "event_ts"),
    )
    ws.features.apply([driver, view])
    spine = drivers[["driver_id"]].assign(
        event_timestamp=t0 + dt.timedelta(hours=1),
        label=(drivers.rate + 0.05 * drivers.trips > 0.5).astype("int64"),
    )
    training = ws.features.training_set(spine, [f"{view.name}:{f}" for f in FEATURES])
    training.write(f"main.{schema}.train")
    swept = ws.sweep(
        train,
        {"C": tune.grid_search([1.0])},
        metric="accuracy",
        experiment=f"{schema}-sweep",
        data=f"main.{schema}.train",
        progress=False,
    )
    ws.dashboards.create(
        f"{schema}_trips",
        [
            {
                "name": "trips per driver",
                "sql": f"SELECT driver_id, trips FROM main.{schema}.drivers ORDER BY driver_id",
                "chart": {"type": "bar", "x": "driver_id", "y": "trips"},
            }
        ],
        replace=True,
    )
    model = f"main.{schema}.churn"
    version = ws.models.register(swept, model).version
    ws.models.set_alias(model, "champion", version)
    return view.name, model, version


@pytest.fixture(scope="module")
def demo(ws: raylake.Workspace) -> Iterator[Demo]:
    import uvicorn
    from ray import serve

    from raylake.web import create_app

    schema = f"ui{int(time.time() * 1000) % 10**8}"
    ws.catalog.create_schema(schema)
    view, model, version = _chain(ws, schema)
    ws.ray()
    serve.start(http_options={"host": "127.0.0.1", "port": _free_port()})
    server = None
    try:
        endpoint = ws.serve(ENDPOINT, model=f"models:/{model}@champion")
        rows = [{"rate": 0.3, "trips": 4}, {"rate": -1.0, "trips": 1}]
        for _ in range(3):
            httpx.post(endpoint.invocations_url, json={"dataframe_records": rows}, timeout=60)
        port = _free_port()
        config = uvicorn.Config(create_app(ws), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Demo(ws, schema, view, model, version, base)
    finally:
        if server is not None:
            server.should_exit = True
        for e in ws.endpoints.list():
            ws.endpoints.delete(e.name)
        serve.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Page:
    """One browser tab that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} at {msg.location}")

    def open(self, path: str, shot: str) -> Any:
        response = self.page.goto(self.base + path, wait_until="networkidle")
        assert response.status == 200, f"{path}: {response.status}"
        self.page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
        assert not self.errors, f"{path}: {self.errors}"
        return self.page


def test_every_page_loads_without_console_errors(demo: Demo, browser: Any) -> None:
    tab = Page(browser, demo.base)
    table = f"main.{demo.schema}.drivers"
    pages = {
        "home": "/",
        "catalog": "/catalog",
        "table": f"/tables/{table}",
        "pipelines": "/pipelines",
        "experiments": "/experiments",
        "models": "/models",
        "model": f"/models/{demo.model}",
        "endpoints": "/endpoints",
        "monitoring": "/monitoring",
        "dashboards": "/dashboards",
        "governance": "/governance",
    }
    for shot, path in pages.items():
        page = tab.open(path, shot)
        assert page.locator("header nav").count() == 1
    page = tab.open(f"/tables/{table}", "table")
    assert page.locator("#sample tr").count() == 21  # header + 20 rows
    assert "rate" in page.locator("#schema").inner_text()
    page = tab.open("/experiments", "experiments")
    page.get_by_text(f"{demo.schema}-sweep").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#runs tr").count() >= 3  # header, the sweep run and its trial
    page.locator("#runs a").first.click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / "run.png"), full_page=True)
    assert not tab.errors, tab.errors
    page = tab.open(f"/dashboards?show={demo.schema}_trips", "dashboard")
    frame = page.frame_locator("iframe.dash")
    frame.locator("svg.main-svg").first.wait_for(timeout=30_000)  # plotly drew the chart
    assert not tab.errors, tab.errors
    missing = tab.page.goto(demo.base + "/tables/main.nope.nope")
    assert missing.status == 404 and tab.page.locator("#error").count() == 1


def test_lineage_graph_draws_the_demo_chain(demo: Demo, browser: Any) -> None:
    tab = Page(browser, demo.base)
    whole = tab.open("/lineage", "lineage")  # the session's whole workspace (other tests' too)
    assert whole.locator("svg#lineage-graph g.node").count() >= 7
    # Downstream of the demo's table: every step of the chain, versions on the boxes.
    page = tab.open(f"/lineage?node=main.{demo.schema}.drivers", "lineage-demo")
    nodes = page.locator("svg#lineage-graph g.node")
    kinds = nodes.evaluate_all("ns => ns.map(n => n.dataset.kind)")
    assert {"table", "feature_view", "training_set", "run", "model", "endpoint"} <= set(kinds)
    assert kinds.count("run") == 2  # the sweep run and its best trial
    model = page.locator(f'g.node[data-name="{demo.model}"][data-version="{demo.version}"]')
    assert model.count() == 1 and model.bounding_box()["width"] > 100  # drawn, not hidden
    assert f"churn v{demo.version}" in model.text_content()
    assert page.locator(f'g.node[data-kind="endpoint"][data-name="{ENDPOINT}"]').count() == 1
    # table -> view -> training set (+ table -> set) -> sweep -> trial -> model -> endpoint
    assert page.locator("svg#lineage-graph path.edge").count() == 7
    # Around the model: its whole upstream back to the table version, and its endpoint.
    page = tab.open(f"/lineage?node={demo.model}", "lineage-model")
    names = page.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.name)")
    assert f"main.{demo.schema}.drivers" in names and ENDPOINT in names
    assert f"feature_views:/{demo.view}" in names


def test_endpoint_page_plots_live_metrics(demo: Demo, browser: Any) -> None:
    tab = Page(browser, demo.base)
    page = tab.open(f"/endpoints/{ENDPOINT}", "endpoint")
    url = demo.ws.endpoints.get(ENDPOINT).invocations_url
    rows = [{"rate": 0.1, "trips": 2}]
    for _ in range(2):  # traffic between two polls, so the rate plot has a point
        for _ in range(5):
            httpx.post(url, json={"dataframe_records": rows}, timeout=60)
        page.wait_for_timeout(3200)
    assert "requests in total" in page.locator("#live-status").inner_text()
    points = page.evaluate("document.getElementById('plot-rate').data[0].x.length")
    assert points >= 1
    assert page.locator("#plot-latency .main-svg").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "endpoint.png"), full_page=True)
    assert not tab.errors, tab.errors
