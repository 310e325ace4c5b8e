"""``raylake monitor``: an endpoint's logged inferences and drift reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace

app = typer.Typer(help="Endpoint monitoring: inference table and drift.", no_args_is_help=True)

Endpoint = Annotated[str, typer.Argument(help="Endpoint name.")]
Window = Annotated[
    str, typer.Option("--window", "-w", help="How far back from now: e.g. 30m, 1h, 7d.")
]


@app.command("drift")
def drift(
    endpoint: Endpoint,
    window: Window = "1h",
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Baseline table (name or name@version); default: the model's training "
            "table, found through lineage."
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Write the HTML report here (default: under the workspace home)."),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="POST a JSON alert here when a feature drifted.")
    ] = None,
    psi: Annotated[float, typer.Option("--psi", help="PSI alert threshold.")] = 0.2,
    ks_pvalue: Annotated[float, typer.Option("--ks-pvalue", help="KS p-value threshold.")] = 0.01,
    prediction_baseline: Annotated[
        str | None,
        typer.Option(
            help="Baseline column for predictions (e.g. the label); default: the baseline's "
            "'prediction' column, else the model scores the baseline."
        ),
    ] = None,
    no_predictions: Annotated[
        bool, typer.Option("--no-predictions", help="Compare inputs only.")
    ] = False,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 3 if any feature drifted.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Compare recent requests with the training data (PSI, KS) and store the report."""
    how = None if no_predictions else (prediction_baseline or "auto")
    with workspace() as ws:
        report = ws.monitor(endpoint).drift_report(
            window,
            baseline,
            psi_threshold=psi,
            ks_pvalue=ks_pvalue,
            webhook=webhook,
            html=html,
            prediction_baseline=how,
        )
    if json_out:
        _render.print_json({**_render.jsonable(report), "drifted": report.drifted})
    else:
        rows = [
            (
                r.feature + (" (prediction)" if r.is_prediction else ""),
                r.kind,
                f"{r.psi:.4f}",
                None if r.ks_stat is None else f"{r.ks_stat:.4f}",
                None if r.ks_pvalue is None else f"{r.ks_pvalue:.3g}",
                "DRIFT" if r.drifted else "ok",
            )
            for r in report.features
        ]
        model = f"{report.model_name} v{report.model_version}"
        _render.show(
            _render.table(
                ("feature", "kind", "PSI", "KS", "KS p", "drift"),
                rows,
                title=f"{endpoint}: {report.n_recent} requests in {window} vs {report.baseline} "
                f"({model})",
            ),
            f"drifted: {', '.join(report.drifted) or 'none'}",
            *(f"note: {n}" for n in report.notes),
            f"report {report.report_id} (table version {report.table_version}): {report.html_path}",
        )
        if report.alert_error:
            _render.show(f"webhook failed: {report.alert_error}")
    if fail_on_drift and report.drifted:
        raise typer.Exit(3)


@app.command("inferences")
def inferences(
    endpoint: Endpoint,
    window: Annotated[
        str | None, typer.Option("--window", "-w", help="Only this far back: e.g. 1h.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    json_out: JsonOption = False,
) -> None:
    """Show logged requests and responses, newest first."""
    with workspace() as ws:
        frame = ws.monitor(endpoint).inferences(window, limit)
    records = frame.to_dict("records")
    if json_out:
        _render.print_json(records)
        return
    columns = ("ts", "request_id", "model_version", "latency_ms", "inputs", "prediction")
    rows = [tuple(r[c] for c in columns) for r in records]
    _render.show(_render.table(columns, rows) if rows else f"no inferences for {endpoint}")
