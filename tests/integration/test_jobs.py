"""Jobs on the session's real Ray, Delta tables and catalog: parameters, retries, timeouts,
table-update and cron triggers fired exactly once, YAML jobs, run history and lineage."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import raylake
from raylake.jobs import Cron, Job, OnTableUpdate, Task, load_jobs
from raylake.tables.storage import local_path


def answer() -> int:
    return 21


def double(answer: int, factor: int = 2) -> int:
    return answer * factor


def flaky(marker: str) -> int:
    """Fails on its first attempt; the marker file counts attempts across Ray workers."""
    path = Path(marker)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts == 1:
        raise RuntimeError("first attempt fails")
    print("second attempt works")
    return attempts


def stuck() -> None:
    time.sleep(120)


def after_stuck(stuck: object) -> str:
    return "never runs"


def seen_version(trigger: dict) -> int:
    return trigger["version"]


def test_parameters_retries_and_timeouts(ws: raylake.Workspace, tmp_path: Path) -> None:
    job = Job(
        "flow",
        tasks=[
            Task("answer", fn=answer),
            Task("double", fn=double, depends_on=["answer"]),
            Task("flaky", fn=flaky, retries=2, params={"marker": str(tmp_path / "attempts")}),
            Task("stuck", fn=stuck, timeout_s=2),
            Task("after_stuck", fn=after_stuck, depends_on=["stuck"]),
        ],
        params={"factor": 3},  # job parameters reach every task that declares them
    )
    run = ws.jobs.run(job)

    assert run.status == "FAILED" and run.error == "task 'stuck' failed"
    assert run.task("answer").outputs == {"result": 21}
    assert run.task("double").outputs == {"result": 63}  # upstream result by task name
    flaky_run = run.task("flaky")
    assert (flaky_run.status, flaky_run.attempts, flaky_run.outputs) == (
        "SUCCEEDED",
        2,
        {"result": 2},
    )
    assert "first attempt fails" in flaky_run.logs and "second attempt works" in flaky_run.logs
    stuck_run = run.task("stuck")
    assert stuck_run.status == "FAILED" and "timed out after 2 s" in stuck_run.error
    assert run.task("after_stuck").status == "UPSTREAM_FAILED"
    # A manual run's parameters override the job's; history is in the catalog.
    again = ws.jobs.run(
        Job("flow2", [Task("answer", fn=answer), job.task("double")]), {"factor": 10}
    )
    assert again.status == "SUCCEEDED" and again.task("double").outputs == {"result": 210}
    assert ws.jobs.get_run(run.id[:8]).id == run.id
    assert [r.id for r in ws.jobs.runs("flow")] == [run.id]


def test_table_update_runs_once_per_new_version(ws: raylake.Workspace, schema: str) -> None:
    table = f"{schema}.events"
    ws.write_table(table, pd.DataFrame({"x": [1]}))  # v0, before the job exists
    job = Job(f"on_{schema}", [Task("seen", fn=seen_version)], triggers=[OnTableUpdate(table)])
    first = ws.jobs.scheduler([job])
    assert first.tick() == []  # first sight: the current version is the baseline

    ws.write_table(table, pd.DataFrame({"x": [2]}))  # v1
    runs = first.tick()
    assert [r.task("seen").outputs["result"] for r in runs] == [1]
    assert first.tick() == []
    restarted = ws.jobs.scheduler([job])  # a new scheduler (a restart) sees nothing new
    assert restarted.tick() == []

    # Two schedulers polling at once after one new version: one run between them.
    ws.write_table(table, pd.DataFrame({"x": [3]}))  # v2
    results: list[list] = []
    barrier = threading.Barrier(2)

    def poll(s: object) -> None:
        barrier.wait()
        results.append(s.tick())  # type: ignore[attr-defined]

    threads = [threading.Thread(target=poll, args=(s,)) for s in (first, restarted)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r) for r in results) == 1

    history = ws.jobs.runs(job.name)
    assert sorted(r.params["trigger"]["version"] for r in history) == [1, 2]
    assert all(r.status == "SUCCEEDED" and r.trigger == "table" for r in history)
    # Lineage: each table version -> the job run it triggered.
    edges = ws.lineage(table).downstream
    assert {(e.source_version, e.target_name) for e in edges} == {
        (r.params["trigger"]["version"], f"jobs:/{job.name}/{r.id}") for r in history
    }


def test_cron_missed_runs_fire_once(ws: raylake.Workspace) -> None:
    now = [dt.datetime(2026, 11, 25, 12, 0, 30, tzinfo=dt.UTC)]
    job = Job("every_minute", [Task("answer", fn=answer)], triggers=[Cron("* * * * *")])
    scheduler = ws.jobs.scheduler([job], clock=lambda: now[0])
    assert scheduler.tick() == []  # a new schedule starts now: no backfill
    now[0] = dt.datetime(2026, 11, 25, 12, 5, 10, tzinfo=dt.UTC)  # 5 minutes "down"
    runs = scheduler.tick()
    assert [r.params["trigger"]["scheduled_time"] for r in runs] == ["2026-11-25T12:05:00+00:00"]
    assert scheduler.tick() == []
    other = ws.jobs.scheduler([job], clock=lambda: now[0])
    assert other.tick() == []
    now[0] = dt.datetime(2026, 11, 25, 12, 6, 0, tzinfo=dt.UTC)
    assert len(other.tick()) == 1 and scheduler.tick() == []


YAML_JOB = """
name: from_yaml
params: {factor: 5}
tasks:
  - name: answer
    fn: {module}:answer
  - name: double
    fn: {module}:double
    depends_on: [answer]
    retries: 1
