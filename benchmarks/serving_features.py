"""Scoring with online features: one hop through a raylake endpoint against the two-hop
composition (Feast's feature server, then ``mlflow models serve``), same model, same store.

Setup: 1,000 drivers with 4 features in a Delta table, a Feast view over it materialized into
the workspace's SQLite online store, and a classifier over those 4 features plus ``surge``, a
column only the request knows. Every request names one driver and its surge:

* raylake: ``ws.serve(..., features=[...], entity_keys=["driver_id"])``; the request carries
  ``{"driver_id", "surge"}``, the replica reads the features in-process and scores (its own
  HTTP port, ``Endpoint.replica_urls``; validation, metrics and the inference table on);
* two hops: ``feast serve`` on the same Feast repo answers ``/get-online-features``, the client
  joins the features with the surge and posts the row to ``mlflow models serve`` of the same
  registered model version.

Both paths are checked to give the same predictions first. Then one client alone alternates a
request on each path (latency; load from other work hits both alike), and 16 client threads
(a bounded pool of keep-alive connections) run a fixed number of requests on each path,
alternating, the fastest round counting. Loopback only. Progress goes to stderr; the last
stdout line is a JSON object.

    python benchmarks/serving_features.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_online import servers  # noqa: E402  (start servers, wait for /health, stop)

from serving import free_port, load_average, log  # noqa: E402

BIN = Path(sys.executable).parent
MODEL = "main.models.bench_featured"
TABLE = "main.bench_features.drivers"
VIEW = "bench_drivers"
FEATURES = ["fare", "trips", "rating", "km"]
REFS = [f"{VIEW}:{f}" for f in FEATURES]
DRIVERS = 1000
CLIENTS = 16

Call = Callable[[httpx.Client, int, float], list]


def setup(ws) -> int:  # noqa: ANN001 - a raylake.Workspace
    """Features in the online store and a registered model over them; its version."""
    from feast import Entity, FeatureView, Field
    from feast.types import Float64
    from feast.value_type import ValueType
    from sklearn.ensemble import HistGradientBoostingClassifier

    from raylake.features import table_source

    rng = np.random.default_rng(0)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    drivers = pd.DataFrame(
        {
            "driver_id": np.arange(DRIVERS, dtype="int64"),
            "event_ts": [now - dt.timedelta(hours=1)] * DRIVERS,
            **{f: rng.random(DRIVERS) * 50 for f in FEATURES},
        }
    )
    ws.catalog.create_schema("bench_features")
    ws.write_table(TABLE, drivers, mode="overwrite")
    driver = Entity(name="bench_driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=VIEW,
        entities=[driver],
        ttl=dt.timedelta(days=30),
        schema=[Field(name=f, dtype=Float64) for f in FEATURES],
        source=table_source(TABLE, timestamp_field="event_ts"),
    )
    ws.features.apply([driver, view])
    ws.features.materialize(now - dt.timedelta(days=1), now)
    train = pd.DataFrame({f: rng.random(2000) * 50 for f in [*FEATURES, "surge"]})
    train["surge"] /= 25
    labels = (train.fare * train.surge > train.km).astype("int64")
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(train, labels)
    return ws.models.register(model, MODEL, input_example=train[:3]).version


def one_hop(url: str) -> Call:
    def call(client: httpx.Client, driver: int, surge: float) -> list:
        body = {"dataframe_records": [{"driver_id": driver, "surge": surge}]}
        r = client.post(url, json=body)
        r.raise_for_status()
        return r.json()["predictions"]

    return call


def two_hops(feast: str, mlflow: str) -> Call:
    def call(client: httpx.Client, driver: int, surge: float) -> list:
        body = {"features": REFS, "entities": {"driver_id": [driver]}}
        r = client.post(f"{feast}/get-online-features", json=body)
        r.raise_for_status()
        answer = r.json()
        names = answer["metadata"]["feature_names"]
        row = {
            name: result["values"][0]
            for name, result in zip(names, answer["results"], strict=True)
            if name != "driver_id"
        }
        r = client.post(
            f"{mlflow}/invocations", json={"dataframe_records": [{**row, "surge": surge}]}
        )
        r.raise_for_status()
        return r.json()["predictions"]

    return call


def replica_sums(url: str) -> dict[str, float]:
    """Sums and counts of the endpoint's in-replica latency and feature lookup histograms."""
    sums: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        for family in ("request_latency_seconds", "feature_lookup_seconds"):
            for part in ("sum", "count"):
                if line.startswith(f"raylake_endpoint_{family}_{part}{{"):
                    key = f"{family}_{part}"
                    sums[key] = sums.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


def replica_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Mean ms per request inside the replica, and of its feature lookup, between two
    snapshots: how much of the client's latency is HTTP and Serve rather than scoring."""
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return {
        f"raylake_{label}_mean_ms": round(
            delta[f"{family}_sum"] / max(delta.get(f"{family}_count", 0.0), 1.0) * 1000, 2
        )
        for label, family in (("in_replica", "request_latency_seconds"),
                              ("feature_lookup", "feature_lookup_seconds"))
        if f"{family}_sum" in delta
    }  # fmt: skip


