"""SQL over Delta: ``ws.sql`` (delta-rs DataFusion, in-process) against plain local PySpark SQL.

Data: a TPC-H-like ``lineitem`` fact table (10,000,000 rows; ``--quick``: 1,000,000) and a
``customer`` dimension (150,000 rows), generated with numpy and written with ``ws.write_table``.
Queries: Q1 (pricing summary: filter + eight aggregates grouped by two flags) and a Q3-like
join (revenue per market segment and ship year, fact joined to the dimension).

* raylake: ``ws.sql(query)`` on the default engine ("auto": DuckDB over the snapshot's files
  here), names resolved through the catalog, the Delta snapshot read by delta-rs each time;
  for reference also ``engine="datafusion"`` (delta-rs's DataFusion, the previous default).
* baseline: PySpark ``local[2]`` (Java 17 options from ``raylake.compute.java_options``) over
  temp views of the same Delta snapshots' Parquet files (``DeltaTable.file_uris()``; pyspark
  has no Delta jar here), the same SQL text.

Each side runs the pair of queries once cold, then ``--runs`` more times (the fastest counts).
Answers are checked to agree. Progress goes to stderr; the last stdout line is JSON.

    python benchmarks/sql.py [--quick] [--rows N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa

import raylake

CUSTOMERS = 150_000
CHUNK = 2_000_000
SEGMENTS = np.array(["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"])
NATIONS = np.array([f"NATION_{i:02d}" for i in range(25)])
FLAGS = np.array(["A", "N", "R"])
STATUS = np.array(["F", "O"])
FIRST_DAY = np.datetime64("1992-01-01", "D")

Q1 = """
SELECT l_returnflag, l_linestatus,
       sum(l_quantity) AS sum_qty,
       sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
       avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price,
       avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM {lineitem}
WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus
"""

Q3 = """
SELECT c.c_mktsegment, year(l.l_shipdate) AS ship_year,
       count(*) AS lines,
       sum(l.l_extendedprice * (1 - l.l_discount)) AS revenue
