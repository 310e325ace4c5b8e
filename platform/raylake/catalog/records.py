"""Plain, immutable records the catalog hands out (never live ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SchemaInfo:
    catalog: str
    name: str
    owner: str
    comment: str | None
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.name}"


@dataclass(frozen=True)
class TableInfo:
    full_name: str
    location: str
    owner: str
    comment: str | None
    tags: dict[str, Any]
    format: str
    last_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PipelineRun:
    id: str
    pipeline: str
    target: str
    seq: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    rows_in: int | None
    rows_out: int | None
    dropped: dict[str, int]
    warnings: dict[str, int]
    inputs: dict[str, Any]
    files: list[str]
    target_version: int | None
    error: str | None
    user: str
    host: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class LineageEdge:
    source_kind: str
    source_name: str
    source_version: int | None
    target_kind: str
    target_name: str
    target_version: int | None
    run_id: str | None
    created_at: datetime = field(compare=False)
