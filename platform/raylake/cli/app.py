"""The root ``raylake`` app: global options, sub-command registration and error reporting.

Every error a command body raises (bad names, unknown tables, missing files, bad versions)
ends here as one line on stderr and exit code 1, never a traceback. Argument errors
(a missing argument, ``--limit 0``) are one line too, with exit code 2 (see ``main``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from deltalake.exceptions import DeltaError
from typer.core import TyperGroup

from raylake.cli import audit as audit_cli
from raylake.cli import dashboards as dashboards_cli
from raylake.cli import features as features_cli
from raylake.cli import grants as grants_cli
from raylake.cli import info, lineage, models, pipelines, schemas, sweep, tables
from raylake.cli import jobs as jobs_cli
from raylake.cli import monitor as monitor_cli
from raylake.cli import principals as principals_cli
from raylake.cli import serve as serve_cli
from raylake.cli import sql as sql_cli
from raylake.cli import ui as ui_cli
from raylake.cli._context import CliState, set_state, state
from raylake.errors import RaylakeError

# Errors users cause: shown as their message. Anything else is a bug, and says so.
# DeltaError: delta-rs refusals the SDK passes through (e.g. vacuum below the retention).
_EXPECTED = (RaylakeError, DeltaError, OSError, ValueError, LookupError)


def error_line(exc: BaseException) -> str:
    """One readable line for ``exc``."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror.lower()}: {exc.filename}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    message = lines[0] if lines else type(exc).__name__
    if len(lines) > 1:
        message += " [...] (--traceback shows all)"  # Spark errors carry whole JVM stacks
    if not isinstance(exc, _EXPECTED):
        message = f"unexpected {type(exc).__name__}: {message} (--traceback shows where)"
    return message


class _RootGroup(TyperGroup):
    """Runs every command, so the one place that turns exceptions into error lines."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors, --help and explicit exits: Typer reports them
        except Exception as exc:
            if state().traceback:
                raise
            typer.echo(f"error: {error_line(exc)}", err=True)
            raise typer.Exit(1) from exc


app = typer.Typer(
    name="raylake",
    cls=_RootGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Workspace home folder (default: $RAYLAKE_HOME or ~/.raylake).",
            file_okay=False,
        ),
    ] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the full Python traceback of errors.")
    ] = False,
) -> None:
    """raylake: Delta tables, catalog and pipelines on Ray.

    Other settings come from RAYLAKE_* environment variables and raylake.toml in the home.
    """
    set_state(CliState(overrides={"home": home} if home is not None else {}, traceback=traceback))


app.command("info")(info.info)
app.add_typer(tables.app, name="tables")
app.add_typer(schemas.app, name="schemas")
app.add_typer(pipelines.app, name="pipeline")
app.command("lineage")(lineage.lineage)
app.add_typer(models.app, name="models")
app.add_typer(sweep.app, name="sweep")
app.add_typer(features_cli.app, name="features")
app.add_typer(serve_cli.app, name="serve")
app.command("mlflow-ui")(models.mlflow_ui)
app.add_typer(grants_cli.app, name="grants")
app.add_typer(principals_cli.app, name="principals")
app.add_typer(principals_cli.tokens_app, name="tokens")
app.command("audit")(audit_cli.audit)
app.command("sql")(sql_cli.sql)
app.command("ui")(ui_cli.ui)
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(dashboards_cli.app, name="dashboards")
app.add_typer(monitor_cli.app, name="monitor")


def main() -> None:
    """Console-script entry point: usage errors, too, are one line (exit code 2)."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # a missing argument, a bad option value, ...
        # A bare group (`raylake`, `raylake tables`) has printed its help already (Typer's
        # rich help prints while the error is built); the class lives in Typer's private
        # copy of click, hence the match by name.
        if type(exc).__name__ != "NoArgsIsHelpError":
            typer.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    # Without standalone mode, click returns the exit code of typer.Exit instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)
