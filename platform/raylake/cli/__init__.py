"""The ``raylake`` command line: Typer commands over the SDK, one module per command group."""

from raylake.cli.app import app, main

__all__ = ["app", "main"]
