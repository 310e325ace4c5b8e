"""Logging a trained model object to an MLflow run, always with a signature when it can."""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from raylake.errors import SignatureMissingError

MODEL_ARTIFACT = "model"


class _PredictWrapper(PythonModel):
    """Any object with ``predict(frame)``, served as an MLflow pyfunc model."""

    # The signature comes from the input example; MLflow's type-hint schema would only warn.
    _skip_type_hint_validation = True

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: Any, params: dict | None = None) -> Any:
        return self.model.predict(model_input)


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (register, load, log) at ``uri`` for a block.

    The caller's state is restored exactly, "never set" included: MLflow keeps it in module
    globals plus environment variables, and its setters cannot express "unset".
    """
    from mlflow.tracking._model_registry import utils as registry_state
    from mlflow.tracking._tracking_service import utils as tracking_state

    saved_uris = (tracking_state._tracking_uri, registry_state._registry_uri)
    saved_env = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uris[0])  # also resets MLflow's tracer for that URI
        registry_state._registry_uri = saved_uris[1]
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def requirements(model: Any, extra: tuple[str, ...] = ()) -> list[str]:
    """Pinned requirements for the packages the model's class comes from.

    Passing them explicitly skips MLflow's requirement inference, which loads the model in a
    subprocess and measured 10-20 s per model here (vs 0.05 s for the whole log).
    """
    roots = {type(model).__module__.split(".")[0], "cloudpickle", *extra}
    pins: set[str] = set()
    for root in roots:
        dist = _distribution_of(root)
        if dist is not None:
            pins.add(f"{dist}=={importlib.metadata.version(dist)}")
    return sorted(pins)


# Import names whose distribution is named differently; anything else falls back to a scan.
_KNOWN_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def _distribution_of(module_root: str) -> str | None:
    name = _KNOWN_DISTRIBUTIONS.get(module_root, module_root)
    try:
        importlib.metadata.version(name)
        return name
    except importlib.metadata.PackageNotFoundError:
        # Scanning every installed distribution costs ~0.3 s: only when the name differs.
        dists = importlib.metadata.packages_distributions().get(module_root, [])
        return dists[0] if dists else None


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    # MLflow warns about cloudpickle on every log; raylake chose it on purpose (see DESIGN.md).
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def log_model(
    model: Any,
    run_id: str,
    tracking_uri: str,
    input_example: Any,
    require_signature: bool = True,
    pip_requirements: list[str] | None = None,
) -> str:
    """Log ``model`` into run ``run_id``; return its ``models:/`` URI.

    The signature is inferred from ``input_example`` and the model's own predictions on it.
    """
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"a model needs a predict() method, got {type(model).__name__}")
    signature = None
    if input_example is not None:
        signature = infer_signature(input_example, model.predict(input_example))
    elif require_signature:
        raise SignatureMissingError("pass input_example so raylake can infer the model's signature")
    reqs = pip_requirements or requirements(model)
    # nested: the caller may have an MLflow run of their own open in this thread.
    nested = mlflow.active_run() is not None
    with (
        tracking(tracking_uri),
        _quiet("mlflow.sklearn"),
        mlflow.start_run(run_id=run_id, nested=nested),
    ):
        if _is_sklearn(model):
            # skops (MLflow 3's default) refuses tree models; cloudpickle loads any estimator.
            info = mlflow.sklearn.log_model(
                model,
                name=MODEL_ARTIFACT,
                signature=signature,
                input_example=input_example,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                pip_requirements=reqs,
            )
        else:
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=_PredictWrapper(model),
                signature=signature,
                input_example=input_example,
                pip_requirements=reqs,
            )
    return info.model_uri
