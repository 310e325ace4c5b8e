"""MLflow tracking of a sweep: one parent run, one nested child run per trial.

Child runs are written by Ray Tune's ``MLflowLoggerCallback`` on the driver (measured faster
than ``setup_mlflow`` inside every trial). The subclass only adds per-trial tags for nesting
and batches writes: the stock callback does one SQLite transaction per metric.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray._private.dict import flatten_dict
from ray.air.integrations.mlflow import MLflowLoggerCallback

from raylake.registry.store import experiment_id
from raylake.training.data import Source
from raylake.training.trial import TRIAL_TAG

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

SWEEP_TAG = "raylake.sweep_id"
KIND_TAG = "raylake.kind"
STATUS_TAG = "raylake.status"
ERROR_TAG = "raylake.error"
INPUT_TAG = "raylake.input"  # raylake.input.<n>.name / .version / .kind

# Tune bookkeeping that would only clutter every run's metric list.
_SKIPPED_RESULT_KEYS = frozenset(
    {
        "done",
        "timestamp",
        "pid",
        "training_iteration",
        "time_since_restore",
        "iterations_since_restore",
        "time_this_iter_s",
        "date",
        "hostname",
        "node_ip",
        "trial_id",
        "checkpoint_dir_name",
        "should_checkpoint",
    }
)
_MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def input_tags(sources: list[Source]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for i, src in enumerate(sources):
        tags[f"{INPUT_TAG}.{i}.name"] = src.name
        tags[f"{INPUT_TAG}.{i}.kind"] = src.kind
        if src.version is not None:
            tags[f"{INPUT_TAG}.{i}.version"] = str(src.version)
    return tags


def trial_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, user-facing metrics of one Tune result (flattened)."""
    out: dict[str, float] = {}
    for key, value in flatten_dict(dict(result), delimiter="/").items():
        if key in _SKIPPED_RESULT_KEYS or key.startswith("config/"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out[key] = float(value)
    return out


def as_params(config: Mapping[str, Any]) -> list[Param]:
    return [
        Param(key, str(value)[:_MAX_PARAM_LENGTH])
        for key, value in flatten_dict(dict(config), delimiter="/").items()
    ]


def start_parent_run(
    client: MlflowClient,
    experiment: str,
    artifact_root: str | None,
    sweep_id: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str],
) -> tuple[str, str]:
    """Create (or reuse) the experiment and open the sweep's parent run: ``(exp_id, run_id)``."""
    exp_id = experiment_id(client, experiment, artifact_root)
    run = client.create_run(
        exp_id,
        run_name=f"sweep-{sweep_id}",
        tags={SWEEP_TAG: sweep_id, KIND_TAG: "sweep", **tags},
    )
    client.log_batch(run.info.run_id, params=as_params(params))
    return exp_id, run.info.run_id


class NestedMLflowLogger(MLflowLoggerCallback):
    """``MLflowLoggerCallback`` whose runs are children of the sweep's parent run."""

    def __init__(
        self, tracking_uri: str, experiment: str, parent_run_id: str, tags: Mapping[str, str]
    ) -> None:
        super().__init__(
            tracking_uri,
            registry_uri=tracking_uri,
            experiment_name=experiment,
            tags={MLFLOW_PARENT_RUN_ID: parent_run_id, KIND_TAG: "trial", **tags},
        )
        self.run_ids: dict[str, str] = {}  # trial id -> MLflow run id

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config; an MLflow client holds locks and is rebuilt on demand.
        state = dict(self.__dict__)
        state.pop("_mlflow_client", None)
        return state

    @property
    def _client(self) -> MlflowClient:
        if "_mlflow_client" not in self.__dict__:
            self.__dict__["_mlflow_client"] = MlflowClient(self.tracking_uri)
        return self.__dict__["_mlflow_client"]

    def log_trial_start(self, trial: Trial) -> None:
        if trial in self._trial_runs:
            return  # a restarted trial keeps its run
        tags = {**self.tags, "trial_name": str(trial), TRIAL_TAG: trial.trial_id}
        tags[STATUS_TAG] = "RUNNING"
        run = self._client.create_run(
            self.mlflow_util.experiment_id, run_name=str(trial), tags=tags
        )
        run_id = run.info.run_id
        self._trial_runs[trial] = run_id
        self.run_ids[trial.trial_id] = run_id
        self._client.log_batch(run_id, params=as_params(trial.config))

    def log_trial_result(self, iteration: int, trial: Trial, result: dict) -> None:
        run_id = self._trial_runs.get(trial)
        if run_id is None:
            return
        step = int(result.get("training_iteration") or iteration)
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in trial_metrics(result).items()]
        if metrics:
            self._client.log_batch(run_id, metrics=metrics)

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        run_id = self._trial_runs.get(trial)
        if run_id is None:
            return
        status = "FAILED" if failed else "FINISHED"
        self._client.log_batch(run_id, tags=[RunTag(STATUS_TAG, status)])
        self._client.set_terminated(run_id, status)
