"""The UI's HTML pages: catalog, lineage, pipelines, experiments, models, endpoints, drift,
dashboards, grants and audit. Each reads the workspace's public API and renders a template."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from raylake.errors import RaylakeError, RunNotFoundError
from raylake.web import _auth, _data, _graph
from raylake.web.deps import workspace
from raylake.web.ui import PageRoute, render
from raylake.workspace import Workspace

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Ws = Annotated[Workspace, Depends(workspace)]
Who = Annotated[str, Depends(_auth.caller)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ws: Ws, who: Who) -> Response:
    tables = ws.catalog.list_tables(principal=who)
    counts = {
        "schemas": len(ws.catalog.list_schemas(principal=who)),
        "tables": len(tables),
        "models": len(ws.models.list(principal=who)),
        "endpoints": len(_data.endpoints(ws, who)),
        "pipeline runs": len(ws.pipeline_runs(limit=1000)),
        "dashboards": len(ws.dashboards.list()),
    }
    return render(request, "home.html", title="Workspace", counts=counts, settings=ws.settings)


@router.get("/login", response_class=HTMLResponse)
def login(request: Request) -> Response:
    """A form that sends the token as ``?token=`` to ``/`` (which keeps it as a cookie)."""
    return render(request, "login.html", title="Sign in")


# -- catalog -------------------------------------------------------------------------------------
@router.get("/catalog", response_class=HTMLResponse)
def catalog(request: Request, ws: Ws, who: Who) -> Response:
    return render(request, "catalog.html", title="Catalog", catalogs=_data.catalog_tree(ws, who))


@router.get("/tables/{name}", response_class=HTMLResponse)
def table(
    name: str, request: Request, ws: Ws, who: Who, rows: int = Query(20, ge=0, le=1000)
) -> Response:
    _auth.require(request, who, "SELECT", "table", name)
    detail = _data.table_detail(ws, name, rows)
    graph = _data.lineage_graph(ws, detail["info"].full_name, kind="table")
    return render(request, "table.html", title=detail["info"].full_name, t=detail, **_svg(graph))


# -- lineage -------------------------------------------------------------------------------------
@router.get("/lineage", response_class=HTMLResponse)
def lineage(request: Request, ws: Ws, who: Who, node: str | None = None) -> Response:
    graph = _data.lineage_graph(ws, node or None)
    return render(request, "lineage.html", title="Lineage", node=node, **_svg(graph))


def _svg(graph: _graph.Graph) -> dict[str, Any]:
    return {
        "graph": graph,
        "edge_paths": [_graph.edge_path(graph, s, t) for s, t in sorted(graph.edges, key=str)],
        "kinds": _graph.KIND_COLORS,
        "node_w": _graph.NODE_W,
        "node_h": _graph.NODE_H,
    }


# -- pipelines and jobs --------------------------------------------------------------------------
@router.get("/pipelines", response_class=HTMLResponse)
def pipelines(request: Request, ws: Ws, who: Who, pipeline: str | None = None) -> Response:
    runs = ws.pipeline_runs(pipeline, limit=200)
    try:
        jobs, job_runs = ws.jobs.list(), ws.jobs.runs(limit=50)
    except RaylakeError:
        jobs, job_runs = [], []
    return render(
        request,
        "pipelines.html",
        title="Pipelines",
        pipeline=pipeline,
        runs=runs,
        names=sorted({r.pipeline for r in ws.pipeline_runs(limit=1000)}),
        jobs=jobs,
        job_runs=job_runs,
    )


# -- experiments (MLflow) ------------------------------------------------------------------------
def _mlflow(ws: Workspace) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(ws.settings.mlflow_tracking_uri)


@router.get("/experiments", response_class=HTMLResponse)
def experiments(request: Request, ws: Ws, who: Who) -> Response:
    exps = _mlflow(ws).search_experiments(order_by=["last_update_time DESC"])
    return render(request, "experiments.html", title="Experiments", experiments=exps)


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment(experiment_id: str, request: Request, ws: Ws, who: Who) -> Response:
    from mlflow.exceptions import MlflowException

    client = _mlflow(ws)
    try:
        exp = client.get_experiment(experiment_id)
        runs = client.search_runs([experiment_id], max_results=200, order_by=["start_time DESC"])
    except MlflowException as exc:
        raise RunNotFoundError(f"no experiment {experiment_id!r}") from exc
    params = sorted({k for r in runs for k in r.data.params})[:8]
    metrics = sorted({k for r in runs for k in r.data.metrics})[:8]
    return render(
        request,
        "experiment.html",
        title=f"Experiment {exp.name}",
        exp=exp,
        runs=runs,
        params=params,
        metrics=metrics,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run(run_id: str, request: Request, ws: Ws, who: Who) -> Response:
    from mlflow.exceptions import MlflowException

    client = _mlflow(ws)
    try:
        r = client.get_run(run_id)
        history = {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
            for key in r.data.metrics
        }
    except MlflowException as exc:
        raise RunNotFoundError(f"no run {run_id!r}") from exc
    plot = _metric_plot(history)
    return render(request, "run.html", title=f"Run {r.info.run_name}", r=r, plot=plot)


def _metric_plot(history: dict[str, list[tuple[int, float]]]) -> str:
    """Metric curves of a run (one line per metric with more than one step)."""
    import plotly.graph_objects as go

    curves = {k: v for k, v in history.items() if len(v) > 1}
    if not curves:
        return ""
    fig = go.Figure()
    for key, points in sorted(curves.items()):
        steps, values = zip(*sorted(points), strict=True)
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=key))
    fig.update_layout(height=320, margin={"t": 30, "b": 40}, xaxis_title="step")
    return fig.to_html(full_html=False, include_plotlyjs=False)


# -- models --------------------------------------------------------------------------------------
@router.get("/models", response_class=HTMLResponse)
def models(request: Request, ws: Ws, who: Who) -> Response:
    return render(request, "models.html", title="Models", models=ws.models.list(principal=who))


@router.get("/models/{name}", response_class=HTMLResponse)
def model(name: str, request: Request, ws: Ws, who: Who) -> Response:
    from raylake.registry import parse_model_name

    full = str(parse_model_name(name))
    _auth.require(request, who, "SELECT", "model", full)
    versions = ws.models.versions(full)
    info = next(
        (m for m in ws.models.list(full.rsplit(".", 1)[0], principal=who) if m.name == full), None
    )
    graph = _data.lineage_graph(ws, full, kind="model")
    serving = [e for e in _data.endpoints(ws) if any(v.model == full for v in e.models)]
    aliases: dict[int, list[str]] = {}
    for alias, number in sorted((info.aliases if info else {}).items()):
        aliases.setdefault(int(number), []).append(alias)
    return render(
        request,
        "model.html",
        title=full,
        name=full,
        info=info,
        versions=versions,
        aliases=aliases,
        serving=serving,
        **_svg(graph),
    )


# -- endpoints -----------------------------------------------------------------------------------
@router.get("/endpoints", response_class=HTMLResponse)
def endpoints(request: Request, ws: Ws, who: Who) -> Response:
    listed = _data.endpoints(ws, who)
    return render(request, "endpoints.html", title="Endpoints", endpoints=listed)


@router.get("/endpoints/{name}", response_class=HTMLResponse)
def endpoint(name: str, request: Request, ws: Ws, who: Who) -> Response:
    ep = _data.endpoint(ws, name)
    return render(request, "endpoint.html", title=f"Endpoint {ep.name}", ep=ep)


# -- drift ---------------------------------------------------------------------------------------
@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(request: Request, ws: Ws, who: Who) -> Response:
    return render(
        request, "monitoring.html", title="Drift", endpoints=_data.monitored_endpoints(ws)
    )


@router.get("/monitoring/{name}", response_class=HTMLResponse)
def drift(name: str, request: Request, ws: Ws, who: Who) -> Response:
    frame = _data.drift_history(ws, name)
    reports = _data.drift_reports(frame, ws.settings.home / "monitoring" / name)
    return render(
        request,
        "drift.html",
        title=f"Drift of {name}",
        name=name,
        reports=reports,
        plot=_drift_plot(frame),
    )


def _drift_plot(frame: Any) -> str:
    """PSI per feature over time: which features drift, and since when."""
    import plotly.graph_objects as go

    if frame.empty:
        return ""
    fig = go.Figure()
    for feature, rows in frame.sort_values("ts").groupby("feature"):
        fig.add_trace(go.Scatter(x=rows["ts"], y=rows["psi"], mode="lines+markers", name=feature))
    fig.add_hline(y=0.2, line_dash="dot", annotation_text="PSI 0.2")
    fig.update_layout(height=340, margin={"t": 30, "b": 40}, yaxis_title="PSI")
    return fig.to_html(full_html=False, include_plotlyjs=False)


@router.get("/monitoring/{name}/reports/{report_id}")
def drift_report(name: str, report_id: str, ws: Ws, who: Who) -> FileResponse:
    return FileResponse(_data.report_path(ws, name, report_id), media_type="text/html")


# -- dashboards, grants, audit -------------------------------------------------------------------
@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(request: Request, ws: Ws, who: Who, show: str | None = None) -> Response:
    boards = ws.dashboards.list()
    if show is not None:
        ws.dashboards.get(show)  # 404 for a name that does not exist
    return render(request, "dashboards.html", title="Dashboards", boards=boards, show=show)


@router.get("/governance", response_class=HTMLResponse)
def governance(
    request: Request,
    ws: Ws,
    who: Who,
    principal: str | None = None,
    action: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> Response:
    admin = _auth.is_admin(request, who)
    grants = ws.show_grants(principal=None if admin else who)
    events = ws.audit(principal if admin else who, action or None, limit=limit)
    return render(
        request,
        "governance.html",
        title="Grants and audit",
        grants=grants,
        events=events,
        principal=principal,
        action=action,
        admin=admin,
    )
