"""Load jobs from files: Python files defining ``Job`` objects, or YAML whose tasks name
``module:function`` (or ``path/to/file.py:name``) references.

YAML (one job, or a list under ``jobs:``)::

    name: nightly
    params: {threshold: 0.5}
    triggers:
      - cron: "0 2 * * *"
      - table: main.bronze.rides
      - model: main.models.churn
        alias: champion
    tasks:
      - name: ingest
        pipeline: rides_pipelines:silver_rides
        timeout_s: 1800            # any kind of task (see raylake.jobs.Task)
      - name: train
        fn: my_project.train:train
        depends_on: [ingest]
        retries: 2
        timeout_s: 600
        params: {max_depth: 4}
      - name: register
        register: {model: main.models.churn, alias: champion}
        depends_on: [train]
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from raylake.errors import InvalidJobError, RaylakeError
from raylake.jobs.definition import Cron, Job, OnModelAlias, OnTableUpdate, Register, Task

# -- references ---------------------------------------------------------------------------------


def load_module(path: Path) -> ModuleType:
    """Import the Python file ``path`` under a stable unique name (pickling needs one)."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    name = f"_raylake_jobs_{resolved.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InvalidJobError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(resolved.parent) not in sys.path:  # so the file can import its neighbours
        sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except RaylakeError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InvalidJobError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    return module


def resolve(ref: str, base: Path | None = None) -> Any:
    """``package.module:attr`` or ``path/to/file.py:attr`` (relative to ``base``) -> the object."""
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise InvalidJobError(f"reference {ref!r} must look like module:name or file.py:name")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_absolute() and base is not None:
            path = base / path
        module = load_module(path)
    else:
        if base is not None and str(base) not in sys.path:
            sys.path.insert(0, str(base))  # modules next to the YAML file
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise InvalidJobError(f"cannot import {where!r} for {ref!r}: {exc}") from exc
    value: Any = module
    for part in attr.split("."):
        if not hasattr(value, part):
            raise InvalidJobError(f"{where} has no {attr!r} (from {ref!r})")
        value = getattr(value, part)
    return value


# -- YAML ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RegisterSpec(_Strict):
    model: str
    source: str | None = None
    alias: str | None = None


class _TaskSpec(_Strict):
    name: str
    fn: str | None = None
    pipeline: str | None = None
    sweep: str | None = None
    # "register" would shadow BaseModel.register (ABC): a different attribute, same YAML key.
    register_: _RegisterSpec | None = Field(default=None, alias="register")
    endpoint: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    retries: int = 0
    retry_delay_s: float = 0.0
    timeout_s: float | None = None
    num_cpus: float = 1


class _TriggerSpec(_Strict):
    cron: str | None = None
    timezone: str = "UTC"
    table: str | None = None
    model: str | None = None
    alias: str = "champion"

    @model_validator(mode="after")
    def _one_kind(self) -> _TriggerSpec:
        given = [k for k in ("cron", "table", "model") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a trigger needs exactly one of cron, table, model")
        return self

    def build(self) -> Cron | OnTableUpdate | OnModelAlias:
        if self.cron is not None:
            return Cron(self.cron, self.timezone)
        if self.table is not None:
            return OnTableUpdate(self.table)
        assert self.model is not None
        return OnModelAlias(self.model, self.alias)


class _JobSpec(_Strict):
    name: str
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    triggers: list[_TriggerSpec] = Field(default_factory=list)
    tasks: list[_TaskSpec]


class _FileSpec(_Strict):
    jobs: list[_JobSpec]


def _task(spec: _TaskSpec, base: Path | None) -> Task:
    kwargs: dict[str, Any] = {}
    for kind in ("fn", "pipeline", "sweep"):
        ref = getattr(spec, kind)
        if ref is not None:
            kwargs[kind] = resolve(ref, base)
    if spec.register_ is not None:
        kwargs["register"] = Register(**spec.register_.model_dump())
    if spec.endpoint is not None:
        kwargs["endpoint"] = spec.endpoint
    return Task(
        spec.name,
        depends_on=spec.depends_on,
        params=spec.params,
        retries=spec.retries,
        retry_delay_s=spec.retry_delay_s,
        timeout_s=spec.timeout_s,
        num_cpus=spec.num_cpus,
        **kwargs,
    )


def jobs_from_dict(data: Any, base: Path | None = None, where: str = "job") -> list[Job]:
    """Jobs from parsed YAML/JSON: one job mapping, or ``{"jobs": [...]}``."""
    if not isinstance(data, dict):
        raise InvalidJobError(f"{where}: expected a mapping with name and tasks (or jobs:)")
    try:
        specs = (
            _FileSpec.model_validate(data).jobs
            if "jobs" in data
            else [_JobSpec.model_validate(data)]
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'job'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidJobError(f"{where}: {problems}") from exc
    return [
        Job(
            s.name,
            [_task(t, base) for t in s.tasks],
            triggers=[t.build() for t in s.triggers],
            params=s.params,
            description=s.description,
        )
        for s in specs
    ]


def load_yaml(path: Path) -> list[Job]:
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidJobError(f"{path} is not valid YAML: {exc}") from exc
    return jobs_from_dict(data, path.resolve().parent, str(path))


def load_jobs(spec: str | Path) -> list[Job]:
    """The jobs a file defines: ``jobs.yaml``, ``jobs.py`` or ``jobs.py:NAME`` (one job)."""
    text = str(spec)
    where, sep, name = text.rpartition(":")
    path, wanted = (Path(where), name) if sep and where.endswith(".py") else (Path(text), None)
    if path.suffix in (".yaml", ".yml"):
        return load_yaml(path)
    if path.suffix != ".py":
        raise InvalidJobError(f"{path}: jobs are defined in .py or .yaml files")
    module = load_module(path)
    found: list[Job] = []
    for attr, value in vars(module).items():
        if isinstance(value, Job) and all(value is not f for f in found):
            if wanted is None or wanted in (attr, value.name):
                found.append(value)
    if not found:
        what = f"no job named {wanted!r}" if wanted else "no raylake.jobs.Job"
        raise InvalidJobError(f"{path} defines {what}")
    return found
