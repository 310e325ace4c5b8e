"""Catalog names in a query to pinned Delta snapshots, and the tree rewritten onto them.

Every table reference (``t``, ``s.t``, ``c.s.t``, with ``VERSION AS OF n`` / ``@vn`` or
``TIMESTAMP AS OF '...'``) resolves through the catalog to one Delta snapshot; the reference
becomes the snapshot's engine name, aliased back to the name the query uses for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import pyarrow as pa
from deltalake import DeltaTable
from sqlglot import exp

from raylake.errors import InvalidNameError, SqlError
from raylake.names import TableName, parse_table_name
from raylake.tables.managed import ManagedTables
from raylake.tables.table import Table


@dataclass
class Snapshot:
    """One table at one version, as the query reads it."""

    name: TableName
    version: int
    pinned: bool  # the query asked for this version (or timestamp)
    table: Table
    delta: DeltaTable
    engine_name: str
    _schema: pa.Schema | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}" if self.pinned else str(self.name)

    @cached_property
    def file_uris(self) -> list[str]:
        """The snapshot's data files (listed once: engine choice and the read both need them)."""
        return self.delta.file_uris()

    @property
    def schema(self) -> pa.Schema:
        if self._schema is None:
            self._schema = pa.schema(self.delta.schema().to_arrow())
        return self._schema

    def size_bytes(self) -> int:
        actions = pa.table(self.delta.get_add_actions(flatten=True))
        return int(pa.compute.sum(actions["size_bytes"]).as_py() or 0) if actions.num_rows else 0


def table_name(node: exp.Table) -> TableName:
    """The catalog name of a table node: unquoted parts are case-insensitive (lower-cased)."""
    parts = [p.this if p.quoted else p.this.lower() for p in node.parts]
    return parse_table_name(".".join(parts))


def _version_of(node: exp.Table) -> tuple[int | None, str | None]:
    spec = node.args.get("version")
    if spec is None:
        return None, None
    value = spec.expression
    if isinstance(value, exp.Cast):  # a bound datetime parameter
        value = value.this
    kind = str(spec.this).upper()
    if not isinstance(value, exp.Literal):
        raise SqlError(f"{kind} AS OF needs a literal, got {value.sql()}")
    if kind == "VERSION":
        if value.is_string or not re.fullmatch(r"\d+", value.this):
            raise SqlError(f"VERSION AS OF needs a whole number, got {value.sql()}")
        return int(value.this), None
    if kind == "TIMESTAMP":
        return None, value.this
    raise SqlError(f"unsupported time travel {kind} AS OF")


def resolve(query: exp.Expression, tables: ManagedTables, prefix: str) -> list[Snapshot]:
    """Pin every table the query reads and rewrite its references in place."""
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    snapshots: dict[tuple[TableName, int], Snapshot] = {}
    for node in list(query.find_all(exp.Table)):
        if isinstance(node.this, exp.Dot):  # four or more parts
            raise InvalidNameError(
                f"invalid table name {node.this.sql()}: at most three parts (catalog.schema.table)"
            )
        if not isinstance(node.this, exp.Identifier):
            continue  # a table function such as range(10): the engine's business
        version, timestamp = _version_of(node)
        if len(node.parts) == 1 and node.name.lower() in ctes and version is timestamp is None:
            continue
        name = table_name(node)
        handle = tables.get(name)  # TableNotFoundError names the table
        dtable = handle.delta(version=version, timestamp=timestamp)
        key = (name, dtable.version())
        snap = snapshots.get(key)
        if snap is None:
            snap = Snapshot(
                name,
                dtable.version(),
                version is not None or timestamp is not None,
                handle,
                dtable,
                f"{prefix}_{len(snapshots)}_{name.table}",
            )
            snapshots[key] = snap
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
        node.replace(exp.Table(this=exp.to_identifier(snap.engine_name), alias=alias))
    for column in query.find_all(exp.Column):
        # main.sales.orders.id -> orders.id: the table is aliased by its last part.
        if column.args.get("db") is not None:
            column.set("db", None)
            column.set("catalog", None)
    return list(snapshots.values())
