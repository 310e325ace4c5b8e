"""Plain records the registry hands out (never live MLflow entities)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str | None
    source: str
    status: str
    aliases: list[str]
    created_at: dt.datetime
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None  # {"inputs": [...], "outputs": [...]}
    params: dict[str, str] = field(default_factory=dict)  # of the run that trained it
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``, loadable with ``mlflow.pyfunc.load_model``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModelInfo:
    name: str
    latest_version: int | None
    aliases: dict[str, int]
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelComparison:
    """Two versions side by side: ``(value in v1, value in v2)`` for every param and metric."""

    name: str
    first: ModelVersionInfo
    second: ModelVersionInfo
    params: dict[str, tuple[str | None, str | None]]
    metrics: dict[str, tuple[float | None, float | None]]
    same_signature: bool

    @property
    def changed_params(self) -> dict[str, tuple[str | None, str | None]]:
        return {k: v for k, v in self.params.items() if v[0] != v[1]}
