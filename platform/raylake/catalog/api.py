"""``ws.catalog``: schemas, tables, tags and lineage, as users see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from raylake.catalog.records import LineageEdge, SchemaInfo, TableInfo
from raylake.catalog.store import CatalogStore
from raylake.errors import InvalidArgumentError, SchemaNotFoundError
from raylake.governance.securables import Securable, SecurableType
from raylake.names import parse_schema_name, parse_table_name, validate_part
from raylake.tables.managed import ManagedTables


@dataclass(frozen=True)
class TableDescription:
    info: TableInfo
    version: int
    schema: list[tuple[str, str]]
    num_rows: int
    num_files: int


@dataclass(frozen=True)
class Lineage:
    """Edges into (upstream, transitively) and out of (downstream) one node."""

    name: str
    upstream: list[LineageEdge]
    downstream: list[LineageEdge]


class Catalog:
    def __init__(
        self,
        store: CatalogStore,
        tables: ManagedTables,
        user: str,
        models: Callable[[], Any] | None = None,
    ) -> None:
        self._store = store
        self._tables = tables
        self._user = user
        self._models = models  # the registry, opened on first use (it imports MLflow)

    def create_schema(self, name: str, comment: str | None = None) -> SchemaInfo:
        """Create ``catalog.schema`` (one part: in ``main``); existing schemas are returned."""
        catalog, schema = parse_schema_name(name)
        if self._store.get_schema(catalog, schema) is None:
            self._tables.guard.create_schema(catalog, schema)
        return self._store.create_schema(catalog, schema, self._user, comment)

    def list_schemas(
        self, catalog: str | None = None, *, principal: str | None = None
    ) -> list[SchemaInfo]:
        """Schemas, all or those of ``catalog``. With auth on, only those the acting user (or
        ``principal``, for servers acting for a caller) may see: see ``Visibility``."""
        if catalog is not None:
            validate_part(catalog, "catalog name")
        infos = self._store.list_schemas(catalog)
        seen = self._tables.guard.visibility(principal)
        if seen is None:
            return infos
        return [
            i for i in infos if seen.sees(Securable(SecurableType.SCHEMA, i.full_name), i.owner)
        ]

    def drop_schema(self, name: str) -> None:
        catalog, schema = parse_schema_name(name)
        if self._store.get_schema(catalog, schema) is None:
            raise SchemaNotFoundError(f"schema {catalog}.{schema} does not exist")
        self._tables.guard.drop_schema(catalog, schema)
        self._store.drop_schema(catalog, schema)

    def list_tables(
        self, schema: str | None = None, *, principal: str | None = None
    ) -> list[TableInfo]:
        """All tables, or those of ``catalog.schema`` (one part: in ``main``). With auth on,
        only those the acting user (or ``principal``) may see: see ``Visibility``."""
        if schema is None:
            infos = self._store.list_tables()
        else:
            catalog, name = parse_schema_name(schema)
            infos = self._store.list_tables(catalog, name)
        seen = self._tables.guard.visibility(principal)
        if seen is None:
            return infos
        return [i for i in infos if seen.sees(Securable(SecurableType.TABLE, i.full_name), i.owner)]

    def list_models(self, schema: str | None = None, *, principal: str | None = None) -> list[Any]:
        """Registered models, all or those of ``catalog.schema``: they share the catalog's
        three-level names, and registering one creates its schema here. Filtered as tables."""
        return self._models().list(schema, principal=principal) if self._models is not None else []

    def describe(self, name: str) -> TableDescription:
        # One snapshot of the Delta log serves every figure (and the catalog's version).
        dtable = self._tables.get(name).delta()
        info = self._tables.refresh(name, dtable.version())
        schema = [(f.name, str(f.type)) for f in pa.schema(dtable.schema().to_arrow())]
        return TableDescription(
            info, dtable.version(), schema, dtable.count(), len(dtable.file_uris())
        )

    def set_tags(self, name: str, tags: dict[str, Any]) -> TableInfo:
        """Merge ``tags`` into the table's; a ``None`` value removes that tag."""
        for key in tags:
            if not isinstance(key, str) or not key or len(key) > 255:
                raise InvalidArgumentError(f"invalid tag key {key!r}")
        tname = parse_table_name(name)
        self._tables.guard.alter_table(tname, "set_tags")
        return self._store.set_tags(tname, tags)

    def set_comment(self, name: str, comment: str | None) -> TableInfo:
        tname = parse_table_name(name)
        self._tables.guard.alter_table(tname, "set_comment")
        return self._store.set_comment(tname, comment)

    def register_table(self, name: str, location: str, comment: str | None = None) -> TableInfo:
        """Register an existing Delta table (written elsewhere) under a catalog name."""
        return self._tables.register_external(name, location, comment)

    def drop_table(self, name: str, purge: bool = True) -> TableInfo:
        """Drop the catalog entry; with ``purge`` (the default) delete a managed table's data
        too. Registered (external) tables keep their data."""
        return self._tables.drop(name, purge)

    def lineage(self, name: str, version: int | None = None) -> Lineage:
        """Upstream and downstream of ``name`` (of one ``version``, or of all its versions)."""
        full = _lineage_key(name)
        return Lineage(
            full, self._store.upstream(full, version), self._store.downstream(full, version)
        )


def _lineage_key(name: str) -> str:
    # Tables get their full three-part name; other node kinds (runs, models) pass through.
    try:
        return str(parse_table_name(name))
    except ValueError:
        return name
