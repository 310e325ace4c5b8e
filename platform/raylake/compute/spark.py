"""One shared SparkSession per process, running on Ray through RayDP."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from raylake.compute.java_options import java_options_string
from raylake.compute.ray_runtime import RayRuntime
from raylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "raylake"


def spark_configs(settings: Settings) -> dict[str, str]:
    """Spark settings raylake relies on; exposed so benchmarks can give plain PySpark the same."""
    opts = java_options_string()
    return {
        "spark.executor.extraJavaOptions": opts,
        "spark.driver.extraJavaOptions": opts,
        "spark.ray.raydp_app_master.extraJavaOptions": opts,
        # delta-rs reads microsecond timestamps; Spark 3.5 would write INT96 otherwise.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
    }


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
                self._session = raydp.init_spark(
                    app_name=APP_NAME,
                    num_executors=s.spark_executors,
                    executor_cores=s.spark_executor_cores,
                    executor_memory=s.spark_executor_memory,
                    configs=spark_configs(s),
                )
                self._owned = True
                self._session.sparkContext.setLogLevel("ERROR")
        return self._session

    def stop(self) -> None:
        with self._lock:
            if self._session is not None and self._owned:
                import raydp

                raydp.stop_spark()
            self._session = None
            self._owned = False
