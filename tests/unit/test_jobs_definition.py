"""Job definitions, YAML loading, trigger claims and the jobs CLI (no Ray, no Spark)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import raylake
from raylake.catalog.jobs_store import JobStore
from raylake.cli import app
from raylake.errors import InvalidJobError, JobNotFoundError
from raylake.jobs import Cron, Job, OnModelAlias, OnTableUpdate, Register, Task, load_jobs


def one() -> int:
    return 1


def plus(one: int) -> int:
    return one + 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Job("j", [Task("a", fn=one), Task("a", fn=plus)]), "duplicate task name 'a'"),
        (lambda: Job("j", [Task("a", fn=one, depends_on=["b"])]), "unknown task 'b'"),
        (
            lambda: Job(
                "j",
                [
                    Task("a", fn=one, depends_on=["c"]),
                    Task("b", fn=one, depends_on=["a"]),
                    Task("c", fn=one, depends_on=["b"]),
                ],
            ),
            "dependency cycle",
        ),
        (lambda: Job("j", [Task("a", fn=one, depends_on="a")]), "dependency cycle: a -> a"),
        (lambda: Job("j", [Task("a")]), "exactly one of"),
        (lambda: Job("j", [Task("a", fn=one, endpoint="e")]), "got fn, endpoint"),
        (lambda: Job("j", [Task("a", endpoint="e", timeout_s=0)]), "timeout_s must be > 0"),
        (lambda: Job("j", [Task("a", fn=one, timeout_s=-1)]), "timeout_s must be > 0"),
        (lambda: Job("j", [Task("a", endpoint="e", timeout_s=float("nan"))]), "timeout_s"),
        (lambda: Job("j", [Task("a", endpoint="e", timeout_s=True)]), "timeout_s"),
        (lambda: Job("j", [Task("a", fn=one, retries=-1)]), "retries"),
        (lambda: Job("j", [Task("a-b", fn=one)]), "identifier"),
        (lambda: Job("J", [Task("a", fn=one)]), "invalid job name"),
        (lambda: Job("j", []), "no tasks"),
        (lambda: Job("j", [Task("a", fn=one)], triggers=[Cron("61 * * * *")]), "cron"),
        (lambda: Job("j", [Task("a", fn=one)], triggers=["daily"]), "not a trigger"),
        (
            lambda: Job("j", [Task("a", fn=one)], triggers=[Cron("0 1 * * *"), Cron("0 1 * * *")]),
            "duplicate trigger",
        ),
        (
            lambda: Job("j", [Task("a", fn=one), Task("r", register=Register("m"))]),
            "exactly one task",
        ),
        (lambda: OnTableUpdate("a.b.c.d"), "table trigger"),
        (lambda: Cron("* * * * *", timezone="Mars/Base"), "time zone"),
    ],
)
def test_bad_jobs_fail_before_running(build, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidJobError, match=message):
        build()


def test_order_and_names() -> None:
    job = Job(
        "j",
        [Task("b", fn=plus, depends_on=["one"]), Task("one", fn=one)],
        triggers=[OnTableUpdate("sales.orders"), OnModelAlias("churn")],
    )
    assert job.order == ("one", "b")
    assert [t.key for t in job.triggers] == [
        "table:main.sales.orders",
        "model:main.models.churn@champion",
    ]


def test_yaml_jobs(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(
        "def one():\n    return 1\n\ndef plus(one):\n    return one + 1\n"
    )
    (tmp_path / "jobs.yaml").write_text(
        """
jobs:
  - name: first
    triggers: [{table: sales.orders}, {model: churn, alias: prod}, {cron: "*/5 * * * *"}]
    tasks:
      - {name: one, fn: "steps.py:one"}
      - {name: plus, fn: "steps:plus", depends_on: [one], retries: 3, timeout_s: 10}
      - {name: reg, register: {model: churn, alias: prod}, depends_on: [plus]}
