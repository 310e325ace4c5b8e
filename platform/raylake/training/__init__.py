"""Hyperparameter sweeps: Ray Tune trials, each an MLflow run nested under the sweep's run.

    from ray import tune
    from raylake.training import report

    def train(config, data):                  # data: the table, read once for all trials
        model = GradientBoostingClassifier(**config).fit(data[FEATURES], data.label)
        report({"auc": auc(model, data)}, model=model, input_example=data[FEATURES][:5])

    result = ws.sweep(train, {"max_depth": tune.randint(2, 6)}, num_samples=8,
                      metric="auc", mode="max", data="main.default.churn_features")
    ws.models.register(result, "main.models.churn")   # the best trial's model, with signature

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
