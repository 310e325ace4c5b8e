"""``raylake jobs serve`` in a real process: killed with SIGKILL and restarted, it neither
runs an event twice nor replays every missed cron time (one catch-up run)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ray

import raylake
from raylake.catalog.jobs_store import JobRun

JOBS = """
from raylake.jobs import Cron, Job, Task


def stamp(trigger):
    return trigger["scheduled_time"]


every_2s = Job("every_2s", [Task("stamp", fn=stamp)], triggers=[Cron("* * * * * */2")])
"""


def _serve(home: Path, jobs: Path, address: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAYLAKE_RAY_ADDRESS"] = address  # join the session's Ray: no second cluster to start
    cli = Path(sys.executable).parent / "raylake"
    return subprocess.Popen(
        [str(cli), "--home", str(home), "jobs", "serve", str(jobs), "--poll", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(home.parent / "serve.log", "ab"),  # noqa: SIM115 - the child owns it
    )


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _scheduled(run: JobRun) -> dt.datetime:
    return dt.datetime.fromisoformat(run.params["trigger"]["scheduled_time"])


def test_killed_scheduler_restarts_without_double_runs(
    ws: raylake.Workspace, tmp_path: Path
) -> None:
    address = ray.get_runtime_context().gcs_address
    home = tmp_path / "home"
    jobs = tmp_path / "jobs.py"
    jobs.write_text(JOBS)
    with raylake.connect(home=home) as reader:  # reads the scheduler's catalog, no Ray

        def succeeded() -> list[JobRun]:
            return [r for r in reader.jobs.runs("every_2s", 500) if r.status == "SUCCEEDED"]

        first = _serve(home, jobs, address)
        try:
            _wait_for(lambda: len(succeeded()) >= 1, "a first scheduled run")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed_at = dt.datetime.now(dt.UTC)
        before = reader.jobs.runs("every_2s", 500)
        time.sleep(5)  # at least two schedule times pass while no scheduler is up

        second = _serve(home, jobs, address)
        try:
            _wait_for(lambda: any(_scheduled(r) > killed_at for r in succeeded()), "a catch-up run")
        finally:
            second.send_signal(signal.SIGTERM)  # stops after the run in progress
            second.wait(timeout=60)
        runs = reader.jobs.runs("every_2s", 500)

    times = [_scheduled(r) for r in runs]
    assert len(times) == len(set(times)), "a schedule time ran twice"
    assert all(r.status in ("SUCCEEDED", "INTERRUPTED") for r in runs), runs
    last_before = max(_scheduled(r) for r in before)
    after = sorted(t for t in times if t > last_before)
    # The first run after the restart is the latest missed time: the ones before it, missed
    # while the scheduler was down, did not run one by one.
    assert after and after[0] - last_before >= dt.timedelta(seconds=4)
    assert [r.task("stamp").outputs["result"] for r in runs if _scheduled(r) == after[0]] == [
        after[0].isoformat()
    ]
