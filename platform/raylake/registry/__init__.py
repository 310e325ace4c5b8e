"""The MLflow model registry under catalog names: versions, aliases, signatures, lineage."""

from raylake.registry.api import ModelRegistry
from raylake.registry.names import parse_model_name
from raylake.registry.records import ModelComparison, ModelVersionInfo, RegisteredModelInfo

__all__ = [
    "ModelComparison",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "parse_model_name",
]
