"""Load the ``raylake.Pipeline`` objects a Python file defines, by path."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from raylake.errors import PipelineError, RaylakeError
from raylake.pipelines import Pipeline


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """``path/to/file.py[:NAME]`` -> (path, NAME or None)."""
    path, sep, name = spec.rpartition(":")
    if sep and path.endswith(".py") and name:
        return Path(path), name
    return Path(spec), None


def load_pipelines(path: Path, name: str | None = None) -> list[Pipeline]:
    """All pipelines ``path`` defines, in definition order, or the one called ``name``
    (its pipeline name or the variable holding it)."""
    found = _module_pipelines(path)
    if not found:
        raise PipelineError(f"{path} defines no raylake.Pipeline")
    if name is None:
        return [p for _, p in found]
    chosen = [p for attr, p in found if name in (p.name, attr)]
    if not chosen:
        names = ", ".join(p.name for _, p in found)
        raise PipelineError(f"{path} has no pipeline named {name!r} (it has: {names})")
    return chosen[:1]


def load_module(path: Path, kind: str, error: type[RaylakeError]) -> ModuleType:
    """Import the Python file ``path`` (defining pipelines or sweeps); problems raise ``error``."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    if path.suffix != ".py":
        raise error(f"{path} is not a Python file")
    resolved = path.resolve()
    # A stable, unique module name: dataclasses and pickling look modules up in sys.modules.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"_raylake_{kind}_{resolved.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise error(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(resolved.parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, RaylakeError):
            raise  # e.g. a Pipeline defined wrongly: its message says what is wrong
        raise error(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def _module_pipelines(path: Path) -> list[tuple[str, Pipeline]]:
    module = load_module(path, "pipelines", PipelineError)
    found: list[tuple[str, Pipeline]] = []
    seen: set[int] = set()
    for attr, value in vars(module).items():  # a module's namespace keeps definition order
        if isinstance(value, Pipeline) and id(value) not in seen:
            seen.add(id(value))
            found.append((attr, value))
    return found
