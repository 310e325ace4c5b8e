"""Running one sweep: validate, read the data once, run Ray Tune, write MLflow and lineage."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from ray._private.dict import flatten_dict
from ray.tune.stopper import CombinedStopper, Stopper

from raylake.errors import InvalidSweepError, MetricNotReportedError, SweepError, SweepTimeoutError
from raylake.registry.lineage import record_inputs
from raylake.registry.logging import log_model, tracking
from raylake.training import spec as sweep_spec
from raylake.training.data import TrainingData, resolve
from raylake.training.progress import RichProgress
from raylake.training.result import SweepResult, TrialSummary
from raylake.training.tracking import (
    ERROR_TAG,
    SWEEP_TAG,
    NestedMLflowLogger,
    as_params,
    input_tags,
    start_parent_run,
    trial_metrics,
)
from raylake.training.trial import load_checkpoint_model, make_trial_function, shipped_by_value

if TYPE_CHECKING:
    from ray.tune import ResultGrid

    from raylake.catalog import CatalogStore
    from raylake.tables import Table

log = logging.getLogger(__name__)

# Tune's own loggers print a traceback per failed trial and progress lines; raylake shows both
# in its table and in the result instead.
_NOISY_LOGGERS = ("ray.tune", "ray.train", "ray.air", "optuna")
_QUIET_ENV = {
    # No per-trial CSV/JSON/TensorBoard files: MLflow is the record.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # A missing metric is caught by raylake's own stopper, which names it clearly.
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "3600",
    "RAY_AIR_NEW_OUTPUT": "0",
}


@dataclass(frozen=True)
class SweepContext:
    """What a sweep needs from the workspace (kept explicit so the runner stays testable)."""

    tracking_uri: str
    artifact_root: str | None
    storage_path: Path
    store: CatalogStore
    ensure_ray: Callable[[], None]
    open_table: Callable[[str], Table]


class _MetricGuard(Stopper):
    """A Tune stopper that ends the whole sweep at the first result lacking the metric."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.missing_in: list[str] = []  # keys of the offending result

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if self.metric in flatten_dict(dict(result), delimiter="/"):
            return False
        self.missing_in = sorted(trial_metrics(result)) or ["(no metrics)"]
        return True

    def stop_all(self) -> bool:
        return bool(self.missing_in)


class _Deadline(Stopper):
    """A Tune stopper that ends the whole sweep at a ``time.monotonic()`` deadline.

    Tune's ``time_budget_s`` counts from the first step of its loop; this one counts from the
    ``run_sweep`` call, so reading the data and opening the MLflow run spend the budget too.
    Tune asks every step (~0.1 s) and stops the running trials (killing those that do not stop
    within a few seconds); ``reached`` tells that the sweep ended this way.
    """

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s
        self.reached = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        if not self.reached and time.monotonic() >= self.deadline:
            self.reached = True
        return self.reached


def run_sweep(
    ctx: SweepContext,
    trainable: Callable[..., Any],
    param_space: Mapping[str, Any],
    *,
    num_samples: int = 1,
    metric: str | None,
    mode: str = "max",
    experiment: str | None = None,
    data: Any = None,
    max_concurrent: int | None = None,
    scheduler: Any = None,
    search_alg: Any = None,
    cpus_per_trial: float = 1,
    autolog: bool = False,
    progress: bool = True,
    time_budget_s: float | None = None,
) -> SweepResult:
    """Run a sweep (see ``Workspace.sweep``). ``time_budget_s``: seconds from this call after
    which Tune stops the trials and the sweep fails with ``SweepTimeoutError``."""
    if time_budget_s is not None and (
        isinstance(time_budget_s, bool)
        or not isinstance(time_budget_s, int | float)
        or time_budget_s <= 0
    ):
        raise InvalidSweepError(f"time_budget_s must be positive, got {time_budget_s!r}")
    deadline = _Deadline(time_budget_s) if time_budget_s is not None else None
    spec = sweep_spec.validate(
        trainable,
        param_space,
        metric,
        mode,
        num_samples,
        max_concurrent,
        experiment,
        has_data=data is not None,
    )
    scheduler_obj = _scheduler(scheduler)
    searcher = _searcher(search_alg)
    if searcher is not None and sweep_spec.has_grid(spec.param_space):
        raise InvalidSweepError(
            "grid_search cannot be combined with a search algorithm: use tune.choice([...])"
        )
    if not isinstance(cpus_per_trial, int | float) or cpus_per_trial <= 0:
        raise InvalidSweepError(f"cpus_per_trial must be positive, got {cpus_per_trial!r}")
    training = resolve(data, ctx.open_table)
    ctx.ensure_ray()

    started = time.monotonic()
    sweep_id = uuid.uuid4().hex[:12]
    client = MlflowClient(ctx.tracking_uri)
    tags = input_tags(training.sources)
    exp_id, parent = start_parent_run(
        client,
        spec.experiment,
        ctx.artifact_root,
        sweep_id,
        _parent_params(spec, scheduler_obj, searcher, training),
        tags,
    )
    record_inputs(ctx.store, training.sources, parent)
    try:
        child_tags = {**tags, SWEEP_TAG: sweep_id}
        logger = NestedMLflowLogger(ctx.tracking_uri, spec.experiment, parent, child_tags)
        grid, guard = _fit(
            ctx,
            spec,
            training,
            exp_id,
            logger,
            scheduler_obj,
            searcher,
            cpus_per_trial,
            autolog,
            progress,
            sweep_id,
            deadline,
        )
        if deadline is not None and deadline.reached:
            scored = len([r for r in grid if spec.metric in trial_metrics(r.metrics or {})])
            raise SweepTimeoutError(
                f"sweep stopped at its time budget of {round(deadline.budget_s, 1):g} s: Ray Tune "
                f"stopped the trials ({scored} of {len(grid)} had reported {spec.metric!r})"
            )
        result = _summarise(
            ctx, client, spec, grid, guard, logger, exp_id, parent, sweep_id, training, started
        )
    except BaseException:
        client.set_terminated(parent, "FAILED")
        raise
    _finish_parent(client, result)
    return result