FROM {lineitem} l JOIN {customer} c ON l.l_custkey = c.c_custkey
WHERE l.l_shipdate > DATE '1995-03-15' AND c.c_nation <> 'NATION_07'
GROUP BY c.c_mktsegment, year(l.l_shipdate)
ORDER BY c_mktsegment, ship_year
"""


def say(msg: str) -> None:
    print(f"[sql] {msg}", file=sys.stderr, flush=True)


def lineitem_chunk(rows: int, first_key: int, rng: np.random.Generator) -> pa.Table:
    return pa.table(
        {
            "l_orderkey": np.arange(first_key, first_key + rows, dtype=np.int64),
            "l_custkey": rng.integers(0, CUSTOMERS, rows, dtype=np.int64),
            "l_quantity": rng.integers(1, 51, rows).astype(np.float64),
            "l_extendedprice": np.round(rng.uniform(900, 105_000, rows), 2),
            "l_discount": np.round(rng.integers(0, 11, rows) / 100, 2),
            "l_tax": np.round(rng.integers(0, 9, rows) / 100, 2),
            "l_returnflag": pa.array(FLAGS[rng.integers(0, 3, rows)]),
            "l_linestatus": pa.array(STATUS[rng.integers(0, 2, rows)]),
            "l_shipdate": pa.array(
                FIRST_DAY + rng.integers(0, 2526, rows).astype("timedelta64[D]")
            ),
        }
    )


def customers(rng: np.random.Generator) -> pa.Table:
    return pa.table(
        {
            "c_custkey": np.arange(CUSTOMERS, dtype=np.int64),
            "c_mktsegment": pa.array(SEGMENTS[rng.integers(0, 5, CUSTOMERS)]),
            "c_nation": pa.array(NATIONS[rng.integers(0, 25, CUSTOMERS)]),
            "c_acctbal": np.round(rng.uniform(-999, 9999, CUSTOMERS), 2),
        }
    )


def write_data(ws: raylake.Workspace, rows: int) -> None:
    rng = np.random.default_rng(7)
    ws.catalog.create_schema("tpch")
    ws.write_table("tpch.customer", customers(rng))
    done = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        ws.write_table("tpch.lineitem", lineitem_chunk(n, done, rng))
        done += n


def timed_runs(run: Any, runs: int) -> tuple[float, list[float], Any]:
    """(cold seconds, warm seconds each, answer of the last run)."""
    times = []
    answer = None
    for _ in range(runs + 1):
        start = time.perf_counter()
        answer = run()
        times.append(round(time.perf_counter() - start, 4))
    return times[0], times[1:], answer


def raylake_side(
    ws: raylake.Workspace, runs: int, engine: str | None = None
) -> tuple[dict[str, Any], list[list[dict]]]:
    queries = [
        q.format(lineitem="main.tpch.lineitem", customer="main.tpch.customer") for q in (Q1, Q3)
    ]

    def run() -> list[list[dict]]:
        return [ws.sql(q, engine=engine).to_pylist() for q in queries]

    cold, warm, answer = timed_runs(run, runs)
    say(f"raylake ws.sql (engine {engine or 'auto'}): cold {cold} s, warm {warm}")
    return {"cold_s": cold, "warm_s": warm}, answer


def pyspark_side(ws: raylake.Workspace, runs: int) -> tuple[dict[str, Any], list[list[dict]]]:
    from pyspark.sql import SparkSession

    from raylake.compute.java_options import java_options_string

    start = time.perf_counter()
    opts = java_options_string()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("sql-baseline")
        .config("spark.driver.extraJavaOptions", opts)
        .config("spark.executor.extraJavaOptions", opts)
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", str(ws.settings.spark_shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for name in ("lineitem", "customer"):
        files = ws.table(f"tpch.{name}").files()
        spark.read.parquet(*files).createOrReplaceTempView(name)
    start_s = round(time.perf_counter() - start, 3)
    say(f"pyspark local[2]: start {start_s} s")
    queries = [q.format(lineitem="lineitem", customer="customer") for q in (Q1, Q3)]

    def run() -> list[list[dict]]:
        return [[r.asDict() for r in spark.sql(q).collect()] for q in queries]

    try:
        cold, warm, answer = timed_runs(run, runs)
    finally:
        spark.stop()
    say(f"pyspark SQL: cold {cold} s, warm {warm}")
    return {"start_s": start_s, "cold_s": cold, "warm_s": warm}, answer


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def check_agree(ours: list[list[dict]], theirs: list[list[dict]]) -> None:
    for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
        if len(x) != len(y):
            raise AssertionError(f"query {i}: {len(x)} rows vs {len(y)}")
        for rx, ry in zip(x, y, strict=True):
            if rx.keys() != ry.keys() or not all(same(rx[k], ry[k]) for k in rx):
                raise AssertionError(f"query {i}: {rx} != {ry}")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="warm runs per side (3; quick: 2)")
    args = parser.parse_args(argv)
    args.runs = args.runs or (2 if args.quick else 3)
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    with tempfile.TemporaryDirectory(prefix="raylake-sql-bench-") as home:
        with raylake.connect(home=home) as ws:  # no Ray, no Spark: ws.sql runs in-process
            start = time.perf_counter()
            write_data(ws, rows)
            size = sum(f.stat().st_size for f in (ws.settings.home / "tables").rglob("*.parquet"))
            took = time.perf_counter() - start
            say(f"wrote {rows:,} + {CUSTOMERS:,} rows ({size / 1e6:.0f} MB) in {took:.1f} s")
            load_before = load()
            ours, our_answer = raylake_side(ws, args.runs)
            plan = ws._sql.plan(Q1.format(lineitem="main.tpch.lineitem", customer=""))
            engine = ws._sql.choose_engine("auto", plan)
            fusion, fusion_answer = raylake_side(ws, args.runs, "datafusion")
            theirs, their_answer = pyspark_side(ws, args.runs)
            check_agree(our_answer, their_answer)
            check_agree(fusion_answer, their_answer)
            say("answers agree")
    raylake_s, pyspark_s = min(ours["warm_s"]), min(theirs["warm_s"])
    print(
        json.dumps(
            {
                "benchmark": "sql",
                "rows": rows,
                "queries": ["tpch_q1", "q3_like_join"],
                "parquet_mb": round(size / 1e6, 1),
                "raylake_s": raylake_s,
                "pyspark_s": pyspark_s,
                "speedup": round(pyspark_s / raylake_s, 2),
                "raylake_engine": engine,
                "datafusion_s": min(fusion["warm_s"]),
                "datafusion_speedup": round(pyspark_s / min(fusion["warm_s"]), 2),
                "raylake_cold_s": ours["cold_s"],
                "pyspark_cold_s": theirs["cold_s"],
                "pyspark_start_s": theirs["start_s"],
                "speedup_cold": round(theirs["cold_s"] / ours["cold_s"], 2),
                "load_avg_before": load_before,
                "load_avg_after": load(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
