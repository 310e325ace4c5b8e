"""A raylake sweep (Ray Tune + MLflow) against a serial Python loop with the same MLflow logging.

The job: 8 trials of scikit-learn gradient boosting on a 50,000-row classification data set
(20 features, 80/20 split), each trial reporting its validation accuracy and keeping its
model; the best model is logged to MLflow with a signature at the end.

* raylake: ``ws.sweep`` — data handed to trials once (``tune.with_parameters``), trial
  processes reused, one nested MLflow child run per trial written from the driver.
* serial: a plain loop in this process, one parent run and one nested child run per trial
  (params, metric) written with the MLflow client, then the best model logged the same way.

Ray's start-up is timed on its own (``ray_start_s``) and is not part of ``raylake_s``: a
workspace keeps Ray running between sweeps. The serial loop runs first, before Ray starts, so
Ray's idle processes do not slow it. ``parallel_capacity`` measures how many cores the machine
really gave (two fits at once vs one): on a shared machine it bounds what any parallel sweep
can win. Progress goes to stderr; the last line of stdout is JSON.

    python benchmarks/sweep.py [--quick] [--trials N] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

import raylake
from raylake.registry.logging import log_model
from raylake.training import report

SEED = 0


def make_data(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows, n_features=20, n_informative=8, random_state=SEED, flip_y=0.05
    )
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["label"] = y
    cut = int(rows * 0.8)
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True)


def configs(n: int, estimators: int) -> list[dict[str, Any]]:
    """``n`` fixed configurations, so both sides train exactly the same models."""
    rates = [0.05, 0.1, 0.2, 0.3]
    depths = [2, 3]
    return [
        {
            "learning_rate": rates[i % len(rates)],
            "max_depth": depths[(i // 4) % 2],
            "n_estimators": estimators,
            "subsample": 0.8,
        }
        for i in range(n)
    ]


def fit_and_score(config: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame]) -> tuple:
    from sklearn.ensemble import GradientBoostingClassifier

    train, valid = data
    features = [c for c in train.columns if c != "label"]
    model = GradientBoostingClassifier(random_state=SEED, **config)
    model.fit(train[features], train["label"])
    accuracy = float(model.score(valid[features], valid["label"]))
    return model, accuracy, train[features].head(5)


def trial(config: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    model, accuracy, example = fit_and_score(config, data)
    report({"accuracy": accuracy}, model=model, input_example=example)


def _burn(config: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame]) -> float:
    t0 = time.perf_counter()
    fit_and_score(config, data)
    return time.perf_counter() - t0


def parallel_capacity(config: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame]) -> float:
    """How many cores this machine gives us right now: one fit alone vs two fits at once.

    2.0 on an idle 2-core machine; near 1.0 when other work holds a core. The sweep cannot
    beat the serial loop by more than this factor, so it is reported next to the ratio.
    """
    from concurrent.futures import ProcessPoolExecutor

    small = {**config, "n_estimators": 20}
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_burn, [small, small], [data, data]))  # warm both processes up
        alone = pool.submit(_burn, small, data).result()
        t0 = time.perf_counter()
        list(pool.map(_burn, [small, small], [data, data]))
        pair = time.perf_counter() - t0
    return 2 * alone / pair


def run_serial(
    uri: str,
    artifacts: str,
    trials: list[dict[str, Any]],
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> dict[str, Any]:
    started = time.perf_counter()
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("bench-serial", artifact_location=artifacts)
    parent = client.create_run(exp, run_name="serial-sweep").info.run_id
    best: tuple[float, Any, Any, str] | None = None
    fit_s = 0.0
    for i, config in enumerate(trials):
        run = client.create_run(exp, run_name=f"trial-{i}", tags={MLFLOW_PARENT_RUN_ID: parent})
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in config.items()])
        t0 = time.perf_counter()
        model, accuracy, example = fit_and_score(config, data)
        fit_s += time.perf_counter() - t0
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric("accuracy", accuracy, now, 1)])
        client.set_terminated(run_id)
        if best is None or accuracy > best[0]:
            best = (accuracy, model, example, run_id)
        print(f"serial trial {i}: accuracy={accuracy:.4f}", file=sys.stderr, flush=True)
    assert best is not None
    log_model(best[1], best[3], uri, best[2])
    now = int(time.time() * 1000)
    client.log_batch(parent, metrics=[Metric("best_accuracy", best[0], now, 0)])
    client.set_terminated(parent)
    return {"seconds": time.perf_counter() - started, "fit_s": fit_s, "best": best[0]}


def run_raylake(
    home: Path, trials: list[dict[str, Any]], data: tuple[pd.DataFrame, pd.DataFrame]
) -> dict[str, Any]:
    from ray import tune

    cpus = os.cpu_count() or 1
    with raylake.connect(home=home, ray_num_cpus=cpus) as ws:
        t0 = time.perf_counter()
        ws.ray()
        ray_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = ws.sweep(
            grid_trial,
            {"config": tune.grid_search(trials)},
            metric="accuracy",
            mode="max",
            experiment="bench-raylake",
            data=data,
            progress=sys.stderr.isatty(),
        )
        seconds = time.perf_counter() - t0
    assert not result.failed and result.best_model_uri
    # Time inside the trials (Tune's time_total_s): shows how much of the wall time is overhead.
    trial_s = sum(t.metrics.get("time_total_s", 0.0) for t in result.trials)
    return {
        "seconds": seconds,
        "ray_start_s": ray_start,
        "best": result.best_metric,
        "cpus": cpus,
        "trial_s": trial_s,
    }


def grid_trial(config: dict[str, Any], data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    trial(config["config"], data)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10,000 rows, 4 trials")
    p.add_argument("--trials", type=int, help="number of trials (default 8)")
    p.add_argument("--rows", type=int, help="rows in the data set (default 50,000)")
    p.add_argument("--estimators", type=int, default=60, help="trees per model (default 60)")
    args = p.parse_args(argv)
    rows = args.rows or (10_000 if args.quick else 50_000)
    n = args.trials or (4 if args.quick else 8)
    data = make_data(rows)
    trials = configs(n, args.estimators)
    with tempfile.TemporaryDirectory(prefix="raylake-bench-sweep-") as tmp:
        home = Path(tmp) / "home"
        uri = f"sqlite:///{home / 'mlflow.db'}"
        home.mkdir()
        # Create MLflow's tables before timing: the raylake side finds them made too.
        mlflow.MlflowClient(uri).search_experiments()
        capacity = parallel_capacity(trials[0], data)
        print(f"serial loop: {n} trials on {rows:,} rows", file=sys.stderr, flush=True)
        serial = run_serial(uri, (home / "mlartifacts" / "serial").as_uri(), trials, data)
        print(f"raylake sweep: {n} trials", file=sys.stderr, flush=True)
        rl = run_raylake(home, trials, data)
    parallel = min(rl["cpus"], n)
    ideal = serial["fit_s"] / parallel  # the training work alone, perfectly spread over cores
    out = {
        "rows": rows,
        "trials": n,
        "cpus": rl["cpus"],
        "raylake_s": round(rl["seconds"], 2),
        "serial_s": round(serial["seconds"], 2),
        "ratio": round(rl["seconds"] / serial["seconds"], 3),
        "overhead_per_trial_s": round((rl["seconds"] - ideal) / n, 3),
        "ray_start_s": round(rl["ray_start_s"], 2),
        "serial_fit_s": round(serial["fit_s"], 2),
        "raylake_trial_s": round(rl["trial_s"], 2),
        "best_accuracy": {"raylake": round(rl["best"], 4), "serial": round(serial["best"], 4)},
        "parallel_capacity": round(capacity, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
