"""Checking a sweep's definition before any trial runs, so mistakes cost nothing."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from raylake.errors import InvalidSweepError

MODES = ("max", "min")

# Keys Tune adds to every result; a sweep optimising one of them is almost surely a typo.
_TUNE_RESULT_KEYS = frozenset(
    {
        "done",
        "training_iteration",
        "trial_id",
        "date",
        "timestamp",
        "time_this_iter_s",
        "time_total_s",
        "pid",
        "hostname",
        "node_ip",
        "config",
        "time_since_restore",
        "iterations_since_restore",
        "checkpoint_dir_name",
    }
)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep definition."""

    trainable: Callable[..., Any]
    param_space: dict[str, Any]
    metric: str
    mode: str
    num_samples: int
    max_concurrent: int | None
    experiment: str
    takes_data: bool


def validate(
    trainable: Any,
    param_space: Any,
    metric: Any,
    mode: Any,
    num_samples: Any,
    max_concurrent: Any,
    experiment: Any,
    has_data: bool,
) -> SweepSpec:
    """Return a :class:`SweepSpec` or raise :class:`InvalidSweepError` naming the problem."""
    if not callable(trainable):
        raise InvalidSweepError(f"trainable must be a function, got {type(trainable).__name__}")
    takes_data = _check_signature(trainable, has_data)
    if not isinstance(param_space, Mapping) or not param_space:
        raise InvalidSweepError("param_space must be a non-empty dict of parameter -> domain")
    _check_space(param_space, prefix="")
    if not isinstance(metric, str) or not metric.strip():
        raise InvalidSweepError(f"metric must be a non-empty string, got {metric!r}")
    if metric in _TUNE_RESULT_KEYS:
        raise InvalidSweepError(f"metric {metric!r} is a key Ray Tune adds itself; report your own")
    if mode not in MODES:
        raise InvalidSweepError(f"mode must be 'max' or 'min', got {mode!r}")
    if not _positive_int(num_samples):
        raise InvalidSweepError(f"num_samples must be a positive integer, got {num_samples!r}")
    if max_concurrent is not None and not _positive_int(max_concurrent):
        raise InvalidSweepError(
            f"max_concurrent must be a positive integer or None, got {max_concurrent!r}"
        )
    name = experiment if experiment is not None else getattr(trainable, "__name__", "sweep")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSweepError(f"experiment must be a non-empty string, got {experiment!r}")
    return SweepSpec(
        trainable=trainable,
        param_space=dict(param_space),
        metric=metric,
        mode=mode,
        num_samples=num_samples,
        max_concurrent=max_concurrent,
        experiment=name,
        takes_data=takes_data,
    )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_signature(trainable: Callable[..., Any], has_data: bool) -> bool:
    """The trainable is called as ``fn(config)`` or ``fn(config, data)``."""
    try:
        params = list(inspect.signature(trainable).parameters.values())
    except (TypeError, ValueError):
        return has_data  # a builtin or C callable: trust the caller
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    required = [p for p in positional if p.default is p.empty]
    if has_data:
        if len(positional) < 2 and not varargs:
            raise InvalidSweepError("data was given, so the trainable must accept (config, data)")
        return True
    if len(required) > 1:
        raise InvalidSweepError(
            "the trainable requires (config, data) but no data was given to the sweep"
        )
    if not positional and not varargs:
        raise InvalidSweepError("the trainable must accept the trial's config as its argument")
    return False


def _check_space(space: Mapping[str, Any], prefix: str) -> None:
    from ray.tune.search.sample import Domain, Float, Function, Integer

    for key, value in space.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str) or not key:
            raise InvalidSweepError(f"param_space keys must be non-empty strings, got {key!r}")
        if "/" in key:
            raise InvalidSweepError(f"parameter {path!r}: '/' is reserved for nested parameters")
        if isinstance(value, Domain):
            if isinstance(value, Float | Integer) and not _ordered(value.lower, value.upper):
                raise InvalidSweepError(
                    f"parameter {path!r}: lower bound {value.lower} must be below {value.upper}"
                )
            if isinstance(value, Function):
                continue  # sample_from functions may need the whole config to run
            try:
                value.sample()
            except Exception as exc:  # any sampling failure means a bad domain
                raise InvalidSweepError(f"parameter {path!r} cannot be sampled: {exc}") from exc
        elif isinstance(value, Mapping) and set(value) == {"grid_search"}:
            grid = value["grid_search"]
            if not isinstance(grid, list | tuple) or not grid:
                raise InvalidSweepError(f"parameter {path!r}: grid_search needs a non-empty list")
        elif isinstance(value, Mapping):
            _check_space(value, prefix=f"{path}/")
        elif callable(value):
            raise InvalidSweepError(
                f"parameter {path!r} is a function; use tune.sample_from(...) or a tune domain"
            )


def _ordered(lower: Any, upper: Any) -> bool:
    if lower is None or upper is None:
        return True
    try:
        return bool(lower < upper) and not any(
            isinstance(v, float) and math.isnan(v) for v in (lower, upper)
        )
    except TypeError:
        return False


def has_grid(space: Mapping[str, Any]) -> bool:
    """True when any parameter (nested ones too) is a ``tune.grid_search``."""
    for value in space.values():
        if isinstance(value, Mapping) and (set(value) == {"grid_search"} or has_grid(value)):
            return True
    return False
