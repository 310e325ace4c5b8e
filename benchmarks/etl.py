"""ETL on Spark on Ray (a raylake pipeline) against plain local PySpark, side by side.

The job: raw order CSV files (one per day, a few bad rows) → parse with a schema → clean and
drop bad rows → silver (append) → daily revenue per category → gold (overwrite).

* raylake: two pipelines on the workspace's Spark on Ray (RayDP): ``Files`` → silver with
  ``expect_or_drop`` rules, then silver table → gold. Spark writes Parquet into the table
  folders and delta-rs commits the files.
* baseline: the same transforms in plain PySpark (``local[2]``, the same Spark SQL settings)
  writing Parquet folders.

Each side runs in its own subprocess (one JVM world at a time) and does the job twice in its
session: cold (the first job after start) and warm (the same job again, into fresh targets,
so nothing is skipped). The outputs of both sides are checked to agree. Progress goes to
stderr; the last line of stdout is a JSON object.

    python benchmarks/etl.py [--quick] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DAYS = 7
FIRST_DAY = np.datetime64("2024-03-01T00:00:00", "s")
CATEGORIES = ["Books", "electronics", " Garden", "toys ", "GROCERY", "fashion", "sports", "home"]
STATUSES = ["completed", "completed", "completed", "completed", "cancelled", "refunded"]
RAW_SCHEMA = (
    "order_id BIGINT, customer_id INT, ts TIMESTAMP, category STRING, "
    "quantity INT, unit_price DOUBLE, status STRING"
)
# (name, Spark SQL condition): rows failing any of them are dropped.
RULES = [
    ("order_id_present", "order_id IS NOT NULL"),
    ("ts_parsed", "ts IS NOT NULL"),
    ("positive_price", "unit_price > 0"),
    ("sane_quantity", "quantity BETWEEN 1 AND 100"),
]


def say(msg: str) -> None:
    print(f"[etl] {msg}", file=sys.stderr, flush=True)


@contextmanager
def timed(into: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - start, 3)


def run_labels(warm_runs: int) -> list[str]:
    """The jobs each side runs: the first after start (cold), then the same again (warm)."""
    warm = ["warm"] if warm_runs == 1 else [f"warm{i}" for i in range(1, warm_runs + 1)]
    return ["cold", *warm]


def tree_cpu_s() -> float:
    """CPU seconds used by this process and its live descendants (Ray, JVMs), from /proc.

    Less sensitive than wall time to other load on the machine; 0.0 where /proc is missing.
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    procs: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime, cutime, cstime: reaped children count in their parent's total.
            procs[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    me, total = os.getpid(), 0
    for pid, (_, used) in procs.items():
        ancestor = pid
        while ancestor in procs and ancestor != me:
            ancestor = procs[ancestor][0]
        total += used if ancestor == me else 0
    return round(total / ticks, 2)


def measure(out: dict[str, Any], label: str, job: Callable[[str], Any]) -> Any:
    """Run ``job(label)``, recording its wall time and the CPU it cost the whole process tree."""
    cpu = tree_cpu_s()
    with timed(out, f"{label}_s"):
        result = job(label)
    out[f"{label}_cpu_s"] = round(max(tree_cpu_s() - cpu, 0.0), 2)
    return result


# -- data ---------------------------------------------------------------------------------------


def day_of_orders(day: int, rows: int, first_id: int, rng: np.random.Generator) -> pa.Table:
    """One day of orders as CSV-ready strings, with about 0.4% bad rows."""
    ts = FIRST_DAY + np.timedelta64(day, "D") + rng.integers(0, 86_400, rows).astype("m8[s]")
    cols: dict[str, Any] = {
        "order_id": pc.cast(pa.array(np.arange(first_id, first_id + rows)), pa.string()),
        "customer_id": pc.cast(pa.array(rng.integers(1, 200_000, rows)), pa.string()),
        "ts": pa.array(np.datetime_as_string(ts)),
        "category": pa.array(rng.choice(CATEGORIES, rows)),
        "quantity": pc.cast(pa.array(rng.integers(1, 6, rows)), pa.string()),
        "unit_price": pc.cast(pa.array(np.round(rng.gamma(2.0, 15.0, rows) + 0.5, 2)), pa.string()),
        "status": pa.array(rng.choice(STATUSES, rows)),
    }
    bad = rng.choice(rows, size=max(4, rows // 250), replace=False)
    for i, (col, value) in enumerate(
        [("order_id", ""), ("ts", "not-a-time"), ("unit_price", "-3.5"), ("quantity", "0")]
    ):
        rows_hit = bad[i::4]
        values = np.array(cols[col].to_pylist(), dtype=object)
        values[rows_hit] = value
        cols[col] = pa.array(values.tolist(), pa.string())
    return pa.table(cols)


def write_input(folder: Path, rows: int, seed: int = 7) -> list[Path]:
    """``rows`` orders over ``DAYS`` days, one CSV file per day."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_day = [rows // DAYS + (1 if d < rows % DAYS else 0) for d in range(DAYS)]
    paths, first_id = [], 1
    for day, n in enumerate(per_day):
        path = folder / f"orders_{str(FIRST_DAY + np.timedelta64(day, 'D'))[:10]}.csv"
        opts = pacsv.WriteOptions(include_header=True, quoting_style="none")
        pacsv.write_csv(day_of_orders(day, n, first_id, rng), path, opts)
        paths.append(path)
        first_id += n
    return paths


# -- the job (shared by both sides) ---------------------------------------------------------------


def clean(raw: DataFrame) -> DataFrame:
    """Parsed orders → silver rows: normalised category, order amount, order day."""
    from pyspark.sql import functions as F

    return raw.select(
        "order_id",
        "customer_id",
        "ts",
        F.to_date("ts").alias("day"),
        F.lower(F.trim("category")).alias("category"),
        "quantity",
        "unit_price",
        F.round(F.col("quantity") * F.col("unit_price"), 2).alias("amount"),
        "status",
    )


def daily(silver: DataFrame) -> DataFrame:
    """Silver → gold: orders, items and revenue per day and category."""
    from pyspark.sql import functions as F

    done = F.col("status") == "completed"
    return silver.groupBy("day", "category").agg(
        F.count(F.lit(1)).alias("orders"),
        F.sum(F.when(done, 1).otherwise(0)).alias("completed"),
        F.sum("quantity").alias("items"),
        F.sum(F.when(done, F.col("amount")).otherwise(0.0)).alias("revenue"),
    )


def gold_rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for r in rows:
        r["day"] = str(r["day"])
    return sorted(rows, key=lambda r: (r["day"], r["category"]))


# -- raylake side ---------------------------------------------------------------------------------


def raylake_job(ws: Any, input_dir: str, label: str) -> tuple[Any, Any]:
    import raylake

    silver = raylake.Pipeline(
        name=f"orders_silver_{label}",
        target=f"main.bench.orders_silver_{label}",
        inputs={"raw": raylake.Files(input_dir, "csv", schema=RAW_SCHEMA)},
        transform=clean,
        mode="append",
        expectations=[raylake.expect_or_drop(name, cond) for name, cond in RULES],
    )
    gold = raylake.Pipeline(
        name=f"orders_gold_{label}",
        target=f"main.bench.orders_gold_{label}",
        inputs={"silver": silver.target},
        transform=daily,
        mode="overwrite",
    )
    return ws.run_pipeline(silver), ws.run_pipeline(gold)


def run_raylake(args: argparse.Namespace) -> dict[str, Any]:
    with timed(out := {"load_avg": round(os.getloadavg()[0], 2)}, "import_s"):
        import raylake

    ws = raylake.connect(home=args.work, **settings_overrides(args))
    ws.catalog.create_schema("bench")
    cpu = tree_cpu_s()
    with timed(out, "ray_start_s"):
        ws.ray()
    with timed(out, "spark_start_s"):
        ws.spark()
    out["start_s"] = round(out["ray_start_s"] + out["spark_start_s"], 3)
    out["start_cpu_s"] = round(tree_cpu_s() - cpu, 2)
    say(
        f"raylake: Ray {out['ray_start_s']} s + Spark on Ray {out['spark_start_s']} s, "
        f"{out['start_cpu_s']} CPU-s"
    )
    results = {}
    for label in run_labels(args.warm_runs):
        silver_run, gold_run = measure(out, label, partial(raylake_job, ws, args.input))
        for run in (silver_run, gold_run):
            if run.status != "SUCCEEDED":
                raise RuntimeError(f"pipeline run {run.pipeline}: {run.status} {run.error}")
        say(f"raylake {label}: {out[f'{label}_s']} s, {out[f'{label}_cpu_s']} CPU-s")
        results[label] = {
            "rows_in": silver_run.rows_in,
            "silver_rows": ws.table(f"main.bench.orders_silver_{label}").num_rows(),
            "gold": gold_rows(ws.table(f"main.bench.orders_gold_{label}").to_arrow()),
        }
    ws.close()
    return {**out, "results": results}


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "spark_executors": args.executors,
        "spark_executor_cores": args.executor_cores,
        "spark_executor_memory": args.executor_memory,
        "spark_shuffle_partitions": args.shuffle_partitions,
    }
    return {k: v for k, v in given.items() if v is not None}


# -- plain PySpark side ---------------------------------------------------------------------------


def pyspark_configs(args: argparse.Namespace) -> dict[str, str]:
    """raylake's Spark settings minus RayDP's own. In local mode the driver runs the tasks: it
    gets an executor's JVM options and memory (not raylake's options for a planning-only driver).
    """
    from raylake.compute.spark import spark_configs
    from raylake.settings import load_settings

    settings = load_settings(home=args.work, **settings_overrides(args))
    confs = {k: v for k, v in spark_configs(settings).items() if not k.startswith("spark.ray.")}
    confs["spark.driver.extraJavaOptions"] = confs["spark.executor.extraJavaOptions"]
    confs["spark.driver.memory"] = settings.spark_executor_memory
    return confs


def pyspark_job(spark: SparkSession, input_dir: str, out_dir: Path, label: str) -> None:
    raw = spark.read.format("csv").option("header", "true").schema(RAW_SCHEMA).load(input_dir)
    keep = " AND ".join(f"({cond})" for _, cond in RULES)
    silver_path, gold_path = f"file://{out_dir}/silver_{label}", f"file://{out_dir}/gold_{label}"
    clean(raw).filter(keep).write.mode("errorifexists").parquet(silver_path)
    daily(spark.read.parquet(silver_path)).write.mode("overwrite").parquet(gold_path)


def run_pyspark(args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow.parquet as pq

    with timed(out := {"load_avg": round(os.getloadavg()[0], 2)}, "import_s"):
        from pyspark.sql import SparkSession
    confs = pyspark_configs(args)
    cpu = tree_cpu_s()
    with timed(out, "start_s"):
        builder = SparkSession.builder.master("local[2]").appName("etl-baseline")
        for key, value in confs.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    out["start_cpu_s"] = round(tree_cpu_s() - cpu, 2)
    say(f"pyspark local[2]: start {out['start_s']} s, {out['start_cpu_s']} CPU-s")
    out_dir = Path(args.work) / "parquet"
    results = {}
    for label in run_labels(args.warm_runs):
        measure(out, label, partial(pyspark_job, spark, args.input, out_dir))
        say(f"pyspark {label}: {out[f'{label}_s']} s, {out[f'{label}_cpu_s']} CPU-s")
        results[label] = {
            "silver_rows": pq.ParquetDataset(out_dir / f"silver_{label}").read().num_rows,
            "gold": gold_rows(pq.ParquetDataset(out_dir / f"gold_{label}").read()),
        }
    spark.stop()
    return {**out, "results": results}


# -- driver ---------------------------------------------------------------------------------------


def run_side(side: str, args: argparse.Namespace, input_dir: Path, work: Path) -> dict[str, Any]:
    """Run one side in a fresh Python process; it prints its JSON as the last stdout line."""
    cmd = [sys.executable, __file__, "--side", side, "--input", str(input_dir)]
    cmd += ["--work", str(work), "--warm-runs", str(args.warm_runs)] + passthrough(args)
    say(f"starting the {side} side")
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=side_env())
    if proc.returncode != 0:
        raise SystemExit(f"the {side} side failed (exit {proc.returncode})")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1])
    result["process_s"] = round(time.perf_counter() - started, 3)
    return result


def side_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    src = str(Path(__file__).resolve().parent.parent / "platform")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def passthrough(args: argparse.Namespace) -> list[str]:
    flags = []
    for key, value in settings_overrides(args).items():
        flag = "--" + key.removeprefix("spark_").replace("_", "-")
        flags += [flag, str(value)]
    return flags


def check_agree(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Both sides must produce the same silver row count and the same gold aggregates."""
    for label in a["results"]:
        ra, rb = a["results"][label], b["results"][label]
        if ra["silver_rows"] != rb["silver_rows"]:
            counts = f"{ra['silver_rows']} vs {rb['silver_rows']}"
            raise SystemExit(f"{label}: silver rows differ: {counts}")
        if len(ra["gold"]) != len(rb["gold"]) or not all(
            same_row(x, y) for x, y in zip(ra["gold"], rb["gold"], strict=True)
        ):
            raise SystemExit(f"{label}: gold aggregates differ")


def same_row(x: dict[str, Any], y: dict[str, Any]) -> bool:
    if x.keys() != y.keys():
        return False
    for key, value in x.items():
        other = y[key]
        if isinstance(value, float):
            if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-6):
                return False
        elif value != other:
            return False
    return True


def rate(rows: int, seconds: float) -> float:
    return round(rows / seconds, 1) if seconds > 0 else math.inf


def best_warm(side: dict[str, Any]) -> tuple[float, float]:
    """The fastest warm job of a side: (wall seconds, CPU seconds)."""
    warm = [k.removesuffix("_cpu_s") for k in side if k.startswith("warm") and k.endswith("_cpu_s")]
    label = min(warm, key=lambda k: side[f"{k}_s"])
    return side[f"{label}_s"], side[f"{label}_cpu_s"]


def summary(rows: int, warm_runs: int, rl: dict[str, Any], ps: dict[str, Any]) -> dict[str, Any]:
    rl_warm, rl_warm_cpu = best_warm(rl)
    ps_warm, ps_warm_cpu = best_warm(ps)
    kept = rl["results"]["cold"]
    return {
        "rows": rows,
        "rows_kept": kept["silver_rows"],
        "gold_rows": len(kept["gold"]),
        "raylake_rows_per_s": rate(rows, rl_warm),
        "pyspark_local_rows_per_s": rate(rows, ps_warm),
        "ratio": round(ps_warm / rl_warm, 3),
        "raylake_cold_rows_per_s": rate(rows, rl["cold_s"]),
        "pyspark_local_cold_rows_per_s": rate(rows, ps["cold_s"]),
        "cold_ratio": round(ps["cold_s"] / rl["cold_s"], 3),
        "spark_on_ray_start_s": rl["start_s"],
        "ray_start_s": rl["ray_start_s"],
        "raydp_spark_start_s": rl["spark_start_s"],
        "pyspark_local_start_s": ps["start_s"],
        "raylake_cold_s": rl["cold_s"],
        "raylake_warm_s": rl_warm,
        "pyspark_local_cold_s": ps["cold_s"],
        "pyspark_local_warm_s": ps_warm,
        "cpu_ratio": round(ps_warm_cpu / rl_warm_cpu, 3) if rl_warm_cpu else None,
        "cold_cpu_ratio": round(ps["cold_cpu_s"] / rl["cold_cpu_s"], 3)
        if rl["cold_cpu_s"]
        else None,
        "raylake_start_cpu_s": rl["start_cpu_s"],
        "raylake_cold_cpu_s": rl["cold_cpu_s"],
        "raylake_warm_cpu_s": rl_warm_cpu,
        "pyspark_local_start_cpu_s": ps["start_cpu_s"],
        "pyspark_local_cold_cpu_s": ps["cold_cpu_s"],
        "pyspark_local_warm_cpu_s": ps_warm_cpu,
        "warm_runs": warm_runs,
        "raylake_process_s": rl["process_s"],
        "pyspark_local_process_s": ps["process_s"],
        "load_avg_1m": {"raylake": rl["load_avg"], "pyspark_local": ps["load_avg"]},
        "outputs_agree": True,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="100,000 rows (about a minute)")
    p.add_argument("--rows", type=int, default=None, help="rows of raw orders (default 1,000,000)")
    p.add_argument(
        "--warm-runs", type=int, default=1, help="warm jobs per side; the fastest counts"
    )
    p.add_argument("--executors", type=int, help="RayDP executors (default: raylake settings)")
    p.add_argument("--executor-cores", type=int, help="cores per executor")
    p.add_argument("--executor-memory", help="memory per executor, e.g. 2g")
    p.add_argument("--shuffle-partitions", type=int, help="spark.sql.shuffle.partitions")
    p.add_argument("--side", choices=["raylake", "pyspark"], help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sides: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "raylake": run_raylake,
        "pyspark": run_pyspark,
    }
    if args.side:
        print(json.dumps(sides[args.side](args)), flush=True)
        return
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="raylake-etl-") as tmp:
        root = Path(tmp)
        with timed(gen := {}, "s"):
            write_input(root / "input", rows)
        say(f"wrote {rows:,} rows in {DAYS} CSV files in {gen['s']} s")
        ps = run_side("pyspark", args, root / "input", root / "pyspark")
        rl = run_side("raylake", args, root / "input", root / "raylake")
    check_agree(rl, ps)
    say("outputs agree: same silver row counts and gold aggregates on both sides")
    print(json.dumps(summary(rows, args.warm_runs, rl, ps)), flush=True)


if __name__ == "__main__":
    main()