triggers:
  - cron: "0 2 * * *"
"""


def test_yaml_job_loads_and_runs(ws: raylake.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(YAML_JOB.replace("{module}", str(Path(__file__))))
    (job,) = load_jobs(path)
    assert job.order == ("answer", "double") and job.triggers == (Cron("0 2 * * *"),)
    run = ws.jobs.run(job)
    assert run.task("double").outputs == {"result": 105}
    assert ws.jobs.get("from_yaml").spec["triggers"] == ["cron:0 2 * * *@UTC"]


def test_pipeline_task_links_run_and_lineage(ws: raylake.Workspace, schema: str) -> None:
    ws.write_table(f"{schema}.raw", pd.DataFrame({"id": [1, 2, 3], "v": [1.0, -1.0, 2.0]}))

    @raylake.pipeline(
        target=f"main.{schema}.clean",
        inputs={"raw": raylake.TableInput(f"main.{schema}.raw")},
        mode="overwrite",
        expectations=[raylake.expect_or_drop("positive", "v > 0")],
    )
    def clean(raw):  # type: ignore[no-untyped-def]
        return raw

    job = Job(
        f"etl_{schema}",
        [Task("clean", pipeline=clean), Task("count", fn=rows_out, depends_on=["clean"])],
    )
    run = ws.jobs.run(job)
    assert run.status == "SUCCEEDED", run
    outputs = run.task("clean").outputs
    assert outputs["status"] == "SUCCEEDED" and outputs["target_version"] == 0
    assert ws.pipeline_runs(clean.name)[0].id == outputs["pipeline_run_id"]
    assert run.task("count").outputs == {"result": 2}  # the PipelineRun record flowed on
    upstream = ws.lineage(f"{schema}.clean").upstream
    assert f"jobs:/{job.name}/{run.id}" in {e.source_name for e in upstream}


def rows_out(clean: raylake.catalog.PipelineRun) -> int:
    return clean.rows_out


def test_endpoint_refresh_failure_is_recorded(ws: raylake.Workspace) -> None:
    # With a timeout the attempt runs in a worker thread: its failure is reported the same way.
    run = ws.jobs.run(Job("refresh", [Task("refresh", endpoint="no_such_endpoint", timeout_s=60)]))
    assert run.status == "FAILED"
    assert run.task("refresh").error  # unknown endpoint (or no serving): the reason is kept
    assert "timed out" not in run.task("refresh").error


def fit_logistic(config: dict, data: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression

    from raylake.training import report

    x = data[["x1", "x2"]]
    model = LogisticRegression(C=config["C"]).fit(x, data["label"])
    report({"accuracy": float(model.score(x, data["label"]))}, model=model, input_example=x[:3])


def test_sweep_register_and_model_alias_trigger(ws: raylake.Workspace, schema: str) -> None:
    from ray import tune

    from raylake.jobs import OnModelAlias, Register

    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    data["label"] = (data.x1 - data.x2 > 0).astype("int64")
    ws.write_table(f"{schema}.train", data)
    model = f"main.{schema}.clf"
    sweep = {
        "trainable": fit_logistic,
        "param_space": {"C": tune.grid_search([0.1, 1.0])},
        "metric": "accuracy",
        "experiment": f"jobs-{schema}",
        "data": f"main.{schema}.train",
    }
    train = Job(
        f"train_{schema}",
        [
            Task("sweep", sweep=sweep),
            Task("register", register=Register(model, alias="champion"), depends_on=["sweep"]),
        ],
    )
    on_champion = Job(
        f"deploy_{schema}",
        [Task("seen", fn=seen_version)],
        triggers=[OnModelAlias(model, "champion")],
    )
    scheduler = ws.jobs.scheduler([on_champion])
    assert scheduler.tick() == []  # no such model yet: nothing to fire

    run = ws.jobs.run(train)
    assert run.status == "SUCCEEDED", run
    swept, registered = run.task("sweep").outputs, run.task("register").outputs
    assert swept["trials"] == 2 and swept["mlflow_best_run_id"]
    assert (registered["model"], registered["model_version"]) == (model, 1)
    assert ws.models.get(model, "champion").version == 1
    # Lineage through the job run: its sweep run and the model version it registered.
    node = f"jobs:/{train.name}/{run.id}"
    upstream = ws.lineage(model, 1).upstream
    assert node in {e.source_name for e in upstream}

    (fired,) = scheduler.tick()  # the alias appeared: one run, told the version
    assert fired.task("seen").outputs == {"result": 1}
    assert scheduler.tick() == []
    v2 = ws.models.register(swept["mlflow_best_run_id"], model)
    ws.models.set_alias(model, "champion", v2.version)
    (moved,) = scheduler.tick()
    assert moved.params["trigger"]["previous_version"] == 1
    assert moved.task("seen").outputs == {"result": 2}
    assert scheduler.tick() == []


def waits_for_partner(marker: str) -> str:
    """Returns once the partner task has run: only possible if both run at the same time."""
    deadline = time.monotonic() + 60
    while not Path(marker).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the partner task never ran alongside")
        time.sleep(0.1)
    return "met"


def partner(marker: str) -> str:
    Path(marker).write_text("here")
    return "here"


def test_independent_tasks_run_concurrently(ws: raylake.Workspace, tmp_path: Path) -> None:
    marker = {"marker": str(tmp_path / "partner")}
    job = Job(
        "pair",
        [
            Task("first", fn=waits_for_partner, params=marker, timeout_s=90),
            Task("second", fn=partner, params=marker),
            Task(
                "both", fn=lambda first, second: f"{first}+{second}", depends_on=["first", "second"]
            ),
        ],
    )
    assert job.order[:2] == ("first", "second")  # run in order, "first" would wait forever
    run = ws.jobs.run(job)
    assert run.status == "SUCCEEDED", run
    assert run.task("both").outputs == {"result": "met+here"}


# -- timeouts of tasks that run in the job runner -----------------------------------------------


def _slow_pipeline(schema: str, calls: Path) -> raylake.Pipeline:
    """Appends ``raw`` to ``slow``; its first two runs go through a UDF sleeping 2 s a row."""
    from pyspark.sql import functions as F

    @raylake.pipeline(
        target=f"main.{schema}.slow",
        inputs={"raw": raylake.TableInput(f"main.{schema}.raw")},
        mode="append",
        name=f"slow_{schema}",
    )
    def slow(raw):  # type: ignore[no-untyped-def]
        runs = int(calls.read_text()) + 1 if calls.exists() else 1  # transforms run on the driver
        calls.write_text(str(runs))
        if runs >= 3:
            return raw
        nap = F.udf(lambda v: (time.sleep(2.0), v)[1], "double")  # 200 rows: minutes of work
        return raw.withColumn("v", nap("v"))

    return slow


def test_pipeline_task_timeout_cancels_spark_and_commits_nothing(
    ws: raylake.Workspace, schema: str, tmp_path: Path
) -> None:
    ws.write_table(f"{schema}.raw", pd.DataFrame({"id": range(200), "v": [1.0] * 200}))
    target = f"{schema}.slow"
    ws.write_table(target, pd.DataFrame({"id": [-1], "v": [0.0]}))  # version 0
    slow = _slow_pipeline(schema, tmp_path / "calls")

    started = time.monotonic()
    run = ws.jobs.run(Job(f"slow_{schema}", [Task("load", pipeline=slow, timeout_s=5)]))
    assert time.monotonic() - started < 120  # cancelled: the UDF alone would sleep 400 s
    load = run.task("load")
    assert run.status == "FAILED" and load.status == "FAILED", load
    assert load.error.startswith("timed out after 5 s (its Spark jobs were cancelled")
    assert "PipelineStoppedError" in load.logs  # the attempt's traceback is in its logs
    table = ws.table(target)
    assert table.version == 0 and table.num_rows() == 1  # no Delta commit
    on_disk = {f.name for f in local_path(table.location).rglob("*.parquet")}
    assert on_disk == {Path(f).name for f in table.files()}  # the staged files were removed
    (failed,) = ws.pipeline_runs(slow.name)
    assert failed.status == "FAILED" and "was stopped" in failed.error, failed
    # The job group was the attempt thread's own; the session goes on working.
    spark = ws.spark()
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None
    assert spark.range(1000).count() == 1000

    # A retry after a timeout runs cleanly: attempt 1 (slow) times out, attempt 2 (fast) commits.
    retry = Task("load", pipeline=slow, timeout_s=10, retries=1)
    run = ws.jobs.run(Job(f"slow_{schema}", [retry]))
    load = run.task("load")
    assert run.status == "SUCCEEDED" and (load.status, load.attempts) == ("SUCCEEDED", 2), load
    assert "timed out after 10 s" in load.logs
    assert load.outputs["target_version"] == 1
    assert ws.table(target).version == 1 and ws.table(target).num_rows() == 201
    assert [r.status for r in ws.pipeline_runs(slow.name)] == ["SUCCEEDED", "FAILED", "FAILED"]


def sleepy_trial(config: dict) -> None:
    from raylake.training import report

    time.sleep(config["nap"])
    report({"score": 1.0})


def test_sweep_task_timeout_stops_the_trials(ws: raylake.Workspace, schema: str) -> None:
    from mlflow import MlflowClient
    from ray import tune

    from raylake.training.tracking import KIND_TAG

    experiment = f"slow-{schema}"
    sweep = {
        "trainable": sleepy_trial,
        "param_space": {"nap": tune.grid_search([120, 121])},
        "metric": "score",
        "experiment": experiment,
    }
    started = time.monotonic()
    run = ws.jobs.run(
        Job(
            f"slow_sweep_{schema}",
            [
                Task("sweep", sweep=sweep, timeout_s=10),
                Task("after", fn=answer, depends_on="sweep"),
            ],
        )
    )
    assert time.monotonic() - started < 100  # the trials alone would sleep 120 s
    swept = run.task("sweep")
    assert run.status == "FAILED" and swept.status == "FAILED", swept
    assert swept.error == "timed out after 10 s (Ray Tune stopped its trials)"
    assert "SweepTimeoutError" in swept.logs
    assert run.task("after").status == "UPSTREAM_FAILED"
    # The MLflow runs stay: the sweep's parent run is failed, its trials were logged.
    client = MlflowClient(ws.settings.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    kinds = sorted((r.data.tags.get(KIND_TAG), r.info.status) for r in runs)
    assert ("sweep", "FAILED") in kinds
    assert [k for k, _ in kinds].count("trial") == 2, kinds  # both trials had started
