"""Dashboards on a real catalog and Delta tables through ws.sql (DataFusion: no Ray, no Spark):
saved specs, standalone HTML with the chart data, named errors, the CLI and the web routes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import raylake
from raylake.cli import app
from raylake.errors import DashboardError, DashboardNotFoundError, InvalidNameError
from raylake.web import create_app

QUERIES = [
    {
        "name": "daily",
        "sql": "SELECT day, SUM(fare) AS fares FROM sales.rides GROUP BY day ORDER BY day",
        "chart": {"type": "line", "x": "day", "y": "fares", "title": "Fares per day"},
    },
    {
        "name": "by_driver",
        "sql": "SELECT driver, COUNT(*) AS rides FROM sales.rides GROUP BY driver ORDER BY driver",
        "chart": {"type": "bar", "x": "driver", "y": "rides"},
    },
    {
        "name": "fare_vs_km",
        "sql": "SELECT km, fare FROM sales.rides WHERE fare > :min ORDER BY km",
        "params": {"min": 0},
        "chart": {"type": "scatter", "x": "km", "y": "fare"},
    },
    {"name": "top", "sql": "SELECT driver, fare FROM sales.rides ORDER BY fare DESC LIMIT 2"},
]


@pytest.fixture
def ws(local_ws: raylake.Workspace) -> raylake.Workspace:
    local_ws.catalog.create_schema("sales")
    local_ws.write_table(
        "sales.rides",
        pd.DataFrame(
            {
                "day": ["d1", "d1", "d2", "d3"],
                "driver": ["ann", "bob", "ann", "<script>x</script>"],
                "fare": [10.0, 5.0, 7.5, 12.0],
                "km": [3.0, 1.0, 2.0, 4.0],
            }
        ),
    )
    return local_ws


class _Checker(HTMLParser):
    """Collects tags and checks that every opened element is closed (well-formed enough)."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _plots(page: str) -> dict[str, list[dict]]:
    """div id -> the Plotly traces the page draws there."""
    out = {}
    decoder = json.JSONDecoder()
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        traces, _ = decoder.raw_decode(page, match.end())
        out[match.group(1)] = traces
    return out


def test_export_is_standalone_html_with_the_chart_data(
    ws: raylake.Workspace, tmp_path: Path
) -> None:
    saved = ws.dashboards.create("rides", QUERIES, title="Rides")
    assert [q.chart.type for q in saved.queries] == ["line", "bar", "scatter", "table"]
    assert ws.dashboards.get("rides").queries == saved.queries  # kept in the catalog

    path = ws.dashboards.export("rides", tmp_path / "rides.html")
    page = path.read_text()
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert page.startswith("<!DOCTYPE html>") and not checker.stack
    assert checker.seen.count("script") == 1 + 3  # plotly.js inline (offline) + one per chart
    assert "<script src" not in page and "plotly.js v" in page  # the library itself is inline

    plots = _plots(page)
    assert plots["rl-panel-0"][0]["x"] == ["d1", "d2", "d3"]
    assert plots["rl-panel-0"][0]["y"] == [15.0, 7.5, 12.0]
    assert plots["rl-panel-1"][0]["type"] == "bar"
    assert plots["rl-panel-1"][0]["x"] == ["<script>x</script>", "ann", "bob"]  # JSON-decoded
    assert plots["rl-panel-1"][0]["y"] == [1, 2, 1]
    assert plots["rl-panel-2"][0]["x"] == [1.0, 2.0, 3.0, 4.0]
    # The table panel is HTML, data escaped (never markup).
    assert "<td>12.0</td>" in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page


def test_bad_dashboards_fail_with_named_errors(ws: raylake.Workspace) -> None:
    line = {"type": "line", "x": "day", "y": "fares"}
    with pytest.raises(DashboardError, match="needs x and y"):
        ws.dashboards.create("d", [{"name": "q", "sql": "SELECT 1", "chart": {"type": "line"}}])
    with pytest.raises(DashboardError, match="chart.type"):
        ws.dashboards.create("d", [{"name": "q", "sql": "SELECT 1", "chart": {"type": "pie"}}])
    with pytest.raises(DashboardError, match=r"column\(s\) fares"):
        ws.dashboards.create(
            "d", [{"name": "q", "sql": "SELECT day FROM sales.rides", "chart": line}]
        )
    with pytest.raises(DashboardError, match="query 'q'.*no_such"):
        ws.dashboards.create("d", [{"name": "q", "sql": "SELECT * FROM sales.no_such"}])
    with pytest.raises(DashboardError, match="two queries"):
        ws.dashboards.create("d", [{"name": "q", "sql": "SELECT 1"}] * 2)
    with pytest.raises(DashboardError, match="non-empty list"):
        ws.dashboards.create("d", [])
    with pytest.raises(InvalidNameError):
        ws.dashboards.create("Bad Name", QUERIES)
    with pytest.raises(DashboardNotFoundError):
        ws.dashboards.export("missing")
    ws.dashboards.create("d", QUERIES[:1])
    with pytest.raises(DashboardError, match="exists"):
        ws.dashboards.create("d", QUERIES[:1])
    assert ws.dashboards.create("d", QUERIES[1:2], replace=True).queries[0].name == "by_driver"
    ws.dashboards.delete("d")
    assert [d.name for d in ws.dashboards.list()] == []


def test_cli_creates_and_exports(ws: raylake.Workspace, home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "rides.yaml"
    spec.write_text(json.dumps({"name": "rides", "title": "Rides", "queries": QUERIES}))  # YAML
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    created = runner.invoke(app, ["--home", str(home), "dashboards", "create", str(spec)], env=env)
    assert created.exit_code == 0, created.output
    out = tmp_path / "out.html"
    args = ["--home", str(home), "dashboards", "export", "rides", "--output", str(out)]
    exported = runner.invoke(app, args, env=env)
    assert exported.exit_code == 0, exported.output
    assert "rl-panel-2" in out.read_text()
    listed = runner.invoke(app, ["--home", str(home), "dashboards", "list"], env=env)
    assert "rides" in listed.stdout
    missing = runner.invoke(app, ["--home", str(home), "dashboards", "export", "nope"], env=env)
    assert missing.exit_code == 1 and "dashboard 'nope' does not exist" in missing.stderr


def test_web_routes(ws: raylake.Workspace) -> None:
    ws.dashboards.create("rides", QUERIES, title="Rides")
    client = TestClient(create_app(ws))
    page = client.get("/dashboards/rides")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboards/_static/plotly.min.js"' in page.text  # not 4 MB per page
    js = client.get("/dashboards/_static/plotly.min.js")
    assert js.status_code == 200 and "plotly.js v" in js.text[:200]
    assert client.get("/api/dashboards").json()[0]["name"] == "rides"
    assert client.get("/api/dashboards/rides").json()["queries"][0]["chart"]["type"] == "line"
    missing = client.get("/dashboards/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "DashboardNotFoundError"
