"""``raylake info``: settings, versions and compute status, without starting Ray or Spark."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any

from raylake.cli import _render
from raylake.cli._context import JsonOption, settings
from raylake.settings import CONFIG_FILE_NAME, Settings

PACKAGES = ("raylake", "ray", "raydp", "pyspark", "deltalake", "mlflow", "feast")


def info(json_out: JsonOption = False) -> None:
    """Show settings, package versions and whether Ray and Spark are running."""
    s = settings()
    report = {
        "settings": settings_report(s),
        "versions": versions(),
        "compute": {"ray": ray_status(s), "spark": spark_status(s)},
    }
    if json_out:
        _render.print_json(report)
        return
    _render.show(
        _render.fields(report["settings"].items(), title="Settings"),
        _render.fields(report["versions"].items(), title="Versions"),
        _render.fields(report["compute"].items(), title="Compute"),
    )


def settings_report(s: Settings) -> dict[str, Any]:
    config = s.home / CONFIG_FILE_NAME
    return {
        "home": str(s.home),
        "config file": f"{config} ({'present' if config.is_file() else 'absent'})",
        "catalog URL": hide_password(s.catalog_url or ""),
        "storage root": s.storage_root,
        # Values may be credentials: show which options are set, not what they are.
        "storage options": ", ".join(sorted(s.storage_options)) or None,
        "MLflow tracking URI": hide_password(s.mlflow_tracking_uri or ""),
        "Ray address": s.ray_address or "none (local Ray in-process)",
        "Spark executors": (
            f"{s.spark_executors} x {s.spark_executor_cores} cores, {s.spark_executor_memory}"
        ),
        "user": s.user,
    }


def hide_password(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    out["java"] = java_version()
    return out


def java_version() -> str | None:
    """First line of ``java -version`` (Spark needs Java 17)."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return f"{java} (did not answer)"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else java


def ray_status(s: Settings) -> str:
    # Ray can only be initialised here if it was imported: checking sys.modules first keeps
    # `raylake info` from paying ray's import time.
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            address = ray.get_runtime_context().gcs_address
            return f"running, connected to {address}"
    if s.ray_address:
        return f"not connected (configured address {s.ray_address})"
    return "not started (a local Ray starts in-process on first use)"


def spark_status(s: Settings) -> str:
    if "raydp" in sys.modules:
        from raydp import context as raydp_context

        running = raydp_context._global_spark_context
        if running is not None:
            return "running (RayDP, in this process)"
    return f"not started (RayDP starts {s.spark_executors} executor(s) on Ray on first use)"
