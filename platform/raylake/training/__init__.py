"""Hyperparameter sweeps: Ray Tune trials, each an MLflow run nested under the sweep's run.

Importing this package imports Ray Tune; the workspace imports it only when a sweep runs.
"""

from raylake.training.data import Source
from raylake.training.definition import SweepDefinition, define_sweep
from raylake.training.result import SweepResult, TrialSummary
from raylake.training.runner import SweepContext, run_sweep
from raylake.training.trial import report

__all__ = [
    "Source",
    "SweepContext",
    "SweepDefinition",
    "SweepResult",
    "TrialSummary",
    "define_sweep",
    "report",
    "run_sweep",
]
