"""What the pages and JSON APIs show, read through the workspace's public API as plain data."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylake.errors import (
    EndpointNotFoundError,
    InvalidArgumentError,
    TableNotFoundError,
)
from raylake.web import _graph

if TYPE_CHECKING:
    import pandas as pd

    from raylake.workspace import Workspace

MONITORING_SCHEMA = "main.monitoring"
DRIFT_SUFFIX = "_drift"


def plain(value: Any) -> Any:
    """Records -> JSON-ready values (datetimes as ISO strings, NaN as null)."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def frame_rows(frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as ``{"columns": [...], "rows": [[...]]}`` of JSON values."""
    data = json.loads(frame.to_json(orient="split", date_format="iso", default_handler=str))
    return {"columns": [str(c) for c in data["columns"]], "rows": data["data"]}


# -- catalog ---------------------------------------------------------------------------------------
def catalog_tree(ws: Workspace, principal: str | None = None) -> list[dict[str, Any]]:
    """Catalogs -> schemas -> tables (with auth on: those ``principal`` may see)."""
    tables: dict[str, list[Any]] = defaultdict(list)
    for t in ws.catalog.list_tables(principal=principal):
        tables[t.full_name.rsplit(".", 1)[0]].append(t)
    catalogs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in ws.catalog.list_schemas(principal=principal):
        catalogs[s.catalog].append(
            {"schema": s, "tables": sorted(tables.get(s.full_name, []), key=lambda t: t.full_name)}
        )
    return [{"name": c, "schemas": catalogs[c]} for c in sorted(catalogs)]


def table_detail(ws: Workspace, name: str, rows: int = 20) -> dict[str, Any]:
    desc = ws.catalog.describe(name)
    table = ws.table(desc.info.full_name)
    return {
        "info": desc.info,
        "version": desc.version,
        "schema": desc.schema,
        "num_rows": desc.num_rows,
        "num_files": desc.num_files,
        "history": table.history(limit=50),
        "head": frame_rows(table.head(rows, version=desc.version)),
    }


# -- lineage ---------------------------------------------------------------------------------------
def serving_edges(ws: Workspace) -> list[tuple[str, str, int]]:
    """(endpoint, model, version) for each model version behind a running endpoint."""
    return [(e.name, v.model, v.version) for e in endpoints(ws) for v in e.models]


def endpoints(ws: Workspace, principal: str | None = None) -> list[Any]:
    """Running endpoints (those ``principal`` may see, with auth on)."""
    # Listing never starts Ray; a Serve that cannot be reached shows as no endpoints.
    try:
        return ws.endpoints.list(principal=principal)
    except Exception:  # noqa: BLE001 - the page still shows the rest of the workspace
        return []


def lineage_graph(ws: Workspace, node: str | None = None, kind: str | None = None) -> _graph.Graph:
    """The whole workspace's lineage (from every table), or up- and downstream of ``node``
    (of that ``kind``, when the caller knows it exists: a node without edges is drawn alone)."""
    if node:
        lin = ws.lineage(node)
        edges = [*lin.upstream, *lin.downstream]
        if not edges and kind is None and not _known(ws, lin.name):
            raise TableNotFoundError(f"no lineage node named {node!r}")
    else:
        seen: set[tuple[Any, ...]] = set()
        edges = []
        for t in ws.catalog.list_tables():
            lin = ws.lineage(t.full_name)
            for e in (*lin.upstream, *lin.downstream):
                key = (e.source_name, e.source_version, e.target_name, e.target_version)
                if key not in seen:
                    seen.add(key)
                    edges.append(e)
    names = {e.source_name for e in edges} | {e.target_name for e in edges}
    if node:
        names.add(node)
    serving = [s for s in serving_edges(ws) if s[1] in names or s[0] == node]
    graph = _graph.build(edges, serving)
    _name_runs(ws, graph)
    if node and not graph.nodes:  # a table with no lineage yet: show it alone
        graph = _graph.build([], [])
        single = _graph.make_node(lin.name, None, kind or "table")
        graph.nodes[(single.name, None)] = single
        _graph.layout(graph)
    return graph


