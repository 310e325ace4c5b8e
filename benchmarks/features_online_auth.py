"""What auth costs the feature retrieval API: the same server with auth off and on.

Three servers on one Feast repo and SQLite online store (the repo of benchmarks/
features_online.py: 1 entity, 9 features from 3 views per request): auth off (the baseline),
auth on with the Gate's short TTL cache (the default), and auth on with no cache (every request
authenticates its token, checks SELECT on 3 views and writes an audit row). ``hey`` (16
clients) runs against one at a time, alternating, several rounds; each server's fastest round
counts and CPU per request (server process) is reported beside it. Progress to stderr; the
last stdout line is JSON.

    python benchmarks/features_online_auth.py [--quick] [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_online import (  # noqa: E402
    BIN,
    CONCURRENCY,
    URL,
    cpu_seconds,
    free_port,
    log,
    online_repo,
    servers,
)

# The auth-on servers: a Gate on the workspace's catalog database, as ws.features.serve builds.
LAUNCH = """
import sys
from raylake.features._online_reader import OnlineReader
from raylake.features._server import run
from raylake.governance.gate import Gate
from raylake.settings import load_settings
repo, home, port, ttl = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
gate = Gate.from_settings(load_settings(home=home, auth=True), ttl=ttl)
run(OnlineReader(repo), "127.0.0.1", port, gate=gate)
"""


def hey(url: str, body: Path, requests: int, token: str, pid: int | None = None) -> dict:
    import re

    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        ["hey", "-n", str(requests), "-c", str(CONCURRENCY), "-m", "POST",
         "-T", "application/json", "-H", f"Authorization: Bearer {token}",
         "-D", str(body), url + URL],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000
    ok = sum(int(n) for n in re.findall(r"\[200\]\s+(\d+) responses", out))
    done = requests // CONCURRENCY * CONCURRENCY
    cpu_us = (cpu_seconds(pid) - cpu_before) / done * 1e6 if pid else 0.0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us": cpu_us, "failed": done - ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round (< 1 minute)")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    requests = args.requests or (2000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 3)
    if shutil.which("hey") is None:
        sys.exit("hey is not installed (apt-get install hey)")
    import raylake

    with tempfile.TemporaryDirectory(prefix="raylake-bench-auth-") as tmp:
        folder = Path(tmp)
        log("building the Feast repo and a governed workspace ...")
        repo = online_repo.write_repo(folder / "repo")
        home = folder / "home"
        with raylake.connect(home=home, user="admin") as ws:
            ws.principals.create_user("reader")
            ws.grant("USE", "catalog", "main", "reader")
            for view in online_repo.VIEWS:
                ws.grant("SELECT", "feature_view", view, "reader")
            token = ws.tokens.create("reader")
        body = folder / "body.json"
        body.write_text(
            json.dumps({"features": online_repo.NINE, "entities": {"driver_id": [1003]}})
        )
        py = str(BIN / "python")
        urls = {name: f"http://127.0.0.1:{free_port()}" for name in ("off", "on", "on_nocache")}
        commands = {
            urls["off"]: [py, "-m", "raylake.features._server", str(repo),
                          "--port", urls["off"].rsplit(":", 1)[1]],
            urls["on"]: [py, "-c", LAUNCH, str(repo), str(home),
                         urls["on"].rsplit(":", 1)[1], "3"],
            urls["on_nocache"]: [py, "-c", LAUNCH, str(repo), str(home),
                                 urls["on_nocache"].rsplit(":", 1)[1], "0"],
        }  # fmt: skip
        log("starting three servers ...")
        with servers(commands, folder) as pids:
            answer = httpx.post(urls["off"] + URL, content=body.read_bytes()).json()
            for name in ("on", "on_nocache"):
                got = httpx.post(
                    urls[name] + URL,
                    content=body.read_bytes(),
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                assert got == answer, (name, got)
                assert httpx.post(urls[name] + URL, content=body.read_bytes()).status_code == 401
            for url in urls.values():
                hey(url, body, 400, token)
            results: dict[str, list[dict]] = {name: [] for name in urls}
            load_before = os.getloadavg()
            order = list(urls)
            for r in range(rounds):
                for name in order if r % 2 == 0 else order[::-1]:
                    figures = hey(urls[name], body, requests, token, pids[urls[name]])
                    results[name].append(figures)
                    log(f"round {r + 1} {name}: {figures}")
            load_after = os.getloadavg()

    best = {name: max(runs, key=lambda f: f["rps"]) for name, runs in results.items()}
    cpu = {name: statistics.median(f["cpu_us"] for f in runs) for name, runs in results.items()}
    report: dict = {}
    for name in urls:
        report[f"auth_{name}_rps"] = round(best[name]["rps"], 1)
        report[f"auth_{name}_p50_ms"] = round(best[name]["p50_ms"], 2)
        report[f"auth_{name}_p99_ms"] = round(best[name]["p99_ms"], 2)
        report[f"auth_{name}_cpu_us_per_request"] = round(cpu[name], 1)
    report["ratio_on_vs_off_rps"] = round(best["on"]["rps"] / best["off"]["rps"], 2)
    report["ratio_nocache_vs_off_rps"] = round(best["on_nocache"]["rps"] / best["off"]["rps"], 2)
    report["failed_requests"] = sum(f["failed"] for fs in results.values() for f in fs)
    report["requests_per_run"] = requests
    report["rounds"] = rounds
    report["concurrency"] = CONCURRENCY
    report["loadavg_1m_before_after"] = [round(load_before[0], 2), round(load_after[0], 2)]
    report["cpus"] = os.cpu_count()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
