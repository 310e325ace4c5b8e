"""Start or join Ray lazily; stop only what was started here."""

from __future__ import annotations

import logging
import os
import threading

from raylake.compute.java_options import JVM_OPTIONS
from raylake.compute.ray_auth import enable_token_auth
from raylake.settings import Settings

log = logging.getLogger(__name__)


class RayRuntime:
    """Owns the workspace's connection to Ray.

    ``ensure()`` starts a local Ray in-process (no address) or connects to ``ray_address``.
    If Ray was already initialised by the caller, it is joined and never shut down here.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._owned = False
        self._ready = False

    @property
    def started(self) -> bool:
        return self._ready

    @property
    def owned(self) -> bool:
        """True when this runtime called ``ray.init`` and so must call ``ray.shutdown``."""
        return self._owned

    def ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            import ray
            from ray.job_config import JobConfig

            if ray.is_initialized():
                log.debug("joining the Ray instance already initialised in this process")
            else:
                # Tell Ray's log de-duplication and usage stats to stay quiet in a local workspace.
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                # Serve reads these once, in processes Ray starts from this environment:
                # direct ingress (replicas answer HTTP themselves; the proxy caps near 250
                # req/s on 2 cores) with a short drain so deleting an endpoint takes seconds.
                os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
                os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")
                kwargs: dict = {
                    "job_config": JobConfig(jvm_options=list(JVM_OPTIONS)),
                    "log_to_driver": False,
                    "logging_level": logging.WARNING,
                    "configure_logging": True,
                }
                if self._settings.ray_address:
                    kwargs["address"] = self._settings.ray_address
                else:
                    # Only holders of the workspace's token may talk to the Ray started here.
                    enable_token_auth(self._settings.home)
                    kwargs.update(
                        # "local": always a new in-process Ray, never a cluster someone
                        # else started on this machine with `ray start`.
                        address="local",
                        num_cpus=self._local_num_cpus(),
                        include_dashboard=False,
                        _node_ip_address="127.0.0.1",
                    )
                ray.init(**kwargs)
                self._owned = True
            self._ready = True

    def _local_num_cpus(self) -> int:
        # RayDP executors hold their CPUs for the session's lifetime while mostly idle; without
        # headroom beyond them, Ray Data tasks (to_ray, from_spark) could never be scheduled.
        s = self._settings
        if s.ray_num_cpus:
            return s.ray_num_cpus
        return (os.cpu_count() or 1) + s.spark_executors * s.spark_executor_cores

    def stop(self) -> None:
        """Shut Ray down if this runtime initialised it (for a cluster: disconnect only)."""
        with self._lock:
            if self._ready and self._owned:
                import ray

                ray.shutdown()
            self._ready = False
            self._owned = False
