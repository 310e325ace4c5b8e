"""One shared SparkSession per process, running on Ray through RayDP."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from raylake.compute.java_options import java_options_string
from raylake.compute.ray_runtime import RayRuntime
from raylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

APP_NAME = "raylake"

# JVMs that coordinate rather than crunch data: RayDP's app master (a py4j gateway JVM and a Ray
# Java actor) and the Spark driver (planning, scheduling). C2 compilation never pays off in them.
# Measured on 2 cores with C1 only and the serial GC: app master start-up CPU ~8 -> ~4.5 s; driver
# CPU per ETL job ~2.1 -> ~0.9 s, warm 300k-row pipeline runs 20-30% faster. Executors keep C2:
# C1 there made the same runs 2.5x costlier.
COORDINATOR_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def spark_configs(settings: Settings) -> dict[str, str]:
    """Spark settings raylake relies on; exposed so benchmarks can give plain PySpark the same."""
    opts = java_options_string()
    return {
        "spark.executor.extraJavaOptions": opts,
        "spark.driver.extraJavaOptions": f"{opts} {COORDINATOR_JVM_OPTIONS}",
        "spark.ray.raydp_app_master.extraJavaOptions": f"{opts} {COORDINATOR_JVM_OPTIONS}",
        # delta-rs reads microsecond timestamps; Spark 3.5 would write INT96 otherwise.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        # RayDP names a log4j2 file Spark does not ship ("log4j2-default.properties"), so the
        # driver printed "Reconfiguration failed: No configuration found" on stdout.
        "spark.log4j.config.file.name": "org/apache/spark/log4j2-defaults.properties",
    }


def _driver_launch_configs(settings: Settings) -> dict[str, str]:
    """The configs RayDP will start the driver JVM with (its class path, agent and options)."""
    from raydp.spark.ray_cluster import SparkCluster

    # RayDP computes them in SparkCluster._prepare_spark_configs, which needs no running master.
    cluster = SparkCluster.__new__(SparkCluster)
    cluster._configs = spark_configs(settings)
    cluster._num_executors = settings.spark_executors
    cluster._executor_cores = settings.spark_executor_cores
    cluster._executor_memory = settings.spark_executor_memory
    cluster._prepare_spark_configs()
    return cluster._configs


def _launch_driver_gateway(configs: dict[str, str], locked: threading.Event) -> None:
    """Start PySpark's driver JVM and install it as the process's gateway.

    Holds ``SparkContext._lock`` throughout, so a SparkContext created meanwhile waits for this
    gateway instead of launching a second one. Any failure leaves PySpark to launch it itself.
    """
    try:
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway

        with SparkContext._lock:
            locked.set()
            if SparkContext._gateway is None:
                conf = SparkConf(loadDefaults=False).setAll(list(configs.items()))
                SparkContext._gateway = launch_gateway(conf)
                SparkContext._jvm = SparkContext._gateway.jvm
    except Exception:  # the normal, sequential start still works
        log.warning("starting the Spark driver early failed; RayDP will start it", exc_info=True)
    finally:
        locked.set()


def prelaunch_driver(settings: Settings) -> None:
    """Start the Spark driver JVM in the background while RayDP starts its app master.

    RayDP starts them one after the other though neither needs the other (the master URL is
    only given to the SparkContext later); overlapping them takes ~3 s off Spark's start.
    """
    try:
        configs = _driver_launch_configs(settings)
    except Exception:  # a RayDP without this internal: start sequentially
        log.debug("cannot compute RayDP's driver configs; no early driver start", exc_info=True)
        return
    locked = threading.Event()
    thread = threading.Thread(
        target=_launch_driver_gateway, args=(configs, locked), name="raylake-spark-driver"
    )
    thread.daemon = True
    thread.start()
    locked.wait()


EXECUTOR_WAIT_S = 180


def wait_for_executors(
    session: SparkSession, count: int, timeout_s: float = EXECUTOR_WAIT_S
) -> int:
    """Wait until ``count`` executors have registered with the driver; how many did.

    RayDP returns the session while its executors (Ray Java actors) are still starting, so the
    first job would wait for them instead; the session is ready when it can run tasks, as a
    ``local[n]`` session is. Past the timeout (a cluster short of CPUs) this only logs.
    """
    tracker = session.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + timeout_s
    while True:
        ready = len(tracker.getExecutorInfos()) - 1  # the driver is listed too
        if ready >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if ready < count:
        log.warning("%d of %d Spark executors registered after %.0f s", ready, count, timeout_s)
    return ready


# The local properties setJobGroup sets on the calling thread (restored afterwards).
_JOB_GROUP_PROPERTIES = (
    "spark.jobGroup.id",
    "spark.job.description",
    "spark.job.interruptOnCancel",
)
CANCEL_POLL_S = 0.2


@contextmanager
def cancellable_jobs(
    session: SparkSession, stop: threading.Event, group: str, description: str
) -> Iterator[None]:
    """Put the Spark jobs this thread starts in the block in job group ``group``, and cancel
    them once ``stop`` is set.

    A job group is a local property of the calling thread: PySpark's pinned thread mode (the
    default) gives every Python thread its own JVM thread, so jobs started by other threads are
    not in the group. A watcher thread cancels the group when ``stop`` is set, and again every
    ``CANCEL_POLL_S`` while the block runs, so a job started just after a cancel is caught too.
    ``interruptOnCancel`` interrupts the executors' task threads; Spark then kills the Python
    workers of interrupted tasks (a UDF stuck in a sleep stops too). The thread's previous job
    group, if any, is restored on the way out.
    """
    sc = session.sparkContext
    saved = {key: sc.getLocalProperty(key) for key in _JOB_GROUP_PROPERTIES}
    sc.setJobGroup(group, description, interruptOnCancel=True)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(CANCEL_POLL_S):
            if stop.is_set():
                try:
                    sc.cancelJobGroup(group)
                except Exception:  # Spark stopped meanwhile: nothing left to cancel
                    log.debug("cancelling Spark job group %s failed", group, exc_info=True)
                    return

    watcher = threading.Thread(target=watch, name=f"raylake-cancel-{group}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        for key, value in saved.items():
            sc.setLocalProperty(key, value)  # type: ignore[arg-type]  # None removes it


class SparkOnRay:
    """Lazily starts RayDP Spark and hands out the same session on every call."""

    def __init__(self, settings: Settings, ray_runtime: RayRuntime) -> None:
        self._settings = settings
        self._ray = ray_runtime
        self._lock = threading.Lock()
        self._session: SparkSession | None = None
        self._owned = False

    @property
    def started(self) -> bool:
        return self._session is not None

    def session(self) -> SparkSession:
        if self._session is not None:
            return self._session
        with self._lock:
            if self._session is None:
                # PySpark starts Python workers (UDFs, local rows) with $PYSPARK_PYTHON, else
                # `python3` from PATH, which has no pyspark outside an activated venv.
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                # The driver JVM's Ray core worker logs INFO lines to the console otherwise.
                os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "warning")
                self._ray.ensure()
                import raydp
                from raydp import context as raydp_context

                running = raydp_context._global_spark_context
                if running is not None:
                    # RayDP allows one Spark per process: a second workspace joins it and
                    # leaves stopping it to the workspace that started it.
                    self._session = running.get_or_create_session()
                    return self._session
                s = self._settings
                prelaunch_driver(s)
                self._session = raydp.init_spark(
                    app_name=APP_NAME,
                    num_executors=s.spark_executors,
                    executor_cores=s.spark_executor_cores,
                    executor_memory=s.spark_executor_memory,
                    configs=spark_configs(s),
                )
                self._owned = True
                self._session.sparkContext.setLogLevel("ERROR")
                wait_for_executors(self._session, s.spark_executors)
        return self._session

    def stop(self) -> None:
        with self._lock:
            if self._session is not None and self._owned:
                import raydp

                raydp.stop_spark()
            self._session = None
            self._owned = False
