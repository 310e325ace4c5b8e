"""Shared fixtures. Integration tests share one session-scoped workspace with local Ray + Spark."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import raylake

# Keep Ray quiet and local for every test process (and the processes tests start).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

_counter = itertools.count()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty workspace home for a test that needs no cluster."""
    return tmp_path / "home"


@pytest.fixture
def local_ws(home: Path) -> Iterator[raylake.Workspace]:
    """A workspace of its own (catalog + tables) for tests that never start Ray or Spark."""
    with raylake.connect(home=home) as ws:
        yield ws


@pytest.fixture(scope="session")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[raylake.Workspace]:
    """The session's workspace with Ray and Spark on Ray started once for all integration tests."""
    home = tmp_path_factory.mktemp("raylake-home")
    with raylake.connect(home=home) as workspace:
        workspace.spark()
        yield workspace


@pytest.fixture
def schema(ws: raylake.Workspace) -> str:
    """A fresh ``main.<schema>`` in the session workspace, so tests never share tables."""
    name = f"t{next(_counter)}_{os.getpid()}"
    ws.catalog.create_schema(name)
    return name
