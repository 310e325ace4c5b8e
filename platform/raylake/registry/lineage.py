"""Lineage edges for training: inputs -> sweep run -> trial run -> model version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

if TYPE_CHECKING:
    from raylake.catalog import CatalogStore
    from raylake.training.data import Source

RUN_PREFIX = "runs:/"


def run_node(run_id: str) -> str:
    # ':' and '/' never appear in table names, so run nodes cannot collide with tables.
    return f"{RUN_PREFIX}{run_id}"


def add_edge_once(
    store: CatalogStore,
    source: str,
    source_version: int | None,
    target: str,
    target_version: int | None,
    run_id: str | None,
    source_kind: str,
    target_kind: str,
) -> None:
    """Add an edge unless the same one is already recorded (re-registering is idempotent)."""
    for edge in store.edges_of(target):
        if (
            edge.source_name == source
            and edge.source_version == source_version
            and edge.target_name == target
            and edge.target_version == target_version
        ):
            return
    store.add_edge(source, source_version, target, target_version, run_id, source_kind, target_kind)


def record_inputs(store: CatalogStore, sources: Iterable[Source], run_id: str) -> None:
    """Each input (table or training set, at its version) -> the run that trained on it."""
    for src in sources:
        add_edge_once(store, src.name, src.version, run_node(run_id), None, run_id, src.kind, "run")


def record_model_version(
    store: CatalogStore, client: MlflowClient, run_id: str | None, name: str, version: int
) -> None:
    """Run -> model version; a sweep's trial run is linked to its parent sweep run first."""
    if not run_id:
        return
    run = client.get_run(run_id)
    parent = run.data.tags.get(MLFLOW_PARENT_RUN_ID)
    if parent:
        add_edge_once(store, run_node(parent), None, run_node(run_id), None, run_id, "run", "run")
    add_edge_once(store, run_node(run_id), None, name, version, run_id, "run", "model")
