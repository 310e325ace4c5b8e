"""Privileges, securable types, and how a securable's name resolves to its ancestors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from raylake.errors import InvalidArgumentError, InvalidNameError
from raylake.names import DEFAULT_CATALOG, parse_schema_name, parse_table_name, validate_part


class Privilege(StrEnum):
    USE = "USE"  # see into a catalog or schema (needed for anything inside it)
    SELECT = "SELECT"  # read a table or feature view, load a model
    MODIFY = "MODIFY"  # write a table, move a model's aliases, change tags
    CREATE = "CREATE"  # create schemas in a catalog, tables and models in a schema
    EXECUTE = "EXECUTE"  # score an endpoint
    MANAGE = "MANAGE"  # grant and revoke, drop; holds every other privilege too


class SecurableType(StrEnum):
    CATALOG = "catalog"
    SCHEMA = "schema"
    TABLE = "table"
    FEATURE_VIEW = "feature_view"
    MODEL = "model"
    ENDPOINT = "endpoint"


# Feature views and endpoints may have plain Feast/Serve names (no catalog.schema).
MODELS_SCHEMA = "models"
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,254}\Z", re.ASCII)


def parse_privilege(value: str | Privilege) -> Privilege:
    try:
        return Privilege(str(value).upper())
    except ValueError:
        choices = ", ".join(p.value for p in Privilege)
        raise InvalidArgumentError(f"unknown privilege {value!r}: use one of {choices}") from None


def parse_securable_type(value: str | SecurableType) -> SecurableType:
    try:
        return SecurableType(str(value).lower())
    except ValueError:
        choices = ", ".join(t.value for t in SecurableType)
        raise InvalidArgumentError(
            f"unknown securable type {value!r}: use one of {choices}"
        ) from None


@dataclass(frozen=True, order=True)
class Securable:
    """A securable by type and normalised full name (``main.sales.orders``)."""

    type: SecurableType
    name: str

    def __str__(self) -> str:
        return f"{self.type.value} {self.name}"

    @property
    def parents(self) -> list[Securable]:
        """Where privileges are inherited from, nearest first: schema, then catalog."""
        parts = self.name.split(".")
        if self.type is SecurableType.CATALOG:
            return []
        if self.type is SecurableType.SCHEMA:
            return [Securable(SecurableType.CATALOG, parts[0])]
        if len(parts) == 3:
            return [
                Securable(SecurableType.SCHEMA, f"{parts[0]}.{parts[1]}"),
                Securable(SecurableType.CATALOG, parts[0]),
            ]
        # A plain feature view or endpoint name lives in the default catalog.
        return [Securable(SecurableType.CATALOG, DEFAULT_CATALOG)]

    @property
    def chain(self) -> list[Securable]:
        """The securable itself, then its parents."""
        return [self, *self.parents]

    @property
    def schema(self) -> Securable | None:
        """The schema this securable lives in (None for catalogs, schemas, plain names)."""
        return next((p for p in self.parents if p.type is SecurableType.SCHEMA), None)


def securable(securable_type: str | SecurableType, name: str) -> Securable:
    """Validate and normalise ``name`` the way the rest of raylake names that kind of object
    (``s.t`` is table ``main.s.t``; ``churn`` is model ``main.models.churn``)."""
    kind = parse_securable_type(securable_type)
    if not isinstance(name, str):
        raise InvalidNameError(f"securable name must be a string, got {type(name).__name__}")
    if kind is SecurableType.CATALOG:
        return Securable(kind, validate_part(name, "catalog name"))
    if kind is SecurableType.SCHEMA:
        catalog, schema = parse_schema_name(name)
        return Securable(kind, f"{catalog}.{schema}")
    if kind is SecurableType.TABLE:
        return Securable(kind, str(parse_table_name(name)))
    if kind is SecurableType.MODEL:
        return Securable(kind, _model_name(name))
    if name.count(".") == 2:
        return Securable(kind, str(parse_table_name(name)))
    if not _PLAIN.match(name):
        raise InvalidNameError(
            f"invalid {kind.value} name {name!r}: a plain name (letters, digits, '_', '-') "
            "or catalog.schema.name"
        )
    return Securable(kind, name)


def _model_name(name: str) -> str:
    # Same rule as raylake.registry.names (``churn`` -> ``main.models.churn``), restated so
    # that a permission check never imports the registry package (and with it MLflow).
    parts = name.split(".")
    if len(parts) > 3:
        raise InvalidNameError(f"invalid model name {name!r}: at most catalog.schema.model")
    kinds = ("catalog", "schema", "model")[-len(parts) :]
    for part, kind in zip(parts, kinds, strict=True):
        validate_part(part, f"{kind} name")
    return ".".join([DEFAULT_CATALOG, MODELS_SCHEMA][: 3 - len(parts)] + parts)
