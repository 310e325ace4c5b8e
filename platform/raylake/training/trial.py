"""Code that runs inside trial processes: calling the user's function and reporting for it."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from raylake.compute.shipping import shipped_by_value as _shipped

MODEL_FILE = "raylake_model.pkl"
TRIAL_TAG = "raylake.trial_id"


def report(metrics: Mapping[str, Any], *, model: Any = None, input_example: Any = None) -> None:
    """Report one step of a trial; with ``model`` also keep the model (as a Tune checkpoint).

    Only the best trial's model is logged to MLflow after the sweep, with a signature inferred
    from ``input_example`` — so trials pay for a local pickle, not an MLflow model each.
    """
    from ray import tune

    if model is None:
        tune.report(dict(metrics))
        return
    import cloudpickle

    with tempfile.TemporaryDirectory(prefix="raylake-ckpt-") as folder:
        with open(Path(folder) / MODEL_FILE, "wb") as out:
            cloudpickle.dump({"model": model, "input_example": input_example}, out)
        tune.report(dict(metrics), checkpoint=tune.Checkpoint.from_directory(folder))


def load_checkpoint_model(checkpoint: Any) -> tuple[Any, Any] | None:
    """``(model, input_example)`` from a checkpoint written by :func:`report`, if it holds one."""
    import cloudpickle

    with checkpoint.as_directory() as folder:
        path = Path(folder) / MODEL_FILE
        if not path.exists():
            return None
        with open(path, "rb") as src:
            saved = cloudpickle.load(src)
    return saved["model"], saved["input_example"]


def make_trial_function(
    fn: Callable[..., Any],
    takes_data: bool,
    tracking_uri: str,
    experiment_id: str,
    autolog: bool,
) -> Callable[..., None]:
    """Wrap ``fn`` as a Tune function trainable taking ``(config, data=None)``."""

    def raylake_trial(config: dict[str, Any], data: Any = None) -> None:
        # Trial processes must track to the workspace's store, never MLflow's ./mlruns default.
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        run = _attach_run(tracking_uri, experiment_id) if autolog else None
        try:
            out = fn(config, data) if takes_data else fn(config)
        finally:
            if run is not None:
                import mlflow

                mlflow.autolog(disable=True)
                mlflow.end_run()
        if isinstance(out, Mapping):
            report(out)
        elif out is not None:
            raise TypeError(
                "a trainable must return a dict of metrics or None (after calling report()), "
                f"got {type(out).__name__}"
            )

    raylake_trial.__name__ = getattr(fn, "__name__", "trial")
    return raylake_trial


def _attach_run(tracking_uri: str, experiment_id: str) -> Any:
    """Make the trial's MLflow run (created on the driver) active here, then turn on autolog."""
    import mlflow
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    mlflow.set_tracking_uri(tracking_uri)
    # The driver's callback creates the run when the trial starts, before this code runs.
    runs = mlflow.MlflowClient(tracking_uri).search_runs(
        [experiment_id], filter_string=f"tags.`{TRIAL_TAG}` = '{trial_id}'", max_results=1
    )
    if not runs:
        return None
    run = mlflow.start_run(run_id=runs[0].info.run_id)
    mlflow.autolog(log_models=False, silent=True)
    return run


@contextmanager
def shipped_by_value(fn: Callable[..., Any]) -> Iterator[None]:
    """Ship this module and ``fn``'s (when not installed) by value while a sweep runs."""
    with _shipped(fn, sys.modules[__name__]):
        yield
