"""Drift reports over inference tables written by the real writer actor, baselines found through
lineage, report tables, HTML and a webhook received by a local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest
import ray

import raylake
from raylake.errors import BaselineNotFoundError, EmptyWindowError, NoInferencesError
from raylake.serving._inference_log import inference_writer

QUIET = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)  # inferences like the training data
SHIFTED = dt.datetime(2026, 3, 1, 14, 0, tzinfo=dt.UTC)  # y, city and predictions moved


def _frame(rng: np.random.Generator, n: int, y_mean: float, p_city: list[float], p_pos: float):
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "y": rng.normal(y_mean, 2, n),
            "city": rng.choice(["paris", "lyon", "nice"], n, p=p_city),
            "label": (rng.random(n) < p_pos).astype(int),
        }
    )


def _log(
    ws: raylake.Workspace,
    endpoint: str,
    model: str,
    rows: pd.DataFrame,
    start: dt.datetime,
    version: int = 1,
    predictions: list | None = None,
    per_request: int = 1,
) -> None:
    writer = inference_writer(endpoint, ws.settings, max_records=500, flush_interval_s=60)
    labels = rows["label"].tolist() if predictions is None else predictions
    # As endpoints log them: each request's rows as JSON records, one prediction per row.
    records = [
        {
            "request_id": uuid.uuid4().hex,
            "endpoint": endpoint,
            "model_name": model,
            "model_version": version,
            "ts": start + dt.timedelta(seconds=i),
            "latency_ms": 3.0,
            "inputs": rows.iloc[i : i + per_request][["x", "y"]].to_json(orient="records"),
            # looked up online, logged apart
            "features": rows.iloc[i : i + per_request][["city"]].to_json(orient="records"),
            "prediction": json.dumps([int(v) for v in labels[i : i + per_request]]),
        }
        for i in range(0, len(rows), per_request)
    ]
    for chunk in range(0, len(records), 50):
        writer.log.remote(records[chunk : chunk + 50])
    ray.get(writer.flush.remote())


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)  # a free port: tests run side by side
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(ws: raylake.Workspace) -> dict:
    """A training table, a model version whose lineage leads to it, and two logged windows."""
    ws.ray()
    schema = f"drift_{uuid.uuid4().hex[:8]}"
    ws.catalog.create_schema(schema)
    rng = np.random.default_rng(11)
    train = f"main.{schema}.train"
    version = ws.write_table(train, _frame(rng, 4000, 5.0, [0.5, 0.3, 0.2], 0.3))
    model = f"main.{schema}.churn"
    run = f"runs:/{uuid.uuid4().hex}"  # the lineage a sweep + register would have recorded
    ws._store.add_edge(train, version, run, None, run[6:], "table", "run")
    ws._store.add_edge(run, None, model, 1, run[6:], "run", "model")
    endpoint = f"churn_{schema}"
    _log(ws, endpoint, model, _frame(rng, 800, 5.0, [0.5, 0.3, 0.2], 0.3), QUIET)
    shifted = _frame(rng, 800, 7.0, [0.2, 0.3, 0.5], 0.6)
    _log(ws, endpoint, model, shifted, SHIFTED, per_request=4)
    return {"endpoint": endpoint, "train": train, "version": version, "model": model}


def test_no_drift_when_requests_look_like_training(ws: raylake.Workspace, served: dict) -> None:
    monitor = ws.monitor(served["endpoint"])
    report = monitor.drift_report(
        "30m", now=QUIET + dt.timedelta(minutes=20), prediction_baseline="label"
    )
    assert report.baseline == f"{served['train']}@{served['version']}"  # found via lineage
    assert (report.model_name, report.model_version, report.n_recent) == (served["model"], 1, 800)
    assert {r.feature for r in report.features} == {"x", "y", "city", "prediction"}
    assert report.drifted == []
    assert report.feature("prediction").is_prediction
    stored = ws.table(monitor.drift_table).to_pandas()
    assert len(stored) == 4 and set(stored["report_id"]) == {report.report_id}
    assert report.table_version == ws.table(monitor.drift_table).version


def test_shifted_features_and_predictions_are_flagged_and_alerted(
    ws: raylake.Workspace,
    served: dict,
    webhook: tuple[str, list[dict]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received = webhook
    with caplog.at_level(logging.WARNING, logger="raylake.monitoring"):
        report = ws.monitor(served["endpoint"]).drift_report(
            window="1h",
            now=SHIFTED + dt.timedelta(minutes=30),
            prediction_baseline="label",
            webhook=url,
        )
    assert sorted(report.drifted) == ["city", "prediction", "y"]
    assert report.n_recent == 800  # 200 requests of 4 rows each
    y = report.feature("y")
    assert y.psi >= 0.2 and y.ks_pvalue < 0.01 and y.recent_mean > y.baseline_mean + 1.5
    assert not report.feature("x").drifted
    assert report.feature("city").kind == "categorical" and report.feature("city").ks_stat is None
    # alerts: a log line per drifted feature, and the webhook got one JSON POST
    assert any("feature y PSI" in m for m in caplog.messages)
    assert report.alert_error is None and len(received) == 1
    assert {d["feature"] for d in received[0]["drifted"]} == {"city", "prediction", "y"}
    assert received[0]["endpoint"] == served["endpoint"]
    # the HTML report: one offline file with every feature's plot
    html = report.html_path.read_text()
    assert report.html_path.is_relative_to(ws.settings.home)
    assert "plotly" in html.lower() and '<script src="http' not in html  # inline plotly.js
    for feature in ("x", "y", "city", "prediction"):
        assert f"<td>{feature}</td>" in html and f"{feature}: PSI" in html


def test_explicit_baselines_and_named_errors(ws: raylake.Workspace, served: dict) -> None:
    monitor = ws.monitor(served["endpoint"])
    at = SHIFTED + dt.timedelta(minutes=30)
    by_version = monitor.drift_report(
        "1h", baseline=f"{served['train']}@{served['version']}", now=at, prediction_baseline=None
    )
    assert sorted(by_version.drifted) == ["city", "y"]
    frame = ws.table(served["train"]).to_pandas()
    frame["y"] += 2  # a baseline that looks like the shifted traffic
    own = monitor.drift_report("1h", baseline=frame, now=at, prediction_baseline=None)
    assert "y" not in own.drifted and own.baseline == "DataFrame"

    with pytest.raises(EmptyWindowError):
        monitor.drift_report("10m", now=QUIET - dt.timedelta(hours=1))
    with pytest.raises(NoInferencesError):
        ws.monitor("never_served").drift_report()
    rng = np.random.default_rng(3)
    orphan = f"{served['endpoint']}_orphan"
    _log(ws, orphan, "main.models.no_lineage", _frame(rng, 20, 5.0, [0.5, 0.3, 0.2], 0.3), QUIET)
    with pytest.raises(BaselineNotFoundError, match="no training table"):
        ws.monitor(orphan).drift_report("1h", now=QUIET + dt.timedelta(minutes=5))


def test_predictions_compared_with_the_model_scoring_its_training_data(
    ws: raylake.Workspace, served: dict
) -> None:
    from sklearn.linear_model import LogisticRegression

    train = ws.table(served["train"]).to_pandas()
    model = LogisticRegression().fit(train[["x", "y"]], train["label"])
    name = served["model"] + "_scored"
    mv = ws.models.register(model, name, input_example=train[["x", "y"]].head(3))
    # the registering run trained on the table (a sweep on the table records this edge)
    ws._store.add_edge(served["train"], served["version"], f"runs:/{mv.run_id}", None)
    rng = np.random.default_rng(5)
    rows = _frame(rng, 300, 5.0, [0.5, 0.3, 0.2], 0.3)
    scored = [int(p) for p in model.predict(rows[["x", "y"]])]
    endpoint = served["endpoint"] + "_scored"
    _log(ws, endpoint, name, rows, QUIET, version=mv.version, predictions=scored)
    report = ws.monitor(endpoint).drift_report("1h", now=QUIET + dt.timedelta(minutes=10))
    assert report.baseline == f"{served['train']}@{served['version']}"
    assert any("scored on the baseline" in n for n in report.notes)
    assert not report.feature("prediction").drifted and report.drifted == []
