"""Model serving on Ray Serve: registry models behind HTTP endpoints that speak MLflow's
scoring protocol, with dynamic batching, champion/challenger traffic, in-place promotion,
online features, Prometheus metrics and an inference table.

Usage::

    ws.models.set_alias("churn", "champion", 3)
    endpoint = ws.serve("churn", model="models:/main.models.churn@champion")
    httpx.post(endpoint.invocations_url, json={"dataframe_records": [{"x1": 1.0, "x2": 2.0}]})
    ws.models.set_alias("churn", "champion", 4)
    ws.endpoints.refresh("churn")  # promotion: zero failed requests
    ws.endpoints.delete("churn")
"""

from raylake.serving._endpoints import Endpoint, Endpoints
from raylake.serving._spec import Variant

__all__ = ["Endpoint", "Endpoints", "Variant"]
