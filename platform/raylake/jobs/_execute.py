"""How each kind of task runs once (one attempt): its result, its catalog outputs, its logs.

``fn`` tasks run as Ray tasks (cancelled on timeout); pipelines, sweeps, registrations and
endpoint refreshes run in the job runner's process, because they drive the cluster themselves.

An in-runner attempt with a ``timeout_s`` runs in a worker thread while the runner's thread
waits for it until the deadline. Then it is told to stop, in the way its kind allows:

- pipeline: its Spark jobs run in a job group of their own, which is cancelled (the run fails
  before its Delta commit, so nothing is written, and the pipeline run is recorded as failed);
- sweep: its Ray Tune run has the task's timeout as its time budget, so Tune stops the trials
  itself at the deadline (the sweep's MLflow runs stay as logged, its parent run is failed);
- register, endpoint: short calls that cannot be interrupted midway; the job stops waiting at
  the deadline and the call may still finish in the background.

A stopped pipeline or sweep gets up to ``STOP_GRACE_S`` to wind down, so that a retry starts
only after it has. The attempt fails with "timed out after N s (...)" and the task's retries
apply as to any failure; only an attempt that succeeded while being stopped (a pipeline whose
commit had just happened) keeps its result, since its output exists.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raylake.compute.shipping import shipped_by_value as _shipped
from raylake.errors import JobError, SweepTimeoutError
from raylake.jobs.definition import Task

if TYPE_CHECKING:
    from raylake.workspace import Workspace

MAX_LOG_CHARS = 64_000  # per attempt kept in the catalog
STOP_GRACE_S = 60.0  # how long a timed-out pipeline or sweep gets to wind down


class TaskTimeoutError(JobError, TimeoutError):
    """A task attempt ran past its ``timeout_s`` and was cancelled."""


@dataclass
class Attempt:
    """What one attempt produced."""

    result: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    logs: str = ""
    error: str | None = None  # a traceback or a one-line reason; None when it succeeded


def call_kwargs(fn: Callable[..., Any], available: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``fn`` declares, taken from ``available`` (all with ``**kwargs``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: pass nothing
        return {}
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(available)
    named = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {k: v for k, v in available.items() if k in named}


def _captured_call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[bool, Any, str]:
    """Run ``fn`` with its prints captured; never raises (the traceback comes back instead)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            return True, fn(**kwargs), buffer.getvalue()[-MAX_LOG_CHARS:]
        except BaseException:  # noqa: BLE001 - reported to the runner, which decides
            return False, traceback.format_exc(), buffer.getvalue()[-MAX_LOG_CHARS:]


def _result_output(value: Any) -> Any:
    """A JSON-able view of a task's return value for the catalog (small values only)."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    if len(text) > 4000:
        return {"truncated": text[:4000]}
    return json.loads(text)


def submit_fn(task: Task, kwargs: dict[str, Any]) -> Any:
    """Start one attempt of an ``fn`` task as a Ray task; returns its object ref."""
    import ray

    remote = ray.remote(num_cpus=task.num_cpus, max_retries=0)(_captured_call)
    with _shipped_by_value(task.fn):
        return remote.remote(task.fn, kwargs)


def timed_out(task: Task, ref: Any) -> Attempt:
    import ray

    ray.cancel(ref, force=True)  # force: the function may be stuck in C code or a sleep
    return Attempt(error=f"timed out after {task.timeout_s:g} s (Ray task cancelled)")


def collect_fn(ref: Any) -> Attempt:
    """The outcome of a finished ``fn`` attempt."""
    import ray

    try:
        ok, value, logs = ray.get(ref)
    except ray.exceptions.RayError as exc:  # the worker died, the function did not pickle...
        return Attempt(error=f"{type(exc).__name__}: {exc}")
    if not ok:
        return Attempt(logs=logs, error=value)
    return Attempt(result=value, outputs={"result": _result_output(value)}, logs=logs)


@contextlib.contextmanager
def _shipped_by_value(fn: Callable[..., Any]) -> Iterator[None]:
    """Ship this module and ``fn``'s (when not installed) by value: see compute.shipping."""
    with _shipped(fn, sys.modules[__name__]):
        yield


@dataclass(frozen=True)
class Control:
    """What an in-runner attempt is told: its deadline, and ``stop``, set when it is reached."""

    deadline: float | None = None  # time.monotonic()
    stop: threading.Event = field(default_factory=threading.Event)

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


# How each kind is stopped at its deadline, for the error ("timed out after N s (...)").
_STOPPED_BY = {
    "pipeline": "its Spark jobs were cancelled",
    "sweep": "Ray Tune stopped its trials",
    "register": "the registration cannot be interrupted and may still finish",
    "endpoint": "the endpoint refresh cannot be interrupted and may still finish",
}
_WINDS_DOWN = ("pipeline", "sweep")  # kinds that stop when told to, and are waited for


