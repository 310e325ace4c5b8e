"""What a pipeline is: inputs (tables or raw files), a transform, a target and expectations."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from raylake.errors import PipelineError
from raylake.names import parse_table_name, validate_part

Action = Literal["warn", "drop", "fail"]
ACTIONS = ("warn", "drop", "fail")
FORMATS = ("csv", "json", "parquet")


@dataclass(frozen=True)
class Expectation:
    """A named data-quality rule: ``condition`` is a Spark SQL boolean expression every row
    should satisfy. A row where it is false or null violates it; ``action`` says what then:
    ``warn`` (count it), ``drop`` (leave the row out) or ``fail`` (write nothing)."""

    name: str
    condition: str
    action: Action = "warn"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise PipelineError(f"expectation {self.name!r}: action must be one of {ACTIONS}")
        if not self.condition or not self.condition.strip():
            raise PipelineError(f"expectation {self.name!r} has an empty condition")


def expect(name: str, condition: str) -> Expectation:
    return Expectation(name, condition, "warn")


def expect_or_drop(name: str, condition: str) -> Expectation:
    return Expectation(name, condition, "drop")


def expect_or_fail(name: str, condition: str) -> Expectation:
    return Expectation(name, condition, "fail")


@dataclass(frozen=True)
class Files:
    """Raw files in a folder, ingested incrementally: each run reads only files not yet taken.

    ``schema`` is a Spark DDL string (``"id INT, ts TIMESTAMP"``); without it Spark infers one.
    """

    path: str
    format: str = "csv"
    options: Mapping[str, str] = field(default_factory=dict)
    schema: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise PipelineError(f"file format must be one of {FORMATS}, not {self.format!r}")

    def reader_options(self) -> dict[str, str]:
        defaults = {"header": "true"} if self.format == "csv" else {}
        return {**defaults, **{k: str(v) for k, v in self.options.items()}}


@dataclass(frozen=True)
class TableInput:
    """A catalog table read at a pinned version. ``incremental`` reads only the rows appended
    since the last successful run (the source must be append-only)."""

    name: str
    incremental: bool = False


Input = str | Files | TableInput


@dataclass(frozen=True)
class Pipeline:
    name: str
    target: str
    transform: Callable[..., Any]
    inputs: Mapping[str, Input]
    mode: str = "append"
    merge_on: Sequence[str] = ()
    expectations: Sequence[Expectation] = ()
    schema_evolution: bool = False

    def __post_init__(self) -> None:
        try:
            validate_part(self.name, "pipeline name")
            parse_table_name(self.target)
            for key, value in self.inputs.items():
                validate_part(key, "input name")
                if isinstance(value, str | TableInput):
                    parse_table_name(value if isinstance(value, str) else value.name)
                elif not isinstance(value, Files):
                    raise PipelineError(
                        f"input {key!r} must be a table name, TableInput or Files, not {value!r}"
                    )
        except ValueError as exc:
            raise PipelineError(f"pipeline {self.name!r}: {exc}") from exc
        names = [e.name for e in self.expectations]
        if len(set(names)) != len(names):
            raise PipelineError(f"pipeline {self.name!r}: expectation names must be unique")
        params = inspect.signature(self.transform).parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [k for k in self.inputs if k not in params and not takes_kwargs]
        if missing:
            raise PipelineError(
                f"pipeline {self.name!r}: transform has no parameter for inputs {missing}"
            )

    @property
    def app_id(self) -> str:
        """The Delta ``txn`` app id under which this pipeline's commits are recorded."""
        return f"raylake.pipeline.{self.name}"

    def table_inputs(self) -> dict[str, TableInput]:
        return {
            k: (TableInput(v) if isinstance(v, str) else v)
            for k, v in self.inputs.items()
            if isinstance(v, str | TableInput)
        }

    def file_inputs(self) -> dict[str, Files]:
        return {k: v for k, v in self.inputs.items() if isinstance(v, Files)}


def pipeline(
    *,
    target: str,
    inputs: Mapping[str, Input],
    name: str | None = None,
    mode: str = "append",
    merge_on: Sequence[str] = (),
    expectations: Sequence[Expectation] = (),
    schema_evolution: bool = False,
) -> Callable[[Callable[..., Any]], Pipeline]:
    """Decorator: turn ``transform(**inputs) -> Spark DataFrame`` into a :class:`Pipeline`."""

    def wrap(fn: Callable[..., Any]) -> Pipeline:
        return Pipeline(
            name=name or fn.__name__,
            target=target,
            transform=fn,
            inputs=dict(inputs),
            mode=mode,
            merge_on=tuple(merge_on),
            expectations=tuple(expectations),
            schema_evolution=schema_evolution,
        )

    return wrap
