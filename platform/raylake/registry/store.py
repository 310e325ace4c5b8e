"""Where MLflow keeps a workspace's experiments and artifacts."""

from __future__ import annotations

import re
from pathlib import Path

from mlflow import MlflowClient

_SERVER_SCHEMES = ("http://", "https://", "databricks")


def artifact_root(home: Path, tracking_uri: str) -> str | None:
    """``<home>/mlartifacts`` for a database-backed store; a tracking server picks its own.

    Without this MLflow puts artifacts in ``./mlruns`` of whatever folder the process that
    created the experiment happened to run in.
    """
    if tracking_uri.startswith(_SERVER_SCHEMES):
        return None
    return (home / "mlartifacts").absolute().as_uri()


def experiment_id(client: MlflowClient, name: str, root: str | None) -> str:
    """The id of experiment ``name``, created (with artifacts under ``root``) if missing."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if root is not None:
        location = f"{root}/{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"
    return client.create_experiment(name, artifact_location=location)