def run_in_runner(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> Attempt:
    """One attempt of a pipeline, sweep, register or endpoint task in this process.

    Without a timeout it runs in this thread; with one, in a worker thread (module docstring).
    Its prints go to the attempt's logs: ``redirect_stdout`` swaps the process's stdout, which
    catches the worker thread's prints too, as this thread only waits meanwhile.
    """
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        if task.timeout_s is None:
            try:
                result, outputs = _DRIVER_KINDS[task.kind](ws, task, upstream, Control())
            except Exception:  # noqa: BLE001 - the runner retries or fails the task
                return Attempt(logs=_tail(buffer), error=traceback.format_exc())
            return Attempt(result=result, outputs=outputs, logs=_tail(buffer))
        outcome, stopped, waiting = _run_with_deadline(ws, task, upstream)
    logs = _tail(buffer)
    error: BaseException | None = None
    if outcome.done():
        error = outcome.exception()
        if error is None:
            result, outputs = outcome.result()
            if stopped:  # it committed while being stopped: that stands (a retry would redo it)
                logs += f"\n(finished {waiting:.1f} s after its timeout of {task.timeout_s:g} s)"
            return Attempt(result=result, outputs=outputs, logs=logs)
    if not stopped and not isinstance(error, SweepTimeoutError):
        return Attempt(logs=logs, error=_format(error))  # an ordinary failure, in time
    how = _STOPPED_BY[task.kind]
    if not outcome.done() and task.kind in _WINDS_DOWN:
        how += f"; still stopping after {waiting:.0f} s"
    trace = f"{_format(error)}\n" if error is not None else ""
    return Attempt(logs=logs, error=f"{trace}timed out after {task.timeout_s:g} s ({how})")


def _run_with_deadline(
    ws: Workspace, task: Task, upstream: Mapping[str, Any]
) -> tuple[Future, bool, float]:
    """Start the attempt in a worker thread and wait for it until its deadline (then tell it to
    stop and, for kinds that wind down, wait ``STOP_GRACE_S`` more).

    Returns the attempt's future, whether it was told to stop, and how long this waited past
    the deadline.
    """
    assert task.timeout_s is not None
    control = Control(deadline=time.monotonic() + task.timeout_s)
    outcome: Future = Future()
    outcome.set_running_or_notify_cancel()

    def attempt() -> None:
        try:
            outcome.set_result(_DRIVER_KINDS[task.kind](ws, task, upstream, control))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.set_exception(exc)

    # A daemon: a registration stuck past its timeout must not keep the process alive.
    worker = threading.Thread(target=attempt, name=f"raylake-task-{task.name}", daemon=True)
    try:
        worker.start()
        wait_futures([outcome], timeout=control.remaining())
        if outcome.done():
            return outcome, False, 0.0
        control.stop.set()
        assert control.deadline is not None
        if task.kind in _WINDS_DOWN:
            wait_futures([outcome], timeout=STOP_GRACE_S)
        return outcome, True, time.monotonic() - control.deadline
    except BaseException:  # interrupted (Ctrl-C): stop the attempt too, and let it go
        control.stop.set()
        raise


def _format(error: BaseException | None) -> str:
    if error is None:
        return ""
    return "".join(traceback.format_exception(error)).rstrip()


def _tail(buffer: io.StringIO) -> str:
    return buffer.getvalue()[-MAX_LOG_CHARS:]


def _pipeline(
    ws: Workspace, task: Task, upstream: Mapping[str, Any], control: Control
) -> tuple[Any, dict]:
    # Only a run that can time out gets a job group (a few JVM calls and a watcher thread).
    stop = control.stop if control.deadline is not None else None
    run = ws.run_pipeline(task.pipeline, stop=stop)
    outputs = {
        "pipeline_run_id": run.id,
        "pipeline": run.pipeline,
        "status": run.status,
        "target": run.target,
        "target_version": run.target_version,
        "rows_out": run.rows_out,
    }
    return run, outputs


def _sweep(
    ws: Workspace, task: Task, upstream: Mapping[str, Any], control: Control
) -> tuple[Any, dict]:
    # The task's deadline becomes the sweep's time budget: Tune stops the trials at it.
    budget = control.remaining()
    if budget is not None and budget <= 0:
        raise SweepTimeoutError("no time left for the sweep")
    result = task.sweep.run(ws, progress=False, time_budget_s=budget)
    outputs = {
        "sweep_id": result.sweep_id,
        "mlflow_parent_run_id": result.parent_run_id,
        "mlflow_best_run_id": result.best_run_id,
        "best_metric": result.best_metric,
        "best_params": _result_output(result.best_params),
        "trials": len(result.trials),
    }
    return result, outputs


def _register(
    ws: Workspace, task: Task, upstream: Mapping[str, Any], control: Control
) -> tuple[Any, dict]:
    spec = task.register
    assert spec is not None
    source = spec.source or task.depends_on[0]
    model = upstream[source]
    if hasattr(model, "best_run_id") and model.best_run_id is None:
        raise JobError(f"task {source!r} produced no model to register")
    version = ws.models.register(model, spec.model)
    if spec.alias:
        version = ws.models.set_alias(spec.model, spec.alias, version.version)
    outputs = {
        "model": version.name,
        "model_version": version.version,
        "alias": spec.alias,
        "mlflow_run_id": version.run_id,
    }
    return version, outputs


def _endpoint(
    ws: Workspace, task: Task, upstream: Mapping[str, Any], control: Control
) -> tuple[Any, dict]:
    try:
        endpoints = getattr(ws, "endpoints", None)
    except ImportError:  # raylake.serving missing from this installation
        endpoints = None
    refresh = getattr(endpoints, "refresh", None)
    if refresh is None:
        raise JobError(
            f"task {task.name!r} refreshes endpoint {task.endpoint!r}, but this workspace has no "
            "ws.endpoints.refresh (model serving is not installed in this version)"
        )
    result = refresh(task.endpoint)
    return result, {"endpoint": task.endpoint, "result": _result_output(result)}


_DRIVER_KINDS: dict[
    str, Callable[[Workspace, Task, Mapping[str, Any], Control], tuple[Any, dict]]
] = {
    "pipeline": _pipeline,
    "sweep": _sweep,
    "register": _register,
    "endpoint": _endpoint,
}