"""
    )
    (job,) = load_jobs(tmp_path / "jobs.yaml")
    assert job.order == ("one", "plus", "reg")
    assert job.task("plus").retries == 3 and job.task("plus").fn(1) == 2
    assert job.task("reg").register == Register("churn", None, "prod")
    assert len(job.triggers) == 3

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks: [{name: a, fn: 'steps.py:one', retry: 2}]\n")
    with pytest.raises(InvalidJobError, match="retry"):
        load_jobs(bad)
    bad.write_text("name: x\ntasks: [{name: a, fn: 'no_such_module_xyz:f'}]\n")
    with pytest.raises(InvalidJobError, match="cannot import"):
        load_jobs(bad)
    bad.write_text("name: x\ntriggers: [{cron: '0 1 * * *', table: t}]\ntasks: []\n")
    with pytest.raises(InvalidJobError, match="exactly one of cron, table, model"):
        load_jobs(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(InvalidJobError, match="not valid YAML"):
        load_jobs(bad)


def test_python_job_files(tmp_path: Path) -> None:
    path = tmp_path / "jobs.py"
    path.write_text(
        "from raylake.jobs import Job, Task\n"
        "def f():\n    return 1\n"
        "a = Job('a', [Task('f', fn=f)])\n"
        "b = Job('b', [Task('f', fn=f)])\n"
    )
    assert [j.name for j in load_jobs(path)] == ["a", "b"]
    assert [j.name for j in load_jobs(f"{path}:b")] == ["b"]
    with pytest.raises(InvalidJobError, match="no job named 'c'"):
        load_jobs(f"{path}:c")


def test_a_firing_is_claimed_once(local_ws: raylake.Workspace) -> None:
    store = JobStore(local_ws._store)
    seen = store.init_trigger("j", "table:main.a.b", "3")
    assert store.init_trigger("j", "table:main.a.b", "9") == seen  # first value stays
    args = ("manual", {}, "me", "host", os.getpid())
    first = store.fire("j", "table:main.a.b", seen, "4", *args)
    second = store.fire("j", "table:main.a.b", seen, "4", *args)  # a racing scheduler
    assert first is not None and first.trigger_seq == 1 and second is None
    state = store.trigger_state("j", "table:main.a.b")
    assert (state.seq, state.value) == (1, "4")
    # A killed scheduler's run (its pid is gone) is recorded as INTERRUPTED, never rerun.
    assert store.interrupt_dead_runs("host", lambda pid: False) == [first.id]
    assert store.get_run(first.id).status == "INTERRUPTED"
    with pytest.raises(JobNotFoundError):
        local_ws.jobs.get_run("nope")


def test_cli(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    result = runner.invoke(app, ["--home", str(home), "jobs", "runs"], env=env)
    assert result.exit_code == 0 and "no runs" in result.stdout
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from raylake.jobs import Job, Task\n"
        "j = Job('j', [Task('a', endpoint='e', depends_on=['x'])])\n"
    )
    result = runner.invoke(app, ["--home", str(home), "jobs", "run", str(bad)], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: job 'j': task 'a' depends on unknown task 'x'"
    result = runner.invoke(app, ["--home", str(home), "jobs", "logs", "abcdef"], env=env)
    assert result.exit_code == 1 and "no job run 'abcdef'" in result.stderr
    result = runner.invoke(app, ["--home", str(home), "jobs", "run", "x.txt"], env=env)
    assert result.exit_code == 1 and ".py or .yaml" in result.stderr


def test_endpoint_task_without_serving_names_the_problem() -> None:
    from types import SimpleNamespace

    from raylake.jobs import _execute

    no_serving = SimpleNamespace()  # a workspace of a version without ws.endpoints
    attempt = _execute.run_in_runner(no_serving, Task("refresh", endpoint="churn"), {})  # type: ignore[arg-type]
    assert attempt.error is not None and "has no ws.endpoints.refresh" in attempt.error


def test_every_kind_of_task_takes_a_timeout() -> None:
    job = Job(
        "j",
        [
            Task("a", fn=one, timeout_s=5),
            Task("refresh", endpoint="e", timeout_s=2.5, depends_on=["a"]),
            Task("reg", register=Register("churn"), depends_on=["a"], timeout_s=30),
        ],
    )
    assert [t["timeout_s"] for t in job.describe()["tasks"]] == [5, 2.5, 30]


class _SlowEndpoints:
    """A workspace's ``endpoints`` whose refresh blocks until released (no serving needed)."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def refresh(self, name: str) -> str:
        print(f"refreshing {name}")
        if not self.release.wait(60):
            raise RuntimeError("never released")
        return "refreshed"


def test_in_runner_timeout_stops_waiting_for_a_call_that_cannot_be_interrupted() -> None:
    import time
    from types import SimpleNamespace

    from raylake.jobs import _execute

    endpoints = _SlowEndpoints()
    ws = SimpleNamespace(endpoints=endpoints)
    try:
        started = time.monotonic()
        attempt = _execute.run_in_runner(ws, Task("refresh", endpoint="churn", timeout_s=0.5), {})  # type: ignore[arg-type]
        took = time.monotonic() - started
    finally:
        endpoints.release.set()
    assert attempt.error is not None and attempt.error.startswith("timed out after 0.5 s")
    assert "cannot be interrupted" in attempt.error
    assert took < 30  # it stopped waiting at the deadline, not when the call ended
    assert "refreshing churn" in attempt.logs  # the worker thread's prints are the task's logs

    # In time, the threaded attempt gives the call's result, or its error as without a timeout.
    done = _execute.run_in_runner(ws, Task("refresh", endpoint="churn", timeout_s=30), {})  # type: ignore[arg-type]
    assert done.error is None and done.outputs == {"endpoint": "churn", "result": "refreshed"}
    failed = _execute.run_in_runner(
        SimpleNamespace(),
        Task("refresh", endpoint="churn", timeout_s=30),
        {},  # type: ignore[arg-type]
    )
    assert failed.error is not None and "has no ws.endpoints.refresh" in failed.error
    assert "timed out" not in failed.error
