"""What raylake reads from Ray Serve's controller, in one place.

Serve's public API has no call for an application's ``user_config``, the proxy's actual port,
or the direct-ingress ports of replicas; the controller has them (the dashboard and the
``serve status`` CLI read them the same way). Keeping these private calls here means one file
to check when Ray is upgraded.
"""

from __future__ import annotations

from typing import Any

ROUTE_PREFIX = "/endpoints/"


def start(host: str, port: int) -> None:
    """Start Serve's controller and HTTP proxy (a no-op when Serve already runs)."""
    from ray import serve

    serve.start(http_options={"host": host, "port": port})


def running() -> bool:
    from ray.serve.context import _get_global_client

    try:
        _get_global_client(raise_if_no_controller_running=True)
    except Exception:  # noqa: BLE001 - Serve raises several kinds when no controller runs
        return False
    return True


def proxy_address() -> tuple[str, int]:
    from ray.serve.context import _get_global_client

    config = _get_global_client().http_config
    return config.host or "127.0.0.1", int(config.port)


def applications() -> dict[str, dict[str, Any]]:
    """Serve's details of every application whose route is ``/endpoints/<name>``."""
    from ray.serve.context import _get_global_client

    details = _get_global_client().get_serve_details()
    return {
        name: app
        for name, app in (details.get("applications") or {}).items()
        if str(app.get("route_prefix") or "").startswith(ROUTE_PREFIX)
    }


def user_config(app: dict[str, Any]) -> dict[str, Any] | None:
    for deployment in (app.get("deployments") or {}).values():
        config = (deployment.get("deployment_config") or {}).get("user_config")
        if isinstance(config, dict) and "variants" in config:
            return config
    return None


def replicas(app: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for deployment in (app.get("deployments") or {}).values():
        out.extend(deployment.get("replicas") or [])
    return out


def direct_ports(app_name: str) -> list[int]:
    """HTTP ports where the app's replicas answer directly (direct ingress), if enabled."""
    import ray
    from ray.serve.context import _get_global_client

    controller = _get_global_client()._controller
    groups = ray.get(controller.get_target_groups.remote(app_name))
    proxy_port = proxy_address()[1]
    return sorted(
        t.port
        for g in groups
        if getattr(g.protocol, "value", g.protocol) == "HTTP"
        for t in g.targets
        if t.port != proxy_port
    )