def _name_runs(ws: Workspace, graph: _graph.Graph) -> None:
    """Label run nodes with their MLflow run names (one search for all of them)."""
    runs = {n.name.removeprefix("runs:/"): n for n in graph.nodes.values() if n.kind == "run"}
    if not runs:
        return
    try:
        from mlflow import MlflowClient

        client = MlflowClient(ws.settings.mlflow_tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        quoted = ", ".join(f"'{r}'" for r in runs if r.isalnum())
        found = client.search_runs(experiments, f"attributes.run_id IN ({quoted})")
    except Exception:  # noqa: BLE001 - ids are labels enough when MLflow cannot answer
        return
    for run in found:
        node = runs.get(run.info.run_id)
        if node is not None and run.info.run_name:
            node.label = f"run {run.info.run_name}"


def _known(ws: Workspace, name: str) -> bool:
    try:
        ws.catalog.describe(name)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not a table we can show
        return False


# -- endpoints and metrics -------------------------------------------------------------------------
def endpoint(ws: Workspace, name: str) -> Any:
    try:
        return ws.endpoints.get(name)
    except (EndpointNotFoundError, InvalidArgumentError):
        raise
    except Exception as exc:  # Ray/Serve not reachable: to the user, there is no such endpoint
        raise EndpointNotFoundError(f"no endpoint named {name!r} ({exc})") from exc


def endpoint_metrics(ws: Workspace, name: str) -> dict[str, Any]:
    """Cumulative counters of the endpoint (from its replicas' Prometheus ``/metrics``)."""
    import httpx

    from raylake.web._metrics import summarize

    ep = endpoint(ws, name)
    url = (ep.replica_urls or [ep.url])[0] + "/metrics"
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError as exc:
        return {"endpoint": name, "error": f"metrics not reachable: {exc}"}
    return {"endpoint": name, **summarize(text)}


# -- drift -----------------------------------------------------------------------------------------
def monitored_endpoints(ws: Workspace) -> list[str]:
    """Endpoints with drift reports: their drift tables and report folders."""
    names = {
        t.full_name.rsplit(".", 1)[1].removesuffix(DRIFT_SUFFIX)
        for t in ws.catalog.list_tables()
        if t.full_name.startswith(MONITORING_SCHEMA + ".") and t.full_name.endswith(DRIFT_SUFFIX)
    }
    folder = ws.settings.home / "monitoring"
    if folder.is_dir():
        names |= {p.name for p in folder.iterdir() if p.is_dir()}
    return sorted(names)


def drift_history(ws: Workspace, name: str) -> pd.DataFrame:
    from raylake.serving._monitoring_tables import drift_table_name

    drift_table_name(name)  # refuses names no endpoint can have
    frame = ws.monitor(name).drift_history()
    if frame.empty and name not in monitored_endpoints(ws):
        raise EndpointNotFoundError(f"no drift reports for endpoint {name!r}")
    return frame


def report_path(ws: Workspace, endpoint_name: str, report_id: str) -> Path:
    """The HTML file of one drift report (the drift table does not store its path, but the
    monitor names it ``drift-<stamp>-<id[:8]>.html`` in ``home/monitoring/<endpoint>/``)."""
    folder = ws.settings.home / "monitoring" / endpoint_name
    if not report_id.isalnum() or not endpoint_name.replace("_", "").isalnum():
        raise EndpointNotFoundError(f"no drift report {report_id!r}")
    hits = sorted(folder.glob(f"drift-*-{report_id[:8]}.html")) if folder.is_dir() else []
    if not hits:
        raise EndpointNotFoundError(f"no HTML for drift report {report_id!r} of {endpoint_name}")
    return hits[-1]


def drift_reports(frame: pd.DataFrame, folder: Path) -> list[dict[str, Any]]:
    """One row per report (the table has one per feature per report), newest first."""
    if frame.empty:
        return []
    out = []
    for report_id, rows in frame.groupby("report_id", sort=False):
        first = rows.iloc[0]
        rid = str(report_id).replace("-", "")
        out.append(
            {
                "report_id": rid,
                "ts": first["ts"],
                "window": first["window"],
                "model": f"{first['model_name']} v{first['model_version']}",
                "drifted": [str(f) for f in rows.loc[rows["drifted"], "feature"]],
                "features": len(rows),
                "has_html": folder.is_dir() and any(folder.glob(f"drift-*-{rid[:8]}.html")),
            }
        )
    return sorted(out, key=lambda r: r["ts"], reverse=True)
