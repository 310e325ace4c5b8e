"""Jobs: DAGs of tasks (Python functions on Ray, pipelines, sweeps, model registrations,
endpoint refreshes) with retries, timeouts and results passed between tasks, started by hand,
on cron schedules, when a table gets a new version or when a model alias moves::

    from raylake.jobs import Cron, Job, OnTableUpdate, Register, Task

    nightly = Job(
        "nightly",
        tasks=[
            Task("ingest", pipeline=silver_rides),
            Task("features", fn=build_features, depends_on=["ingest"], retries=2, timeout_s=600),
            Task("train", sweep=high_fare_sweep, depends_on=["features"], timeout_s=3600),
            Task("register", register=Register("main.models.churn", alias="champion"),
                 depends_on=["train"]),
        ],
        triggers=[Cron("0 2 * * *"), OnTableUpdate("main.bronze.rides")],
    )
    run = ws.jobs.run(nightly)                 # a manual run; history in the catalog
    ws.jobs.scheduler([nightly]).serve()       # or: raylake jobs serve jobs.py
"""

from raylake.catalog.jobs_store import JobInfo, JobRun, TaskRun
from raylake.jobs.definition import Cron, Job, OnModelAlias, OnTableUpdate, Register, Task
from raylake.jobs.loader import load_jobs

__all__ = [
    "Cron",
    "Job",
    "JobInfo",
    "JobRun",
    "OnModelAlias",
    "OnTableUpdate",
    "Register",
    "Task",
    "TaskRun",
    "load_jobs",
]
