"""Shipping code to Ray workers by value, so fresh workers need not import raylake."""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any


@contextmanager
def shipped_by_value(fn: Callable[..., Any], *modules: ModuleType) -> Iterator[None]:
    """Pickle ``modules``, and the module defining ``fn``, by value inside the block.

    ``modules`` (raylake's own, e.g. the caller's): workers then never import the ``raylake``
    package, whose import pulls in Delta, SQLAlchemy and MLflow (6-13 s per fresh worker on a
    busy 2-core box). ``fn``'s module: workers cannot import a module only the driver sees (a
    test file, a script loaded by path); installed packages stay pickled by reference.
    """
    from ray import cloudpickle

    wanted = list(modules)
    user = sys.modules.get(getattr(fn, "__module__", "") or "")
    if user is not None and user.__name__ != "__main__" and _is_local(user):
        wanted.append(user)
    registered = []
    try:
        for module in wanted:
            try:
                cloudpickle.register_pickle_by_value(module)
                registered.append(module)
            except ValueError:  # already registered (a sweep inside a job): leave it be
                pass
        yield
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _is_local(module: Any) -> bool:
    path = getattr(module, "__file__", None)
    if not path:
        return False
    installed = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    resolved = str(Path(path).resolve())
    return not any(resolved.startswith(str(Path(root).resolve())) for root in installed)
