"""raylake quickstart: raw ride files -> bronze -> silver -> gold Delta tables with Spark on Ray.

What it shows: incremental ingestion, expectations dropping bad rows, exactly-once reruns,
time travel, table history and lineage. ``make demo`` runs it on embedded defaults (local Ray,
RayDP Spark, SQLite catalog, Delta tables in a folder).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.tree import Tree

sys.path.insert(0, str(Path(__file__).parent))

import rides_features  # noqa: E402
from rides_data import write_days  # noqa: E402
from rides_pipelines import make_pipelines  # noqa: E402
from rides_training import FEATURES, high_fare_sweep  # noqa: E402

import raylake  # noqa: E402

# Wide enough for the run tables when output goes to a file or CI log (no terminal width).
console = Console(width=None if sys.stdout.isatty() else 140)
ROWS_PER_DAY = int(os.environ.get("QUICKSTART_ROWS_PER_DAY", "15000"))
FIRST_DAY = dt.date(2026, 11, 1)


def demo_home() -> Path:
    # A fresh workspace each run, so the demo always tells the same story.
    home = Path(os.environ.get("RAYLAKE_HOME", Path.cwd() / ".raylake-demo"))
    if home.exists() and (home / "catalog.db").exists():
        shutil.rmtree(home)
    return home


def show_runs(runs: list[raylake.catalog.PipelineRun]) -> None:
    table = RichTable(title="pipeline runs")
    for col in ("pipeline", "status", "rows in", "rows out", "dropped", "warnings", "version"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.pipeline,
            r.status,
            str(r.rows_in),
            str(r.rows_out),
            ", ".join(f"{k}={v}" for k, v in r.dropped.items() if v) or "-",
            ", ".join(f"{k}={v}" for k, v in r.warnings.items() if v) or "-",
            str(r.target_version),
        )
    console.print(table)


def run_all(ws: raylake.Workspace, pipelines: list[raylake.Pipeline]) -> list:
    runs = []
    for p in pipelines:
        with console.status(f"running {p.name}") as status:
            prefix = p.name
            runs.append(ws.run_pipeline(p, lambda msg, n=prefix: status.update(f"{n}: {msg}")))
    show_runs(runs)
    return runs


def show_lineage(ws: raylake.Workspace, name: str) -> None:
    """The upstream tree of ``name``: every version it came from, down to the raw files."""
    lineage = ws.lineage(name)
    tree = Tree(f"[bold]{lineage.name}[/bold] (upstream)")
    nodes: dict[tuple[str, int | None], Tree] = {}
    for edge in lineage.upstream:
        target = (edge.target_name, edge.target_version)
        parent = nodes.get(target) or nodes.get((edge.target_name, None)) or tree
        version = f" v{edge.source_version}" if edge.source_version is not None else ""
        into = f" -> v{edge.target_version}" if edge.target_version is not None else ""
        label = f"{edge.source_kind} {edge.source_name}{version}{into}"
        nodes.setdefault((edge.source_name, edge.source_version), parent.add(label))
    console.print(tree)


def feature_store(ws: raylake.Workspace) -> None:
    """Feast feature views over gold: apply, materialize on Ray, read online values back."""
    views = ws.features.apply(rides_features.OBJECTS)
    console.print(
        f"applied {', '.join(v.name for v in views)} (Feast repo: {ws.features.repo_path})"
    )
    gold = ws.table("gold.driver_daily_stats").to_pandas()
    end = gold["event_ts"].max().to_pydatetime()
    [done] = ws.features.materialize(gold["event_ts"].min().to_pydatetime(), end)
    console.print(
        f"materialized {done.rows:,} drivers from {done.table} v{done.version} into the online "
        f"store on Ray"
    )
    latest = gold.sort_values("event_ts").drop_duplicates("driver_id", keep="last")
    sample = latest.sort_values("driver_id").head(3)
    online = ws.features.online(
        "driver_activity", [{"driver_id": int(d)} for d in sample.driver_id]
    )
    table = RichTable(title="online features (service driver_activity)")
    for col in online:
        table.add_column(col)
    for row in zip(*online.values(), strict=True):
        table.add_row(*(str(v) for v in row))
    console.print(table)
    assert online["rides"] == [int(r) for r in sample.rides], "online = latest offline values"

    # training set: point-in-time correct features for labelled driver-days. Each label (a
    # high-fare day) gets the features known just before that day started: the previous
    # days' stats within the view's 7-day TTL, never the same day's (that would leak it).
    spine = gold[["driver_id", "event_ts"]].rename(columns={"event_ts": "event_timestamp"})
    spine["event_timestamp"] -= dt.timedelta(seconds=1)
    spine["high_fare"] = (gold["avg_fare"] > gold["avg_fare"].median()).astype("int64")
    training = ws.features.training_set(spine, "driver_activity")
    version = training.write("gold.driver_training_set")
    frame = training.to_pandas()
    console.print(
        f"training set: {len(frame):,} labelled driver-days, "
        f"{frame['rides'].notna().mean():.0%} with features from an earlier day, "
        f"written as {training.name} v{version}"
    )
    show_lineage(ws, "gold.driver_training_set")

    # HTTP: the same lookup through the feature retrieval API (Feast's feature server JSON)
    import httpx

    from raylake.features._server import running  # `raylake features serve` runs it for good

    with running(ws.features) as url:  # a free port on 127.0.0.1, stopped after the block
        body = {
            "feature_service": "driver_activity",
            "entities": {"driver_id": online["driver_id"]},
        }
        answer = httpx.post(f"{url}/get-online-features", json=body).json()
    served = dict(zip(answer["metadata"]["feature_names"], answer["results"], strict=True))
    console.print(f"POST {url}/get-online-features -> rides {served['rides']['values']}")
    assert served["rides"]["values"] == online["rides"], "HTTP answers what ws.features.online does"


def serve_champion(ws: raylake.Workspace, model: str, gold: Any) -> None:
    """The @champion behind an endpoint that reads driver features online, a challenger on
    10% of traffic promoted under load, the endpoint's metrics, then a drift report."""
    import threading

    import httpx

    # Requests carry a driver id plus the day's rides and avg_duration_min (known at request
    # time); the replica reads total_km and avg_rating from the online store itself: one hop.
    # (rides is Int64 in the store and the model wants doubles, which MLflow will not cast.)
    request_columns = ["rides", "avg_duration_min"]
    online = [f for f in FEATURES if f not in request_columns]
    challenger = ws.models.register(ws.models.get(model, "champion").source, model).version
    ws.models.set_alias(model, "challenger", challenger)  # in practice: a retrained model
    endpoint = ws.serve(
        "high_fare",
        model=f"models:/{model}@champion",
        features=[f"driver_daily:{f}" for f in online],
        entity_keys=["driver_id"],
        challenger=f"models:/{model}@challenger",
        traffic={"champion": 90, "challenger": 10},
    )
    url = endpoint.invocations_url
    console.print(f"endpoint {url}: @champion v{endpoint.version} 90%, v{challenger} 10%")
    latest = gold.sort_values("event_ts").drop_duplicates("driver_id", keep="last")
    rows = [
        {"driver_id": int(r.driver_id), **{c: float(getattr(r, c)) for c in request_columns}}
        for r in latest.itertuples()
    ]
    first = httpx.post(url, json={"dataframe_records": rows[:3]}, timeout=60)
    console.print(f"POST {rows[:3]} -> {first.json()}", markup=False)
    expected = ws.models.load(model, "champion").predict(latest[FEATURES][:3].astype("float64"))
    assert first.json()["predictions"] == [int(p) for p in expected], "online = offline features"

    # Traffic while the alias moves: promotion reconfigures the running replica in place.
    answered: dict[str, int] = {}
    failed: list[int] = []
    stop = threading.Event()

    def traffic(jam: float) -> None:  # jam > 1: slower rides than in training, for drift
        with httpx.Client(timeout=60) as client:
            i = 0
            while not stop.is_set():
                row = rows[i % len(rows)]
                row = {**row, "avg_duration_min": row["avg_duration_min"] * jam}
                r = client.post(url, json={"dataframe_records": [row]})
                if r.status_code == 200:
                    version = r.headers["X-Raylake-Model-Version"]
                    answered[version] = answered.get(version, 0) + 1
                else:
                    failed.append(r.status_code)
                i += 1

    sender = threading.Thread(target=traffic, args=(1.6,))
    sender.start()
    time.sleep(2)
    ws.models.set_alias(model, "champion", challenger)
    promoted = ws.endpoints.refresh("high_fare")
    time.sleep(1)
    stop.set()
    sender.join()
    console.print(
        f"promoted v{challenger} to @champion under load: answers by version {answered}, "
        f"{len(failed)} failed; now serving v{promoted.version}"
    )
    metrics = httpx.get(f"{endpoint.url}/metrics", timeout=60).text
    for line in metrics.splitlines():
        if line.startswith(
            ("raylake_endpoint_requests_total", "raylake_endpoint_feature_lookup_seconds_count")
        ):
            console.print(line, markup=False)
    ws.endpoints.delete("high_fare")  # the replica hands its last inference records over

    report = ws.monitor("high_fare").drift_report(window="1h")
    inferences = f"main.monitoring.high_fare_inferences ({report.n_recent} rows)"
    console.print(f"drift of {inferences} vs {report.baseline}: drifted {report.drifted}")
    console.print(f"drift report: {report.html_path}", markup=False)


