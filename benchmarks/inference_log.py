"""The inference table writer (batched, off the request path) against a Delta commit per request.

What a serving replica pays to log its requests, and how fast records become durable:

* raylake: ``writer.log.remote(records)`` (fire and forget) for each scored batch of
  ``--batch`` requests; the writer actor commits to Delta every ``max_records`` records. Timed:
  the caller's cost per call, and the wall time until every record is in the table.
* baseline: the naive design, one Delta append (the same raylake write path) per scored
  batch, synchronously, as a replica would have to do without a writer.

Both write the same records to their own table in a fresh workspace; the row counts are
checked. Progress goes to stderr; the last line of stdout is a JSON object.

    python benchmarks/inference_log.py [--quick] [--records N] [--batch B]
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
import uuid

import pyarrow as pa

import raylake
from raylake.serving._inference_log import inference_writer
from raylake.serving._monitoring_tables import INFERENCE_SCHEMA, inference_table_name


def records(endpoint: str, n: int) -> list[dict]:
    start = dt.datetime.now(dt.UTC)
    return [
        {
            "request_id": uuid.uuid4().hex,
            "endpoint": endpoint,
            "model_name": "main.models.bench",
            "model_version": 1,
            "ts": start + dt.timedelta(microseconds=i),
            "latency_ms": 4.2,
            "inputs": json.dumps({"x1": i * 0.5, "x2": i % 7, "city": "paris"}),
            "features": json.dumps({"avg_spend": 12.5, "visits": i % 30}),
            "prediction": json.dumps(i % 2),
        }
        for i in range(n)
    ]


def chunks(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def run_writer(ws: raylake.Workspace, n: int, batch: int) -> dict:
    import ray

    endpoint = "bench_actor"
    calls = chunks(records(endpoint, n), batch)
    writer = inference_writer(endpoint, ws.settings, max_records=1000, flush_interval_s=1.0)
    ray.get(writer.stats.remote())  # the actor is up: creating it is not the request path
    submit = []
    started = time.perf_counter()
    for call in calls:
        t = time.perf_counter()
        writer.log.remote(call)
        submit.append(time.perf_counter() - t)
    ray.get(writer.flush.remote())  # every record durable in the table
    elapsed = time.perf_counter() - started
    stats = ray.get(writer.stats.remote())
    try:
        ray.get(writer.close.remote())
    except ray.exceptions.RayActorError:
        pass  # close() ends the actor
    table = ws.table(inference_table_name(endpoint))
    assert table.num_rows() == n, (table.num_rows(), n)
    return {
        "seconds": elapsed,
        "records_per_s": n / elapsed,
        "submit_us_p50": statistics.median(submit) * 1e6,
        "submit_us_p99": sorted(submit)[int(len(submit) * 0.99)] * 1e6,
        "commits": stats["commits"],
    }


def run_per_request(ws: raylake.Workspace, n: int, batch: int) -> dict:
    name = inference_table_name("bench_direct")
    calls = chunks(records("bench_direct", n), batch)
    latencies = []
    started = time.perf_counter()
    for call in calls:
        t = time.perf_counter()
        ws.write_table(name, pa.Table.from_pylist(call, schema=INFERENCE_SCHEMA))
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    assert ws.table(name).num_rows() == n
    return {
        "seconds": elapsed,
        "records_per_s": n / elapsed,
        "commit_ms_p50": statistics.median(latencies) * 1e3,
        "commits": len(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, well under a minute")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--batch", type=int, default=8, help="requests per scored batch")
    args = parser.parse_args()
    n = args.records or (5_000 if args.quick else 50_000)
    # The naive side commits per batch: a few hundred commits say enough about its rate.
    n_direct = min(n, (200 if args.quick else 1_000) * args.batch)
    with tempfile.TemporaryDirectory() as home, raylake.connect(home=home) as ws:
        t = time.perf_counter()
        ws.ray()
        print(f"Ray up in {time.perf_counter() - t:.1f}s (not counted)", file=sys.stderr)
        ws.catalog.create_schema("monitoring")
        print(f"writer actor: {n} records in calls of {args.batch}", file=sys.stderr)
        actor = run_writer(ws, n, args.batch)
        print(f"  {actor}", file=sys.stderr)
        print(f"commit per call: {n_direct} records", file=sys.stderr)
        direct = run_per_request(ws, n_direct, args.batch)
        print(f"  {direct}", file=sys.stderr)
    result = {
        "records": n,
        "batch": args.batch,
        "raylake_records_per_s": round(actor["records_per_s"]),
        "raylake_submit_us_p50": round(actor["submit_us_p50"], 1),
        "raylake_submit_us_p99": round(actor["submit_us_p99"], 1),
        "raylake_commits": actor["commits"],
        "per_request_records": n_direct,
        "per_request_records_per_s": round(direct["records_per_s"]),
        "per_request_commit_ms_p50": round(direct["commit_ms_p50"], 2),
        "ratio": round(actor["records_per_s"] / direct["records_per_s"], 1),
        "caller_cost_ratio": round(direct["commit_ms_p50"] * 1e3 / actor["submit_us_p50"], 1),
        "load_avg": os.getloadavg(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
