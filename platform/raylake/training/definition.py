"""A sweep written down in a file, so ``raylake sweep run file.py`` can run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from raylake.training import spec as sweep_spec

if TYPE_CHECKING:
    from raylake.training.result import SweepResult
    from raylake.workspace import Workspace


@dataclass(frozen=True)
class SweepDefinition:
    """Everything ``ws.sweep`` takes, plus the model name to register the best model under."""

    trainable: Callable[..., Any]
    param_space: Mapping[str, Any]
    metric: str
    mode: str = "max"
    num_samples: int = 1
    experiment: str | None = None
    data: Any = None
    max_concurrent: int | None = None
    scheduler: Any = None
    search_alg: Any = None
    cpus_per_trial: float = 1
    autolog: bool = False
    register_as: str | None = None

    def __post_init__(self) -> None:
        # Check at definition time, so a bad file fails when it loads, not minutes later.
        sweep_spec.validate(
            self.trainable,
            self.param_space,
            self.metric,
            self.mode,
            self.num_samples,
            self.max_concurrent,
            self.experiment,
            has_data=self.data is not None,
        )

    @property
    def name(self) -> str:
        return self.experiment or getattr(self.trainable, "__name__", "sweep")

    def with_overrides(self, **changes: Any) -> SweepDefinition:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def run(
        self, ws: Workspace, progress: bool = True, time_budget_s: float | None = None
    ) -> SweepResult:
        """Run the sweep; ``time_budget_s`` as in ``ws.sweep`` (a job task's timeout)."""
        return ws.sweep(
            self.trainable,
            self.param_space,
            num_samples=self.num_samples,
            metric=self.metric,
            mode=self.mode,
            experiment=self.experiment,
            data=self.data,
            max_concurrent=self.max_concurrent,
            scheduler=self.scheduler,
            search_alg=self.search_alg,
            cpus_per_trial=self.cpus_per_trial,
            autolog=self.autolog,
            progress=progress,
            time_budget_s=time_budget_s,
        )


def define_sweep(
    trainable: Callable[..., Any], param_space: Mapping[str, Any], **kwargs: Any
) -> SweepDefinition:
    """Describe a sweep for ``raylake sweep run`` (same arguments as ``ws.sweep``)."""
    return SweepDefinition(trainable, param_space, **kwargs)
