"""The scale-out stack on loopback, each piece started and stopped by the test that needs it.

PostgreSQL (catalog + MLflow backend), Redis (Feast online store), an S3-compatible object
store (moto), an MLflow tracking server and a two-node Ray cluster (``ray start --head`` plus a
second ``ray start --address``). Every server binds 127.0.0.1 on a free port; every process runs
in its own process group with its own temporary folder, so stopping it never touches another
Ray on the machine (``ray stop`` would stop them all).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.object_store import free_port

BIN = Path(sys.executable).parent


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen | None, timeout: float):
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115 - closed with the process by the OS
    return subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make test-cluster installs it)")
    return found[-1].parent


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; Debian's package creates the postgres user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres(databases: tuple[str, ...]) -> Iterator[str]:
    """A throw-away PostgreSQL on a free port; yields the base URL (append a database name)."""
    # Its own folder outside pytest's (root-only) temp tree: the server runs as ``postgres``.
    workdir = Path(tempfile.mkdtemp(prefix="rlpg"))
    bindir, data, port = _postgres_bin(), workdir / "pgdata", free_port()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "raylake", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {workdir} -h 127.0.0.1"
    proc = _spawn(
        _as_postgres([str(bindir / "postgres"), "-D", str(data), *opts.split()]),
        workdir / "postgres.log",
    )
    try:
        _wait(lambda: _port_open(port), "postgres", proc, 60)
        for db in databases:
            _wait(
                lambda db=db: (
                    subprocess.run(
                        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U"]
                        + ["raylake", db],
                        capture_output=True,
                    ).returncode
                    == 0
                ),
                f"createdb {db}",
                proc,
                30,
            )
        yield f"postgresql+psycopg2://raylake@127.0.0.1:{port}"
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def redis(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = _spawn(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        + ["--appendonly", "no", "--dir", str(workdir)],
        workdir / "redis.log",
    )
    try:
        _wait(lambda: _port_open(port), "redis-server", proc, 30)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@contextmanager
def mlflow_server(workdir: Path, backend_url: str, artifacts: str, env: dict[str, str]):
    """``mlflow server`` on PostgreSQL with artifacts proxied to the object store."""
    port = free_port()
    proc = _spawn(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", backend_url, "--artifacts-destination", artifacts]
        + ["--workers", "1"],
        workdir / "mlflow.log",
        env={**os.environ, **env},
    )
    try:
        _wait(lambda: _port_open(port), "mlflow server", proc, 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def ray_token_env(workdir: Path) -> dict[str, str]:
    """Token authentication for every process of the cluster, as cluster.yaml sets it up."""
    token = workdir / "ray_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


@contextmanager
def ray_cluster(workdir: Path, nodes: int = 2, cpus_per_node: int = 3) -> Iterator[str]:
    """A real multi-node Ray cluster on loopback: one head plus ``nodes - 1`` workers."""
    port = free_port()
    # Short and unique: Ray's socket paths must fit in 107 bytes, and cleanup matches it.
    temp = Path(f"/tmp/rlc{os.getpid()}")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        # Serve's direct ingress is read by the processes Ray starts: set it for the nodes.
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        **ray_token_env(workdir),
    }
    common = ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}", "--block"]
    procs = [
        _spawn(
            [str(BIN / "ray"), "start", "--head", f"--port={port}", f"--temp-dir={temp}"]
            # The dashboard serves the state API the test asks where tasks ran (loopback only).
            + ["--dashboard-host=127.0.0.1", f"--dashboard-port={free_port()}"]
            + ["--disable-usage-stats", *common],
            workdir / "ray-head.log",
            env,
        )
    ]
    address = f"127.0.0.1:{port}"
    try:
        _wait(lambda: _port_open(port), "ray head", procs[0], 120)
        for i in range(1, nodes):
            # A joining node has a fixed 30 s to register with the GCS (ray/_private/node.py);
            # on a busy 2-core machine that can run out, so a failed start is tried again.
            for attempt in range(3):
                proc = _spawn(
                    [str(BIN / "ray"), "start", f"--address={address}", *common],
                    workdir / f"ray-worker{i}.log",
                    env,
                )
                try:
                    _wait(lambda i=i: _alive_nodes(address, env) > i, f"Ray node {i}", proc, 300)
                    procs.append(proc)
                    break
                except RuntimeError:
                    _stop(proc)
                    if attempt == 2:
                        raise
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        subprocess.run(["pkill", "-9", "-f", str(temp)], check=False)
        shutil.rmtree(temp, ignore_errors=True)


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe, address],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired:  # a busy machine: the caller asks again until its limit
        return 0
    lines = out.stdout.strip().splitlines()
    return int(lines[-1]) if out.returncode == 0 and lines and lines[-1].isdigit() else 0
