"""Model serving: a raylake endpoint against ``mlflow models serve``, the same registered model.

The model: a 50-tree random forest on 8 numeric columns, registered with ``ws.models``. Each
side gets single-row ``dataframe_records`` requests from ``hey`` (a Go load generator, so the
client does not eat the Python servers' CPU) with 16 concurrent clients:

* raylake, direct ingress: the replica's own HTTP port (``Endpoint.replica_urls``), signature
  validation, dynamic batching, Prometheus metrics and the inference table on;
* raylake through Serve's proxy: the stable URL ``/endpoints/<name>/invocations``;
* baseline: ``mlflow models serve --env-manager local`` (uvicorn, one worker).

Plus one client alone against raylake direct (``single_client_p50_ms``), and the monitoring
cost: the same endpoint deployed with ``monitoring=False`` (no inference table, no per-request
metrics) against the one with both on, alternating rounds (``monitoring_ratio`` = on / off
requests/s, goal >= 0.95). Every answer must be a 200. Progress goes to stderr; the last
stdout line is a JSON object.

    python benchmarks/serving.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

MODEL = "main.models.bench_forest"
COLUMNS = [f"f{i}" for i in range(8)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def train() -> tuple[Any, pd.DataFrame]:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(2000, len(COLUMNS))), columns=COLUMNS)
    y = (x.f0 + x.f1 * x.f2 > 0).astype("int64")
    return RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(x, y), x


def hey(url: str, body: Path, requests: int, clients: int) -> dict[str, float]:
    """Run hey; requests/s, p50/p99 in ms and the count of answers that were not 200."""
    out = subprocess.run(
        [
            "hey",
            "-n",
            str(requests),
            "-c",
            str(clients),
            "-m",
            "POST",
            "-T",
            "application/json",
            "-D",
            str(body),
            url,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1000
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    sent = requests // clients * clients  # hey sends n/c per client, rounded down
    errors = sent - codes.get(200, 0)  # other statuses and connection errors
    return {
        "rps": round(rps, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "errors": errors,
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children (robust to other load)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def writer_pids(replica_pids: list[int]) -> list[int]:
    """Inference writer actors beside these replicas: Ray worker processes of the same raylet
    (the replicas' parent) titled ``ray::InferenceWriter`` (Ray's state API cannot pick our
    cluster when other local clusters run on the machine)."""
    import psutil

    found: set[int] = set()
    for pid in replica_pids:
        try:
            for child in psutil.Process(pid).parent().children():
                if "InferenceWriter" in " ".join(child.cmdline()):
                    found.add(child.pid)
        except (psutil.Error, AttributeError):
            continue
    return sorted(found)


def monitoring_cost(
    ws: Any,
    version: int,
    body: Path,
    requests: int,
    rounds: int,
    figures: dict[str, dict[str, float]],
) -> dict[str, float]:
    """The same endpoint with the inference table and per-request metrics off
    (``monitoring=False``) against "bench" (on), alternating rounds of 16 clients on each
    replica's own port; each side's fastest round counts (other load only slows rounds).
    CPU per request counts the replica and, for "on", the inference writer actor."""
    from raylake.serving import _serve_state

    off = ws.serve("bench_off", model=f"models:/{MODEL}/{version}", max_batch_size=32,
                   monitoring=False)  # fmt: skip
    urls = {"on": ws.endpoints.get("bench"), "off": off}
    urls = {
        k: f"{e.replica_urls[0]}/invocations" if e.replica_urls else e.invocations_url
        for k, e in urls.items()
    }
    apps = _serve_state.applications()
    pids = {
        k: [r["pid"] for r in _serve_state.replicas(apps[name])]
        for k, name in (("on", "bench"), ("off", "bench_off"))
    }
    pids["on"] += writer_pids(pids["on"])  # its Delta commits are part of the monitoring cost
    hey(urls["off"], body, max(200, requests // 10), 16)  # warm-up (on is warm already)
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for r in range(rounds):
        for side in ("off", "on") if r % 2 == 0 else ("on", "off"):
            before = cpu_seconds(pids[side])
            run = hey(urls[side], body, requests, 16)
            run["cpu_ms_per_request"] = round(
                (cpu_seconds(pids[side]) - before) * 1000 / requests, 3
            )
            runs[side].append(run)
            log(f"monitoring {side}, round {r + 1}: {run} (load {load_average()})")
    ws.endpoints.delete("bench_off")
    best = {side: max(done, key=lambda f: f["rps"]) for side, done in runs.items()}
    figures["monitoring_off"], figures["monitoring_on"] = best["off"], best["on"]
    return {
        "monitoring_on_rps": best["on"]["rps"],
        "monitoring_off_rps": best["off"]["rps"],
        "monitoring_ratio": round(best["on"]["rps"] / best["off"]["rps"], 3),
        "monitoring_on_cpu_ms_per_request": best["on"]["cpu_ms_per_request"],
        "monitoring_off_cpu_ms_per_request": best["off"]["cpu_ms_per_request"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (< 1 min)")
    parser.add_argument("--requests", type=int, default=None, help="requests per measurement")
    args = parser.parse_args()
    requests = args.requests or (1000 if args.quick else 5000)
    if shutil.which("hey") is None:
        sys.exit("hey is not installed (apt-get install hey)")

    import raylake

    home = Path(tempfile.mkdtemp(prefix="raylake-bench-serving-"))
    venv_bin = str(Path(sys.executable).parent)
    baseline: subprocess.Popen | None = None
    started = time.monotonic()
    try:
        with raylake.connect(home=home, serve_port=free_port()) as ws:
            model, x = train()
            version = ws.models.register(model, MODEL, input_example=x[:5]).version
            ws.models.set_alias(MODEL, "champion", version)
            log(f"registered {MODEL} v{version}; deploying the raylake endpoint")
            endpoint = ws.serve("bench", model=f"models:/{MODEL}@champion", max_batch_size=32)
            direct = f"{endpoint.replica_urls[0]}/invocations" if endpoint.replica_urls else None

            port = free_port()
            env = {
                **os.environ,
                "MLFLOW_TRACKING_URI": ws.settings.mlflow_tracking_uri,
                "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",  # it shells out to uvicorn
            }
            log("starting mlflow models serve")
            baseline = subprocess.Popen(
                [
                    f"{venv_bin}/mlflow",
                    "models",
                    "serve",
                    "-m",
                    f"models:/{MODEL}/{version}",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],  # fmt: skip
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_ready(f"http://127.0.0.1:{port}/ping")

            body = home / "body.json"
            body.write_text(json.dumps({"dataframe_records": [x.iloc[0].to_dict()]}))
            # The same answer everywhere before anything is timed.
            answers = {
                name: httpx.post(url, content=body.read_bytes(),
                                 headers={"content-type": "application/json"}, timeout=30).json()
                for name, url in (("raylake", endpoint.invocations_url),
                                  ("mlflow", f"http://127.0.0.1:{port}/invocations"))
            }  # fmt: skip
            assert answers["raylake"] == answers["mlflow"], answers

            warm = max(200, requests // 10)
            figures: dict[str, dict[str, float]] = {}
            targets = {"mlflow": f"http://127.0.0.1:{port}/invocations"}
            targets["raylake_proxy"] = endpoint.invocations_url
            if direct:
                targets["raylake"] = direct
            from raylake.serving import _serve_state

            replica_pids = [
                r["pid"] for r in _serve_state.replicas(_serve_state.applications()["bench"])
            ]
            server_pids = {"mlflow": [baseline.pid], "raylake": replica_pids}
            for name, url in targets.items():
                hey(url, body, warm, 16)
                log(f"{name}: {requests} requests, 16 clients")
                before = cpu_seconds(server_pids.get(name, []))
                figures[name] = hey(url, body, requests, 16)
                if name in server_pids:
                    used = cpu_seconds(server_pids[name]) - before
                    figures[name]["cpu_ms_per_request"] = round(used * 1000 / requests, 3)
                log(f"  {figures[name]} (load {load_average()})")
            fast = direct or endpoint.invocations_url
            single = hey(fast, body, max(300, requests // 5), 1)
            log(f"raylake single client: {single}")
            monitoring = monitoring_cost(
                ws, version, body, requests, 2 if args.quick else 3, figures
            )
            ws.endpoints.delete("bench")
    finally:
        if baseline is not None:
            baseline.terminate()
            baseline.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)

    best = figures.get("raylake", figures["raylake_proxy"])
    result = {
        "requests": requests,
        "clients": 16,
        "raylake_rps": best["rps"],
        "raylake_p50_ms": best["p50_ms"],
        "raylake_p99_ms": best["p99_ms"],
        "raylake_proxy_rps": figures["raylake_proxy"]["rps"],
        "raylake_proxy_p50_ms": figures["raylake_proxy"]["p50_ms"],
        "mlflow_rps": figures["mlflow"]["rps"],
        "mlflow_p50_ms": figures["mlflow"]["p50_ms"],
        "mlflow_p99_ms": figures["mlflow"]["p99_ms"],
        "ratio": round(best["rps"] / figures["mlflow"]["rps"], 2),
        "proxy_ratio": round(figures["raylake_proxy"]["rps"] / figures["mlflow"]["rps"], 2),
        "single_client_p50_ms": single["p50_ms"],
        "raylake_cpu_ms_per_request": best.get("cpu_ms_per_request"),
        "mlflow_cpu_ms_per_request": figures["mlflow"].get("cpu_ms_per_request"),
        **monitoring,
        "errors": sum(f["errors"] for f in figures.values()) + single["errors"],
        "load_average": load_average(),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
