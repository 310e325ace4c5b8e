"""``raylake sweep run FILE.py[:NAME]``: run a sweep a Python file defines, with a live table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.cli._loader import load_module, parse_spec
from raylake.errors import InvalidSweepError

if TYPE_CHECKING:
    from raylake.training import SweepDefinition, SweepResult

app = typer.Typer(help="Run hyperparameter sweeps (Ray Tune, tracked in MLflow).")


@app.command("run")
def run(
    spec: Annotated[
        str,
        typer.Argument(
            metavar="FILE.py[:NAME]",
            help="A Python file defining sweeps with raylake.training.define_sweep(...).",
        ),
    ],
    num_samples: Annotated[
        int | None, typer.Option("--num-samples", min=1, help="Override the trial count.")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", min=1, help="Trials running at once.")
    ] = None,
    register: Annotated[
        str | None,
        typer.Option("--register", help="Register the best model as this name (e.g. churn)."),
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="Point this alias at the registered version.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Run the sweep FILE.py defines (or the one called NAME) and show the best trial."""
    path, name = parse_spec(spec)
    definition = load_sweep(path, name).with_overrides(
        num_samples=num_samples, max_concurrent=max_concurrent, register_as=register
    )
    if alias and not definition.register_as:
        raise InvalidSweepError("--alias needs a model name: pass --register NAME")
    with workspace() as ws:
        result = definition.run(ws, progress=not json_out)
        version = None
        if definition.register_as:
            version = ws.models.register(result, definition.register_as)
            if alias:
                version = ws.models.set_alias(version.name, alias, version.version)
    if json_out:
        _render.print_json({"sweep": result, "registered": version})
        return
    _render.show(summary(result))
    if version is not None:
        aliases = f" (aliases: {', '.join(version.aliases)})" if version.aliases else ""
        _render.show(f"registered {version.name} version {version.version}{aliases}")


def summary(result: SweepResult) -> object:
    return _render.fields(
        [
            ("experiment", result.experiment),
            ("sweep run", result.parent_run_id),
            (f"best {result.metric}", f"{result.best_metric:.6g} ({result.mode})"),
            ("best params", result.best_params),
            ("best run", result.best_run_id),
            ("model", result.best_model_uri),
            ("trials", f"{len(result.trials)} ({len(result.failed)} failed)"),
            ("inputs", ", ".join(f"{s.name} v{s.version}" for s in result.inputs) or None),
            ("duration", f"{result.duration_s:.1f}s"),
        ],
        title="sweep",
    )


def load_sweep(path: Path, name: str | None = None) -> SweepDefinition:
    """The sweep ``path`` defines (the one called ``name`` when it defines several)."""
    from raylake.training import SweepDefinition

    module = load_module(path, "sweeps", InvalidSweepError)
    found = [
        (attr, value) for attr, value in vars(module).items() if isinstance(value, SweepDefinition)
    ]
    if name is not None:
        found = [(a, v) for a, v in found if name in (a, v.name)]
    if not found and name is not None:
        raise InvalidSweepError(f"{path} has no sweep named {name!r}")
    if not found:
        raise InvalidSweepError(f"{path} defines no sweep (use raylake.training.define_sweep)")
    if len(found) > 1:
        names = ", ".join(a for a, _ in found)
        raise InvalidSweepError(f"{path} defines several sweeps ({names}): pick one with :NAME")
    return found[0][1]
