"""What the root callback hands to every command: settings overrides and error preferences."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

import raylake
from raylake.settings import Settings, load_settings


@dataclass(frozen=True)
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)
    traceback: bool = False


# Set by the root callback before any command runs; a context variable rather than a ctx
# parameter on every command (Typer's click context is private API since it vendors click).
_state: ContextVar[CliState | None] = ContextVar("raylake_cli_state", default=None)

# Shared option: machine-readable output for the commands that list or describe things.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SchemaFilter = Annotated[
    str | None, typer.Argument(help="Only this schema (schema or catalog.schema).")
]


def set_state(state: CliState) -> None:
    _state.set(state)


def state() -> CliState:
    return _state.get() or CliState()


def settings() -> Settings:
    """Settings as the command sees them, without opening (or creating) the workspace."""
    return load_settings(**state().overrides)


@contextmanager
def workspace() -> Iterator[raylake.Workspace]:
    """Open the workspace for one command and always close it (stopping what it started)."""
    with raylake.connect(**state().overrides) as ws:
        yield ws
