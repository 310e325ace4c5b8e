"""Turning a sweep's ``data`` argument into one object for every trial, plus where it came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from raylake.errors import UnsupportedDataError
from raylake.names import parse_table_name

if TYPE_CHECKING:
    from raylake.tables import Table


@dataclass(frozen=True)
class Source:
    """One input a sweep read: a catalog table (or training set) at a version."""

    name: str
    version: int | None
    kind: str = "table"


@dataclass(frozen=True)
class TrainingData:
    payload: Any  # what trials receive: pandas DataFrame, Ray Dataset, or None
    sources: list[Source] = field(default_factory=list)
    rows: int | None = None


def resolve(data: Any, open_table: Callable[[str], Table]) -> TrainingData:
    """Read ``data`` once on the driver.

    Accepts a catalog table name (read at its current version, which is recorded), a pandas
    DataFrame, a Ray Dataset, or a training set: any object with ``to_pandas()`` and, for
    lineage, ``name`` and ``version`` attributes (``sources`` may list its own inputs). Other
    objects (arrays, tuples of frames) are handed to trials unchanged.
    """
    if data is None:
        return TrainingData(None)
    if isinstance(data, str):
        name = str(parse_table_name(data))
        table = open_table(name)
        version = table.version
        # Pin the version read so the recorded lineage is exactly what trials trained on.
        frame = table.to_pandas(version=version)
        return TrainingData(frame, [Source(name, version)], len(frame))
    if isinstance(data, pd.DataFrame):
        return TrainingData(data, [], len(data))
    if _is_ray_dataset(data):
        # Execute the read once, here: trials then share its blocks in the object store. A
        # lazy dataset would make every trial launch read tasks, which can starve for CPUs
        # the trials themselves hold.
        materialized = data.materialize()
        return TrainingData(materialized, [], materialized.count())
    if callable(getattr(data, "to_pandas", None)):
        frame = data.to_pandas()
        if not isinstance(frame, pd.DataFrame):
            raise UnsupportedDataError("a training set's to_pandas() must return a DataFrame")
        return TrainingData(frame, _training_set_sources(data), len(frame))
    # Anything else (arrays, a (train, valid) tuple, ...) goes to trials as it is, pickled once.
    return TrainingData(data, [])


def _is_ray_dataset(data: Any) -> bool:
    try:
        from ray.data import Dataset
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return isinstance(data, Dataset)


def _training_set_sources(data: Any) -> list[Source]:
    sources: list[Source] = []
    name = getattr(data, "name", None)
    if isinstance(name, str) and name:
        version = getattr(data, "version", None)
        sources.append(Source(name, version if isinstance(version, int) else None, "training_set"))
    for item in getattr(data, "sources", None) or []:
        if isinstance(item, Source):
            sources.append(item)
        elif isinstance(item, tuple) and len(item) >= 2:
            kind = item[2] if len(item) > 2 else "table"
            sources.append(Source(str(item[0]), item[1], kind))
    return sources
