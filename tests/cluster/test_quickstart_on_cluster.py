"""The quickstart, unchanged, on a two-node Ray cluster with PostgreSQL, Redis, MLflow and S3.

Only settings change (RAYLAKE_* environment, as ``cluster.yaml`` sets them on a real cluster).
Run with ``make test-cluster``; it is not part of ``make test`` (it starts a whole second stack).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster import services
from tests.helpers.object_store import moto_s3

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("cluster")
    with (
        moto_s3(bucket="raylake", log=work / "moto.log") as s3,
        services.postgres(("catalog", "mlflow")) as pg,
        services.redis(work) as redis_url,
        services.mlflow_server(
            work,
            f"{pg}/mlflow",
            "s3://raylake/mlartifacts",
            {
                "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
                "AWS_ACCESS_KEY_ID": s3.storage_options["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3.storage_options["AWS_SECRET_ACCESS_KEY"],
                "AWS_DEFAULT_REGION": s3.storage_options["AWS_REGION"],
            },
        ) as mlflow_uri,
        services.ray_cluster(work, nodes=2) as ray_address,
    ):
        env = {
            "RAYLAKE_HOME": str(work / "home"),
            "RAYLAKE_RAY_ADDRESS": ray_address,
            "RAYLAKE_CATALOG_URL": f"{pg}/catalog",
            "RAYLAKE_MLFLOW_TRACKING_URI": mlflow_uri,
            "RAYLAKE_ONLINE_STORE_URL": redis_url,
            "RAYLAKE_STORAGE_ROOT": "s3://raylake/tables",
            "RAYLAKE_STORAGE_OPTIONS": json.dumps(s3.storage_options),
            **services.ray_token_env(work),
        }
        yield {"env": env, "s3": s3, "ray_address": ray_address, "work": work}


def test_quickstart_runs_unchanged_on_the_cluster(stack):
    env = {**os.environ, **stack["env"], "QUICKSTART_ROWS_PER_DAY": "3000"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        env=env,
        cwd=stack["work"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    (stack["work"] / "quickstart.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    # Data landed in object storage: Delta logs and Parquet files of the gold table.
    keys = stack["s3"].keys("tables/")
    assert any(k.endswith(".parquet") for k in keys)
    assert any("/_delta_log/" in k for k in keys)
    # MLflow artifacts went through the tracking server into the bucket.
    assert stack["s3"].keys("mlartifacts/")

    # Work ran on both nodes: tasks and actors of the quickstart's job were placed on each.
    probe = (
        "import ray, sys, collections\n"
        "from ray.util.state import list_tasks, list_actors\n"
        "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
        "nodes = collections.Counter()\n"
        "a = sys.argv[1]\n"
        "for t in list_tasks(address=a, limit=10000, raise_on_missing_output=False):\n"
        "    if t.node_id: nodes[t.node_id] += 1\n"
        "for x in list_actors(address=a, limit=10000, raise_on_missing_output=False):\n"
        "    if x.node_id: nodes[x.node_id] += 1\n"
        "print(len(nodes))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, stack["ray_address"]],
        env={**os.environ, **stack["env"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "2", out.stdout + out.stderr
