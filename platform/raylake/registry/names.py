"""Registered model names: the catalog's ``catalog.schema.model``, defaulting to ``main.models``."""

from __future__ import annotations

from raylake.errors import InvalidNameError
from raylake.names import DEFAULT_CATALOG, TableName, validate_part

MODELS_SCHEMA = "models"


def parse_model_name(name: str) -> TableName:
    """``churn`` -> ``main.models.churn``; ``ml.churn`` -> ``main.ml.churn``; three parts as is."""
    if not isinstance(name, str):
        raise InvalidNameError(f"model name must be a string, got {type(name).__name__}")
    parts = name.split(".")
    if len(parts) > 3:
        raise InvalidNameError(f"invalid model name {name!r}: at most catalog.schema.model")
    kinds = ("catalog", "schema", "model")[-len(parts) :]
    for part, kind in zip(parts, kinds, strict=True):
        validate_part(part, f"{kind} name")
    full = [DEFAULT_CATALOG, MODELS_SCHEMA][: 3 - len(parts)] + parts
    return TableName(*full)


def parse_schema_prefix(schema: str) -> str:
    """``models`` -> ``main.models.``, ``main.models`` -> ``main.models.`` (for listing)."""
    parts = schema.split(".") if isinstance(schema, str) else []
    if not 1 <= len(parts) <= 2:
        raise InvalidNameError(f"invalid schema name {schema!r}")
    for part in parts:
        validate_part(part, "schema name")
    full = parts if len(parts) == 2 else [DEFAULT_CATALOG, parts[0]]
    return ".".join(full) + "."
