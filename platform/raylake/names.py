"""Parsing and validation of three-level ``catalog.schema.table`` names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from raylake.errors import InvalidNameError

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
MAX_PART_LENGTH = 255

# ASCII only on purpose: unicode look-alikes ("ｍain", Cyrillic "а") must not pass as names.
_PART = re.compile(r"[a-z_][a-z0-9_]*\Z", re.ASCII)


def validate_part(part: str, kind: str = "name part") -> str:
    """Return ``part`` if it is a valid identifier, else raise :class:`InvalidNameError`."""
    if not isinstance(part, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(part).__name__}")
    if len(part) > MAX_PART_LENGTH:
        raise InvalidNameError(
            f"{kind} {part[:40]!r}... is longer than {MAX_PART_LENGTH} characters"
        )
    if not _PART.match(part):
        raise InvalidNameError(
            f"invalid {kind} {part!r}: use lower-case ASCII letters, digits and '_', "
            "not starting with a digit"
        )
    return part


@dataclass(frozen=True, order=True)
class TableName:
    """A fully qualified table name."""

    catalog: str
    schema: str
    table: str

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def schema_name(self) -> str:
        return f"{self.catalog}.{self.schema}"


def parse_table_name(name: str | TableName) -> TableName:
    """Parse ``table``, ``schema.table`` or ``catalog.schema.table``.

    Missing parts resolve against ``main.default``. Anything else raises
    :class:`InvalidNameError`.
    """
    if isinstance(name, TableName):
        return name
    if not isinstance(name, str):
        raise InvalidNameError(f"table name must be a string, got {type(name).__name__}")
    parts = name.split(".")
    if len(parts) > 3:
        raise InvalidNameError(
            f"invalid table name {name!r}: at most three parts (catalog.schema.table)"
        )
    kinds = ("catalog", "schema", "table")[-len(parts) :]
    for part, kind in zip(parts, kinds, strict=True):
        validate_part(part, f"{kind} name")
    defaults = [DEFAULT_CATALOG, DEFAULT_SCHEMA]
    full = defaults[: 3 - len(parts)] + parts
    return TableName(*full)


def parse_schema_name(name: str) -> tuple[str, str]:
    """Parse ``schema`` or ``catalog.schema`` (the catalog defaults to ``main``)."""
    if not isinstance(name, str):
        raise InvalidNameError(f"schema name must be a string, got {type(name).__name__}")
    parts = name.split(".")
    if len(parts) > 2:
        raise InvalidNameError(f"invalid schema name {name!r}: at most two parts (catalog.schema)")
    kinds = ("catalog", "schema")[-len(parts) :]
    for part, kind in zip(parts, kinds, strict=True):
        validate_part(part, f"{kind} name")
    if len(parts) == 1:
        return DEFAULT_CATALOG, parts[0]
    return parts[0], parts[1]