def _scheduler(value: Any) -> Any:
    if value is None:
        return None
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    if value == "asha":
        return ASHAScheduler()
    if not isinstance(value, TrialScheduler):
        raise InvalidSweepError(f"scheduler must be 'asha' or a Tune scheduler, got {value!r}")
    return value


def _searcher(value: Any) -> Any:
    if value is None:
        return None
    from ray.tune.search import SearchAlgorithm, Searcher

    if value == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch

            return OptunaSearch()
        except (ImportError, AssertionError) as exc:  # Tune asserts optuna is importable
            raise InvalidSweepError("search_alg='optuna' needs the optuna package") from exc
    if not isinstance(value, Searcher | SearchAlgorithm):
        raise InvalidSweepError(f"search_alg must be 'optuna' or a Tune searcher, got {value!r}")
    return value


def _parent_params(
    spec: sweep_spec.SweepSpec, scheduler: Any, searcher: Any, training: TrainingData
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "metric": spec.metric,
        "mode": spec.mode,
        "num_samples": spec.num_samples,
        "max_concurrent": spec.max_concurrent,
        "scheduler": type(scheduler).__name__ if scheduler else "FIFO",
        "search_alg": type(searcher).__name__ if searcher else "random/grid",
        "trainable": getattr(spec.trainable, "__qualname__", str(spec.trainable)),
    }
    if training.rows is not None:
        params["data_rows"] = training.rows
    params.update({f"space/{k}": repr(v) for k, v in spec.param_space.items()})
    return params


@contextmanager
def _quiet_tune() -> Iterator[None]:
    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    os.environ.update(_QUIET_ENV)
    saved_levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def _fit(
    ctx: SweepContext,
    spec: sweep_spec.SweepSpec,
    training: TrainingData,
    exp_id: str,
    logger: NestedMLflowLogger,
    scheduler: Any,
    searcher: Any,
    cpus_per_trial: float,
    autolog: bool,
    progress: bool,
    sweep_id: str,
    deadline: _Deadline | None = None,
) -> tuple[ResultGrid, _MetricGuard]:
    from ray import tune

    fn = make_trial_function(spec.trainable, spec.takes_data, ctx.tracking_uri, exp_id, autolog)
    # with_parameters puts the data in the object store once; every trial gets a reference.
    trainable = tune.with_parameters(fn, data=training.payload) if spec.takes_data else fn
    trainable = tune.with_resources(trainable, {"cpu": cpus_per_trial})
    guard = _MetricGuard(spec.metric)
    callbacks: list[Any] = [logger]
    view = RichProgress(spec.metric, spec.mode, _expected_trials(spec)) if progress else None
    if view is not None:
        callbacks.append(view)
    try:
        # Tune pickles the trainable when the Tuner is built, so ship by value around both.
        # tracking(): Tune's MLflow callback sets MLflow's global URI; restore the caller's.
        with _quiet_tune(), shipped_by_value(spec.trainable), tracking(ctx.tracking_uri):
            tuner = tune.Tuner(
                trainable,
                param_space=spec.param_space,
                tune_config=tune.TuneConfig(
                    metric=spec.metric,
                    mode=spec.mode,
                    num_samples=spec.num_samples,
                    max_concurrent_trials=spec.max_concurrent,
                    scheduler=scheduler,
                    search_alg=searcher,
                    # Reusing trial processes skips a process start and imports per trial.
                    reuse_actors=True,
                    trial_dirname_creator=lambda trial: trial.trial_id,
                ),
                run_config=tune.RunConfig(
                    name=f"{spec.experiment}-{sweep_id}",
                    storage_path=str(ctx.storage_path),
                    callbacks=callbacks,
                    stop=CombinedStopper(guard, deadline) if deadline else guard,
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                ),
            )
            grid = tuner.fit()
    finally:
        if view is not None:
            view.stop()
    return grid, guard


