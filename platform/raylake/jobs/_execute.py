"""How each kind of task runs once (one attempt): its result, its catalog outputs, its logs.

``fn`` tasks run as Ray tasks (cancelled on timeout); pipelines, sweeps, registrations and
endpoint refreshes run in the job runner's process, because they drive the cluster themselves.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raylake.compute.shipping import shipped_by_value as _shipped
from raylake.errors import JobError
from raylake.jobs.definition import Task

if TYPE_CHECKING:
    from raylake.workspace import Workspace

MAX_LOG_CHARS = 64_000  # per attempt kept in the catalog


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


def run_in_runner(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> Attempt:
    """One attempt of a pipeline, sweep, register or endpoint task in this process."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            result, outputs = _DRIVER_KINDS[task.kind](ws, task, upstream)
    except Exception:  # noqa: BLE001 - the runner retries or fails the task
        return Attempt(logs=buffer.getvalue()[-MAX_LOG_CHARS:], error=traceback.format_exc())
    return Attempt(result=result, outputs=outputs, logs=buffer.getvalue()[-MAX_LOG_CHARS:])


def _pipeline(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> tuple[Any, dict]:
    run = ws.run_pipeline(task.pipeline)
    outputs = {
        "pipeline_run_id": run.id,
        "pipeline": run.pipeline,
        "status": run.status,
        "target": run.target,
        "target_version": run.target_version,
        "rows_out": run.rows_out,
    }
    return run, outputs


def _sweep(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> tuple[Any, dict]:
    result = task.sweep.run(ws, progress=False)
    outputs = {
        "sweep_id": result.sweep_id,
        "mlflow_parent_run_id": result.parent_run_id,
        "mlflow_best_run_id": result.best_run_id,
        "best_metric": result.best_metric,
        "best_params": _result_output(result.best_params),
        "trials": len(result.trials),
    }
    return result, outputs


def _register(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> tuple[Any, dict]:
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


def _endpoint(ws: Workspace, task: Task, upstream: Mapping[str, Any]) -> tuple[Any, dict]:
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


_DRIVER_KINDS: dict[str, Callable[[Workspace, Task, Mapping[str, Any]], tuple[Any, dict]]] = {
    "pipeline": _pipeline,
    "sweep": _sweep,
    "register": _register,
    "endpoint": _endpoint,
}
