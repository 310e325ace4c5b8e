"""Pipeline definitions and run bookkeeping that need no Spark."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import raylake


def files_pipeline(folder: Path) -> raylake.Pipeline:
    return raylake.Pipeline(
        name="ingest",
        target="main.default.events",
        inputs={"raw": raylake.Files(str(folder), "csv")},
        transform=lambda raw: raw,
    )


def test_a_live_run_blocks_a_second_one(local_ws: raylake.Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    # The parent of this process is alive: a run it "owns" must not be taken over.
    local_ws._store.start_run(
        "ingest", "main.default.events", "someone", host=socket.gethostname(), pid=os.getppid()
    )
    with pytest.raises(raylake.PipelineRunningError, match="already running"):
        local_ws.run_pipeline(files_pipeline(tmp_path))
    assert [r.status for r in local_ws.pipeline_runs("ingest")] == ["RUNNING"]
    assert local_ws.catalog.list_tables() == []


def test_the_database_allows_one_running_run_per_pipeline(local_ws: raylake.Workspace) -> None:
    store = local_ws._store
    first = store.start_run("p", "main.default.x", "u", host="elsewhere", pid=1)
    with pytest.raises(raylake.PipelineRunningError):
        store.start_run("p", "main.default.x", "u", host="elsewhere", pid=2)
    store.start_run("q", "main.default.x", "u")  # other pipelines are not blocked
    store.update_run(first.id, status="SUCCEEDED")
    assert store.start_run("p", "main.default.x", "u").seq == 2


def test_missing_input_folder_is_a_pipeline_error(
    local_ws: raylake.Workspace, tmp_path: Path
) -> None:
    with pytest.raises(raylake.PipelineError, match="does not exist"):
        local_ws.run_pipeline(files_pipeline(tmp_path / "nowhere"))
    assert local_ws.pipeline_runs() == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "Bad-Name"}, "pipeline name"),
        ({"target": "a.b.c.d"}, "at most three parts"),
        ({"inputs": {"raw": 42}}, "must be a table name"),
        ({"inputs": {"Raw": "main.default.x"}}, "input name"),
        ({"expectations": [raylake.expect("e", "x > 0"), raylake.expect("e", "y > 0")]}, "unique"),
    ],
)
def test_bad_definitions_are_refused(kwargs: dict, match: str) -> None:
    base = {
        "name": "p",
        "target": "main.default.x",
        "inputs": {"raw": "main.default.y"},
        "transform": lambda raw=None, Raw=None: raw,
    }
    with pytest.raises(raylake.PipelineError, match=match):
        raylake.Pipeline(**{**base, **kwargs})


def test_bad_expectations_and_files_are_refused() -> None:
    with pytest.raises(raylake.PipelineError, match="action"):
        raylake.Expectation("e", "x > 0", "explode")  # type: ignore[arg-type]
    with pytest.raises(raylake.PipelineError, match="empty"):
        raylake.expect("e", "  ")
    with pytest.raises(raylake.PipelineError, match="format"):
        raylake.Files("/tmp", "xlsx")
