"""Dashboards to HTML: each query's result drawn with Plotly, plotly.js inline (works offline)
or loaded from a URL (the web UI serves it once instead of in every page)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from plotly.utils import PlotlyJSONEncoder

from raylake.dashboards.spec import Dashboard, Query
from raylake.errors import DashboardError

# (sql, params) -> an Arrow table: ws.sql
RunSql = Callable[[str, Mapping[str, Any] | None], Any]

MAX_TABLE_ROWS = 1000  # a table panel shows at most this many rows

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{script}
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }}
section {{ margin-bottom: 2rem; }}
table.rl {{ border-collapse: collapse; font-size: 0.9rem; }}
table.rl th, table.rl td {{ border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }}
table.rl th {{ background: #f4f4f4; }}
pre {{ color: #666; font-size: 0.8rem; white-space: pre-wrap; }}
</style>
</head>
<body>
<h1>{title}</h1>
{panels}
</body>
</html>
"""


def query_frame(run_sql: RunSql, query: Query) -> pd.DataFrame:
    """The query's result as pandas, its chart's columns checked."""
    try:
        frame = run_sql(query.sql, query.params or None).to_pandas()
    except DashboardError:
        raise
    except Exception as exc:  # SqlError, TableNotFoundError, ...: name the panel
        raise DashboardError(f"query {query.name!r}: {exc}") from exc
    missing = [c for c in query.chart.columns if c not in frame.columns]
    if missing:
        raise DashboardError(
            f"query {query.name!r}: the chart uses column(s) {', '.join(missing)} that the "
            f"result does not have (it has: {', '.join(map(str, frame.columns))})"
        )
    return frame


def figure_html(query: Query, frame: pd.DataFrame, div_id: str) -> str:
    """One panel's HTML (a Plotly div, or a plain HTML table)."""
    chart = query.chart
    if chart.type == "table":
        shown = frame.head(MAX_TABLE_ROWS)
        more = len(frame) - len(shown)
        note = f"<p>{more:,} more rows not shown</p>" if more > 0 else ""
        return shown.to_html(index=False, classes="rl", border=0, escape=True) + note
    import plotly.express as px

    draw = {"line": px.line, "bar": px.bar, "scatter": px.scatter}[chart.type]
    fig = draw(frame, x=chart.x, y=chart.y, color=chart.color, title=chart.title)
    spec = _plain(fig.to_dict())
    # Our own div + newPlot call: data as plain JSON lists (Plotly 6 writes numbers as base64
    # typed arrays), and '</' escaped so no value can close the script element.
    payload = ", ".join(
        json.dumps(part, cls=PlotlyJSONEncoder).replace("</", "<\\/")
        for part in (spec.get("data", []), spec.get("layout", {}), {"responsive": True})
    )
    return (
        f'<div id="{div_id}" style="height: 450px"></div>'
        f'<script type="text/javascript">Plotly.newPlot("{div_id}", {payload});</script>'
    )


def _plain(value: Any) -> Any:
    """Plotly's ``{"dtype", "bdata"[, "shape"]}`` typed arrays back into lists."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                shape = value["shape"]
                dims = [int(d) for d in shape.split(",")] if isinstance(shape, str) else shape
                array = array.reshape(dims)
            return array.tolist()
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def render_page(dashboard: Dashboard, run_sql: RunSql, plotlyjs_url: str | None = None) -> str:
    """The whole page; plotly.js inline unless ``plotlyjs_url`` is given."""
    panels = []
    for i, query in enumerate(dashboard.queries):
        frame = query_frame(run_sql, query)
        heading = html.escape(query.chart.title or query.name)
        sql = html.escape(query.sql)
        body = figure_html(query, frame, f"rl-panel-{i}")
        panels.append(
            f'<section id="{html.escape(query.name)}"><h2>{heading}</h2>'
            f"{body}<pre>{sql}</pre></section>"
        )
    if plotlyjs_url is not None:
        script = f'<script src="{html.escape(plotlyjs_url)}" charset="utf-8"></script>'
    else:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    title = html.escape(dashboard.title or dashboard.name)
    return _PAGE.format(title=title, script=script, panels="\n".join(panels))