def single_client(calls: dict[str, Call], requests: int) -> dict[str, list[float]]:
    """Latencies (ms) of one client alternating between the paths, request by request."""
    rng = np.random.default_rng(1)
    out: dict[str, list[float]] = {name: [] for name in calls}
    with httpx.Client(timeout=30) as client:
        for i in range(requests):
            driver, surge = int(rng.integers(DRIVERS)), float(rng.random() * 2)
            order = list(calls) if i % 2 == 0 else list(calls)[::-1]
            for name in order:
                t0 = time.perf_counter()
                calls[name](client, driver, surge)
                out[name].append((time.perf_counter() - t0) * 1000)
    return out


def concurrent(call: Call, requests: int) -> dict[str, float]:
    """``requests`` calls spread over 16 client threads, each with its own connection."""
    per_client = requests // CLIENTS

    def worker(seed: int) -> tuple[list[float], int]:
        rng = np.random.default_rng(seed)
        latencies, failed = [], 0
        with httpx.Client(timeout=30) as client:
            for _ in range(per_client):
                t0 = time.perf_counter()
                try:
                    call(client, int(rng.integers(DRIVERS)), float(rng.random() * 2))
                except httpx.HTTPError:
                    failed += 1
                latencies.append((time.perf_counter() - t0) * 1000)
        return latencies, failed

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(worker, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "failed": sum(f for _, f in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (< 1 min)")
    parser.add_argument("--requests", type=int, help="single-client requests per path")
    args = parser.parse_args()
    requests = args.requests or (300 if args.quick else 2000)
    rounds = 1 if args.quick else 3

    import raylake

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="raylake-bench-serving-features-") as tmp:
        home = Path(tmp)
        with raylake.connect(home=home, serve_port=free_port()) as ws:
            version = setup(ws)
            log(f"registered {MODEL} v{version}; deploying the raylake endpoint")
            endpoint = ws.serve(
                "featured",
                model=f"models:/{MODEL}/{version}",
                features=REFS,
                entity_keys=["driver_id"],
            )
            ours = endpoint.replica_urls[0] if endpoint.replica_urls else endpoint.url
            feast_url = f"http://127.0.0.1:{free_port()}"
            mlflow_url = f"http://127.0.0.1:{free_port()}"
            os.environ["MLFLOW_TRACKING_URI"] = ws.settings.mlflow_tracking_uri  # for mlflow
            os.environ["PATH"] = f"{BIN}:{os.environ.get('PATH', '')}"  # it runs uvicorn
            commands = {
                feast_url: [str(BIN / "feast"), "-c", str(ws.features.repo_path), "serve",
                            "-h", "127.0.0.1", "-p", feast_url.rsplit(":", 1)[1],
                            "--workers", "1", "--no-access-log", "--max-requests", "0"],
                mlflow_url: [str(BIN / "mlflow"), "models", "serve", "-m",
                             f"models:/{MODEL}/{version}", "--env-manager", "local",
                             "-h", "127.0.0.1", "-p", mlflow_url.rsplit(":", 1)[1]],
            }  # fmt: skip
            log("starting feast serve and mlflow models serve")
            with servers(commands, home) as _pids:
                calls = {
                    "raylake": one_hop(f"{ours}/invocations"),
                    "two_hop": two_hops(feast_url, mlflow_url),
                }
                with httpx.Client(timeout=30) as client:  # same answers, and warm-up
                    for driver in range(0, DRIVERS, 10):
                        answers = {n: c(client, driver, 1.2) for n, c in calls.items()}
                        assert answers["raylake"] == answers["two_hop"], (driver, answers)
                load_before = os.getloadavg()[0]
                log(f"one client, {requests} requests per path, alternating")
                before = replica_sums(endpoint.url)
                latencies = single_client(calls, requests)
                means = replica_means(before, replica_sums(endpoint.url))
                p50 = {n: round(statistics.median(v), 2) for n, v in latencies.items()}
                p99 = {n: round(float(np.percentile(v, 99)), 2) for n, v in latencies.items()}
                log(f"  p50 {p50}, p99 {p99}, raylake {means} (load {load_average()})")
                many = max(CLIENTS * 20, requests)
                runs: dict[str, list[dict[str, float]]] = {n: [] for n in calls}
                for r in range(rounds):
                    for name in list(calls) if r % 2 == 0 else list(calls)[::-1]:
                        runs[name].append(concurrent(calls[name], many))
                        log(
                            f"  {CLIENTS} clients, {name}: {runs[name][-1]} (load {load_average()})"
                        )
                best = {n: max(v, key=lambda f: f["rps"]) for n, v in runs.items()}
            ws.endpoints.delete("featured")

    result = {
        "requests_single_client": requests,
        "requests_concurrent": many,
        "clients": CLIENTS,
        "raylake_p99_ms": p99["raylake"],
        "two_hop_p99_ms": p99["two_hop"],
        "raylake_16_rps": best["raylake"]["rps"],
        "two_hop_16_rps": best["two_hop"]["rps"],
        "raylake_16_p50_ms": best["raylake"]["p50_ms"],
        "two_hop_16_p50_ms": best["two_hop"]["p50_ms"],
        "rps_ratio_16": round(best["raylake"]["rps"] / best["two_hop"]["rps"], 2),
        **means,
        "failed": sum(f["failed"] for v in runs.values() for f in v),
        "load_average_before_after": [round(load_before, 2), load_average()],
        "seconds": round(time.monotonic() - started, 1),
        "raylake_p50_ms": p50["raylake"],
        "two_hop_p50_ms": p50["two_hop"],
        "ratio": round(p50["raylake"] / p50["two_hop"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
