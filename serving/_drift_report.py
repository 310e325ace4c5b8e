"""A drift report as one self-contained HTML file (Plotly, with plotly.js inline: works offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from raylake.serving._drift import OTHER, FeatureDrift, pool, top_categories

if TYPE_CHECKING:
    from raylake.serving._monitor import DriftReport

_BASE, _NOW = "#1f77b4", "#d62728"


def _psi_chart(results: Sequence[FeatureDrift], psi_threshold: float) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[r.feature for r in results],
            y=[r.psi for r in results],
            marker_color=[_NOW if r.drifted else _BASE for r in results],
            hovertemplate="%{x}: PSI %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=psi_threshold, line_dash="dash", annotation_text=f"PSI {psi_threshold}")
    fig.update_layout(title="PSI per feature (red: drifted)", height=360, yaxis_title="PSI")
    return fig


def _feature_chart(result: FeatureDrift, baseline: pd.Series, recent: pd.Series) -> go.Figure:
    title = f"{result.feature}: PSI {result.psi:.3f}"
    if result.ks_pvalue is not None:
        title += f", KS {result.ks_stat:.3f} (p={result.ks_pvalue:.2g})"
    if result.drifted:
        title += " (drifted)"
    fig = go.Figure()
    if result.kind == "numeric":
        base = pd.to_numeric(baseline, errors="coerce").dropna()
        now = pd.to_numeric(recent, errors="coerce").dropna()
        for values, name, color in ((base, "baseline", _BASE), (now, "recent", _NOW)):
            fig.add_trace(
                go.Histogram(
                    x=values, name=name, histnorm="probability", opacity=0.6, marker_color=color
                )
            )
        fig.update_layout(barmode="overlay")
    else:
        keep = top_categories(baseline.dropna())
        base = pool(baseline.dropna(), keep).value_counts(normalize=True)
        now = pool(recent.dropna(), keep).value_counts(normalize=True)
        cats = list(dict.fromkeys([*keep, *now.index, OTHER]))
        cats = [c for c in cats if c in base.index or c in now.index]
        for shares, name, color in ((base, "baseline", _BASE), (now, "recent", _NOW)):
            fig.add_trace(
                go.Bar(x=cats, y=shares.reindex(cats, fill_value=0), name=name, marker_color=color)
            )
        fig.update_layout(barmode="group")
    fig.update_layout(title=title, height=320, yaxis_title="share")
    return fig


def render(
    report: DriftReport,
    baseline: pd.DataFrame,
    recent: pd.DataFrame,
    path: Path,
    psi_threshold: float,
) -> Path:
    """Write the report's HTML to ``path`` and return it."""
    figures = [_psi_chart(report.features, psi_threshold)]
    figures += [_feature_chart(r, baseline[r.feature], recent[r.feature]) for r in report.features]
    # plotly.js once, inline (about 4 MB), then every figure as a div that uses it.
    divs = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
        for i, fig in enumerate(figures)
    ]
    rows = "".join(
        f"<tr class={'drift' if r.drifted else 'ok'}><td>{html.escape(r.feature)}</td>"
        f"<td>{r.kind}{' (prediction)' if r.is_prediction else ''}</td><td>{r.psi:.4f}</td>"
        f"<td>{'' if r.ks_stat is None else f'{r.ks_stat:.4f}'}</td>"
        f"<td>{'' if r.ks_pvalue is None else f'{r.ks_pvalue:.3g}'}</td>"
        f"<td>{'yes' if r.drifted else 'no'}</td></tr>"
        for r in report.features
    )
    model = f"{report.model_name} v{report.model_version}" if report.model_name else "-"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Drift report {html.escape(report.endpoint)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}tr.drift td{{background:#fdd}}</style></head>
<body><h1>Drift report: endpoint {html.escape(report.endpoint)}</h1>
<p>Report {report.report_id} at {report.ts.isoformat()} — window {html.escape(report.window)}
({report.window_start.isoformat()} to {report.window_end.isoformat()}), {report.n_recent}
requests; model {html.escape(model)}; baseline {html.escape(report.baseline)}
({report.n_baseline} rows).</p>
<p>Drifted: {html.escape(", ".join(report.drifted) or "none")}</p>
<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>KS</th><th>KS p</th><th>drifted</th></tr>
{rows}</table>
{"".join(divs)}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
