"""What a dashboard is: named SQL queries, each with a chart spec (line, bar, scatter, table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from raylake.errors import DashboardError

ChartType = Literal["line", "bar", "scatter", "table"]


class Chart(BaseModel):
    """How a query's result is drawn. ``y`` may name several columns (one trace each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ChartType = "table"
    x: str | None = None
    y: str | list[str] | None = None
    color: str | None = None  # a column whose values split the data into traces
    title: str | None = None

    @model_validator(mode="after")
    def _axes(self) -> Chart:
        if self.type != "table" and (not self.x or not self.y):
            raise ValueError(f"a {self.type} chart needs x and y columns")
        return self

    @property
    def columns(self) -> list[str]:
        ys = [self.y] if isinstance(self.y, str) else list(self.y or [])
        return [c for c in (self.x, *ys, self.color) if c]


class Query(BaseModel):
    """One panel: a SQL query over catalog tables (``:name`` parameters) and its chart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=255)
    sql: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    chart: Chart = Field(default_factory=Chart)


def parse_queries(queries: Sequence[Query | Mapping[str, Any]]) -> list[Query]:
    """Queries from ``Query`` objects or plain dicts; problems raise :class:`DashboardError`."""
    if isinstance(queries, str | bytes) or not isinstance(queries, Sequence) or not queries:
        raise DashboardError("a dashboard needs a non-empty list of queries")
    out: list[Query] = []
    for i, q in enumerate(queries):
        try:
            out.append(q if isinstance(q, Query) else Query.model_validate(q))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors()
            )
            raise DashboardError(f"query {i + 1}: {problems}") from exc
    names = [q.name for q in out]
    for name in names:
        if names.count(name) > 1:
            raise DashboardError(f"two queries are named {name!r}")
    return out


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str | None
    queries: list[Query]
    owner: str
    created_at: datetime
    updated_at: datetime
