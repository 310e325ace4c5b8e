"""A live Rich table of a sweep's trials, driven by a Tune callback (Tune itself stays silent)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

_MAX_PARAM_COLUMNS = 4
_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "PENDING": "dim"}


class _Row:
    def __init__(self, trial: Trial) -> None:
        self.trial_id = trial.trial_id
        self.config = dict(trial.config)
        self.status = "PENDING"
        self.iteration = 0
        self.value: float | None = None
        self.started = time.monotonic()
        self.elapsed = 0.0


class RichProgress(Callback):
    """Shows one row per trial: status, parameters, iteration, the metric, time."""

    def __init__(
        self, metric: str, mode: str, num_samples: int, console: Console | None = None
    ) -> None:
        self._metric = metric
        self._mode = mode
        self._total = num_samples
        self._console = console
        self._rows: dict[str, _Row] = {}
        self._live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config (callbacks included); a console and Live hold locks.
        return {**self.__dict__, "_console": None, "_live": None}

    # -- Tune callback hooks -------------------------------------------------------------------
    def setup(self, **info: Any) -> None:
        console = self._console or Console(stderr=True)
        # get_renderable: Live re-renders on every refresh, so running trials' times tick.
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=2)
        self._live.start()

    def on_trial_start(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        row = self._row(trial)
        row.status, row.started = "RUNNING", time.monotonic()
        self._refresh()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Trial, result: dict, **info: Any
    ) -> None:
        row = self._row(trial)
        row.iteration = int(result.get("training_iteration") or row.iteration + 1)
        value = result.get(self._metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            row.value = float(value)
        row.elapsed = time.monotonic() - row.started
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self._finish(trial, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        self._finish(trial, "FAILED")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    # -- rendering -----------------------------------------------------------------------------
    def _row(self, trial: Trial) -> _Row:
        if trial.trial_id not in self._rows:
            self._rows[trial.trial_id] = _Row(trial)
        return self._rows[trial.trial_id]

    def _finish(self, trial: Trial, status: str) -> None:
        row = self._row(trial)
        row.status = status
        row.elapsed = time.monotonic() - row.started
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _best(self) -> _Row | None:
        scored = [r for r in self._rows.values() if r.value is not None]
        if not scored:
            return None
        pick = max if self._mode == "max" else min
        return pick(scored, key=lambda r: r.value)

    def _render(self) -> Table:
        done = sum(r.status in ("FINISHED", "FAILED") for r in self._rows.values())
        failed = sum(r.status == "FAILED" for r in self._rows.values())
        best = self._best()
        title = f"sweep: {done}/{self._total} trials done"
        if failed:
            title += f", {failed} failed"
        if best is not None:
            title += f" · best {self._metric}={best.value:.4g} ({best.trial_id})"
        table = Table(title=title, title_justify="left")
        table.add_column("trial")
        table.add_column("status")
        params = self._param_names()
        for name in params:
            table.add_column(name, justify="right")
        table.add_column("iter", justify="right")
        table.add_column(self._metric, justify="right")
        table.add_column("time", justify="right")
        for row in self._rows.values():
            style = _STYLE.get(row.status, "")
            marker = " *" if best is row else ""
            table.add_row(
                row.trial_id,
                f"[{style}]{row.status}[/{style}]" if style else row.status,
                *(_fmt(row.config.get(name)) for name in params),
                str(row.iteration),
                "-" if row.value is None else f"{row.value:.4g}{marker}",
                f"{self._elapsed(row):.1f}s",
            )
        return table

    @staticmethod
    def _elapsed(row: _Row) -> float:
        return time.monotonic() - row.started if row.status == "RUNNING" else row.elapsed

    def _param_names(self) -> list[str]:
        names: list[str] = []
        for row in self._rows.values():
            for key in row.config:
                if key not in names:
                    names.append(key)
        return names[:_MAX_PARAM_COLUMNS]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)[:20]
