"""``ws.dashboards``: create, read, render and export dashboards kept in the catalog."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from raylake.catalog import CatalogStore
from raylake.catalog.dashboards_store import DashboardStore
from raylake.dashboards.render import RunSql, query_frame, render_page
from raylake.dashboards.spec import Dashboard, Query, parse_queries
from raylake.names import validate_part


class Dashboards:
    def __init__(self, catalog: CatalogStore, run_sql: RunSql, user: str) -> None:
        self._store = DashboardStore(catalog)
        self._run_sql = run_sql
        self._user = user

    def create(
        self,
        name: str,
        queries: Sequence[Query | Mapping[str, Any]],
        title: str | None = None,
        replace: bool = False,
        validate: bool = True,
    ) -> Dashboard:
        """Save a dashboard. Each query is run once first (``validate``), so bad SQL, unknown
        tables and chart columns the result lacks fail here, not when someone opens it."""
        validate_part(name, "dashboard name")
        parsed = parse_queries(queries)
        if validate:
            for query in parsed:
                query_frame(self._run_sql, query)
        return self._store.save(name, title, parsed, self._user, replace)

    def get(self, name: str) -> Dashboard:
        return self._store.get(name)

    def list(self) -> builtins.list[Dashboard]:
        return self._store.list()

    def delete(self, name: str) -> None:
        self._store.delete(name)

    def render(self, name: str, plotlyjs_url: str | None = None) -> str:
        """The dashboard as one HTML page, its queries run now (plotly.js inline by default)."""
        return render_page(self._store.get(name), self._run_sql, plotlyjs_url)

    def export(self, name: str, path: str | Path | None = None) -> Path:
        """Write a standalone HTML file (default ``NAME.html``) that works offline."""
        page = self.render(name)
        out = Path(path) if path is not None else Path(f"{name}.html")
        out.write_text(page, encoding="utf-8")
        return out
