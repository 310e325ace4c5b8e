"""Catalog queries: schemas, tables, pipeline runs, ingested files and lineage edges.

Every method opens its own short transaction, so several processes can share one database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from raylake.catalog import migrate
from raylake.catalog.models import (
    CatalogRow,
    IngestedFileRow,
    LineageEdgeRow,
    PipelineRunRow,
    SchemaRow,
    TableRow,
    utcnow,
)
from raylake.catalog.records import LineageEdge, PipelineRun, SchemaInfo, TableInfo
from raylake.errors import (
    PipelineRunningError,
    SchemaNotFoundError,
    TableExistsError,
    TableNotFoundError,
)
from raylake.names import TableName


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL + a busy timeout let several writer processes share the SQLite catalog.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL stays consistent after a crash and skips an fsync per commit (every
    # table write records its version here); only a power cut may lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _schema_info(row: SchemaRow) -> SchemaInfo:
    return SchemaInfo(row.catalog_name, row.name, row.owner, row.comment, row.created_at)


def _table_info(row: TableRow) -> TableInfo:
    return TableInfo(
        full_name=f"{row.catalog_name}.{row.schema_name}.{row.name}",
        location=row.location,
        owner=row.owner,
        comment=row.comment,
        tags=dict(row.tags or {}),
        format=row.format,
        last_version=row.last_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run_record(row: PipelineRunRow) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        target=row.target,
        seq=row.seq,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        rows_in=row.rows_in,
        rows_out=row.rows_out,
        dropped=dict(row.dropped or {}),
        warnings=dict(row.warnings or {}),
        inputs=dict(row.inputs or {}),
        files=list(row.files or []),
        target_version=row.target_version,
        error=row.error,
        user=row.user,
        host=row.host,
        pid=row.pid,
    )


def _edge(row: LineageEdgeRow) -> LineageEdge:
    return LineageEdge(
        row.source_kind,
        row.source_name,
        row.source_version,
        row.target_kind,
        row.target_name,
        row.target_version,
        row.run_id,
        row.created_at,
    )


def _touches(edge_end: tuple[str, int | None], node: tuple[str, int | None]) -> bool:
    """An edge end is at a node when names match and versions do (None matches any)."""
    return edge_end[0] == node[0] and None in (edge_end[1], node[1]) or edge_end == node


class CatalogStore:
    """The catalog database (SQLite by default; any SQLAlchemy URL, e.g. PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # -- schemas -------------------------------------------------------------------------------
    def create_schema(
        self, catalog: str, schema: str, owner: str, comment: str | None = None
    ) -> SchemaInfo:
        """Create ``catalog.schema`` (and the catalog) if missing; return it either way."""
        for _ in range(3):  # another process may create the same row between our read and write
            try:
                with self._tx() as s:
                    if s.get(CatalogRow, catalog) is None:
                        s.add(CatalogRow(name=catalog, owner=owner))
                        s.flush()
                    row = s.scalar(select(SchemaRow).filter_by(catalog_name=catalog, name=schema))
                    if row is None:
                        row = SchemaRow(
                            catalog_name=catalog, name=schema, owner=owner, comment=comment
                        )
                        s.add(row)
                        s.flush()
                    return _schema_info(row)
            except IntegrityError:
                continue
        raise RuntimeError(f"could not create schema {catalog}.{schema}")

    def get_schema(self, catalog: str, schema: str) -> SchemaInfo | None:
        with self._tx() as s:
            row = s.scalar(select(SchemaRow).filter_by(catalog_name=catalog, name=schema))
            return _schema_info(row) if row else None

    def list_schemas(self, catalog: str | None = None) -> list[SchemaInfo]:
        with self._tx() as s:
            q = select(SchemaRow).order_by(SchemaRow.catalog_name, SchemaRow.name)
            if catalog:
                q = q.filter_by(catalog_name=catalog)
            return [_schema_info(r) for r in s.scalars(q)]

    def drop_schema(self, catalog: str, schema: str) -> None:
        with self._tx() as s:
            if s.scalar(
                select(func.count())
                .select_from(TableRow)
                .filter_by(catalog_name=catalog, schema_name=schema)
            ):
                raise TableExistsError(f"schema {catalog}.{schema} still has tables")
            s.execute(delete(SchemaRow).filter_by(catalog_name=catalog, name=schema))

    # -- tables --------------------------------------------------------------------------------
    def register_table(
        self,
        name: TableName,
        location: str,
        owner: str,
        comment: str | None = None,
        version: int | None = None,
    ) -> TableInfo:
        if self.get_schema(name.catalog, name.schema) is None:
            raise SchemaNotFoundError(f"schema {name.schema_name} does not exist")
        try:
            with self._tx() as s:
                row = TableRow(
                    catalog_name=name.catalog,
                    schema_name=name.schema,
                    name=name.table,
                    location=location,
                    owner=owner,
                    comment=comment,
                    tags={},
                    last_version=version,
                )
                s.add(row)
                s.flush()
                return _table_info(row)
        except IntegrityError as exc:
            existing = self.get_table(name)
            if existing is not None and existing.location == location:
                return existing  # a concurrent writer registered it first: same table
            if existing is not None:
                raise TableExistsError(
                    f"table {name} already exists (at {existing.location})"
                ) from exc
            raise TableExistsError(f"location {location} is already registered") from exc

    def _table_row(self, s: Session, name: TableName) -> TableRow | None:
        return s.scalar(
            select(TableRow).filter_by(
                catalog_name=name.catalog, schema_name=name.schema, name=name.table
            )
        )

    def _require(self, s: Session, name: TableName) -> TableRow:
        row = self._table_row(s, name)
        if row is None:
            raise TableNotFoundError(f"table {name} does not exist")
        return row

    def get_table(self, name: TableName) -> TableInfo | None:
        with self._tx() as s:
            row = self._table_row(s, name)
            return _table_info(row) if row else None

    def list_tables(self, catalog: str | None = None, schema: str | None = None) -> list[TableInfo]:
        with self._tx() as s:
            q = select(TableRow).order_by(
                TableRow.catalog_name, TableRow.schema_name, TableRow.name
            )
            if catalog:
                q = q.filter_by(catalog_name=catalog)
            if schema:
                q = q.filter_by(schema_name=schema)
            return [_table_info(r) for r in s.scalars(q)]

    def set_tags(self, name: TableName, tags: dict[str, Any]) -> TableInfo:
        """Merge ``tags`` into the table's tags; a value of ``None`` removes that tag."""
        with self._tx() as s:
            row = self._require(s, name)
            merged = dict(row.tags or {})
            for key, value in tags.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            row.tags = merged
            row.updated_at = utcnow()
            return _table_info(row)

    def set_comment(self, name: TableName, comment: str | None) -> TableInfo:
        with self._tx() as s:
            row = self._require(s, name)
            row.comment = comment
            row.updated_at = utcnow()
            return _table_info(row)

    def record_version(self, name: TableName, version: int) -> None:
        """Note the Delta version last seen, so listings need not open every Delta log."""
        with self._tx() as s:
            row = self._require(s, name)
            if row.last_version is None or version > row.last_version or version == 0:
                row.last_version = version
                row.updated_at = utcnow()

    def drop_table(self, name: TableName) -> TableInfo:
        with self._tx() as s:
            row = self._require(s, name)
            info = _table_info(row)
            s.delete(row)
            return info

    # -- pipeline runs -------------------------------------------------------------------------
    def start_run(
        self,
        pipeline: str,
        target: str,
        user: str,
        files: list[str] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> PipelineRun:
        """Open a run with the next sequence number of its pipeline (the Delta ``txn`` version).

        Raises :class:`PipelineRunningError` when another run of the pipeline is RUNNING.
        """
        for _ in range(5):
            try:
                with self._tx() as s:
                    last = s.scalar(
                        select(func.max(PipelineRunRow.seq)).filter_by(pipeline=pipeline)
                    )
                    row = PipelineRunRow(
                        id=uuid.uuid4().hex,
                        pipeline=pipeline,
                        target=target,
                        seq=(last or 0) + 1,
                        status="RUNNING",
                        files=files or [],
                        dropped={},
                        warnings={},
                        inputs={},
                        user=user,
                        host=host,
                        pid=pid,
                    )
                    s.add(row)
                    s.flush()
                    return _run_record(row)
            except (IntegrityError, OperationalError):
                # Either a concurrent run took the same seq (retry) or one is RUNNING (refuse).
                running = self.running_run(pipeline)
                if running is not None:
                    raise PipelineRunningError(
                        f"pipeline {pipeline} is already running (run {running.seq}, "
                        f"pid {running.pid} on {running.host})"
                    ) from None
        raise PipelineRunningError(
            f"could not start a run of {pipeline}: too many concurrent starts"
        )

    def running_run(self, pipeline: str) -> PipelineRun | None:
        with self._tx() as s:
            row = s.scalar(select(PipelineRunRow).filter_by(pipeline=pipeline, status="RUNNING"))
            return _run_record(row) if row else None

    def update_run(self, run_id: str, **fields: Any) -> PipelineRun:
        with self._tx() as s:
            row = s.get(PipelineRunRow, run_id)
            if row is None:
                raise KeyError(run_id)
            for key, value in fields.items():
                setattr(row, key, value)
            if fields.get("status") in {"SUCCEEDED", "FAILED", "SKIPPED"}:
                row.ended_at = utcnow()
            return _run_record(row)

    def get_run(self, run_id: str) -> PipelineRun | None:
        with self._tx() as s:
            row = s.get(PipelineRunRow, run_id)
            return _run_record(row) if row else None

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
        with self._tx() as s:
            q = select(PipelineRunRow).order_by(PipelineRunRow.started_at.desc()).limit(limit)
            if pipeline:
                q = q.filter_by(pipeline=pipeline)
            return [_run_record(r) for r in s.scalars(q)]

    # -- incremental ingestion -----------------------------------------------------------------
    def ingested_files(self, pipeline: str) -> set[str]:
        with self._tx() as s:
            return set(s.scalars(select(IngestedFileRow.path).filter_by(pipeline=pipeline)))

    def mark_ingested(self, pipeline: str, run_id: str, files: dict[str, int]) -> None:
        with self._tx() as s:
            known = set(
                s.scalars(
                    select(IngestedFileRow.path).filter(
                        IngestedFileRow.pipeline == pipeline,
                        IngestedFileRow.path.in_(list(files)),
                    )
                )
            )
            for path, size in files.items():
                if path not in known:
                    s.add(IngestedFileRow(pipeline=pipeline, path=path, size=size, run_id=run_id))

    # -- lineage -------------------------------------------------------------------------------
    def add_edge(
        self,
        source: str,
        source_version: int | None,
        target: str,
        target_version: int | None,
        run_id: str | None = None,
        source_kind: str = "table",
        target_kind: str = "table",
    ) -> None:
        with self._tx() as s:
            # Idempotent: a run settled again after a crash must not duplicate its edges.
            if s.scalar(
                select(LineageEdgeRow.id).filter_by(
                    source_name=source,
                    source_version=source_version,
                    target_name=target,
                    target_version=target_version,
                    run_id=run_id,
                )
            ):
                return
            s.add(
                LineageEdgeRow(
                    source_kind=source_kind,
                    source_name=source,
                    source_version=source_version,
                    target_kind=target_kind,
                    target_name=target,
                    target_version=target_version,
                    run_id=run_id,
                )
            )

    def edges_of(self, name: str) -> list[LineageEdge]:
        """Every edge that touches ``name`` directly, oldest first."""
        with self._tx() as s:
            q = (
                select(LineageEdgeRow)
                .filter(or_(LineageEdgeRow.source_name == name, LineageEdgeRow.target_name == name))
                .order_by(LineageEdgeRow.id)
            )
            return [_edge(r) for r in s.scalars(q)]

    def upstream(self, name: str, version: int | None = None) -> list[LineageEdge]:
        """Edges leading into ``name`` (at ``version``, or any), transitively, breadth first.

        Past the first hop the walk is version-exact: table v3 leads only to the versions that
        were read to write v3, not to everything its sources ever were.
        """
        return self._walk(name, version, upstream=True)

    def downstream(self, name: str, version: int | None = None) -> list[LineageEdge]:
        return self._walk(name, version, upstream=False)

    def _walk(self, name: str, version: int | None, upstream: bool) -> list[LineageEdge]:
        near_col = LineageEdgeRow.target_name if upstream else LineageEdgeRow.source_name
        frontier: set[tuple[str, int | None]] = {(name, version)}
        seen_nodes = set(frontier)
        seen_edges: set[int] = set()
        edges: list[LineageEdge] = []
        with self._tx() as s:
            while frontier:
                names = sorted({n for n, _ in frontier})
                rows = s.scalars(
                    select(LineageEdgeRow).filter(near_col.in_(names)).order_by(LineageEdgeRow.id)
                ).all()
                following: set[tuple[str, int | None]] = set()
                for row in rows:
                    if upstream:
                        near = (row.target_name, row.target_version)
                        far = (row.source_name, row.source_version)
                    else:
                        near = (row.source_name, row.source_version)
                        far = (row.target_name, row.target_version)
                    if row.id in seen_edges or not any(_touches(near, node) for node in frontier):
                        continue
                    seen_edges.add(row.id)
                    edges.append(_edge(row))
                    if far not in seen_nodes:
                        seen_nodes.add(far)
                        following.add(far)
                frontier = following
        return edges