def main() -> None:
    started = time.time()
    home = demo_home()
    raw = home / "raw" / "rides"
    write_days(raw, FIRST_DAY, days=4, rows_per_day=ROWS_PER_DAY)
    console.rule("raylake quickstart")
    console.print(f"workspace home: {home}; 4 days x {ROWS_PER_DAY:,} raw rides in {raw}")

    with raylake.connect(home=home) as ws:
        with console.status("starting Ray and Spark on Ray (RayDP)"):
            ws.spark()
        console.print(f"Spark on Ray is up after {time.time() - started:.1f} s")
        for schema in ("bronze", "silver", "gold"):
            ws.catalog.create_schema(schema, comment=f"{schema} layer of the rides medallion")
        pipelines = make_pipelines(raw)

        console.rule("1. first ingestion: every file is new")
        run_all(ws, pipelines)
        gold = ws.table("gold.driver_daily_stats")
        first_gold_version = gold.version

        console.rule("2. a new day of files arrives: only it is read")
        write_days(raw, FIRST_DAY + dt.timedelta(days=4), days=1, rows_per_day=ROWS_PER_DAY)
        runs = run_all(ws, pipelines)
        assert runs[0].files and len(runs[0].files) == 1, "only the new file is ingested"

        console.rule("3. rerun with nothing new: exactly-once, nothing written")
        runs = run_all(ws, pipelines)
        assert all(r.status == "SKIPPED" for r in runs)

        console.rule("4. time travel and history")
        before = gold.to_pandas(version=first_gold_version)
        now = gold.to_pandas()
        console.print(
            f"gold at version {first_gold_version}: {len(before):,} driver-days over "
            f"{before['event_ts'].nunique()} days; now (v{gold.version}): {len(now):,} over "
            f"{now['event_ts'].nunique()} days"
        )
        history = RichTable(title="history of main.silver.rides")
        for col in ("version", "when", "operation", "rows added", "user"):
            history.add_column(col)
        for h in ws.table("silver.rides").history():
            history.add_row(
                str(h.version), f"{h.timestamp:%H:%M:%S}", h.operation, str(h.rows_added), h.user
            )
        console.print(history)
        top = now.sort_values("rides", ascending=False).head(5)
        console.print("busiest driver-days:")
        console.print(top.to_string(index=False))

        console.rule("5. a feature store on gold: Feast views, materialized on Ray, online")
        feature_store(ws)

        console.rule("6. a hyperparameter sweep on Ray Tune, every trial an MLflow run")
        result = high_fare_sweep.run(ws)
        console.print(
            f"best accuracy {result.best_metric:.3f} with {result.best_params} "
            f"(MLflow run {result.best_run_id})"
        )
        model = high_fare_sweep.register_as
        version = ws.models.register(result, model)
        ws.models.set_alias(model, "champion", version.version)
        champion = ws.models.get(model, "champion")
        console.print(f"registered {model} version {champion.version} as @champion")
        sample = gold.head(5)
        predictions = ws.models.load(model, "champion").predict(sample[FEATURES].astype("float64"))
        flags = ", ".join(str(int(p)) for p in predictions)
        console.print(f"champion's high-fare predictions for 5 gold rows: {flags}", markup=False)

        console.rule("7. lineage: from the model back to the raw files")
        show_lineage(ws, "gold.driver_daily_stats")
        show_lineage(ws, model)

        console.rule("8. serve the champion with online features, promote, monitor")
        serve_champion(ws, model, gold.to_pandas())
    console.rule(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
