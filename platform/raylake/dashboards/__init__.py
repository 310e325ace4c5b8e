"""Dashboards: saved SQL queries over catalog tables, each drawn as a line, bar or scatter
chart or a table with Plotly, kept in the catalog and rendered as one HTML page::

    ws.dashboards.create(
        "rides",
        [
            {"name": "daily", "sql": "SELECT day, SUM(fare) AS fares FROM gold.daily GROUP BY day",
             "chart": {"type": "line", "x": "day", "y": "fares"}},
            {"name": "top", "sql": "SELECT * FROM gold.daily ORDER BY fares DESC LIMIT :n",
             "params": {"n": 10}},                                   # a table
        ],
        title="Rides",
    )
    ws.dashboards.export("rides", "rides.html")   # standalone, plotly.js inline
    # raylake dashboards export rides --output rides.html; the web UI serves /dashboards/rides
"""

from raylake.dashboards.spec import Chart, Dashboard, Query

__all__ = ["Chart", "Dashboard", "Query"]
