"""Token authentication on the Ray raylake starts: without the workspace's token, Ray's ports
refuse (raw gRPC to the GCS and the raylet, and a real ``ray.init`` driver); with it, they serve."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import ray
from ray.core.generated import (
    gcs_service_pb2,
    gcs_service_pb2_grpc,
    node_manager_pb2,
    node_manager_pb2_grpc,
)

import raylake
from raylake.compute.ray_auth import token_path


@pytest.fixture(scope="module")
def ray_up(ws: raylake.Workspace) -> raylake.Workspace:
    ws.ray()
    return ws


def _token(ws: raylake.Workspace) -> str:
    return token_path(ws.settings.home).read_text()


def test_token_file_is_owner_only_and_every_ray_process_uses_it(ray_up: raylake.Workspace) -> None:
    path = token_path(ray_up.settings.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(_token(ray_up)) == 64
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(path)

    @ray.remote(num_cpus=0)
    def worker_env() -> tuple[str | None, str | None]:
        return os.environ.get("RAY_AUTH_MODE"), os.environ.get("RAY_AUTH_TOKEN_PATH")

    assert ray.get(worker_env.remote()) == ("token", str(path))


@pytest.mark.parametrize("service", ["gcs", "raylet"])
def test_ray_ports_refuse_callers_without_the_token(
    ray_up: raylake.Workspace, service: str
) -> None:
    node = ray._private.worker.global_worker.node
    if service == "gcs":
        address = ray.get_runtime_context().gcs_address

        def call(channel: grpc.Channel, metadata: list[tuple[str, str]] | None) -> object:
            stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
            request = gcs_service_pb2.GetAllNodeInfoRequest()
            return stub.GetAllNodeInfo(request, metadata=metadata, timeout=20)
    else:
        address = f"{node.node_ip_address}:{node.node_manager_port}"

        def call(channel: grpc.Channel, metadata: list[tuple[str, str]] | None) -> object:
            stub = node_manager_pb2_grpc.NodeManagerServiceStub(channel)
            request = node_manager_pb2.GetNodeStatsRequest()
            return stub.GetNodeStats(request, metadata=metadata, timeout=20)

    wrong = "0" * 64
    for metadata in (None, [("authorization", f"Bearer {wrong}")], [("authorization", "x")]):
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as err:
            call(channel, metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(address) as channel:
        call(channel, [("authorization", f"Bearer {_token(ray_up)}")])  # served


def test_a_driver_without_the_token_is_refused_and_with_it_connects(
    ray_up: raylake.Workspace, tmp_path: Path
) -> None:
    gcs = ray.get_runtime_context().gcs_address
    code = (
        "import ray\n"
        f"ray.init(address={gcs!r}, log_to_driver=False)\n"
        "print('CONNECTED', ray.cluster_resources().get('CPU'))\n"
    )
    # A clean environment: no raylake token, and a HOME without ~/.ray/auth_token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)

    refused = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode != 0
    assert "CONNECTED" not in refused.stdout
    assert "token" in refused.stderr.lower()

    with_token = {
        **env,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_path(ray_up.settings.home)),
    }
    ok = subprocess.run(
        [sys.executable, "-c", code], env=with_token, capture_output=True, text=True, timeout=300
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "CONNECTED" in ok.stdout