def _expected_trials(spec: sweep_spec.SweepSpec) -> int:
    """num_samples times every grid's size (Tune repeats the grid per sample)."""

    def grid_size(space: Mapping[str, Any]) -> int:
        size = 1
        for value in space.values():
            if isinstance(value, Mapping) and set(value) == {"grid_search"}:
                size *= len(value["grid_search"])
            elif isinstance(value, Mapping):
                size *= grid_size(value)
        return size

    return spec.num_samples * grid_size(spec.param_space)


def _summarise(
    ctx: SweepContext,
    client: MlflowClient,
    spec: sweep_spec.SweepSpec,
    grid: ResultGrid,
    guard: _MetricGuard,
    logger: NestedMLflowLogger,
    exp_id: str,
    parent: str,
    sweep_id: str,
    training: TrainingData,
    started: float,
) -> SweepResult:
    if guard.missing_in:
        raise MetricNotReportedError(
            f"trials report {', '.join(guard.missing_in)} but not the sweep's metric "
            f"{spec.metric!r}; report it (return {{{spec.metric!r}: value}}) or fix metric="
        )
    trials: list[TrialSummary] = []
    for res in grid:
        trial_id = Path(res.path).name
        run_id = logger.run_ids.get(trial_id)
        error = _error_text(res.error) if res.error else None
        if error and run_id:
            client.log_batch(run_id, tags=[RunTag(ERROR_TAG, error[:5000])])
        trials.append(
            TrialSummary(
                trial_id=trial_id,
                run_id=run_id,
                status="FAILED" if res.error else "FINISHED",
                params=dict(res.config or {}),
                metrics=trial_metrics(res.metrics or {}),
                error=error,
            )
        )
    if all(t.status == "FAILED" for t in trials):
        first = trials[0].error if trials else "no trial ran"
        raise SweepError(f"all {len(trials)} trials failed; the first: {first}")
    scored = [t for t in trials if t.status == "FINISHED" and spec.metric in t.metrics]
    if not scored:
        raise MetricNotReportedError(f"no finished trial reported the metric {spec.metric!r}")
    best = grid.get_best_result(spec.metric, spec.mode, scope="last", filter_nan_and_inf=True)
    best_id = Path(best.path).name
    best_run = logger.run_ids[best_id]
    model_uri = None
    if best.checkpoint is not None:
        saved = load_checkpoint_model(best.checkpoint)
        if saved is not None:
            model, example = saved
            model_uri = log_model(model, best_run, ctx.tracking_uri, example, False)
    return SweepResult(
        sweep_id=sweep_id,
        experiment=spec.experiment,
        experiment_id=exp_id,
        parent_run_id=parent,
        metric=spec.metric,
        mode=spec.mode,
        best_params=dict(best.config or {}),
        best_metric=float(best.metrics[spec.metric]),
        best_trial_id=best_id,
        best_run_id=best_run,
        best_model_uri=model_uri,
        trials=trials,
        inputs=list(training.sources),
        duration_s=time.monotonic() - started,
    )


def _error_text(error: BaseException) -> str:
    # Tune wraps the trial's exception; its message ends with the original one.
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def _finish_parent(client: MlflowClient, result: SweepResult) -> None:
    now = int(time.time() * 1000)
    client.log_batch(
        result.parent_run_id,
        metrics=[
            Metric(f"best_{result.metric}", result.best_metric, now, 0),
            Metric("num_trials", float(len(result.trials)), now, 0),
            Metric("num_failed", float(len(result.failed)), now, 0),
            Metric("duration_s", result.duration_s, now, 0),
        ],
        params=[Param(f"best/{p.key}", p.value) for p in as_params(result.best_params)],
        tags=[
            RunTag("raylake.best_run_id", result.best_run_id),
            RunTag("raylake.best_trial_id", result.best_trial_id),
            *(
                [RunTag("raylake.best_model_uri", result.best_model_uri)]
                if result.best_model_uri
                else []
            ),
        ],
    )
    client.set_terminated(result.parent_run_id, "FINISHED")
