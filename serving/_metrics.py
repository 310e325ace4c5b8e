"""Prometheus metrics of an endpoint, summed over all of its replicas on the node.

Each replica is its own process; prometheus-client's multiprocess mode makes each write its
samples to files in one folder per endpoint (``PROMETHEUS_MULTIPROC_DIR``, set in the
replica's environment before anything imports prometheus-client), and ``/metrics`` on any
replica reads them all back. Counts of a replica that crashed stay in the totals.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def metrics_dir(endpoint: str, deploy_id: str) -> Path:
    """The node-local folder of one deployment of an endpoint (a redeploy starts at zero)."""
    return Path(tempfile.gettempdir()) / "raylake-serve-metrics" / f"{endpoint}-{deploy_id}"


def remove_metrics(endpoint: str, deploy_id: str) -> None:
    shutil.rmtree(metrics_dir(endpoint, deploy_id), ignore_errors=True)


@dataclass(frozen=True)
class VariantMetrics:
    """The labelled series one model version of an endpoint updates on every request."""

    answered: Any  # requests with status 200
    latency: Any
    rows: Any
    batch_size: Any


class EndpointMetrics:
    """The metric families one replica updates. Create it only inside a replica."""

    def __init__(self, endpoint: str) -> None:
        from prometheus_client import Counter, Histogram

        folder = os.environ.get(ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self.endpoint = endpoint
        self._variants: dict[tuple[str, int, str], VariantMetrics] = {}
        version_labels = ["endpoint", "model", "model_version", "role"]
        self.requests = Counter(
            "raylake_endpoint_requests",
            "Scoring requests answered, by model version and HTTP status",
            [*version_labels, "status"],
        )
        self.errors = Counter(
            "raylake_endpoint_errors",
            "Scoring requests refused or failed, by reason",
            ["endpoint", "status", "error_code"],
        )
        self.latency = Histogram(
            "raylake_endpoint_request_latency_seconds",
            "Time from request received to answer ready, in the replica",
            version_labels,
            buckets=LATENCY_BUCKETS,
        )
        self.rows = Counter("raylake_endpoint_rows", "Rows scored", version_labels)
        self.batch_size = Histogram(
            "raylake_endpoint_batch_size",
            "Requests scored together in one model call (dynamic batching)",
            version_labels,
            buckets=BATCH_BUCKETS,
        )
        self.feature_lookup = Histogram(
            "raylake_endpoint_feature_lookup_seconds",
            "Time to read online features for one request",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
        )

    def variant(self, model: str, version: int, role: str) -> VariantMetrics:
        """The series of one model version, labelled once (``labels()`` costs a lookup a call)."""
        key = (model, version, role)
        found = self._variants.get(key)
        if found is None:
            labels = (self.endpoint, model, str(version), role)
            found = self._variants[key] = VariantMetrics(
                self.requests.labels(*labels, "200"),
                self.latency.labels(*labels),
                self.rows.labels(*labels),
                self.batch_size.labels(*labels),
            )
        return found

    @staticmethod
    def exposition() -> tuple[bytes, str]:
        """All replicas' samples in Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        folder = os.environ.get(ENV)
        if not folder:  # not in multiprocess mode (a replica started by hand): this process
            from prometheus_client import REGISTRY

            return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return generate_latest(registry), CONTENT_TYPE_LATEST
