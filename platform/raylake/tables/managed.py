"""Catalog-managed tables: names resolve to locations, writes register and version them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from raylake.catalog import CatalogStore, TableInfo
from raylake.errors import InvalidArgumentError, SchemaNotFoundError, TableNotFoundError
from raylake.governance.guard import Guard
from raylake.names import TableName, parse_table_name
from raylake.settings import Settings
from raylake.tables import storage, writer
from raylake.tables.data import kind_of
from raylake.tables.table import Table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class ManagedTables:
    def __init__(
        self, settings: Settings, store: CatalogStore, spark: Callable[[], SparkSession]
    ) -> None:
        self._settings = settings
        self._store = store
        self._spark = spark
        # Privilege checks and audit (no-ops unless settings.auth); shared by the catalog and
        # the registry so every SDK path checks the same way.
        self.guard = Guard(store, settings.user, settings.auth)

    @property
    def storage_options(self) -> dict[str, str] | None:
        return self._settings.storage_options or None

    def write(
        self,
        name: str | TableName,
        data: Any,
        mode: str = "append",
        merge_on: Sequence[str] | str | None = None,
        schema_evolution: bool = False,
        app_transaction: tuple[str, int] | None = None,
        comment: str | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Write ``data`` to ``name`` (created on first write); return the new version."""
        tname = parse_table_name(name)
        kind_of(data)  # refuse unsupported data before touching anything
        if isinstance(merge_on, str):
            merge_on = [merge_on]
        options = writer.WriteOptions(
            mode=mode,  # type: ignore[arg-type]
            merge_on=tuple(merge_on or ()),
            schema_evolution=schema_evolution,
            user=self._settings.user,
            app_transaction=app_transaction,
            storage_options=self.storage_options,
            before_commit=before_commit,
        )
        writer.validate(options)
        info = self._store.get_table(tname)
        if info is None and self._store.get_schema(tname.catalog, tname.schema) is None:
            raise SchemaNotFoundError(
                f"schema {tname.schema_name} does not exist: create it with "
                f"ws.catalog.create_schema({tname.schema_name!r})"
            )
        self.guard.write_table(tname, info is not None, mode)
        location = (
            info.location if info else storage.table_location(self._settings.storage_root, tname)
        )
        version = writer.write(location, data, options)
        if info is None:
            self._store.register_table(tname, location, self._settings.user, comment, version)
        self._store.record_version(tname, version)
        return version

    def info(self, name: str | TableName) -> TableInfo:
        tname = parse_table_name(name)
        info = self._store.get_table(tname)
        if info is None:
            raise TableNotFoundError(f"table {tname} does not exist")
        return info

    def get(self, name: str | TableName) -> Table:
        info = self.info(name)
        tname = parse_table_name(name)
        self.guard.read_table(tname)
        return Table(
            info.full_name,
            info.location,
            self.storage_options,
            self._spark,
            lambda version: self._store.record_version(tname, version),
            lambda operation: self.guard.alter_table(tname, operation),
        )

    def register_external(
        self, name: str | TableName, location: str, comment: str | None = None
    ) -> TableInfo:
        """Register an existing Delta table at ``location`` under ``name``."""
        tname = parse_table_name(name)
        dtable = writer.open_table(location, self.storage_options)
        if dtable is None:
            raise InvalidArgumentError(f"no Delta table at {location}")
        if self._store.get_schema(tname.catalog, tname.schema) is None:
            raise SchemaNotFoundError(f"schema {tname.schema_name} does not exist")
        self.guard.register_table(tname, location)
        return self._store.register_table(
            tname, location, self._settings.user, comment, dtable.version()
        )

    def refresh(self, name: str | TableName, version: int) -> TableInfo:
        """Bring the catalog's version up to ``version``, read from the Delta log (which
        writers outside raylake move too)."""
        tname = parse_table_name(name)
        info = self.info(tname)
        if version != info.last_version:
            self._store.record_version(tname, version)
            info = self.info(tname)
        return info

    def is_managed(self, info: TableInfo) -> bool:
        """Whether raylake chose the table's location (external tables were registered)."""
        managed = storage.table_location(
            self._settings.storage_root, parse_table_name(info.full_name)
        )
        return info.location.rstrip("/") == managed.rstrip("/")

    def drop(self, name: str | TableName, purge: bool = True) -> TableInfo:
        """Remove the catalog entry, and a managed table's data too unless ``purge=False``.

        An external table's data belongs to whoever wrote it: only its entry is removed.
        """
        tname = parse_table_name(name)
        info = self.info(tname)
        self.guard.drop_table(tname)
        self._store.drop_table(tname)
        if purge and self.is_managed(info):
            storage.delete_tree(info.location, self.storage_options)
        return info
