"""What a sweep hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raylake.registry.lineage import run_node
from raylake.training.data import Source


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    run_id: str | None  # the trial's MLflow child run
    status: str  # FINISHED or FAILED
    params: dict[str, Any]
    metrics: dict[str, float]
    error: str | None = None


@dataclass(frozen=True)
class SweepResult:
    sweep_id: str
    experiment: str
    experiment_id: str
    parent_run_id: str
    metric: str
    mode: str
    best_params: dict[str, Any]
    best_metric: float
    best_trial_id: str
    best_run_id: str
    best_model_uri: str | None  # set when trials reported a model
    trials: list[TrialSummary] = field(default_factory=list)
    inputs: list[Source] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def failed(self) -> list[TrialSummary]:
        return [t for t in self.trials if t.status == "FAILED"]

    @property
    def run_uri(self) -> str:
        """Lineage node of the sweep (its parent MLflow run)."""
        return run_node(self.parent_run_id)
