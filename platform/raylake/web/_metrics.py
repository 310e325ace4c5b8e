"""An endpoint's Prometheus text -> the few cumulative figures the live plots need.

The browser polls these every few seconds and plots differences (request rate, mean latency
and latency quantiles over the last interval), so the server keeps no time series of its own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "raylake_endpoint_requests"
ERRORS = "raylake_endpoint_errors"
LATENCY = "raylake_endpoint_request_latency_seconds"


def summarize(text: str) -> dict[str, Any]:
    """Totals: requests, errors, rows, latency sum/count and the latency histogram buckets."""
    requests = errors = latency_sum = latency_count = 0.0
    buckets: dict[float, float] = defaultdict(float)
    by_version: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{REQUESTS}_total":
                requests += s.value
                by_version[f"v{s.labels.get('model_version', '?')}"] += s.value
            elif s.name == f"{ERRORS}_total":
                errors += s.value
            elif s.name == f"{LATENCY}_sum":
                latency_sum += s.value
            elif s.name == f"{LATENCY}_count":
                latency_count += s.value
            elif s.name == f"{LATENCY}_bucket" and s.labels["le"] != "+Inf":
                buckets[float(s.labels["le"])] += s.value  # +Inf is latency_count
    return {
        "requests": requests,
        "errors": errors,
        "latency_sum": latency_sum,
        "latency_count": latency_count,
        "buckets": [[le, n] for le, n in sorted(buckets.items())],
        "by_version": dict(by_version),
    }
