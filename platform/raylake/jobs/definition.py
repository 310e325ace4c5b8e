"""Jobs written down: tasks, their dependencies, and the triggers that start them.

Everything is checked when the job is defined (cycles, unknown or duplicate names, a task
with no kind or two, bad cron expressions), so a wrong job fails before anything runs.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from raylake.errors import InvalidJobError, InvalidNameError
from raylake.names import validate_part

KINDS = ("fn", "pipeline", "sweep", "register", "endpoint")


@dataclass(frozen=True)
class Register:
    """Register a model from an upstream task's result (a sweep result, an MLflow run id or a
    model URI) as a new version of ``model``; optionally point ``alias`` at it."""

    model: str
    source: str | None = None  # upstream task name; default: the task's only dependency
    alias: str | None = None


@dataclass(frozen=True)
class Task:
    """One step of a job. Give exactly one of ``fn``, ``pipeline``, ``sweep``, ``register``,
    ``endpoint``.

    ``fn`` runs as a Ray task; it receives, as keyword arguments it declares, the job's
    parameters, the task's ``params`` and the return values of its dependencies (by task
    name). Pipelines, sweeps and registrations run from the job runner (they drive the
    cluster themselves).

    ``timeout_s`` bounds each attempt of any kind: an ``fn`` task's Ray task is cancelled, a
    pipeline's Spark jobs are cancelled before its commit, a sweep's Tune trials are stopped,
    and the job stops waiting for a registration or endpoint refresh (which cannot be
    interrupted midway). The attempt fails as "timed out after N s"; ``retries`` apply.
    """

    name: str
    fn: Callable[..., Any] | None = None
    pipeline: Any = None  # raylake.Pipeline
    sweep: Any = None  # raylake.training.SweepDefinition or a dict of ws.sweep arguments
    register: Register | None = None
    endpoint: str | None = None
    depends_on: Sequence[str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    retries: int = 0
    retry_delay_s: float = 0.0
    timeout_s: float | None = None
    num_cpus: float = 1

    def __post_init__(self) -> None:
        if isinstance(self.depends_on, str):  # a lone name: a sequence of characters otherwise
            object.__setattr__(self, "depends_on", (self.depends_on,))
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidJobError(
                f"task name {self.name!r} must be a Python identifier "
                "(downstream tasks receive its result as a keyword argument of that name)"
            )
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            what = ", ".join(given) if given else "none"
            raise InvalidJobError(
                f"task {self.name!r} needs exactly one of {', '.join(KINDS)} (got {what})"
            )
        if self.fn is not None and not callable(self.fn):
            raise InvalidJobError(f"task {self.name!r}: fn must be callable")
        if self.pipeline is not None:
            from raylake.pipelines import Pipeline

            if not isinstance(self.pipeline, Pipeline):
                raise InvalidJobError(f"task {self.name!r}: pipeline must be a raylake.Pipeline")
        if self.sweep is not None:
            object.__setattr__(self, "sweep", _sweep_definition(self.name, self.sweep))
        if self.register is not None and not isinstance(self.register, Register):
            raise InvalidJobError(f"task {self.name!r}: register must be a raylake.jobs.Register")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidJobError(f"task {self.name!r}: retries must be an integer >= 0")
        if self.timeout_s is not None:
            if (
                isinstance(self.timeout_s, bool)
                or not isinstance(self.timeout_s, int | float)
                or not 0 < self.timeout_s < float("inf")  # NaN fails too
            ):
                raise InvalidJobError(f"task {self.name!r}: timeout_s must be > 0 (seconds)")
        if self.retry_delay_s < 0 or self.num_cpus < 0:
            raise InvalidJobError(f"task {self.name!r}: retry_delay_s and num_cpus must be >= 0")

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)


def _sweep_definition(task: str, value: Any) -> Any:
    from raylake.training import SweepDefinition, define_sweep

    if isinstance(value, SweepDefinition):
        return value
    if isinstance(value, Mapping):
        args = dict(value)
        try:
            return define_sweep(args.pop("trainable"), args.pop("param_space"), **args)
        except (KeyError, TypeError) as exc:
            raise InvalidJobError(
                f"task {task!r}: sweep needs trainable, param_space, metric and ws.sweep's other "
                f"arguments ({exc})"
            ) from exc
    raise InvalidJobError(f"task {task!r}: sweep must be a SweepDefinition or a dict")


# -- triggers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    """Run on a cron schedule (5 fields, or 6 with seconds last), in ``timezone``. A run
    missed while no scheduler was up runs once when one starts, not once per missed time."""

    expr: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str) or not croniter.is_valid(self.expr):
            raise InvalidJobError(f"invalid cron expression {self.expr!r}")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidJobError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def key(self) -> str:
        return f"cron:{self.expr}@{self.timezone}"


@dataclass(frozen=True)
class OnTableUpdate:
    """Run once for each new version of a catalog table the scheduler sees (versions that
    arrive between two polls are one run, told the range)."""

    table: str

    def __post_init__(self) -> None:
        from raylake.names import parse_table_name

        try:
            object.__setattr__(self, "table", str(parse_table_name(self.table)))
        except InvalidNameError as exc:
            raise InvalidJobError(f"table trigger: {exc}") from exc

    @property
    def key(self) -> str:
        return f"table:{self.table}"


@dataclass(frozen=True)
class OnModelAlias:
    """Run when ``alias`` of a registered model moves to another version."""

    model: str
    alias: str = "champion"

    def __post_init__(self) -> None:
        from raylake.registry.names import parse_model_name

        try:
            object.__setattr__(self, "model", str(parse_model_name(self.model)))
        except InvalidNameError as exc:
            raise InvalidJobError(f"model alias trigger: {exc}") from exc
        if not isinstance(self.alias, str) or not self.alias:
            raise InvalidJobError("model alias trigger: alias must be a non-empty string")

    @property
    def key(self) -> str:
        return f"model:{self.model}@{self.alias}"


Trigger = Cron | OnTableUpdate | OnModelAlias


# -- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A DAG of tasks with its triggers. ``params`` are defaults every run can override."""

    name: str
    tasks: Sequence[Task]
    triggers: Sequence[Trigger] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        try:
            validate_part(self.name, "job name")
        except InvalidNameError as exc:
            raise InvalidJobError(str(exc)) from exc
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "triggers", tuple(self.triggers))
        if not self.tasks:
            raise InvalidJobError(f"job {self.name!r} has no tasks")
        names: set[str] = set()
        for task in self.tasks:
            if not isinstance(task, Task):
                raise InvalidJobError(f"job {self.name!r}: {task!r} is not a raylake.jobs.Task")
            if task.name in names:
                raise InvalidJobError(f"job {self.name!r}: duplicate task name {task.name!r}")
            names.add(task.name)
        for task in self.tasks:
            for dep in task.depends_on:
                if dep not in names:
                    raise InvalidJobError(
                        f"job {self.name!r}: task {task.name!r} depends on unknown task {dep!r}"
                    )
            if task.register is not None:
                self._check_register(task)
        keys: set[str] = set()
        for trigger in self.triggers:
            if not isinstance(trigger, Cron | OnTableUpdate | OnModelAlias):
                raise InvalidJobError(
                    f"job {self.name!r}: {trigger!r} is not a trigger (Cron, OnTableUpdate, "
                    "OnModelAlias)"
                )
            if trigger.key in keys:
                raise InvalidJobError(f"job {self.name!r}: duplicate trigger {trigger.key}")
            keys.add(trigger.key)
        object.__setattr__(self, "_order", self._topological_order())

    def _check_register(self, task: Task) -> None:
        assert task.register is not None
        source = task.register.source
        if source is None:
            if len(task.depends_on) != 1:
                raise InvalidJobError(
                    f"job {self.name!r}: task {task.name!r} registers a model from an upstream "
                    "task: set Register(source=...) or depend on exactly one task"
                )
        elif source not in task.depends_on:
            raise InvalidJobError(
                f"job {self.name!r}: task {task.name!r} registers from {source!r}, which it "
                "does not depend on"
            )

    def _topological_order(self) -> tuple[str, ...]:
        sorter = graphlib.TopologicalSorter({t.name: t.depends_on for t in self.tasks})
        try:
            return tuple(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise InvalidJobError(f"job {self.name!r} has a dependency cycle: {cycle}") from exc

    @property
    def order(self) -> tuple[str, ...]:
        """Task names in an order that runs every task after its dependencies."""
        return self._order  # type: ignore[attr-defined, no-any-return]

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def describe(self) -> dict[str, Any]:
        """A JSON summary kept in the catalog (``raylake jobs list``)."""
        return {
            "description": self.description,
            "tasks": [
                {
                    "name": t.name,
                    "kind": t.kind,
                    "depends_on": list(t.depends_on),
                    "retries": t.retries,
                    "timeout_s": t.timeout_s,
                }
                for t in self.tasks
            ],
            "triggers": [t.key for t in self.triggers],
        }
